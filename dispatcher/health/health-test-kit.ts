/**
 * Test-only harness for the health checks: OptionsProber + SwitchHealthTracker over a real
 * TransactionLayer on FakeTransport + ManualClock (no sockets, no real time), and a tiny
 * in-memory probe-report store for when a test wants to control the store by hand.
 */
import type { ClusterStore, NodeLease, ProbeReport, SwitchRecord } from '../../shared/cluster-store/cluster-store.ts';
import type { ProbeConfig } from '../../shared/config/config-types.ts';
import { LocalIdentity } from '../proxy/local-identity.ts';
import { ManualClock } from '../transaction/manual-clock.ts';
import { TransactionLayer } from '../transaction/transaction-layer.ts';
import { LISTENERS, logger, parseRequest, RecordingTU, responseTo } from '../transaction/transaction-test-kit.ts';
import { FakeTransport, type SentRecord } from '../transport/fake-transport.ts';
import type { SrvResolver } from '../routing/srv-resolver.ts';
import { OptionsProber } from './options-prober.ts';
import { SwitchHealthTracker } from './switch-health-tracker.ts';

export { logger };

export const PROBE: ProbeConfig = {
  interval: 1000,
  timeout: 400,
  fall: 3,
  rise: 2,
  accept: [200],
  warmup: 0,
  quorum: false,
};

export function switchRecord(id: string, host: string, o: Partial<SwitchRecord> = {}): SwitchRecord {
  return { id, host, port: 5060, transport: 'udp', weight: 1, priority: 1, state: 'active', ...o };
}

export const SW1 = switchRecord('sw1', '192.0.2.21');
export const SW2 = switchRecord('sw2', '192.0.2.22');
export const SW3 = switchRecord('sw3', '192.0.2.23');

export type ProbeStore = Pick<ClusterStore, 'putProbeReport' | 'probeReports' | 'liveNodes'>;

/** Probe reports with a TTL on a ManualClock, and a settable list of live nodes. */
export class FakeProbeStore implements ProbeStore {
  readonly #clock: ManualClock;
  readonly #reports = new Map<string, { report: ProbeReport; expiresAt: number }>();
  /** Node ids with a live lease; undefined = every node that wrote a report. */
  live: string[] | undefined;
  /** When set, every call rejects (the store is down). */
  down = false;
  puts = 0;

  constructor(clock: ManualClock) {
    this.#clock = clock;
  }

  async putProbeReport(report: Omit<ProbeReport, 'atMs'>, ttlMs: number): Promise<void> {
    if (this.down) throw new Error('store down');
    this.puts++;
    const now = this.#clock.now();
    this.#reports.set(`${report.switchId}|${report.nodeId}`, { report: { ...report, atMs: now }, expiresAt: now + ttlMs });
  }

  async probeReports(switchId?: string): Promise<ProbeReport[]> {
    if (this.down) throw new Error('store down');
    const now = this.#clock.now();
    const out: ProbeReport[] = [];
    for (const { report, expiresAt } of this.#reports.values()) {
      if (expiresAt > now && (switchId === undefined || report.switchId === switchId)) out.push(report);
    }
    return out;
  }

  async liveNodes(): Promise<NodeLease[]> {
    if (this.down) throw new Error('store down');
    const ids = this.live ?? [...new Set([...this.#reports.values()].map((r) => r.report.nodeId))];
    return ids.map((nodeId) => ({ nodeId, epoch: 1, expiresAtMs: this.#clock.now() + 60_000 }));
  }
}

export interface ProberHarness {
  clock: ManualClock;
  transport: FakeTransport;
  layer: TransactionLayer;
  identity: LocalIdentity;
  health: SwitchHealthTracker;
  prober: OptionsProber;
  store: ProbeStore;
  /** The registry the prober reads; tests edit it in place. */
  registry: SwitchRecord[];
  /** Every onChange call, in order. */
  changes: Array<[string, boolean]>;
}

export function proberHarness(
  o: { probe?: Partial<ProbeConfig>; switches?: readonly SwitchRecord[]; store?: ProbeStore; nodeId?: string; clock?: ManualClock; srv?: SrvResolver; selfBehind?: () => boolean } = {},
): ProberHarness {
  const clock = o.clock ?? new ManualClock();
  const transport = new FakeTransport(LISTENERS);
  const layer = new TransactionLayer({ transport, user: new RecordingTU(), logger, clock });
  transport.delegate = layer;
  const identity = new LocalIdentity(LISTENERS);
  const probe = { ...PROBE, ...o.probe };
  const nodeId = o.nodeId ?? 'n1';
  const changes: Array<[string, boolean]> = [];
  const health = new SwitchHealthTracker({ probe, clock, logger, nodeId, onChange: (id, up) => changes.push([id, up]) });
  const registry = [...(o.switches ?? [SW1])];
  const store = o.store ?? new FakeProbeStore(clock);
  const prober = new OptionsProber({ layer, identity, store, nodeId, probe, health, switches: () => registry, clock, logger, srv: o.srv, selfBehind: o.selfBehind });
  return { clock, transport, layer, identity, health, prober, store, registry, changes };
}

/** First transmissions of OPTIONS to a host, failed sends included (UDP retransmissions, same branch, left out). */
export function probesTo(h: ProberHarness, host: string): SentRecord[] {
  const seen = new Set<string>();
  const out: SentRecord[] = [];
  for (const s of h.transport.sentTo({ address: host }, true)) {
    if (!s.text.startsWith('OPTIONS ')) continue;
    const branch = parseRequest(s).via.branch ?? '';
    if (seen.has(branch)) continue;
    seen.add(branch);
    out.push(s);
  }
  return out;
}

/**
 * Advance timer by timer (at most to `until`) until a new probe goes to `host`; returns it and
 * leaves the clock at its send time, or undefined when none went out by `until`.
 */
export function nextProbe(h: ProberHarness, host: string, until = h.clock.now() + 10 * PROBE.interval): SentRecord | undefined {
  const before = probesTo(h, host).length;
  for (;;) {
    const probes = probesTo(h, host);
    if (probes.length > before) return probes[before];
    const next = h.clock.nextTimerAt();
    if (next === undefined || next > until) return undefined;
    h.clock.advanceTo(next);
  }
}

/** The switch answers one of our probes. */
export function answer(h: ProberHarness, probe: SentRecord, status: number, reason?: string): void {
  const flow = { protocol: probe.target.protocol, remoteAddress: probe.target.address, remotePort: probe.target.port };
  h.transport.inject(responseTo(probe, status, reason, { toTag: 'sw-tag' }), flow);
}

/** Probe `host` `n` times, answering each with `status` (or leaving it unanswered when undefined). */
export function probeRounds(h: ProberHarness, host: string, n: number, status: number | undefined): SentRecord[] {
  const out: SentRecord[] = [];
  for (let i = 0; i < n; i++) {
    const p = nextProbe(h, host);
    if (p === undefined) throw new Error(`no probe to ${host}`);
    out.push(p);
    if (status !== undefined) answer(h, p, status);
  }
  return out;
}
