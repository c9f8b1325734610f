/**
 * The dispatcher's side of Redis-backed admission: CPU per call (one admit and its release, three
 * levels) in the client, against a real redis-server, by how many calls one event-loop turn
 * carries (the store batches each turn's calls into one script call, turn-batcher.ts).
 *
 *   npx node bench/store-admit.bench.ts [--calls N] [--turns LIST] [--cpu N] [--redis-cpu N] [--json]
 *
 * Starts a redis-server pinned to --redis-cpu (default 0) and pins itself to --cpu (default 1).
 * For each size in --turns (default 1,4,16), issues --calls (default 20000) admit-then-release
 * pairs, that many per turn, after a warm-up; reports this process's CPU per call (user, system)
 * and the wall time per call.
 */
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import type { LevelLimit } from '../shared/cluster-store/cluster-store.ts';
import { RedisClusterStore } from '../shared/cluster-store/redis-cluster-store.ts';
import { createLogger } from '../shared/log.ts';
import { startRedis } from '../test/support/redis-server.ts';
import { requireTool } from '../test/support/require-tool.ts';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? dflt : (process.argv[i + 1] ?? dflt);
}

const CALLS = Number(arg('calls', '20000'));
const TURNS = arg('turns', '1,4,16').split(',').map(Number);
const CPU = Number(arg('cpu', '1'));
const REDIS_CPU = Number(arg('redis-cpu', '0'));
const JSON_OUT = process.argv.includes('--json');
if (!Number.isInteger(CALLS) || CALLS < 1 || TURNS.some((t) => !Number.isInteger(t) || t < 1)) {
  console.error('--calls and --turns: positive integers');
  process.exit(2);
}

const LEVELS: LevelLimit[] = [
  { level: 'cluster:main', cps: 1_000_000, channels: 1_000_000 },
  { level: 'carrier:c1', cps: 1_000_000, channels: 1_000_000 },
  { level: 'switch:sw1', cps: 1_000_000, channels: 1_000_000 },
];

async function run(store: RedisClusterStore, epoch: number, tag: string, calls: number, perTurn: number): Promise<void> {
  let i = 0;
  while (i < calls) {
    const turn: Array<Promise<unknown>> = [];
    for (let k = 0; k < perTurn && i < calls; k++, i++) {
      const callId = `${tag}-${i}|198.51.100.7`;
      turn.push(
        store
          .admit({ callId, nodeId: 'bench', epoch, levels: LEVELS, maxAgeMs: 3_600_000, meta: { switch: 'sw1', carrier: 'c1' } })
          .then(() => store.release(callId, 'bench', epoch)),
      );
    }
    await Promise.all(turn);
  }
}

requireTool('redis-server', 'redis-server');
const redis = await startRedis();
const results: Array<{ perTurn: number; cpuUs: number; userUs: number; sysUs: number; wallUs: number }> = [];
try {
  spawnSync('taskset', ['-pc', String(REDIS_CPU), String(redis.process.pid)]);
  spawnSync('taskset', ['-pc', String(CPU), String(process.pid)]);
  const store = new RedisClusterStore({ cluster: 'bench', url: redis.url, logger: createLogger({}, { level: 'warn' }) });
  while (!store.connected) await new Promise((resolve) => setTimeout(resolve, 20));
  const lease = await store.registerNode('bench', 3_600_000);
  for (const perTurn of TURNS) {
    await run(store, lease.epoch, `warm${perTurn}`, 5000, perTurn);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await run(store, lease.epoch, `run${perTurn}`, CALLS, perTurn);
    const c = process.cpuUsage(cpu0);
    results.push({ perTurn, cpuUs: (c.user + c.system) / CALLS, userUs: c.user / CALLS, sysUs: c.system / CALLS, wallUs: ((performance.now() - t0) * 1000) / CALLS });
  }
  await store.close();
} finally {
  await redis.stop();
}
if (JSON_OUT) console.log(JSON.stringify({ date: new Date().toISOString(), node: process.version, calls: CALLS, results }, null, 2));
else {
  console.log(`Admission client CPU per call (admit + release, 3 levels): ${process.version}, ${CALLS} calls per size, this process on CPU ${CPU}, redis-server on CPU ${REDIS_CPU}\n`);
  console.log('| calls per turn | CPU µs per call | user | system | wall µs per call |');
  console.log('| --: | --: | --: | --: | --: |');
  for (const r of results) console.log(`| ${r.perTurn} | ${r.cpuUs.toFixed(1)} | ${r.userUs.toFixed(1)} | ${r.sysUs.toFixed(1)} | ${r.wallUs.toFixed(1)} |`);
}
