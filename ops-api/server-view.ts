/**
 * The `/v1/servers` view, read from the cluster store: the live dispatchers (node leases and the
 * calls they own), the switch registry joined with probe reports and level counts, and the rtp
 * relay registry with each relay's media session count.
 */
import { formatHostPort } from '../shared/config/host-port.ts';
import { levelKey, type ClusterStore, type NodeLease, type ProbeReport, type RelayRecord, type SwitchRecord } from '../shared/cluster-store/cluster-store.ts';
import type { RtpRelay, Server } from './schemas.ts';

/** Most calls counted per dispatcher (the store lists calls; beyond this the count is a floor). */
const CALL_SCAN = 100_000;

function mean(values: number[]): number | null {
  return values.length === 0 ? null : Math.round((values.reduce((a, b) => a + b, 0) / values.length) * 100) / 100;
}

export function switchView(sw: SwitchRecord, cluster: string, reports: ProbeReport[], stats: { channels: number; cpsNow: number } | undefined): Server {
  const up = reports.filter((r) => r.up).length;
  const down = reports.length - up;
  // A switch is up when at least half of the nodes' latest reports say so; admin state wins.
  const health = reports.length === 0 ? 'unknown' : up >= down ? 'up' : 'down';
  return {
    id: sw.id,
    type: 'switch',
    address: formatHostPort(sw),
    transport: sw.transport,
    cluster,
    zone: sw.zone ?? null,
    channels: { inUse: stats?.channels ?? 0, max: sw.channels ?? null },
    cps: { now: stats?.cpsNow ?? 0, max: sw.cps ?? null },
    status: sw.state === 'active' ? health : sw.state,
    adminState: sw.state,
    health: { up, down },
    latency: {
      ewmaMs: mean(reports.flatMap((r) => (r.latencyMs === undefined ? [] : [r.latencyMs]))),
      p99Ms: reports.reduce<number | null>((max, r) => (r.p99Ms === undefined ? max : Math.max(max ?? 0, r.p99Ms)), null),
    },
    weight: sw.weight,
    priority: sw.priority,
    epoch: null,
    version: null,
    uptimeS: null,
  };
}

export function dispatcherView(node: NodeLease, cluster: string, channels: number, nowMs = Date.now()): Server {
  const info = node.info ?? {};
  const started = Number(info.startedAtMs);
  return {
    id: node.nodeId,
    type: 'dispatcher',
    // The node's listen URLs as it registered them (`udp://127.0.0.11:5060 tcp://...`).
    address: info.listen ?? null,
    transport: null,
    cluster,
    zone: null,
    channels: { inUse: channels, max: null },
    cps: { now: null, max: null },
    status: 'up',
    adminState: null,
    health: { up: 1, down: 0 },
    latency: { ewmaMs: null, p99Ms: null },
    weight: null,
    priority: null,
    epoch: node.epoch,
    version: info.version ?? null,
    uptimeS: Number.isFinite(started) && started > 0 ? Math.max(0, Math.round((nowMs - started) / 1000)) : null,
  };
}

/** A relay as `/v1/rtp-relays` shows it; `sessions` is the cluster's count (`relaySessionCounts`). */
export function rtpRelayView(relay: RelayRecord, sessions: number): RtpRelay {
  return { id: relay.id, ng: formatHostPort(relay), zone: relay.zone ?? null, weight: relay.weight, state: relay.state, sessions };
}

/**
 * A relay as one of the servers: its media sessions are the "channels in use". Relay health (the
 * nodes' ng pings) is not shared through the store, so an active relay's status is `unknown`.
 */
export function relayServerView(relay: RelayRecord, cluster: string, sessions: number): Server {
  return {
    id: relay.id,
    type: 'rtp-relay',
    address: formatHostPort(relay),
    transport: null,
    cluster,
    zone: relay.zone ?? null,
    channels: { inUse: sessions, max: null },
    cps: { now: null, max: null },
    status: relay.state === 'active' ? 'unknown' : relay.state,
    adminState: relay.state,
    health: { up: 0, down: 0 },
    latency: { ewmaMs: null, p99Ms: null },
    weight: relay.weight,
    priority: null,
    epoch: null,
    version: null,
    uptimeS: null,
  };
}

/** Every server of the cluster: dispatchers first (by id), then switches (by id), then rtp relays (by id). */
export async function listServers(store: ClusterStore, cluster: string): Promise<Server[]> {
  const [nodes, switches, reports, calls, relays, sessions] = await Promise.all([
    store.liveNodes(),
    store.listSwitches(),
    store.probeReports(),
    store.calls(undefined, CALL_SCAN),
    store.listRelays(),
    store.relaySessionCounts(),
  ]);
  const stats = await store.levelStats(switches.map((s) => levelKey('switch', s.id)));
  const byLevel = new Map(stats.map((s) => [s.level, s]));
  const perNode = new Map<string, number>();
  for (const c of calls) perNode.set(c.nodeId, (perNode.get(c.nodeId) ?? 0) + 1);
  const dispatchers = [...nodes].sort((a, b) => a.nodeId.localeCompare(b.nodeId)).map((n) => dispatcherView(n, cluster, perNode.get(n.nodeId) ?? 0));
  const pool = [...switches]
    .sort((a, b) => a.id.localeCompare(b.id))
    .map((sw) => switchView(sw, cluster, reports.filter((r) => r.switchId === sw.id), byLevel.get(levelKey('switch', sw.id))));
  const media = [...relays].sort((a, b) => a.id.localeCompare(b.id)).map((r) => relayServerView(r, cluster, sessions[r.id] ?? 0));
  return [...dispatchers, ...pool, ...media];
}
