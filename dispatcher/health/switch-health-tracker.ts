/**
 * The health of every switch as this node sees it, fed by the OPTIONS prober and by live traffic.
 *
 * - A switch the tracker has not heard of, or has just started tracking, is up: calls flow until
 *   probes say otherwise.
 * - Hysteresis: `fall` consecutive failed probes take it down, `rise` consecutive good ones bring
 *   it back (HAProxy / Kamailio dispatcher style). Live traffic that timed out (`markSuspect`)
 *   takes it down at once and it then needs `rise` good probes.
 * - Slow start: after coming back up its `share` ramps linearly from 0.1 to 1 over `warmup` ms,
 *   so a recovered switch is not flooded with the calls that queued elsewhere.
 * - Quorum mode: this node's view is one vote among the live nodes' latest probe reports; a switch
 *   is down only when most of the votes say down, so one node with a bad path to a switch (or a
 *   partition) does not take it away from the whole cluster.
 */
import type { ProbeReport } from '../../shared/cluster-store/cluster-store.ts';
import type { ProbeConfig } from '../../shared/config/config-types.ts';
import type { Logger } from '../../shared/log.ts';
import type { Clock } from '../transaction/clock.ts';
import { LatencyStats } from './latency-stats.ts';
import type { SwitchHealthView } from './switch-health.ts';

/** The share a switch gets the moment it comes back up. */
export const SLOW_START_MIN_SHARE = 0.1;

export interface SwitchHealthTrackerOptions {
  probe: Pick<ProbeConfig, 'fall' | 'rise' | 'warmup' | 'quorum'>;
  clock: Clock;
  logger: Logger;
  /** This node's id: its own report among the peers' is ignored (its live view votes instead). */
  nodeId?: string;
  /** Called whenever a switch's effective health (`isUp`) changes. */
  onChange?: (switchId: string, up: boolean) => void;
}

/** A peer's vote: the fields of a `ProbeReport` the quorum needs. */
export type PeerReport = Pick<ProbeReport, 'switchId' | 'nodeId' | 'up'> & { readonly atMs?: number | undefined };

/** Everything the tracker knows about one switch (for the ops API and metrics). */
export interface SwitchHealthSnapshot {
  readonly switchId: string;
  /** Effective health (quorum applied). */
  readonly up: boolean;
  /** This node's own view from its probes and live traffic. */
  readonly localUp: boolean;
  readonly share: number;
  readonly latencyMs: number | undefined;
  readonly p99Ms: number | undefined;
  readonly consecutiveSuccesses: number;
  readonly consecutiveFailures: number;
  readonly lastFailure: string | undefined;
  /** Peers' votes counted for this switch (quorum mode). */
  readonly peerVotes: { readonly up: number; readonly down: number };
}

interface SwitchState {
  localUp: boolean;
  /** Effective health as last computed (and reported through onChange). */
  up: boolean;
  successes: number;
  failures: number;
  lastFailure: string | undefined;
  /** Clock ms when the switch last came back up; undefined when never down (no slow start). */
  upSince: number | undefined;
  readonly latency: LatencyStats;
}

export class SwitchHealthTracker implements SwitchHealthView {
  readonly #fall: number;
  readonly #rise: number;
  readonly #warmup: number;
  readonly #quorum: boolean;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #nodeId: string | undefined;
  readonly #onChange: ((switchId: string, up: boolean) => void) | undefined;
  readonly #switches = new Map<string, SwitchState>();
  /** switchId → nodeId → that node's latest vote (peers only). */
  #peers = new Map<string, Map<string, PeerReport>>();

  constructor(opts: SwitchHealthTrackerOptions) {
    this.#fall = Math.max(1, Math.floor(opts.probe.fall));
    this.#rise = Math.max(1, Math.floor(opts.probe.rise));
    this.#warmup = Math.max(0, opts.probe.warmup);
    this.#quorum = opts.probe.quorum;
    this.#clock = opts.clock;
    this.#log = opts.logger;
    this.#nodeId = opts.nodeId;
    this.#onChange = opts.onChange;
  }

  // ---- SwitchHealthView ----

  isUp(switchId: string): boolean {
    return this.#switches.get(switchId)?.up ?? true;
  }

  share(switchId: string): number {
    const s = this.#switches.get(switchId);
    if (s === undefined || this.#warmup === 0) return 1;
    if (!s.up) return SLOW_START_MIN_SHARE;
    if (s.upSince === undefined) return 1;
    const elapsed = this.#clock.now() - s.upSince;
    if (elapsed >= this.#warmup) {
      s.upSince = undefined; // warmed up: later calls skip the arithmetic
      return 1;
    }
    return SLOW_START_MIN_SHARE + (1 - SLOW_START_MIN_SHARE) * (Math.max(0, elapsed) / this.#warmup);
  }

  latencyMs(switchId: string): number | undefined {
    return this.#switches.get(switchId)?.latency.ewmaMs;
  }

  p99Ms(switchId: string): number | undefined {
    return this.#switches.get(switchId)?.latency.p99Ms;
  }

  markSuspect(switchId: string): void {
    const s = this.#state(switchId);
    s.successes = 0;
    s.failures = 0;
    s.lastFailure = 'live traffic failed';
    if (s.localUp) {
      s.localUp = false;
      this.#log.info({ switchId }, 'switch suspect: live traffic failed, waiting for good probes');
    }
    this.#update(switchId, s, 'live traffic failed');
  }

  // ---- fed by the prober ----

  /** Start tracking a switch (idempotent); a new one is up. */
  track(switchId: string): void {
    if (this.#switches.has(switchId)) return;
    // In quorum mode the peers may already see it down.
    this.#update(switchId, this.#state(switchId), 'peers see it down');
  }

  /** A probe got an acceptable answer after `rttMs`. */
  recordSuccess(switchId: string, rttMs: number): void {
    const s = this.#state(switchId);
    s.latency.add(rttMs);
    s.failures = 0;
    s.successes++;
    if (!s.localUp && s.successes >= this.#rise) {
      s.localUp = true;
      s.lastFailure = undefined;
    }
    this.#update(switchId, s, undefined);
  }

  /** A probe failed (timeout, transport error, unacceptable status): `reason` is for the logs. */
  recordFailure(switchId: string, reason: string): void {
    const s = this.#state(switchId);
    s.successes = 0;
    s.failures++;
    s.lastFailure = reason;
    if (s.localUp && s.failures >= this.#fall) s.localUp = false;
    this.#update(switchId, s, reason);
  }

  /**
   * The other nodes' latest reports (quorum mode), replacing the previous set. Reports of this
   * node are ignored; one vote per node and switch (the newest when a node appears twice).
   */
  setPeerReports(reports: readonly PeerReport[]): void {
    const peers = new Map<string, Map<string, PeerReport>>();
    for (const r of reports) {
      if (r.nodeId === this.#nodeId) continue;
      let byNode = peers.get(r.switchId);
      if (byNode === undefined) peers.set(r.switchId, (byNode = new Map()));
      const prev = byNode.get(r.nodeId);
      if (prev === undefined || (r.atMs ?? 0) >= (prev.atMs ?? 0)) byNode.set(r.nodeId, r);
    }
    this.#peers = peers;
    if (!this.#quorum) return;
    for (const [id, s] of this.#switches) this.#update(id, s, 'peers see it down');
  }

  /** The switch left the registry: forget it (a later `track` starts afresh, up). */
  remove(switchId: string): void {
    this.#switches.delete(switchId);
  }

  /** This node's own view (what it reports to the cluster), true when untracked. */
  localUp(switchId: string): boolean {
    return this.#switches.get(switchId)?.localUp ?? true;
  }

  /** Ids of the tracked switches. */
  ids(): string[] {
    return [...this.#switches.keys()];
  }

  snapshot(switchId: string): SwitchHealthSnapshot | undefined {
    const s = this.#switches.get(switchId);
    if (s === undefined) return undefined;
    return {
      switchId,
      up: s.up,
      localUp: s.localUp,
      share: this.share(switchId),
      latencyMs: s.latency.ewmaMs,
      p99Ms: s.latency.p99Ms,
      consecutiveSuccesses: s.successes,
      consecutiveFailures: s.failures,
      lastFailure: s.lastFailure,
      peerVotes: this.#peerVotes(switchId),
    };
  }

  // ---- internals ----

  #state(switchId: string): SwitchState {
    let s = this.#switches.get(switchId);
    if (s === undefined) {
      s = { localUp: true, up: true, successes: 0, failures: 0, lastFailure: undefined, upSince: undefined, latency: new LatencyStats() };
      this.#switches.set(switchId, s);
    }
    return s;
  }

  #peerVotes(switchId: string): { up: number; down: number } {
    let up = 0;
    let down = 0;
    const byNode = this.#quorum ? this.#peers.get(switchId) : undefined;
    if (byNode !== undefined) {
      for (const r of byNode.values()) {
        if (r.up) up++;
        else down++;
      }
    }
    return { up, down };
  }

  /** Down only when most votes (ours plus the peers' that reported) say down; a tie stays up. */
  #effective(switchId: string, s: SwitchState): boolean {
    if (!this.#quorum) return s.localUp;
    const votes = this.#peerVotes(switchId);
    const down = votes.down + (s.localUp ? 0 : 1);
    const up = votes.up + (s.localUp ? 1 : 0);
    return down <= up;
  }

  #update(switchId: string, s: SwitchState, reason: string | undefined): void {
    const up = this.#effective(switchId, s);
    if (up === s.up) return;
    s.up = up;
    const votes = this.#quorum ? { peerVotes: this.#peerVotes(switchId), localUp: s.localUp } : {};
    if (up) {
      s.upSince = this.#warmup > 0 ? this.#clock.now() : undefined;
      this.#log.warn({ switchId, warmupMs: this.#warmup, ...votes }, 'switch up');
    } else {
      s.upSince = undefined;
      this.#log.warn({ switchId, reason: reason ?? s.lastFailure, ...votes }, 'switch down');
    }
    try {
      this.#onChange?.(switchId, up);
    } catch (err) {
      this.#log.error({ err, switchId }, 'switch health change listener threw');
    }
  }
}
