/**
 * The media relay service (the proxy's `MediaService`): per new call, the relay (rtpengine) its
 * media goes through, chosen once and kept with the call.
 *
 * `startCall`:
 *   1. the call's zone (zone-policy.ts); `none` → direct media (undefined);
 *   2. no relay in the registry at all → direct media (a cluster without relays works as before);
 *   3. the candidates: zone by zone (the call's, the next ones, the unzoned), in each the usable
 *      relays (admin `active`, health up) ordered by the selection algorithm (least loaded);
 *   4. none usable → `media.required`: reject `MEDIA_ERR_NO_RELAY` (the proxy answers 503), else
 *      direct media;
 *   5. the first candidate: the call's session is recorded in the cluster store
 *      (`putMediaSession`, expiring at `cluster.maxCallAge`) so that the reaper of a dead node
 *      finds it, and kept here for `find` (the in-dialog requests of a call come back to the
 *      node that Record-Routed it).
 *
 * Calls are ended by the proxy (BYE, CANCEL, rejection, dialog reap); a call still here past
 * `maxCallAge` (one that never got a final answer or BYE) is ended by the sweep (`sweepExpired`,
 * every 10 s).
 */
import type { ClusterStore } from '../../shared/cluster-store/cluster-store.ts';
import { SipfleetError, isSipfleetError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/log.ts';
import type { MediaCall, MediaCallContext, MediaService } from '../proxy/media-service.ts';
import type { Clock, TimerHandle } from '../transaction/clock.ts';
import { LeastLoadedRelay } from './algorithms/least-loaded-relay.ts';
import { RelayCall, type MediaCallCounters, type RelayCallDeps } from './relay-call.ts';
import type { RelayLease, RelayPool } from './relay-pool.ts';
import type { RelaySelectionAlgorithm } from './relay-selection.ts';
import type { SessionDeleter } from './session-deleter.ts';
import { ZonePolicy } from './zone-policy.ts';

/** ms between sweeps for calls past `maxCallAge`. */
export const EXPIRY_SWEEP_MS = 10_000;

export interface MediaRelayServiceOptions {
  nodeId: string;
  pool: Pick<RelayPool, 'snapshot' | 'size' | 'usable' | 'lease' | 'indexOf' | 'health'>;
  policy: ZonePolicy;
  store: Pick<ClusterStore, 'putMediaSession' | 'removeMediaSession'>;
  deleter: SessionDeleter;
  /** `media.required`. */
  required: boolean;
  /** `cluster.maxCallAge`. */
  maxCallAgeMs: number;
  clock: Clock;
  logger: Logger;
  /** Default least loaded. */
  algorithm?: RelaySelectionAlgorithm;
}

export interface MediaServiceStats {
  /** Calls with a relay on this node now. */
  sessions: number;
  calls: { relayed: number; direct: number; refused: number };
  offers: MediaCallCounters['offers'];
  answers: MediaCallCounters['answers'];
  /** Calls ended by the max-age sweep. */
  expired: number;
}

export class MediaRelayService implements MediaService {
  readonly #o: MediaRelayServiceOptions;
  readonly #algorithm: RelaySelectionAlgorithm;
  readonly #calls = new Map<string, RelayCall>();
  readonly #counters: MediaCallCounters = { offers: { ok: 0, retried: 0, failed: 0 }, answers: { ok: 0, failed: 0 } };
  readonly #callStats = { relayed: 0, direct: 0, refused: 0 };
  readonly #ending = new Set<Promise<void>>();
  readonly #deps: RelayCallDeps;
  #expired = 0;
  #sweep: TimerHandle | undefined;

  constructor(o: MediaRelayServiceOptions) {
    this.#o = o;
    this.#algorithm = o.algorithm ?? new LeastLoadedRelay();
    this.#deps = {
      nodeId: o.nodeId,
      maxCallAgeMs: o.maxCallAgeMs,
      store: o.store,
      deleter: o.deleter,
      next: (order, tried) => this.#lease(order, tried),
      recordFailure: (id, reason) => o.pool.health.recordFailure(id, reason),
      notePicked: (id) => o.pool.health.notePicked(id),
      ending: (_call, done) => {
        this.#ending.add(done);
        void done.finally(() => this.#ending.delete(done));
      },
      ended: (call) => {
        if (this.#calls.get(call.callId) === call) this.#calls.delete(call.callId);
      },
      counters: this.#counters,
      logger: o.logger,
    };
  }

  /** Start the max-age sweep. */
  start(): void {
    if (this.#sweep !== undefined) return;
    const arm = (): void => {
      this.#sweep = this.#o.clock.setTimer(EXPIRY_SWEEP_MS, () => {
        arm();
        this.sweepExpired();
      });
    };
    arm();
  }

  startCall(ctx: MediaCallContext): MediaCall | undefined | Promise<MediaCall | undefined> {
    const pool = this.#o.pool;
    // Direct media is known at once: no promise for it (see MediaService.startCall).
    if (pool.size === 0) return this.#direct();
    const zone = this.#o.policy.zoneOf(ctx);
    if (ZonePolicy.isDirect(zone)) return this.#direct();
    const order = ctx.fromTag === '' ? [] : this.#order(zone);
    const lease = this.#lease(order, new Set());
    if (lease === undefined) {
      if (!this.#o.required) return this.#direct();
      this.#callStats.refused++;
      const why = ctx.fromTag === '' ? 'the INVITE has no From tag' : `no usable media relay${zone === undefined ? '' : ` for zone ${zone}`}`;
      return Promise.reject(new SipfleetError('MEDIA_ERR_NO_RELAY', why, { detail: { zone: zone ?? null, relays: pool.size } }));
    }
    return this.#relayed(ctx, lease, order);
  }

  async #relayed(ctx: MediaCallContext, lease: RelayLease, order: readonly string[]): Promise<MediaCall> {
    const pool = this.#o.pool;
    pool.health.notePicked(lease.relayId);
    const call = new RelayCall(ctx.callId, ctx.fromTag, lease, order, this.#o.clock.now(), this.#deps);
    this.#calls.set(ctx.callId, call);
    this.#callStats.relayed++;
    await this.#o.store
      .putMediaSession({ callId: ctx.callId, fromTag: ctx.fromTag, relayId: lease.relayId, nodeId: this.#o.nodeId }, this.#o.maxCallAgeMs)
      .catch((err: unknown) => {
        // During a store outage every call gets here: debug, the store's own state is logged elsewhere.
        const level = isSipfleetError(err) && err.code === 'STORE_ERR_UNAVAILABLE' ? 'debug' : 'warn';
        this.#o.logger[level]({ err, callId: ctx.callId }, "media session not recorded in the store; a node crash would leave it to the relay's timeout");
      });
    return call;
  }

  find(callId: string): MediaCall | undefined {
    return this.#calls.get(callId);
  }

  /** End the calls older than `maxCallAge` (ones the proxy never ended). */
  sweepExpired(): number {
    const cutoff = this.#o.clock.now() - this.#o.maxCallAgeMs;
    let n = 0;
    for (const call of [...this.#calls.values()]) {
      if (call.startedAt > cutoff) continue;
      n++;
      void call.end('max-age');
    }
    this.#expired += n;
    return n;
  }

  stats(): MediaServiceStats {
    const c = this.#counters;
    return { sessions: this.#calls.size, calls: { ...this.#callStats }, offers: { ...c.offers }, answers: { ...c.answers }, expired: this.#expired };
  }

  /**
   * Shutdown: stop the sweep, end every call still held (its relay session deleted), and wait at
   * most `waitMs` for the deletes in flight.
   */
  async close(waitMs = 2000): Promise<void> {
    this.#sweep?.cancel();
    this.#sweep = undefined;
    for (const call of [...this.#calls.values()]) void call.end('shutdown');
    if (this.#ending.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.#ending]), new Promise<void>((done) => (timer = setTimeout(done, waitMs)))]);
    clearTimeout(timer);
  }

  /** Relay ids to try for a call of `zone`, best first. */
  #order(zone: string | undefined): string[] {
    const pool = this.#o.pool;
    const out: string[] = [];
    for (const group of this.#o.policy.groups(zone, pool.snapshot())) {
      const usable = group.filter((r) => pool.usable(r.id));
      if (usable.length === 0) continue;
      out.push(...this.#algorithm.order(usable.map((r) => ({ id: r.id, weight: r.weight, sessions: pool.health.sessions(r.id), index: pool.indexOf(r.id) }))));
    }
    return out;
  }

  /** The first relay of `order` not tried yet that is still usable and has a client, leased. */
  #lease(order: readonly string[], tried: ReadonlySet<string>): RelayLease | undefined {
    for (const id of order) {
      if (tried.has(id) || !this.#o.pool.usable(id)) continue;
      const lease = this.#o.pool.lease(id);
      if (lease !== undefined) return lease;
    }
    return undefined;
  }

  #direct(): undefined {
    this.#callStats.direct++;
    return undefined;
  }
}
