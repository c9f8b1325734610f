/**
 * A real cluster on loopback for end-to-end tests: a redis-server, N dispatcher processes on
 * 127.0.0.11, .12, .13... sharing it, and switch-sims on 127.0.0.21, .22... Everything it starts
 * is stopped by `stop()`.
 */
import { freePort, isPortFree } from './ports.ts';
import { startRedis, type RedisServer } from './redis-server.ts';
import { requireTool } from './require-tool.ts';
import { startDispatcherProcess, startSwitchSimProcess, type DispatcherProcess, type SwitchSimProcess } from './sipfleet-processes.ts';

export interface ClusterHarnessOptions {
  dispatchers?: number;
  switches?: number;
  /** YAML lines (indented 2) added under `cluster:` (limits, leases, redisOutage...). */
  clusterYaml?: string;
  /** YAML text for each switch entry's extra fields, e.g. `channels: 50`. */
  switchYaml?: (index: number) => string;
  /** Extra switch-sim CLI options. */
  switchArgs?: string[];
  /** Environment for the dispatcher processes. */
  env?: Record<string, string>;
  /**
   * Sources of the one carrier `local` (default `[127.0.0.0/8]`: everyone on loopback is a
   * carrier). Phone tests narrow it (e.g. `['127.0.0.40/32']`) so that other loopback addresses
   * are phones (docs/registrar.md, "Who is who").
   */
  carrierSources?: string[];
  /**
   * YAML lines (indented 4, each `- {...}`) for the whole `carriers:` list, replacing the one
   * carrier `local` (e.g. carriers with media zones). `carrierSources` is then ignored.
   */
  carriersYaml?: string;
  /**
   * Extra listeners on each dispatcher, besides `udp://` and `tcp://` on its port (each on a port
   * of its own, see `DispatcherNodeHandle.ports`). `tls`/`wss` need `tls`.
   */
  extraListeners?: Array<'tls' | 'ws' | 'wss'>;
  /** `node.tls` of every dispatcher: PEM paths (the certificate must name every dispatcher IP). */
  tls?: { cert: string; key: string };
  /** `node.workers` of every dispatcher (worker ports: free consecutive UDP ports, see `workerPortBase`). */
  workers?: number;
}

export interface DispatcherNodeHandle {
  id: string;
  ip: string;
  /** The UDP and TCP port. */
  port: number;
  /** Port of each listener by transport (`udp`, `tcp`, and the `extraListeners`). */
  ports: Record<string, number>;
  /** With `workers`: worker k's own UDP port is `workerPortBase + k`, its HTTP port the node's + k. */
  workerPortBase?: number;
  process: DispatcherProcess;
  restart(): Promise<void>;
}

export interface ClusterHarness {
  redis: RedisServer;
  dispatchers: DispatcherNodeHandle[];
  switches: SwitchSimProcess[];
  clusterName: string;
  /** Start switch `i` again on the same addresses (after a kill). */
  restartSwitch(i: number): Promise<SwitchSimProcess>;
  stop(): Promise<void>;
}

export async function startClusterHarness(o: ClusterHarnessOptions = {}): Promise<ClusterHarness> {
  requireTool('redis-server', 'redis-server');
  const redis = await startRedis();
  const switches: SwitchSimProcess[] = [];
  const switchLines: string[] = [];
  const switchSpecs: Array<{ name: string; listen: string[]; http: string }> = [];
  const clusterName = `c${Date.now().toString(36)}`;
  const dispatchers: DispatcherNodeHandle[] = [];
  try {
    // Addresses are picked one after the other; the processes start side by side (each takes
    // about a second of start-up, mostly waiting), in index order in the arrays.
    for (let i = 0; i < (o.switches ?? 2); i++) {
      const ip = `127.0.0.${21 + i}`;
      const port = await freePort(ip);
      const spec = { name: `sw${i + 1}`, listen: [`udp://${ip}:${port}`], http: `${ip}:${await freePort(ip)}` };
      switchSpecs.push(spec);
      const extra = o.switchYaml?.(i);
      switchLines.push(`    - { id: sw${i + 1}, address: ${ip}:${port}, transport: udp${extra ? `, ${extra}` : ''} }`);
    }
    switches.push(...(await startAll(switchSpecs.map((spec) => () => startSwitchSimProcess(spec.name, spec.listen, spec.http, o.switchArgs ?? [])))));
    const pending: Array<Omit<DispatcherNodeHandle, 'process' | 'restart'> & { yaml: string; http: string }> = [];
    for (let i = 0; i < (o.dispatchers ?? 3); i++) {
      const ip = `127.0.0.${11 + i}`;
      const id = `d${i + 1}`;
      const port = await freePort(ip);
      const ports: Record<string, number> = { udp: port, tcp: port };
      for (const t of o.extraListeners ?? []) ports[t] = await freePort(ip, ['tcp']);
      const listen = Object.entries(ports).map(([t, p]) => `${t}://${ip}:${p}`);
      const http = `${ip}:${o.workers === undefined ? await freePort(ip) : await freePortRange(ip, o.workers, 'tcp')}`;
      const tls = o.tls === undefined ? '' : `\n  tls: { cert: ${o.tls.cert}, key: ${o.tls.key} }`;
      const workerPortBase = o.workers === undefined ? undefined : await freePortRange(ip, o.workers);
      const workers = workerPortBase === undefined ? '' : `\n  workers: ${o.workers}\n  workerPortBase: ${workerPortBase}`;
      const yaml = `node:
  id: ${id}
  listen: [${listen.join(', ')}]${tls}${workers}
  http: ${http}
store: ${redis.url}
cluster:
  name: ${clusterName}
${o.clusterYaml ?? ''}
  carriers:
${o.carriersYaml ?? `    - { id: local, sources: [${(o.carrierSources ?? ['127.0.0.0/8']).join(', ')}] }`}
  switches:
${switchLines.join('\n')}
`;
      pending.push({ id, ip, port, ports, workerPortBase, yaml, http });
    }
    const processes = await startAll(pending.map((p) => () => startDispatcherProcess(p.id, p.yaml, p.http, o.env)));
    for (const [i, { yaml, http, ...node }] of pending.entries()) {
      const handle: DispatcherNodeHandle = {
        ...node,
        process: processes[i],
        async restart() {
          await handle.process.stop();
          handle.process = await startDispatcherProcess(node.id, yaml, http, o.env);
        },
      };
      dispatchers.push(handle);
    }
    return {
      redis,
      dispatchers,
      switches,
      clusterName,
      async restartSwitch(i: number) {
        await switches[i].stop().catch(() => undefined);
        const spec = switchSpecs[i];
        switches[i] = await startSwitchSimProcess(spec.name, spec.listen, spec.http, o.switchArgs ?? []);
        return switches[i];
      },
      async stop() {
        await stopAll(redis, dispatchers, switches);
      },
    };
  } catch (err) {
    await stopAll(redis, dispatchers, switches);
    throw err;
  }
}

/**
 * Runs every start side by side and returns the processes in order. When one fails, the others
 * that started are stopped and the first error is thrown.
 */
async function startAll<T extends { stop(): Promise<unknown> }>(starts: Array<() => Promise<T>>): Promise<T[]> {
  const settled = await Promise.allSettled(starts.map((start) => start()));
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed === undefined) return settled.map((r) => (r as PromiseFulfilledResult<T>).value);
  await Promise.all(settled.map((r) => (r.status === 'fulfilled' ? r.value.stop().catch(() => undefined) : undefined)));
  throw failed.reason;
}

/** Dispatchers first (they hold calls on the switches), then switches, then Redis. */
async function stopAll(redis: RedisServer, dispatchers: readonly DispatcherNodeHandle[], switches: readonly SwitchSimProcess[]): Promise<void> {
  await Promise.all(dispatchers.map((d) => d.process.stop().catch(() => undefined)));
  await Promise.all(switches.map((s) => s.stop().catch(() => undefined)));
  await redis.stop().catch(() => undefined);
}

/** The first of `count` consecutive free ports of `kind` on `ip`. */
async function freePortRange(ip: string, count: number, kind: 'udp' | 'tcp' = 'udp'): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const base = await freePort(ip, [kind]);
    if (base + count - 1 > 65535) continue;
    let free = true;
    for (let k = 1; k < count && free; k++) free = await isPortFree(ip, base + k, kind);
    if (free) return base;
  }
  throw new Error(`no ${count} consecutive free UDP ports on ${ip}`);
}
