/**
 * The `/v1/servers` view, read from the cluster store: the live dispatchers (node leases and the
 * calls they own) and the switch registry joined with probe reports and level counts.
 */
import { formatHostPort } from '../shared/config/host-port.ts';
import { levelKey, type ClusterStore, type NodeLease, type ProbeReport, type SwitchRecord } from '../shared/cluster-store/cluster-store.ts';
import type { Server } from './schemas.ts';

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

/** Every server of the cluster: dispatchers first (by id), then switches (by id). */
export async function listServers(store: ClusterStore, cluster: string): Promise<Server[]> {
  const [nodes, switches, reports, calls] = await Promise.all([store.liveNodes(), store.listSwitches(), store.probeReports(), store.calls(undefined, CALL_SCAN)]);
  const stats = await store.levelStats(switches.map((s) => levelKey('switch', s.id)));
  const byLevel = new Map(stats.map((s) => [s.level, s]));
  const perNode = new Map<string, number>();
  for (const c of calls) perNode.set(c.nodeId, (perNode.get(c.nodeId) ?? 0) + 1);
  const dispatchers = [...nodes].sort((a, b) => a.nodeId.localeCompare(b.nodeId)).map((n) => dispatcherView(n, cluster, perNode.get(n.nodeId) ?? 0));
  const pool = [...switches]
    .sort((a, b) => a.id.localeCompare(b.id))
    .map((sw) => switchView(sw, cluster, reports.filter((r) => r.switchId === sw.id), byLevel.get(levelKey('switch', sw.id))));
  return [...dispatchers, ...pool];
}
