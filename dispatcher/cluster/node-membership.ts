/**
 * This node's place in the cluster: its liveness lease (renewed every ttl/3), its epoch
 * (fencing token), the reaper that frees the calls of dead nodes, and the resync that puts this
 * node's calls back into the store after an outage.
 *
 * - Fenced (the store reaped us while we were paused, or Redis came back empty): register again
 *   for a new epoch, then re-assert our live calls under it. Nothing is released twice: the old
 *   epoch's records are gone, and release only ever acts on a record with the caller's epoch.
 * - Store unreachable: keep serving per the cluster's outage policy; heartbeats resume by
 *   themselves when it is back, and a reconnect triggers a heartbeat + resync at once.
 */
import { isSipfleetError } from '../../shared/errors.ts';
import type { ClusterStore } from '../../shared/cluster-store/cluster-store.ts';
import type { Logger } from '../../shared/log.ts';
import type { Clock, TimerHandle } from '../transaction/clock.ts';
import type { LocalCalls } from './local-calls.ts';

export interface NodeMembershipOptions {
  store: ClusterStore;
  nodeId: string;
  ttlMs: number;
  reapIntervalMs: number;
  clock: Clock;
  logger: Logger;
  localCalls: LocalCalls;
  info?: Record<string, string>;
  /** After every registration (start, fencing, a store that came back empty): put shared state back. */
  onRegistered?: () => Promise<void>;
  /**
   * Nodes this node's reaper just reaped (reaping is atomic: exactly one live node hears of each
   * dead node), e.g. to hand their registrar bindings over. Awaited before the next reap; errors
   * are logged, never thrown.
   */
  onReaped?(nodeIds: readonly string[]): void | Promise<void>;
}

export class NodeMembership {
  readonly #o: NodeMembershipOptions;
  #epoch: number | undefined;
  #liveNodes = 1;
  #timers: TimerHandle[] = [];
  #stopped = false;
  #registering: Promise<void> | undefined;
  #unsubscribe: (() => void) | undefined;
  #lastSync = 0;

  constructor(opts: NodeMembershipOptions) {
    this.#o = opts;
  }

  /** The current epoch; undefined until the first registration succeeded. */
  get epoch(): number | undefined {
    return this.#epoch;
  }

  /** Live nodes last seen (at least 1: this one). */
  get liveNodeCount(): number {
    return this.#liveNodes;
  }

  /** Whether the store knows this node right now (registered and reachable). */
  get synced(): boolean {
    return this.#epoch !== undefined && this.#o.store.connected;
  }

  /** Register (retrying in the background when the store is down) and start the loops. */
  async start(): Promise<void> {
    this.#unsubscribe = this.#o.store.onConnectionChange((up) => {
      if (up && !this.#stopped) void this.#heartbeat();
    });
    await this.register().catch(() => undefined);
    this.#loop(Math.max(100, Math.floor(this.#o.ttlMs / 3)), () => this.#heartbeat());
    this.#loop(this.#o.reapIntervalMs, () => this.#reap());
  }

  /** Get a new epoch and re-assert this node's calls under it. Concurrent callers share one attempt. */
  register(): Promise<void> {
    this.#registering ??= (async () => {
      try {
        const lease = await this.#o.store.registerNode(this.#o.nodeId, this.#o.ttlMs, this.#o.info);
        const previous = this.#epoch;
        this.#epoch = lease.epoch;
        this.#o.logger.info({ epoch: lease.epoch, previous }, 'registered in the cluster store');
        await this.#resync();
        await this.#o.onRegistered?.().catch((err: unknown) => this.#o.logger.warn({ err }, 'restoring shared state failed'));
      } finally {
        this.#registering = undefined;
      }
    })();
    return this.#registering;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#timers) t.cancel();
    this.#unsubscribe?.();
    const epoch = this.#epoch;
    if (epoch !== undefined) await this.#o.store.deregisterNode(this.#o.nodeId, epoch).catch(() => undefined);
  }

  #loop(ms: number, fn: () => Promise<void>): void {
    const tick = () => {
      if (this.#stopped) return;
      fn().finally(() => {
        if (!this.#stopped) this.#timers.push(this.#o.clock.setTimer(ms, tick));
      });
    };
    this.#timers.push(this.#o.clock.setTimer(ms, tick));
  }

  async #heartbeat(): Promise<void> {
    try {
      if (this.#epoch === undefined) return await this.register();
      const res = await this.#o.store.heartbeat(this.#o.nodeId, this.#epoch, this.#o.ttlMs);
      if (res === 'fenced') {
        this.#o.logger.warn({ epoch: this.#epoch }, 'fenced by the cluster store (lease expired); registering again');
        return await this.register();
      }
      // A reconnect after an outage: put back what the store may have lost, flush releases.
      if (this.#lastSync === 0) await this.#resync();
    } catch (err) {
      this.#lastSync = 0;
      if (!isSipfleetError(err)) this.#o.logger.error({ err }, 'heartbeat failed');
    }
  }

  async #resync(): Promise<void> {
    const epoch = this.#epoch;
    if (epoch === undefined) return;
    const store = this.#o.store;
    for (const [callId, callEpoch] of this.#o.localCalls.takePendingReleases()) {
      await store.release(callId, this.#o.nodeId, callEpoch).catch(() => this.#o.localCalls.deferRelease(callId, callEpoch));
    }
    const calls = this.#o.localCalls.all();
    if (calls.length > 0) {
      const added = await store.resyncCalls(this.#o.nodeId, epoch, calls);
      if (added > 0) this.#o.logger.info({ added, local: calls.length }, 'resynced calls into the cluster store');
    }
    this.#lastSync = this.#o.clock.now();
  }

  async #reap(): Promise<void> {
    let reaped: readonly string[] = [];
    try {
      const res = await this.#o.store.reap();
      reaped = res.nodes;
      if (res.nodes.length > 0 || res.calls > 0) this.#o.logger.warn({ nodes: res.nodes, calls: res.calls }, 'reaped');
      this.#liveNodes = Math.max(1, (await this.#o.store.liveNodes()).length);
    } catch (err) {
      if (!isSipfleetError(err)) this.#o.logger.error({ err }, 'reaper failed');
    }
    const hook = this.#o.onReaped;
    if (reaped.length === 0 || hook === undefined) return;
    try {
      await hook.call(this.#o, reaped);
    } catch (err) {
      this.#o.logger.error({ err, nodes: reaped }, 'onReaped hook failed');
    }
  }
}
