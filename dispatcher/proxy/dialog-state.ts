/**
 * Dialog state in the cluster store (issue 9 point 2, docs/ha.md): enough of each confirmed call
 * that another node can carry its in-dialog requests when the node that set it up is gone.
 *
 * - The node that sets a call up writes its record when the call is confirmed (2xx relayed) and
 *   removes it when the call ends there (BYE, max age...). Both fire-and-forget: a store error is
 *   logged, the call goes on.
 * - While the record exists, a fencing of that node (a reap of the dead node) keeps the call
 *   counted as an orphan instead of releasing it (cluster-store.ts), and the media reaper leaves
 *   its relay session alone.
 * - A node that gets an in-dialog request it holds no dialog for looks the record up (when the
 *   request names no next hop of its own); a BYE's final response ends the carried call: record
 *   removed FIRST (so that a reap from then on releases the call), then the orphan released (it is
 *   one once the dead node was reaped) and its relay session deleted.
 */
import type { ClusterStore, DialogSide, DialogStateRecord } from '../../shared/cluster-store/cluster-store.ts';
import type { Logger } from '../../shared/log.ts';
import type { Target } from '../transport/transport.ts';

export interface DialogState {
  /** The call was confirmed on this node: record it (as this node's). Never rejects. */
  confirmed(dialog: Omit<DialogStateRecord, 'nodeId'>): void;
  /**
   * The call ended on this node: forget its record, then release the call if it had become an
   * orphan meanwhile (this node was fenced while it lived: paused past its lease). Never rejects.
   */
  ended(callId: string, callKey: string): void;
  /** The stored dialog an in-dialog request of a call this node does not hold belongs to (tags checked). */
  find(callId: string, fromTag: string | undefined, toTag: string | undefined): Promise<DialogStateRecord | undefined>;
  /** A carried call's BYE got its final response: record removed, orphan released, media ended. Never rejects. */
  finish(dialog: DialogStateRecord): Promise<void>;
}

export interface StoreDialogStateOptions {
  nodeId: string;
  store: Pick<ClusterStore, 'putDialog' | 'getDialog' | 'removeDialog' | 'releaseOrphan'>;
  /** A record lives as long as a call may (`cluster.maxCallAge`). */
  ttlMs: number;
  logger: Logger;
  /** Deletes the call's relay session (any node may: the relay is in the media session record). */
  endMedia?: ((dialog: DialogStateRecord) => Promise<void>) | undefined;
}

export interface DialogStateStats {
  written: number;
  removed: number;
  /** In-dialog requests routed from a stored record (calls set up by another node). */
  carried: number;
  /** Orphaned calls released here (their BYE went through this node). */
  orphansReleased: number;
  errors: number;
}

export class StoreDialogState implements DialogState {
  readonly #o: StoreDialogStateOptions;
  readonly #stats: DialogStateStats = { written: 0, removed: 0, carried: 0, orphansReleased: 0, errors: 0 };

  constructor(o: StoreDialogStateOptions) {
    this.#o = o;
  }

  stats(): DialogStateStats {
    return { ...this.#stats };
  }

  confirmed(dialog: Omit<DialogStateRecord, 'nodeId'>): void {
    this.#o.store.putDialog({ ...dialog, nodeId: this.#o.nodeId }, this.#o.ttlMs).then(
      () => void this.#stats.written++,
      (err: unknown) => this.#failed(err, dialog.callId, 'dialog state not written'),
    );
  }

  ended(callId: string, callKey: string): void {
    const store = this.#o.store;
    store
      .removeDialog(callId)
      .then(async (removed) => {
        if (removed) this.#stats.removed++;
        if ((await store.releaseOrphan(callKey)) === 'released') this.#stats.orphansReleased++;
      })
      .catch((err: unknown) => this.#failed(err, callId, 'dialog state not removed'));
  }

  async find(callId: string, fromTag: string | undefined, toTag: string | undefined): Promise<DialogStateRecord | undefined> {
    let d: DialogStateRecord | undefined;
    try {
      d = await this.#o.store.getDialog(callId);
    } catch (err) {
      this.#failed(err, callId, 'dialog state not read');
      return undefined;
    }
    if (d === undefined || sideOf(d, fromTag, toTag) === undefined) return undefined;
    this.#stats.carried++;
    return d;
  }

  async finish(dialog: DialogStateRecord): Promise<void> {
    try {
      await this.#o.store.removeDialog(dialog.callId);
      if ((await this.#o.store.releaseOrphan(dialog.callKey)) === 'released') this.#stats.orphansReleased++;
      await this.#o.endMedia?.(dialog);
    } catch (err) {
      this.#failed(err, dialog.callId, 'carried call not ended in the store');
    }
  }

  #failed(err: unknown, callId: string, what: string): void {
    this.#stats.errors++;
    this.#o.logger.warn({ err, callId }, what);
  }
}

/** Which side sent a request of the dialog, by its tags: the caller's (From = the dialog's From tag) or the callee's. */
export function sideOf(d: DialogStateRecord, fromTag: string | undefined, toTag: string | undefined): 'caller' | 'callee' | undefined {
  if (fromTag === d.fromTag && (toTag === undefined || toTag === d.toTag)) return 'caller';
  if (fromTag === d.toTag && toTag === d.fromTag) return 'callee';
  return undefined;
}

/** Where a request of a stored dialog goes: the caller's goes to the switch, the callee's to the caller. */
export function storedTarget(d: DialogStateRecord, fromTag: string | undefined, toTag: string | undefined): Target | undefined {
  const side = sideOf(d, fromTag, toTag);
  if (side === undefined) return undefined;
  const to = side === 'caller' ? d.switch : d.caller;
  return { protocol: to.protocol, address: to.address, port: to.port };
}

/**
 * A target as the store keeps it (no connection: another node opens its own); undefined for a
 * WebSocket side (reachable only over its own connection to the node that set the call up).
 */
export function dialogSide(t: Target): DialogSide | undefined {
  const p = t.protocol;
  if (p !== 'udp' && p !== 'tcp' && p !== 'tls') return undefined;
  return { protocol: p, address: t.address, port: t.port };
}
