/**
 * The health and load of every media relay (rtpengine) as this node sees them.
 *
 * Health: an ng `ping` to every relay that is not `disabled`, every `probe.interval` (the relay's
 * ng client has `probe.timeout` as its request timeout, retransmissions included). Hysteresis as
 * for switches: `fall` consecutive failures take a relay down, `rise` consecutive pongs bring it
 * back; a relay never heard of yet is up (calls flow until probes say otherwise, and the first
 * probe round runs at start). A live offer that got no answer (`MEDIA_ERR_TIMEOUT`, `_CLOSED`,
 * `_SEND`) counts as one failed probe. A relay that went down is found within
 * `probe.interval × fall` (+ one timeout); meanwhile its calls' first offers fail over.
 *
 * Load, per relay:
 *
 *     sessions = max(relay's own, cluster's) + this node's new sessions since the last cluster read
 *     load     = sessions / weight
 *
 * - relay's own: `statistics` → `currentstatistics.sessionstotal`, every `statsInterval` (what the
 *   relay really carries, including sessions of other proxies or clusters using it, and sessions
 *   restored from its Redis);
 * - cluster's: `store.relaySessionCounts()` every second (the sessions every node of this cluster
 *   created and has not deleted yet; newer than the statistics between two reads);
 * - the max, not the sum: the cluster's sessions are part of the relay's own count, so a sum would
 *   count them twice; whichever reading is higher is the better lower bound;
 * - the local picks: calls this node sent to the relay since its last cluster read, so that a
 *   burst does not all go to the relay that looked emptiest at that read (as the switch pool
 *   does for channels).
 *
 * The selection algorithm compares `sessions / weight` (algorithms/least-loaded-relay.ts).
 */
import type { ClusterStore, RelayAdminState } from '../../shared/cluster-store/cluster-store.ts';
import type { MediaConfig } from '../../shared/config/config-types.ts';
import { isSipfleetError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/log.ts';
import type { Clock, TimerHandle } from '../transaction/clock.ts';
import type { NgClient } from './ng-client.ts';

/** ms between reads of the cluster's session counts (capped by `statsInterval`). */
export const CLUSTER_COUNTS_INTERVAL_MS = 1000;

/** What probing needs of a relay. */
export interface RelayProbeTarget {
  readonly id: string;
  readonly state: RelayAdminState;
  readonly client: Pick<NgClient, 'ping' | 'statistics'>;
}

export interface RelayHealthOptions {
  probe: MediaConfig['probe'];
  /** `media.statsInterval`. */
  statsIntervalMs: number;
  /** Default `min(CLUSTER_COUNTS_INTERVAL_MS, statsIntervalMs)`. */
  countsIntervalMs?: number;
  store: Pick<ClusterStore, 'relaySessionCounts'>;
  /** The relays to probe, read at every round. */
  targets: () => Iterable<RelayProbeTarget>;
  clock: Clock;
  logger: Logger;
  /** Called whenever a relay's health changes. */
  onChange?: (relayId: string, up: boolean) => void;
}

/** Everything known about one relay (ops, metrics, tests). */
export interface RelayHealthSnapshot {
  readonly relayId: string;
  readonly up: boolean;
  readonly consecutiveSuccesses: number;
  readonly consecutiveFailures: number;
  readonly lastFailure: string | undefined;
  /** Last ping round trip, ms. */
  readonly rttMs: number | undefined;
  /** `sessionstotal` at the last `statistics` read; undefined before the first. */
  readonly relaySessions: number | undefined;
  /** The cluster's sessions on the relay at the last store read. */
  readonly clusterSessions: number;
  /** This node's new sessions on it since that read. */
  readonly picked: number;
  /** The load estimate (see the header). */
  readonly sessions: number;
}

interface State {
  up: boolean;
  successes: number;
  failures: number;
  lastFailure: string | undefined;
  rttMs: number | undefined;
  relaySessions: number | undefined;
  pinging: boolean;
  reading: boolean;
}

export class RelayHealth {
  readonly #o: RelayHealthOptions;
  readonly #fall: number;
  readonly #rise: number;
  readonly #countsIntervalMs: number;
  readonly #relays = new Map<string, State>();
  /** The cluster's sessions per relay at the last read. */
  #cluster: Record<string, number> = {};
  /** This node's new sessions per relay since the last cluster read. */
  readonly #picked = new Map<string, number>();
  #countsReading = false;
  #timers: TimerHandle[] = [];
  #running = false;

  constructor(opts: RelayHealthOptions) {
    this.#o = opts;
    this.#fall = Math.max(1, Math.floor(opts.probe.fall));
    this.#rise = Math.max(1, Math.floor(opts.probe.rise));
    this.#countsIntervalMs = opts.countsIntervalMs ?? Math.min(CLUSTER_COUNTS_INTERVAL_MS, opts.statsIntervalMs);
  }

  /** Probe at once, then every `probe.interval`; read statistics and cluster counts on their intervals. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#every(this.#o.probe.interval, () => void this.probeAll(), true);
    this.#every(this.#o.statsIntervalMs, () => void this.readStatistics(), true);
    this.#every(this.#countsIntervalMs, () => void this.readClusterCounts(), true);
  }

  stop(): void {
    this.#running = false;
    for (const t of this.#timers) t.cancel();
    this.#timers = [];
  }

  #every(ms: number, fn: () => void, now: boolean): void {
    const slot = this.#timers.length;
    const arm = (delay: number): void => {
      this.#timers[slot] = this.#o.clock.setTimer(delay, () => {
        if (!this.#running) return;
        arm(ms);
        fn();
      });
    };
    arm(now ? 0 : ms);
  }

  // ---- the views ----

  /** Up by health (a relay never probed is up). */
  isUp(relayId: string): boolean {
    return this.#relays.get(relayId)?.up ?? true;
  }

  /** The load estimate, in sessions (see the header). */
  sessions(relayId: string): number {
    const own = this.#relays.get(relayId)?.relaySessions ?? 0;
    return Math.max(own, this.#cluster[relayId] ?? 0) + (this.#picked.get(relayId) ?? 0);
  }

  /** This node put a new session on the relay. */
  notePicked(relayId: string): void {
    this.#picked.set(relayId, (this.#picked.get(relayId) ?? 0) + 1);
  }

  snapshot(relayId: string): RelayHealthSnapshot {
    const s = this.#relays.get(relayId);
    return {
      relayId,
      up: s?.up ?? true,
      consecutiveSuccesses: s?.successes ?? 0,
      consecutiveFailures: s?.failures ?? 0,
      lastFailure: s?.lastFailure,
      rttMs: s?.rttMs,
      relaySessions: s?.relaySessions,
      clusterSessions: this.#cluster[relayId] ?? 0,
      picked: this.#picked.get(relayId) ?? 0,
      sessions: this.sessions(relayId),
    };
  }

  /** The relay left the registry: forget it (it starts afresh, up, if it comes back). */
  remove(relayId: string): void {
    this.#relays.delete(relayId);
    this.#picked.delete(relayId);
  }

  // ---- fed by probes and live traffic ----

  recordSuccess(relayId: string, rttMs?: number): void {
    const s = this.#state(relayId);
    s.failures = 0;
    s.successes++;
    if (rttMs !== undefined) s.rttMs = rttMs;
    if (!s.up && s.successes >= this.#rise) this.#set(relayId, s, true, undefined);
  }

  recordFailure(relayId: string, reason: string): void {
    const s = this.#state(relayId);
    s.successes = 0;
    s.failures++;
    s.lastFailure = reason;
    if (s.up && s.failures >= this.#fall) this.#set(relayId, s, false, reason);
  }

  // ---- the rounds (public for tests; each never rejects) ----

  /** One ng `ping` to every relay that is not disabled (one in flight per relay at most). */
  async probeAll(): Promise<void> {
    const rounds: Promise<void>[] = [];
    for (const t of this.#o.targets()) {
      if (t.state === 'disabled') continue;
      const s = this.#state(t.id);
      if (s.pinging) continue;
      s.pinging = true;
      const started = this.#o.clock.now();
      rounds.push(
        t.client.ping().then(
          () => {
            s.pinging = false;
            if (this.#relays.get(t.id) === s) this.recordSuccess(t.id, this.#o.clock.now() - started);
          },
          (err: unknown) => {
            s.pinging = false;
            if (this.#relays.get(t.id) === s) this.recordFailure(t.id, isSipfleetError(err) ? err.code : String(err));
          },
        ),
      );
    }
    await Promise.all(rounds);
  }

  /** `statistics` of every relay that is up and not disabled: its own session count. */
  async readStatistics(): Promise<void> {
    const reads: Promise<void>[] = [];
    for (const t of this.#o.targets()) {
      const s = this.#relays.get(t.id);
      if (t.state === 'disabled' || s === undefined || !s.up || s.reading) continue;
      s.reading = true;
      reads.push(
        t.client.statistics().then(
          (reply) => {
            s.reading = false;
            s.relaySessions = reply.statistics.currentstatistics.sessionstotal;
          },
          (err: unknown) => {
            s.reading = false;
            this.#o.logger.debug({ err, relayId: t.id }, 'relay statistics not read');
          },
        ),
      );
    }
    await Promise.all(reads);
  }

  /** The cluster's sessions per relay; the local picks made while it was read are kept. */
  async readClusterCounts(): Promise<void> {
    if (this.#countsReading) return;
    this.#countsReading = true;
    const before = new Map(this.#picked);
    try {
      this.#cluster = await this.#o.store.relaySessionCounts();
      for (const [id, n] of [...this.#picked]) {
        const during = n - (before.get(id) ?? 0);
        if (during > 0) this.#picked.set(id, during);
        else this.#picked.delete(id);
      }
    } catch (err) {
      this.#o.logger.debug({ err }, 'relay session counts not read; keeping the last ones');
    } finally {
      this.#countsReading = false;
    }
  }

  // ---- internals ----

  #state(relayId: string): State {
    let s = this.#relays.get(relayId);
    if (s === undefined) {
      s = { up: true, successes: 0, failures: 0, lastFailure: undefined, rttMs: undefined, relaySessions: undefined, pinging: false, reading: false };
      this.#relays.set(relayId, s);
    }
    return s;
  }

  #set(relayId: string, s: State, up: boolean, reason: string | undefined): void {
    s.up = up;
    if (up) {
      s.lastFailure = undefined;
      this.#o.logger.warn({ relayId }, 'media relay up');
    } else {
      this.#o.logger.warn({ relayId, reason }, 'media relay down');
    }
    try {
      this.#o.onChange?.(relayId, up);
    } catch (err) {
      this.#o.logger.error({ err, relayId }, 'relay health change listener threw');
    }
  }
}
