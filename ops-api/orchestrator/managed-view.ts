/**
 * `/v1/servers` with the orchestrator's view joined in: each server it runs gets `managed` (backend,
 * process state, pid, restarts, exit, log file); a draining dispatcher shows `draining`; a server it
 * runs that the store does not show (a stopped dispatcher has no lease, a failed deploy never reached
 * the registry) is listed too, `down`.
 */
import type { Server } from '../schemas.ts';
import type { ServerInstance } from './orchestrator.ts';

const TYPE_ORDER: Record<string, number> = { dispatcher: 0, switch: 1 };

export function managedState(i: ServerInstance): NonNullable<Server['managed']> {
  return {
    backend: i.backend,
    state: i.state,
    pid: i.pid ?? null,
    startedAt: i.startedAt ?? null,
    exitCode: i.exitCode ?? null,
    signal: i.signal ?? null,
    restarts: i.restarts,
    draining: i.draining,
    logFile: i.logFile,
    http: i.http,
  };
}

function stub(i: ServerInstance, cluster: string): Server {
  const first = i.listen[0] ?? '';
  return {
    id: i.id,
    type: i.kind,
    address: i.kind === 'switch' ? first.replace(/^[a-z]+:\/\//, '') || null : i.listen.join(' ') || null,
    transport: null,
    cluster,
    zone: null,
    channels: { inUse: 0, max: null },
    cps: { now: null, max: null },
    status: 'down',
    adminState: null,
    health: { up: 0, down: 0 },
    latency: { ewmaMs: null, p99Ms: null },
    weight: null,
    priority: null,
    epoch: null,
    version: null,
    uptimeS: null,
  };
}

export function withManaged(servers: readonly Server[], instances: readonly ServerInstance[], cluster: string): Server[] {
  const byId = new Map(instances.map((i) => [i.id, i]));
  const out = servers.map((s): Server => {
    const i = byId.get(s.id);
    if (i === undefined || i.kind !== s.type) return s;
    byId.delete(s.id);
    const view: Server = { ...s, managed: managedState(i) };
    if (i.kind === 'dispatcher' && i.draining && i.state === 'running') {
      view.status = 'draining';
      view.adminState = 'draining';
    }
    return view;
  });
  for (const i of byId.values()) out.push({ ...stub(i, cluster), managed: managedState(i) });
  // Same order as listServers: by type (dispatchers, switches, then the rest), then by id.
  const rank = (s: Server) => TYPE_ORDER[s.type] ?? 2;
  return out.sort((a, b) => rank(a) - rank(b) || (rank(a) === rank(b) && a.type === b.type ? a.id.localeCompare(b.id) : 0));
}
