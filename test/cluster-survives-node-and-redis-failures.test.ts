/**
 * Crash-safe channel accounting: a node that dies does not leak its channels (the reaper frees
 * them within lease TTL + reaper interval), a node that was paused past its lease cannot release
 * anything twice, and a Redis restart mid-load crashes nothing, applies the outage policy during
 * the gap, and the counts converge afterwards.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { levelKey } from '../shared/cluster-store/cluster-store.ts';
import { RedisClusterStore } from '../shared/cluster-store/redis-cluster-store.ts';
import { startClusterHarness, type ClusterHarness } from './support/cluster-harness.ts';
import { runSipp, startSipp } from './support/sipp.ts';

const UAC = fileURLToPath(new URL('./scenarios/uac-long-call-or-503.xml', import.meta.url));
const TTL = 2_000;
const REAP = 500;
const LEASES = `  leases: { ttl: ${TTL}ms, reapInterval: ${REAP}ms }`;

let cluster: ClusterHarness | undefined;
let reader: RedisClusterStore | undefined;
const cleanups: Array<() => Promise<unknown>> = [];

afterEach(async () => {
  for (const f of cleanups.splice(0)) await f().catch(() => undefined);
  await reader?.close();
  await cluster?.stop();
  cluster = undefined;
  reader = undefined;
});

async function channels(c: ClusterHarness): Promise<number> {
  return (await reader!.levelStats([levelKey('cluster', c.clusterName)]))[0].channels;
}

async function sum(c: ClusterHarness, key: string, nodes = c.dispatchers): Promise<number> {
  let total = 0;
  for (const d of nodes) total += (await d.process.metrics())[key] ?? 0;
  return total;
}

describe('a dispatcher killed with SIGKILL', () => {
  it('has its 50 calls reaped within lease TTL + reaper interval; the other node keeps its 30', async () => {
    cluster = await startClusterHarness({ dispatchers: 2, clusterYaml: LEASES });
    const c = cluster;
    reader = new RedisClusterStore({ cluster: c.clusterName, url: c.redis.url });
    const [a, b] = c.dispatchers;
    const sa = await startSipp({ scenario: UAC, target: `${a.ip}:${a.port}`, rate: 50, calls: 50, holdMs: 60_000 });
    const sb = await startSipp({ scenario: UAC, target: `${b.ip}:${b.port}`, rate: 30, calls: 30, holdMs: 60_000 });
    cleanups.push(() => sa.stop(), () => sb.stop());
    await expect.poll(() => channels(c), { timeout: 10_000 }).toBe(80);
    a.process.kill('SIGKILL');
    const killedAt = Date.now();
    await expect.poll(() => channels(c), { timeout: TTL + REAP + 5_000, interval: 100 }).toBe(30);
    const took = Date.now() - killedAt;
    expect(took, 'ms until the dead node\'s channels were free').toBeLessThanOrEqual(TTL + REAP + 1_000);
    const calls = await reader.calls(levelKey('cluster', c.clusterName), 1_000);
    expect(new Set(calls.map((x) => x.nodeId))).toEqual(new Set(['d2']));
  });
});

describe('a dispatcher paused past its lease (SIGSTOP, then SIGCONT)', () => {
  it('releases nothing twice and the counts stay exact', async () => {
    cluster = await startClusterHarness({ dispatchers: 2, clusterYaml: LEASES });
    const c = cluster;
    reader = new RedisClusterStore({ cluster: c.clusterName, url: c.redis.url });
    const [a, b] = c.dispatchers;
    const ra = runSipp({ scenario: UAC, target: `${a.ip}:${a.port}`, rate: 20, calls: 20, holdMs: 12_000 });
    const rb = runSipp({ scenario: UAC, target: `${b.ip}:${b.port}`, rate: 10, calls: 10, holdMs: 12_000 });
    await expect.poll(() => channels(c), { timeout: 10_000 }).toBe(30);
    a.process.kill('SIGSTOP');
    cleanups.push(async () => a.process.kill('SIGCONT'));
    // The paused node's lease runs out: its calls are reaped and its epoch fenced.
    await expect.poll(() => channels(c), { timeout: TTL + REAP + 5_000, interval: 100 }).toBe(10);
    await new Promise((r) => setTimeout(r, 1_000));
    a.process.kill('SIGCONT');
    // Back, it is fenced, registers again and re-asserts the 20 calls it still carries: the
    // count is the truth again (30 calls are up).
    await expect.poll(() => channels(c), { timeout: 5_000, interval: 100 }).toBe(30);
    const [resA, resB] = await Promise.all([ra, rb]);
    expect(resA.failed + resB.failed).toBe(0);
    await expect.poll(() => channels(c), { timeout: 5_000 }).toBe(0);
    // Every release found its record exactly once: nothing was released twice.
    expect(await sum(c, 'sipfleet_admission_total{outcome="released"}')).toBe(30);
    expect(await sum(c, 'sipfleet_admission_total{outcome="releaseNotFound"}')).toBe(0);
    expect((await a.process.metrics()).sipfleet_node_epoch).toBeGreaterThan(1);
  });
});

describe('Redis restarted mid-load', () => {
  for (const policy of ['fail-closed', 'fail-open'] as const) {
    it(`${policy}: no crash, the policy applies during the gap, counts converge after`, async () => {
      cluster = await startClusterHarness({ dispatchers: 2, clusterYaml: `${LEASES}\n  redisOutage: ${policy}\n  limits: { channels: 500 }` });
      const c = cluster;
      reader = new RedisClusterStore({ cluster: c.clusterName, url: c.redis.url });
      const runs = c.dispatchers.map((d) => runSipp({ scenario: UAC, target: `${d.ip}:${d.port}`, rate: 20, calls: 200, holdMs: 2_000 }));
      await new Promise((r) => setTimeout(r, 3_000));
      await c.redis.restart({ downMs: 2_500 });
      const results = await Promise.all(runs);
      for (const d of c.dispatchers) expect(d.process.exitStatus(), `${d.id} must still run`).toBeUndefined();
      for (const r of results) expect(r.failed, r.errors.slice(0, 1_000)).toBe(0);
      if (policy === 'fail-closed') expect(await sum(c, 'sipfleet_admission_total{outcome="refusedStore"}')).toBeGreaterThan(0);
      else {
        expect(await sum(c, 'sipfleet_admission_total{outcome="admittedLocally"}')).toBeGreaterThan(0);
        expect(await sum(c, 'sipfleet_admission_total{outcome="refusedStore"}')).toBe(0);
      }
      // Every call has ended: the store (empty after the restart, then resynced) agrees.
      await expect.poll(() => channels(c), { timeout: 8_000 }).toBe(0);
      for (const d of c.dispatchers) expect((await d.process.metrics()).sipfleet_store_connected).toBe(1);
    });
  }
});
