/**
 * Active health checks: every `probe.interval` each switch that is not admin-disabled gets one
 * SIP OPTIONS (RFC 3261 §11) through the transaction layer, and the outcome feeds the health
 * tracker:
 * - a final response whose code is in `probe.accept` → success, with the round trip;
 * - any other final, no final within `probe.timeout` (the client transaction is then aborted),
 *   Timer F or a transport error (§8.1.3.1) → failure; provisional responses are ignored.
 *
 * A probe that times out while this node is behind on its own input (overload control's `behind`:
 * its UDP queue at a quarter of the shedding mark or more, or shedding, and 5 s after) says nothing
 * about the switch: its answer may be waiting in our own queue. Such a probe counts neither way
 * (as for failover in switch-pool.ts), so an overloaded node does not mark healthy switches down
 * and make its overload worse. Answers that do arrive, and errors, count as usual.
 *
 * Probes are spread over the interval (a fixed offset per switch id), one in flight per switch at
 * most; the first probe of a switch (at start, or when it joins the registry) goes at once, since
 * readiness (ha/warm-up.ts) waits for it. After each outcome this node's view is written to the
 * cluster store (expiring after three intervals, so a dead node's views vanish); in quorum mode
 * the other nodes' reports are read once per round and handed to the tracker. The store may be
 * down: probing goes on regardless.
 */
import type { ClusterStore, ProbeReport, SwitchRecord } from '../../shared/cluster-store/cluster-store.ts';
import type { ProbeConfig } from '../../shared/config/config-types.ts';
import type { Logger } from '../../shared/log.ts';
import type { SipResponse } from '../../shared/sip/index.ts';
import type { LocalIdentity } from '../proxy/local-identity.ts';
import { resolveSwitchTarget } from '../proxy/route-target.ts';
import { sharedSrvResolver, type SrvResolver } from '../routing/srv-resolver.ts';
import type { ClientTransaction } from '../transaction/client-transaction.ts';
import type { Clock, TimerHandle } from '../transaction/clock.ts';
import type { TransactionLayer } from '../transaction/transaction-layer.ts';
import type { ClientTransactionUser } from '../transaction/transaction-user.ts';
import type { Target } from '../transport/transport.ts';
import { buildOptionsRequest } from './options-request.ts';
import { probeOffset } from './probe-offset.ts';
import type { SwitchHealthTracker } from './switch-health-tracker.ts';

/** Reports outlive this many intervals: long enough to survive one missed write. */
export const REPORT_TTL_INTERVALS = 3;

export interface OptionsProberOptions {
  layer: TransactionLayer;
  identity: LocalIdentity;
  /** Only the probe-report and liveness calls are used. */
  store: Pick<ClusterStore, 'putProbeReport' | 'probeReports' | 'liveNodes'>;
  nodeId: string;
  probe: ProbeConfig;
  health: SwitchHealthTracker;
  /** The registry as it is now (admin state included). */
  switches: () => readonly SwitchRecord[];
  clock: Clock;
  logger: Logger;
  /** Resolves switches given as DNS SRV names (each probe goes to one pick); default the process-wide one. */
  srv?: SrvResolver | undefined;
  /** True while this node is behind on its own input (admission/overload-guard.ts `behind`). */
  selfBehind?: () => boolean;
}

/** The failure reason of a probe that got no final answer in time (our deadline, or Timer F). */
const TIMEOUT = 'timeout';

type Outcome = { readonly ok: true; readonly rttMs: number } | { readonly ok: false; readonly reason: string };

interface Flight {
  readonly sentAt: number;
  txn: ClientTransaction | undefined;
  deadline: TimerHandle | undefined;
  done: boolean;
}

interface Probed {
  /** The next probe of this round, when scheduled. */
  timer: TimerHandle | undefined;
  flight: Flight | undefined;
  cseq: number;
}

export class OptionsProber {
  readonly #o: OptionsProberOptions;
  readonly #log: Logger;
  readonly #probed = new Map<string, Probed>();
  /** Transactions we started and that may still hold timers (aborted on stop). */
  readonly #txns = new Set<ClientTransaction>();
  #roundTimer: TimerHandle | undefined;
  #running = false;
  #peerReads = 0;
  #peerApplied = 0;
  /** Probe timeouts not counted against a switch because this node was behind (see the header). */
  inconclusive = 0;

  constructor(opts: OptionsProberOptions) {
    this.#o = opts;
    this.#log = opts.logger;
  }

  get running(): boolean {
    return this.#running;
  }

  /** Start probing: the first round begins now. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#round(this.#o.clock.now());
  }

  /** Stop probing: cancels every timer and abandons the probes in flight (their outcome is dropped). */
  stop(): void {
    this.#running = false;
    this.#roundTimer?.cancel();
    this.#roundTimer = undefined;
    for (const p of this.#probed.values()) this.#cancel(p);
    this.#probed.clear();
    for (const txn of this.#txns) txn.abort();
    this.#txns.clear();
  }

  // ---- rounds ----

  #round(at: number): void {
    if (!this.#running) return;
    const { clock, probe } = this.#o;
    const registry = this.#registry();
    if (registry !== undefined) {
      const byId = new Map(registry.map((sw) => [sw.id, sw]));
      // Switches gone from the registry: stop probing them and forget their health.
      for (const id of [...this.#probed.keys()]) if (!byId.has(id)) this.#forget(id);
      for (const id of this.#o.health.ids()) if (!byId.has(id)) this.#o.health.remove(id);
      for (const sw of registry) {
        if (sw.state === 'disabled') {
          // Admin-disabled: not probed; its last health stays until it is enabled again.
          const p = this.#probed.get(sw.id);
          p?.timer?.cancel();
          if (p !== undefined) p.timer = undefined;
          continue;
        }
        this.#o.health.track(sw.id);
        // A switch this node has not probed yet (at start, or just added) is probed at once: the
        // node's readiness and the switch's first use wait for that answer. After that, its offset.
        const first = !this.#probed.has(sw.id);
        this.#schedule(sw.id, first ? at : at + probeOffset(sw.id, probe.interval, probe.timeout));
      }
    }
    for (const txn of this.#txns) if (txn.terminated) this.#txns.delete(txn);
    if (probe.quorum) void this.#readPeers();
    // Next round on the grid (no drift); a late clock starts it at once rather than catching up.
    const next = Math.max(at + probe.interval, clock.now());
    this.#roundTimer = clock.setTimer(next - clock.now(), () => this.#round(next));
  }

  #registry(): readonly SwitchRecord[] | undefined {
    try {
      return this.#o.switches();
    } catch (err) {
      this.#log.error({ err }, 'probe round skipped: the switch list could not be read');
      return undefined;
    }
  }

  #schedule(id: string, at: number): void {
    let p = this.#probed.get(id);
    if (p === undefined) this.#probed.set(id, (p = { timer: undefined, flight: undefined, cseq: 0 }));
    if (p.timer !== undefined) return;
    const entry = p;
    entry.timer = this.#o.clock.setTimer(Math.max(0, at - this.#o.clock.now()), () => {
      entry.timer = undefined;
      this.#fire(id, entry);
    });
  }

  // ---- one probe ----

  #fire(id: string, p: Probed): void {
    if (!this.#running || this.#probed.get(id) !== p) return;
    // Re-read the registry: the switch may have been removed, disabled or moved since the round began.
    const sw = this.#registry()?.find((s) => s.id === id);
    if (sw === undefined) {
      this.#forget(id);
      this.#o.health.remove(id);
      return;
    }
    if (sw.state === 'disabled' || p.flight !== undefined) return;
    this.#send(id, sw, p);
  }

  #send(id: string, sw: SwitchRecord, p: Probed): void {
    const { clock, probe } = this.#o;
    const flight: Flight = { sentAt: clock.now(), txn: undefined, deadline: undefined, done: false };
    p.flight = flight;
    p.cseq = p.cseq >= 0x7fff_ffff ? 1 : p.cseq + 1;
    flight.deadline = clock.setTimer(probe.timeout, () => {
      flight.txn?.abort();
      this.#settle(id, p, flight, { ok: false, reason: TIMEOUT });
    });
    const user: ClientTransactionUser = {
      onResponse: (res: SipResponse) => {
        if (res.status < 200) return;
        if (probe.accept.includes(res.status)) this.#settle(id, p, flight, { ok: true, rttMs: clock.now() - flight.sentAt });
        else this.#settle(id, p, flight, { ok: false, reason: `${res.status} ${res.reason}` });
      },
      onTimeout: () => this.#settle(id, p, flight, { ok: false, reason: TIMEOUT }),
      onTransportError: (err: Error) => this.#settle(id, p, flight, { ok: false, reason: `transport error: ${err.message}` }),
    };
    // An SRV name is resolved first (within the probe's timeout); one that does not resolve fails the probe.
    const target = resolveSwitchTarget(sw, this.#o.srv ?? sharedSrvResolver());
    if (!(target instanceof Promise)) return this.#transmit(id, sw, p, flight, user, target);
    target.then(
      (t) => {
        if (flight.done || !this.#running || this.#probed.get(id) !== p) return;
        if (t === undefined) this.#settle(id, p, flight, { ok: false, reason: `DNS: ${sw.host} does not resolve` });
        else this.#transmit(id, sw, p, flight, user, t);
      },
      (err: unknown) => this.#settle(id, p, flight, { ok: false, reason: `DNS: ${err instanceof Error ? err.message : String(err)}` }),
    );
  }

  #transmit(id: string, sw: SwitchRecord, p: Probed, flight: Flight, user: ClientTransactionUser, target: Target): void {
    const layer = this.#o.layer;
    try {
      const txn = layer.sendRequest(buildOptionsRequest(sw, this.#o.identity, p.cseq), target, user);
      if (flight.done) txn.abort();
      else {
        flight.txn = txn;
        this.#txns.add(txn);
      }
    } catch (err) {
      this.#settle(id, p, flight, { ok: false, reason: `send failed: ${err instanceof Error ? err.message : String(err)}` });
    }
  }

  #settle(id: string, p: Probed, flight: Flight, outcome: Outcome): void {
    if (flight.done) return;
    flight.done = true;
    flight.deadline?.cancel();
    if (p.flight === flight) p.flight = undefined;
    if (!this.#running || this.#probed.get(id) !== p) return;
    const health = this.#o.health;
    if (outcome.ok) health.recordSuccess(id, outcome.rttMs);
    else if (outcome.reason === TIMEOUT && this.#o.selfBehind?.() === true) {
      this.inconclusive++;
      this.#log.debug({ switchId: id }, 'OPTIONS probe timed out while this node is behind on its input: not counted');
      return;
    } else {
      this.#log.debug({ switchId: id, reason: outcome.reason }, 'OPTIONS probe failed');
      health.recordFailure(id, outcome.reason);
    }
    this.#report(id);
  }

  /** Write this node's own view (not the quorum result: votes must not feed on themselves). */
  #report(id: string): void {
    const { health, store, nodeId, probe } = this.#o;
    const report: Omit<ProbeReport, 'atMs'> = {
      switchId: id,
      nodeId,
      up: health.localUp(id),
      latencyMs: health.latencyMs(id),
      p99Ms: health.p99Ms(id),
    };
    Promise.resolve()
      .then(() => store.putProbeReport(report, REPORT_TTL_INTERVALS * probe.interval))
      .catch((err: unknown) => this.#log.debug({ err, switchId: id }, 'probe report not stored'));
  }

  /** Quorum mode: the live nodes' latest reports (ours excluded); on a store error none (own view decides). */
  async #readPeers(): Promise<void> {
    const seq = ++this.#peerReads;
    const { store, nodeId, health } = this.#o;
    let peers: ProbeReport[] = [];
    try {
      const [reports, live] = await Promise.all([store.probeReports(), store.liveNodes().catch(() => undefined)]);
      // Reports expire on their own; the lease check also drops a node reaped a moment ago.
      const liveIds = live === undefined ? undefined : new Set(live.map((n) => n.nodeId));
      peers = reports.filter((r) => r.nodeId !== nodeId && (liveIds === undefined || liveIds.has(r.nodeId)));
    } catch (err) {
      this.#log.debug({ err }, 'peer probe reports unavailable; using this node\'s view only');
    }
    // Only the newest read counts, and nothing after stop().
    if (!this.#running || seq < this.#peerApplied) return;
    this.#peerApplied = seq;
    health.setPeerReports(peers);
  }

  // ---- bookkeeping ----

  #cancel(p: Probed): void {
    p.timer?.cancel();
    p.timer = undefined;
    const f = p.flight;
    if (f !== undefined) {
      f.done = true;
      f.deadline?.cancel();
      f.txn?.abort();
      p.flight = undefined;
    }
  }

  #forget(id: string): void {
    const p = this.#probed.get(id);
    if (p === undefined) return;
    this.#cancel(p);
    this.#probed.delete(id);
  }
}
