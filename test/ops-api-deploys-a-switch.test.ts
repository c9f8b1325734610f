/**
 * Issue 8, "deploy a third switch through the API: it is probed, becomes active and takes calls".
 * A real cluster (redis-server, 2 dispatcher processes, 2 switch-sims) and the ops API in process
 * with its default orchestrator (LocalOrchestrator: servers it deploys are its child processes).
 *
 * - POST /v1/servers { deploy: true } starts a switch-sim on 127.0.0.23 and registers it; the
 *   operation ends `succeeded` once both dispatchers probe it up; SIPp's calls reach it (a third).
 * - Restart through the API under load: the switch drains in the registry, its calls finish, the
 *   process restarts, it is active again: no SIPp call fails.
 * - Stop takes it out of rotation (no call fails, none reaches it), start brings it back; delete
 *   removes process and registry entry.
 * - A dispatcher deployed the same way joins the cluster and carries calls; drained, it hands new
 *   calls to its live peer while its calls in progress finish; a restart waits for them, then it
 *   rejoins.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../shared/config/load-config.ts';
import { createLogger } from '../shared/log.ts';
import { startOpsApi, type OpsApiHandle } from '../ops-api/server.ts';
import { startClusterHarness, type ClusterHarness } from './support/cluster-harness.ts';
import { opsApiClient, opsApiConfigText, useOpsApiE2e } from './support/ops-api-client.ts';
import { freePort } from './support/ports.ts';
import { requireTool } from './support/require-tool.ts';
import { runSipp } from './support/sipp.ts';

const TOKEN = 'e2e-admin-token-0123456789abcdef';
const RR_UAC = fileURLToPath(new URL('./scenarios/uac-rr-hold.xml', import.meta.url));
const PROBE = '  probe: { interval: 1s, timeout: 500ms, fall: 2, rise: 1, warmup: 0ms }';

const t = useOpsApiE2e();

async function startApi(c: ClusterHarness): Promise<OpsApiHandle> {
  t.dir = mkdtempSync(join(tmpdir(), 'sipfleet-ops-deploy-e2e-'));
  const port = await freePort('127.0.0.1');
  const text = opsApiConfigText({
    store: c.redis.url,
    clusterName: c.clusterName,
    clusterYaml: `${PROBE}\n  carriers:\n    - { id: local, sources: [127.0.0.0/8] }\n`,
    port,
    token: TOKEN,
    role: 'admin',
  });
  const config = parseConfig(text, { baseDir: t.dir });
  return startOpsApi({ config, configText: text, stateDir: join(t.dir, 'servers'), logger: createLogger({ service: 'ops-api-e2e' }), version: 'e2e' });
}

const { request, operation, server } = opsApiClient(() => t.api!.url, TOKEN);

async function simStatus(http: string): Promise<{ id: string; channels: number; calls: { total: number } } | undefined> {
  try {
    return (await (await fetch(`http://${http}/status`, { signal: AbortSignal.timeout(1_000) })).json()) as { id: string; channels: number; calls: { total: number } };
  } catch {
    return undefined;
  }
}

describe('ops API lifecycle through the orchestrator', () => {
  it('deploys a third switch through the API: probed, active, takes a third of the calls; restart, stop, start and delete it', async () => {
    requireTool('sipp', 'sip-tester');
    t.cluster = await startClusterHarness({ dispatchers: 2, switches: 2, clusterYaml: PROBE });
    const c = t.cluster;
    t.api = await startApi(c);
    const d1 = c.dispatchers[0];
    const timings: Record<string, number> = {};

    // ---- deploy ----
    const sipPort = await freePort('127.0.0.23');
    const deploy = await operation('POST', '/v1/servers', { id: 'sw3', type: 'switch', address: `127.0.0.23:${sipPort}`, deploy: true });
    timings.deploy = deploy.ms;
    const steps: string[] = deploy.op.steps.map((s: { message: string }) => s.message);
    expect(steps[0]).toBe(`starting switch-sim sw3 on udp://127.0.0.23:${sipPort} tcp://127.0.0.23:${sipPort} (control http://${(await server('sw3')).managed?.http})`);
    expect(steps.at(-1)).toBe('probed up by d1, d2');
    const sw3 = await server('sw3');
    expect(sw3).toMatchObject({ type: 'switch', address: `127.0.0.23:${sipPort}`, status: 'up', adminState: 'active', managed: { backend: 'local', state: 'running', restarts: 0 } });
    const http = sw3.managed!.http;
    expect((await simStatus(http))?.id).toBe('sw3');
    // Every dispatcher routes to it.
    for (const d of c.dispatchers) expect((await d.process.metrics())['sipfleet_switch_up{switch="sw3"}'], d.id).toBe(1);

    // ---- it takes calls: round-robin over three switches ----
    const before = await Promise.all([...c.switches.map((s) => s.status()), simStatus(http)]);
    const r = await runSipp({ scenario: 'uac', target: `${d1.ip}:${d1.port}`, rate: 30, calls: 60 });
    expect(r.failed, r.errors.slice(0, 500)).toBe(0);
    const after = await Promise.all([...c.switches.map((s) => s.status()), simStatus(http)]);
    const taken = after.map((s, i) => s!.calls.total - before[i]!.calls.total);
    expect(taken.reduce((a, b) => a + b, 0)).toBe(60);
    expect(taken[2], `calls per switch ${taken.join('/')}`).toBeGreaterThanOrEqual(15);
    expect(taken[2]).toBeLessThanOrEqual(25);

    // ---- restart under load: drain, calls finish, restart, active again; no call fails ----
    const load = runSipp({ scenario: 'uac', target: `${d1.ip}:${d1.port}`, rate: 10, calls: 50, holdMs: 2_000 });
    await new Promise((res) => setTimeout(res, 1_500));
    const pidBefore = (await server('sw3')).managed!.pid;
    const restart = await operation('POST', '/v1/servers/sw3/restart', { deadlineS: 20 });
    timings.restart = restart.ms;
    const rsteps: string[] = restart.op.steps.map((s: { message: string }) => s.message);
    expect(rsteps[0]).toBe('registry: sw3 draining (no new calls, calls in progress continue)');
    expect(rsteps).toContain('registry: sw3 active');
    expect(rsteps.some((m) => /^no calls left after/.test(m)), rsteps.join('\n')).toBe(true);
    expect(rsteps.at(-1)).toBe('probed up by d1, d2');
    const restarted = await server('sw3');
    expect(restarted).toMatchObject({ status: 'up', adminState: 'active', managed: { state: 'running', restarts: 1 } });
    expect(restarted.managed!.pid).not.toBe(pidBefore);
    const loaded = await load;
    expect(loaded.failed, loaded.errors.slice(0, 500)).toBe(0);
    expect(loaded.successful).toBe(50);

    // ---- stop: out of rotation, process gone, no call fails ----
    const stop = await operation('POST', '/v1/servers/sw3/stop', { graceS: 5 });
    timings.stop = stop.ms;
    expect(await server('sw3')).toMatchObject({ status: 'disabled', managed: { state: 'stopped', exitCode: 0 } });
    expect(await simStatus(http)).toBeUndefined();
    const r2 = await runSipp({ scenario: 'uac', target: `${d1.ip}:${d1.port}`, rate: 30, calls: 30 });
    expect(r2.failed, r2.errors.slice(0, 500)).toBe(0);

    // ---- start: back in rotation ----
    const start = await operation('POST', '/v1/servers/sw3/start');
    timings.start = start.ms;
    expect(await server('sw3')).toMatchObject({ adminState: 'active', managed: { state: 'running', restarts: 2 } });
    await expect.poll(async () => (await Promise.all(c.dispatchers.map(async (d) => (await d.process.metrics())['sipfleet_switch_up{switch="sw3"}']))).join(','), { timeout: 5_000 }).toBe('1,1');
    const r3 = await runSipp({ scenario: 'uac', target: `${d1.ip}:${d1.port}`, rate: 30, calls: 30 });
    expect(r3.failed, r3.errors.slice(0, 500)).toBe(0);
    expect((await simStatus(http))!.calls.total).toBeGreaterThan(0);

    // ---- delete: process and registry entry gone ----
    const del = await operation('DELETE', '/v1/servers/sw3');
    timings.delete = del.ms;
    expect((await request('GET', '/v1/servers/sw3')).status).toBe(404);
    expect(await simStatus(http)).toBeUndefined();
    const log = readFileSync(join(t.dir!, 'servers', 'sw3.log'), 'utf8');
    expect(log.match(/^--- .* start sw3:/gm)).toHaveLength(3);

    // Every change was audited.
    await t.api.close();
    const audit = readFileSync(join(t.dir!, 'audit.jsonl'), 'utf8');
    expect(audit.trim().split('\n').map((l) => `${JSON.parse(l).method} ${JSON.parse(l).path} ${JSON.parse(l).status}`)).toEqual([
      'POST /v1/servers 202',
      'POST /v1/servers/sw3/restart 202',
      'POST /v1/servers/sw3/stop 202',
      'POST /v1/servers/sw3/start 202',
      'DELETE /v1/servers/sw3 202',
    ]);
    t.api = undefined;
    console.info(`lifecycle operations (ms): ${JSON.stringify(timings)}`);
  });

  it('deploys a dispatcher through the API: it joins and carries calls; drained, it hands new calls to its peer; restart lets the calls in progress finish', async () => {
    requireTool('sipp', 'sip-tester');
    t.cluster = await startClusterHarness({ dispatchers: 1, switches: 2, clusterYaml: PROBE });
    const c = t.cluster;
    t.api = await startApi(c);
    const sipPort = await freePort('127.0.0.13');
    const target = `127.0.0.13:${sipPort}`;
    const deploy = await operation('POST', '/v1/servers', { id: 'd3', type: 'dispatcher', address: target });
    const steps: string[] = deploy.op.steps.map((s: { message: string }) => s.message);
    expect(steps.at(-1)).toMatch(/^joined the cluster \(lease epoch \d+\)$/);
    const d3 = await server('d3');
    expect(d3).toMatchObject({ type: 'dispatcher', status: 'up', address: `udp://${target} tcp://${target}`, managed: { state: 'running' } });
    const r1 = await runSipp({ scenario: 'uac', target, rate: 20, calls: 20 });
    expect(r1.failed, r1.errors.slice(0, 500)).toBe(0);

    // Calls held 3 s; a restart 1.5 s in drains d3, waits for them, then restarts it.
    const held = runSipp({ scenario: 'uac', target, rate: 20, calls: 10, holdMs: 3_000 });
    await expect.poll(async () => (await server('d3')).channels.inUse, { timeout: 5_000, interval: 100 }).toBe(10);
    const restart = await operation('POST', '/v1/servers/d3/restart', { deadlineS: 20 });
    const rsteps: string[] = restart.op.steps.map((s: { message: string }) => s.message);
    expect(rsteps[0]).toBe('draining (SIGUSR2): new calls go to a live peer (or get 503 Draining), calls in progress continue');
    expect(rsteps[1]).toBe('10 calls in progress; waiting up to 20 s for them to end');
    expect(rsteps[2]).toMatch(/^no calls left after \d+\.\d s$/);
    expect(rsteps.at(-1)).toMatch(/^joined the cluster/);
    const done = await held;
    expect(done.failed, done.errors.slice(0, 500)).toBe(0);
    expect(done.successful).toBe(10);
    expect(await server('d3')).toMatchObject({ status: 'up', managed: { state: 'running', restarts: 1, draining: false } });

    // Drain: /readyz 503, and a new call is handed to the live peer d1 (docs/ops-api.md, "Drain"):
    // it succeeds, its ACK and BYE going to d1 only (the scenario follows the route set).
    const drain = await operation('POST', '/v1/servers/d3/drain');
    expect(drain.op.steps.map((s: { message: string }) => s.message)).toContain('GET /readyz answers 503 (draining): load balancers stop sending it calls');
    expect(await server('d3')).toMatchObject({ status: 'draining', managed: { draining: true } });
    const handedIn = async () => (await c.dispatchers[0].process.metrics())['sipfleet_drain_handoffs_total{direction="in"}'];
    const before = await handedIn();
    const handed = await runSipp({ scenario: RR_UAC, target, rate: 10, calls: 3, holdMs: 200 });
    expect(handed.failed, handed.errors.slice(0, 500)).toBe(0);
    expect(handed.successful).toBe(3);
    expect((await handedIn()) - before).toBe(3);
    // The harness's own dispatcher is not the orchestrator's.
    expect((await request('POST', '/v1/servers/d1/restart')).status).toBe(409);
  });
});
