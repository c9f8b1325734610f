import type { CallRecord } from '../../shared/cluster-store/cluster-store.ts';

/** A call as this node holds it: the store's record without the owner, which is always this node. */
export type LocalCall = Omit<CallRecord, 'nodeId' | 'epoch'>;

/**
 * The calls this node admitted and has not released yet: the node's own truth. After a store
 * outage or failover (Redis restarted empty, or this node was fenced while paused) they are
 * re-asserted into the store under the current epoch, so the cluster counts converge to the
 * calls that really exist. Releases the store could not take are kept and retried.
 */
export class LocalCalls {
  readonly #calls = new Map<string, LocalCall>();
  /** Releases that failed (store unreachable): callId → epoch they were admitted under. */
  readonly #pendingReleases = new Map<string, number>();

  get size(): number {
    return this.#calls.size;
  }

  add(call: LocalCall): void {
    this.#calls.set(call.callId, call);
    this.#pendingReleases.delete(call.callId);
  }

  remove(callId: string): void {
    this.#calls.delete(callId);
  }

  all(): LocalCall[] {
    return [...this.#calls.values()];
  }

  deferRelease(callId: string, epoch: number): void {
    this.#pendingReleases.set(callId, epoch);
  }

  takePendingReleases(): Array<[string, number]> {
    const out = [...this.#pendingReleases.entries()];
    this.#pendingReleases.clear();
    return out;
  }
}
