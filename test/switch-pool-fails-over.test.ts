/**
 * Capacity and response failover with real processes: a switch killed under 50 CPS costs the
 * carrier no call, the OPTIONS probe marks it down within interval × fall, it takes nothing while
 * down and comes back after `rise` probes with a reduced share at first; a full switch overflows
 * to the next and an all-full pool answers 503; priority mode fails over to the backup and back;
 * disabling a switch through the store stops new calls to it on every node within 1 s.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisClusterStore } from '../shared/cluster-store/redis-cluster-store.ts';
import { startClusterHarness, type ClusterHarness } from './support/cluster-harness.ts';
import { runSipp } from './support/sipp.ts';

const UAC_OR_503 = fileURLToPath(new URL('./scenarios/uac-long-call-or-503.xml', import.meta.url));
const PROBE = '  probe: { interval: 1s, timeout: 500ms, fall: 2, rise: 2, warmup: 4s }\n  failover: { timeout: 1s }';

let cluster: ClusterHarness | undefined;
let reader: RedisClusterStore | undefined;

afterEach(async () => {
  await reader?.close();
  await cluster?.stop();
  cluster = undefined;
  reader = undefined;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function metric(c: ClusterHarness, key: string, node = 0): Promise<number> {
  return (await c.dispatchers[node].process.metrics())[key] ?? Number.NaN;
}

describe('a switch killed under load', () => {
  it('costs the carrier no call, is marked down within interval × fall, and comes back ramping up', async () => {
    cluster = await startClusterHarness({ dispatchers: 1, switches: 2, clusterYaml: PROBE });
    const c = cluster;
    const d = c.dispatchers[0];
    const load = runSipp({ scenario: 'uac', target: `${d.ip}:${d.port}`, rate: 50, calls: 1_000 });
    await sleep(4_000);
    // Calls up on sw1 when it dies die with it (nothing can carry them): count them first.
    const inFlight = (await c.switches[0].status()).channels;
    c.switches[0].kill('SIGKILL');
    const killedAt = Date.now();
    await expect.poll(() => metric(c, 'sipfleet_switch_up{switch="sw1"}'), { timeout: 5_000, interval: 100 }).toBe(0);
    const detectMs = Date.now() - killedAt;
    // Within interval × fall: the first INVITE it left unanswered for failover.timeout marked it suspect.
    expect(detectMs, 'ms until the dead switch was marked down').toBeLessThanOrEqual(2 * 1_000);
    // The node was not behind on its input: the timeouts count against the switch.
    expect(await metric(c, 'sipfleet_switch_timeouts_total{switch="sw1",node_behind="false"}')).toBeGreaterThan(0);
    expect(await metric(c, 'sipfleet_switch_timeouts_total{switch="sw1",node_behind="true"}')).toBe(0);
    // While down it gets no new INVITE.
    const attemptsDown = await metric(c, 'sipfleet_switch_attempts_total{switch="sw1"}');
    await sleep(2_000);
    expect(await metric(c, 'sipfleet_switch_attempts_total{switch="sw1"}')).toBe(attemptsDown);
    // Back: nothing until `rise` good probes, then a reduced share that ramps up.
    const sw1 = await c.restartSwitch(0);
    await expect.poll(() => metric(c, 'sipfleet_switch_up{switch="sw1"}'), { timeout: 5_000, interval: 100 }).toBe(1);
    const sw2Before = (await c.switches[1].status()).calls.answered;
    await sleep(1_500);
    const sw1Early = (await sw1.status()).calls.answered;
    const sw2Early = (await c.switches[1].status()).calls.answered - sw2Before;
    expect(sw1Early).toBeGreaterThan(0);
    expect(sw1Early, `slow start: sw1 ${sw1Early} vs sw2 ${sw2Early} calls`).toBeLessThan(sw2Early);
    const r = await load;
    // Every INVITE that reached the dead switch, or came while it was being detected, failed over.
    // Only calls already answered by sw1 may fail (their BYE finds no one, or the restarted sw1's
    // 481). They are the calls up at the status read plus those answered in the few ms between
    // that read and the SIGKILL: at 50 CPS, at most a couple.
    expect(r.failed, `${r.failed} failed, ${inFlight} calls were up on sw1 when it died; ${r.errors.slice(0, 600)}`).toBeLessThanOrEqual(inFlight + 2);
    if (r.failed > 0) expect(r.errors).toMatch(/BYE|while expecting '200'/);
    expect(r.successful + r.failed).toBe(1_000);
  });
});

describe('capacity failover', () => {
  it('overflows a switch at its channel cap to the next one, and answers 503 when all are full', async () => {
    cluster = await startClusterHarness({
      dispatchers: 1,
      switches: 2,
      clusterYaml: '  selection: priority',
      switchYaml: (i) => `channels: 10, priority: ${i}`,
    });
    const c = cluster;
    const d = c.dispatchers[0];
    const r = await runSipp({ scenario: UAC_OR_503, target: `${d.ip}:${d.port}`, rate: 25, calls: 25, holdMs: 4_000, maxConcurrent: 50 });
    expect(r.failed, r.errors.slice(0, 1_000)).toBe(0);
    const [a, b] = await Promise.all(c.switches.map(async (s) => (await s.status()).calls.answered));
    expect([a, b]).toEqual([10, 10]);
    expect(await metric(c, 'sipfleet_admission_total{outcome="refusedChannels"}')).toBeGreaterThanOrEqual(5);
    expect(await metric(c, 'sipfleet_local_replies_total{status="503"}')).toBe(5);
  });
});

describe('priority selection', () => {
  it('sends calls to the primary, fails over to the backup while it is down, and returns to it', async () => {
    cluster = await startClusterHarness({ dispatchers: 1, switches: 2, clusterYaml: `${PROBE}\n  selection: priority`, switchYaml: (i) => `priority: ${i}` });
    const c = cluster;
    const d = c.dispatchers[0];
    const [primary, backup] = c.switches;
    const load = runSipp({ scenario: 'uac', target: `${d.ip}:${d.port}`, rate: 20, calls: 440 });
    await sleep(3_000);
    expect((await backup.status()).calls.total).toBe(0);
    await primary.behaviour({ invite: 'drop', options: 'ignore' });
    await expect.poll(() => metric(c, 'sipfleet_switch_up{switch="sw1"}'), { timeout: 5_000, interval: 100 }).toBe(0);
    await sleep(1_500);
    const p1 = (await primary.status()).calls.answered;
    const b1 = (await backup.status()).calls.answered;
    await sleep(2_000);
    expect((await primary.status()).calls.answered).toBe(p1);
    expect((await backup.status()).calls.answered).toBeGreaterThan(b1 + 20);
    await primary.behaviour({ invite: 'answer', options: 'answer' });
    await expect.poll(() => metric(c, 'sipfleet_switch_up{switch="sw1"}'), { timeout: 5_000, interval: 100 }).toBe(1);
    // Slow start gives the primary its full share over the 4 s warm-up; then it takes everything.
    await sleep(4_500);
    const b2 = (await backup.status()).calls.total;
    await sleep(2_000);
    expect((await backup.status()).calls.total, 'the backup takes no new call once the primary is back').toBe(b2);
    const r = await load;
    expect(r.failed, r.errors.slice(0, 1_000)).toBe(0);
  });
});

describe('disabling a switch through the store', () => {
  it('stops new calls to it within 1 s on every node; its calls in progress end normally', async () => {
    cluster = await startClusterHarness({ dispatchers: 2, switches: 2 });
    const c = cluster;
    reader = new RedisClusterStore({ cluster: c.clusterName, url: c.redis.url });
    const [a, b] = c.dispatchers;
    const long = [a, b].map((d) => runSipp({ scenario: 'uac', target: `${d.ip}:${d.port}`, rate: 10, calls: 10, holdMs: 5_000 }));
    await expect.poll(async () => (await c.switches[0].status()).channels, { timeout: 5_000 }).toBeGreaterThan(0);
    const sw1 = (await reader.listSwitches()).find((s) => s.id === 'sw1');
    expect(sw1).toBeDefined();
    await reader.putSwitch({ ...sw1!, state: 'disabled' });
    await sleep(1_000);
    const before = (await c.switches[0].status()).calls.total;
    const more = await Promise.all([a, b].map((d) => runSipp({ scenario: 'uac', target: `${d.ip}:${d.port}`, rate: 20, calls: 40 })));
    for (const r of more) expect(r.failed).toBe(0);
    expect((await c.switches[0].status()).calls.total, 'no new call reached the disabled switch').toBe(before);
    const done = await Promise.all(long);
    for (const r of done) expect(r.failed, 'calls in progress on the disabled switch end normally').toBe(0);
  });
});
