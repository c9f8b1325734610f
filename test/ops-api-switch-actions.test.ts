/**
 * The ops API against a real cluster: redis-server, one dispatcher process and two switch-sims.
 * The API runs in process on a RedisClusterStore (through `startOpsApi`) and is driven over HTTP
 * with a bearer token: it lists the dispatcher and both switches with live channel counts, and a
 * disable or resize reaches the dispatcher within 1 s (new SIPp calls stop reaching the switch).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { RedisClusterStore } from '../shared/cluster-store/redis-cluster-store.ts';
import { parseConfig } from '../shared/config/load-config.ts';
import { createLogger } from '../shared/log.ts';
import { startOpsApi, type OpsApiHandle } from '../ops-api/server.ts';
import { startClusterHarness, type ClusterHarness } from './support/cluster-harness.ts';
import { opsApiClient, opsApiConfigText, useOpsApiE2e } from './support/ops-api-client.ts';
import { freePort } from './support/ports.ts';
import { runSipp } from './support/sipp.ts';

const TOKEN = 'e2e-operator-token-0123456789';
const PROBE = '  probe: { interval: 1s, timeout: 500ms, fall: 2, rise: 1, warmup: 0ms }';

const t = useOpsApiE2e();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startApi(c: ClusterHarness): Promise<OpsApiHandle> {
  t.dir = mkdtempSync(join(tmpdir(), 'sipfleet-ops-e2e-'));
  const port = await freePort('127.0.0.1');
  const config = parseConfig(opsApiConfigText({ store: c.redis.url, clusterName: c.clusterName, port, token: TOKEN, role: 'operator' }), { baseDir: t.dir });
  const handle = await startOpsApi({ config, logger: createLogger({ service: 'ops-api-e2e' }), version: 'e2e' });
  await expect.poll(async () => (await fetch(`${handle.url}/readyz`)).status, { timeout: 5_000 }).toBe(200);
  return handle;
}

const { request, servers } = opsApiClient(() => t.api!.url, TOKEN);

describe('ops API switch actions on a real cluster', () => {
  it('lists live servers, and disable / resize stop new calls to a switch within 1 s', async () => {
    t.cluster = await startClusterHarness({ dispatchers: 1, switches: 2, clusterYaml: PROBE });
    const c = t.cluster;
    const d = c.dispatchers[0];
    t.api = await startApi(c);

    // Held calls: the listing shows them on the dispatcher and the switches.
    const held = runSipp({ scenario: 'uac', target: `${d.ip}:${d.port}`, rate: 20, calls: 20, holdMs: 4_000 });
    await expect.poll(async () => (await servers()).d1?.channels.inUse ?? 0, { timeout: 5_000, interval: 200 }).toBe(20);
    const live = await servers();
    expect(Object.keys(live).sort()).toEqual(['d1', 'sw1', 'sw2']);
    expect(live.d1).toMatchObject({ type: 'dispatcher', status: 'up', cluster: c.clusterName });
    expect(live.sw1.channels.inUse + live.sw2.channels.inUse).toBe(20);
    expect(live.sw1.channels.inUse).toBe((await c.switches[0].status()).channels);
    await expect.poll(async () => (await servers()).sw1.status, { timeout: 5_000, interval: 200 }).toBe('up');
    expect((await servers()).sw1.latency.ewmaMs).not.toBeNull();
    expect((await held).failed).toBe(0);

    // Disable sw1: within 1 s, new calls all go to sw2.
    const disabled = await request('POST', '/v1/servers/sw1/disable');
    expect(disabled.status).toBe(200);
    expect(disabled.json).toMatchObject({ id: 'sw1', status: 'disabled' });
    await sleep(1_000);
    const before = await Promise.all(c.switches.map(async (s) => (await s.status()).calls.total));
    const r1 = await runSipp({ scenario: 'uac', target: `${d.ip}:${d.port}`, rate: 50, calls: 50 });
    expect(r1.failed, r1.errors.slice(0, 500)).toBe(0);
    const after = await Promise.all(c.switches.map(async (s) => (await s.status()).calls.total));
    expect(after[0] - before[0], 'calls reaching the disabled sw1').toBe(0);
    expect(after[1] - before[1]).toBe(50);

    // Enable it again, but resize it to 0 channels: still no new calls reach it.
    expect((await request('POST', '/v1/servers/sw1/enable')).status).toBe(200);
    expect((await request('POST', '/v1/servers/sw1/resize', { channels: 0 })).json.channels.max).toBe(0);
    await sleep(1_000);
    const r2 = await runSipp({ scenario: 'uac', target: `${d.ip}:${d.port}`, rate: 50, calls: 50 });
    expect(r2.failed, r2.errors.slice(0, 500)).toBe(0);
    const last = await Promise.all(c.switches.map(async (s) => (await s.status()).calls.total));
    expect(last[0] - after[0], 'calls reaching sw1 at 0 channels').toBe(0);

    // Lifting the cap brings it back into rotation.
    expect((await request('POST', '/v1/servers/sw1/resize', { channels: null })).status).toBe(200);
    await sleep(1_000);
    const r3 = await runSipp({ scenario: 'uac', target: `${d.ip}:${d.port}`, rate: 50, calls: 50 });
    expect(r3.failed).toBe(0);
    expect((await c.switches[0].status()).calls.total - last[0]).toBeGreaterThan(0);

    // Every change was audited to the file, with the token's name only.
    await t.api.close();
    const audit = readFileSync(join(t.dir!, 'audit.jsonl'), 'utf8');
    expect(audit.trim().split('\n').map((l) => JSON.parse(l).path)).toEqual([
      '/v1/servers/sw1/disable',
      '/v1/servers/sw1/enable',
      '/v1/servers/sw1/resize',
      '/v1/servers/sw1/resize',
    ]);
    expect(audit).not.toContain(TOKEN);
    t.api = undefined;
  });
});

describe('resizing the cluster through the ops API under load', () => {
  it('takes effect on every node within 1 s, and no call in progress is dropped', async () => {
    const UAC_OR_503 = fileURLToPath(new URL('./scenarios/uac-long-call-or-503.xml', import.meta.url));
    t.cluster = await startClusterHarness({ dispatchers: 2, switches: 2, clusterYaml: '  limits: { cps: 20 }' });
    const c = t.cluster;
    t.api = await startApi(c);
    const reader = new RedisClusterStore({ cluster: c.clusterName, url: c.redis.url });
    try {
      // 40 CPS offered (20 to each node) for 12 s against a 20 CPS cluster; calls held 3 s.
      const load = c.dispatchers.map((d) => runSipp({ scenario: UAC_OR_503, target: `${d.ip}:${d.port}`, rate: 20, calls: 240, holdMs: 3_000, maxConcurrent: 400 }));
      await sleep(4_000);
      const resized = await request('POST', `/v1/clusters/${c.clusterName}/resize`, { cps: 30 });
      expect(resized.status).toBe(200);
      expect(resized.json.limits.cps).toBe(30);
      const resizedAt = Date.now();
      // Admissions in a 2 s window starting 1 s after the resize, from the calls' start times on
      // the store clock (read while every call started in the window is still up: held 3 s).
      await sleep(Math.max(0, resizedAt + 1_000 - Date.now()));
      const windowStart = await reader.now();
      await sleep(2_000);
      const calls = await reader.calls(undefined, 10_000);
      const admitted = calls.filter((x) => x.startedAtMs >= windowStart && x.startedAtMs < windowStart + 2_000).length;
      // Within 1 s of the resize the cluster admits 30 CPS (of the 40 offered), cluster-wide.
      expect(admitted, 'calls admitted in the 2 s from 1 s after the resize').toBeGreaterThanOrEqual(56);
      expect(admitted).toBeLessThanOrEqual(60);
      expect(new Set(calls.filter((x) => x.startedAtMs >= windowStart).map((x) => x.nodeId)).size).toBe(2);
      const results = await Promise.all(load);
      for (const r of results) expect(r.failed, r.errors.slice(0, 1_000)).toBe(0);
    } finally {
      await reader.close();
    }
  });
});
