/**
 * Cluster-wide caps with three dispatcher processes sharing a real redis-server: a cap of 20 CPS
 * is 20 CPS for the whole cluster, and a cap of 100 channels is 100 calls whichever node they
 * land on. Refused calls get 503 with Retry-After (the SIPp scenario fails a call otherwise), and
 * nothing times out or gets a 500.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { levelKey } from '../shared/cluster-store/cluster-store.ts';
import { RedisClusterStore } from '../shared/cluster-store/redis-cluster-store.ts';
import { startClusterHarness, type ClusterHarness } from './support/cluster-harness.ts';
import { runSipp } from './support/sipp.ts';

const UAC = fileURLToPath(new URL('./scenarios/uac-long-call-or-503.xml', import.meta.url));

let cluster: ClusterHarness | undefined;
let reader: RedisClusterStore | undefined;

afterEach(async () => {
  await reader?.close();
  await cluster?.stop();
  cluster = undefined;
  reader = undefined;
});

async function sum(c: ClusterHarness, key: string): Promise<number> {
  let total = 0;
  for (const d of c.dispatchers) total += (await d.process.metrics())[key] ?? 0;
  return total;
}

async function answered(c: ClusterHarness): Promise<number> {
  let total = 0;
  for (const s of c.switches) total += (await s.status()).calls.answered;
  return total;
}

describe('cluster CPS cap', () => {
  it('admits 20 CPS across 3 nodes offered 20 CPS each, never more in any 1 s window', async () => {
    cluster = await startClusterHarness({ clusterYaml: '  limits: { cps: 20, channels: 1000 }' });
    const c = cluster;
    reader = new RedisClusterStore({ cluster: c.clusterName, url: c.redis.url });
    const started = Date.now();
    const runs = c.dispatchers.map((d) =>
      runSipp({ scenario: UAC, target: `${d.ip}:${d.port}`, rate: 20, calls: 200, holdMs: 12_000, maxConcurrent: 400 }),
    );
    // Every INVITE is sent by t = 10 s and no admitted call ends before t = 12 s: read the
    // admitted calls (with their start on the store clock) while all of them are up.
    await new Promise((r) => setTimeout(r, Math.max(0, started + 10_800 - Date.now())));
    const calls = await reader.calls(levelKey('cluster', c.clusterName), 10_000);
    const results = await Promise.all(runs);

    const starts = calls.map((x) => x.startedAtMs).sort((a, b) => a - b);
    expect(starts.length).toBeGreaterThanOrEqual(196);
    expect(starts.length).toBeLessThanOrEqual(204);
    let worst = 0;
    for (let i = 0, j = 0; i < starts.length; i++) {
      while (j < starts.length && starts[j] < starts[i] + 1_000) j++;
      worst = Math.max(worst, j - i);
    }
    expect(worst, 'calls admitted in the busiest half-open 1 s window').toBeLessThanOrEqual(20);
    // Calls spread over all three nodes; the rest were refused with 503 + Retry-After.
    expect(new Set(calls.map((x) => x.nodeId)).size).toBe(3);
    for (const r of results) expect(r.failed, r.errors.slice(0, 1_000)).toBe(0);
    expect(await answered(c)).toBe(starts.length);
    expect(await sum(c, 'sipfleet_admission_total{outcome="refusedCps"}')).toBe(600 - starts.length);
    expect(await sum(c, 'sipfleet_local_replies_total{status="500"}')).toBe(0);
    for (const s of c.switches) expect((await s.status()).calls.failed).toBe(0);
    await expect.poll(async () => (await reader!.levelStats([levelKey('cluster', c.clusterName)]))[0].channels, { timeout: 5_000 }).toBe(0);
  });
});

describe('cluster channel cap', () => {
  it('establishes exactly 100 of 150 long calls fired at once across 3 nodes', async () => {
    cluster = await startClusterHarness({ clusterYaml: '  limits: { channels: 100 }' });
    const c = cluster;
    reader = new RedisClusterStore({ cluster: c.clusterName, url: c.redis.url });
    const runs = c.dispatchers.map((d) =>
      runSipp({ scenario: UAC, target: `${d.ip}:${d.port}`, rate: 50, calls: 50, holdMs: 6_000, maxConcurrent: 100 }),
    );
    await expect
      .poll(async () => (await reader!.levelStats([levelKey('cluster', c.clusterName)]))[0].channels, { timeout: 5_000 })
      .toBe(100);
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await reader.levelStats([levelKey('cluster', c.clusterName)]))[0].channels).toBe(100);
    const results = await Promise.all(runs);
    for (const r of results) expect(r.failed, r.errors.slice(0, 1_000)).toBe(0);
    expect(await answered(c)).toBe(100);
    expect(await sum(c, 'sipfleet_admission_total{outcome="refusedChannels"}')).toBe(50);
    expect(await sum(c, 'sipfleet_admission_total{outcome="released"}')).toBe(100);
    await expect.poll(async () => (await reader!.levelStats([levelKey('cluster', c.clusterName)]))[0].channels, { timeout: 5_000 }).toBe(0);
  });
});
