/**
 * Each call is released exactly once, whatever races its end: a retransmitted BYE, a second BYE,
 * a CANCEL that crosses the 200. After 1,000 mixed calls (answered, rejected by the switch,
 * refused by a cap) every level count is back to 0 and releases equal admissions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { levelKey } from '../shared/cluster-store/cluster-store.ts';
import { RedisClusterStore } from '../shared/cluster-store/redis-cluster-store.ts';
import type { SipResponse } from '../shared/sip/index.ts';
import { startClusterHarness, type ClusterHarness } from './support/cluster-harness.ts';
import { buildInvite, buildRequest, UdpSipClient, type InviteOptions } from './support/sip-test-client.ts';
import { runSipp } from './support/sipp.ts';

let c: ClusterHarness;
let reader: RedisClusterStore;

beforeAll(async () => {
  c = await startClusterHarness({ dispatchers: 2, switches: 2, clusterYaml: '  limits: { channels: 80 }' });
  reader = new RedisClusterStore({ cluster: c.clusterName, url: c.redis.url });
});

afterAll(async () => {
  await reader?.close();
  await c?.stop();
});

async function metric(key: string): Promise<number> {
  let total = 0;
  for (const d of c.dispatchers) total += (await d.process.metrics())[key] ?? 0;
  return total;
}

async function levelCounts(): Promise<number[]> {
  const levels = [levelKey('cluster', c.clusterName), levelKey('carrier', 'local'), levelKey('switch', 'sw1'), levelKey('switch', 'sw2')];
  return (await reader.levelStats(levels)).map((s) => s.channels);
}

const is = (status: number, method = 'INVITE') => (m: { kind: string }) =>
  m.kind === 'response' && (m as SipResponse).status === status && (m as SipResponse).cseq.method === method;

async function call(tag: string): Promise<{ client: UdpSipClient; o: InviteOptions; toTag: string | undefined }> {
  const d = c.dispatchers[0];
  const client = await UdpSipClient.open();
  const o: InviteOptions = { target: `${d.ip}:${d.port}`, localHost: '127.0.0.1', localPort: client.port, callId: `${tag}-${Date.now()}@t`, branch: `z9hG4bK-${tag}-${Date.now()}` };
  await client.send(buildInvite(o), d.ip, d.port);
  const ok = (await client.expect(is(200), 5_000)) as SipResponse;
  await client.send(buildRequest('ACK', { ...o, branch: `${o.branch}-ack`, toTag: ok.toTag }), d.ip, d.port);
  return { client, o, toTag: ok.toTag };
}

describe('a call is released exactly once', () => {
  it('when its BYE is retransmitted', async () => {
    const before = await metric('sipfleet_admission_total{outcome="released"}');
    const { client, o, toTag } = await call('rebye');
    const d = c.dispatchers[0];
    const bye = buildRequest('BYE', { ...o, branch: `${o.branch}-bye`, toTag, cseq: 2 });
    for (let i = 0; i < 3; i++) await client.send(bye, d.ip, d.port);
    await client.expect(is(200, 'BYE'), 5_000);
    await expect.poll(() => metric('sipfleet_admission_total{outcome="released"}')).toBe(before + 1);
    await client.close();
  });

  it('when it gets two different BYEs', async () => {
    const before = await metric('sipfleet_admission_total{outcome="released"}');
    const { client, o, toTag } = await call('twobye');
    const d = c.dispatchers[0];
    await client.send(buildRequest('BYE', { ...o, branch: `${o.branch}-bye1`, toTag, cseq: 2 }), d.ip, d.port);
    await client.expect(is(200, 'BYE'), 5_000);
    await client.send(buildRequest('BYE', { ...o, branch: `${o.branch}-bye2`, toTag, cseq: 3 }), d.ip, d.port);
    await client.expect((m) => m.kind === 'response' && (m as SipResponse).cseq.seq === 3 && (m as SipResponse).status >= 400, 5_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(await metric('sipfleet_admission_total{outcome="released"}')).toBe(before + 1);
    expect(await metric('sipfleet_admission_total{outcome="releaseNotFound"}')).toBe(0);
    await client.close();
  });

  it('when its CANCEL crosses the 200', async () => {
    const before = await metric('sipfleet_admission_total{outcome="released"}');
    const d = c.dispatchers[0];
    const client = await UdpSipClient.open();
    const o: InviteOptions = { target: `${d.ip}:${d.port}`, localHost: '127.0.0.1', localPort: client.port, callId: `cross-${Date.now()}@t`, branch: `z9hG4bK-cross-${Date.now()}` };
    await client.send(buildInvite(o), d.ip, d.port);
    await client.expect(is(180), 5_000);
    // The switch answers at once (answer-ms 0), so the CANCEL sent now races its 200.
    await client.send(buildRequest('CANCEL', o), d.ip, d.port);
    const final = (await client.expect((m) => m.kind === 'response' && (m as SipResponse).cseq.method === 'INVITE' && (m as SipResponse).status >= 200, 5_000)) as SipResponse;
    if (final.status === 200) {
      await client.send(buildRequest('ACK', { ...o, branch: `${o.branch}-ack`, toTag: final.toTag }), d.ip, d.port);
      await client.send(buildRequest('BYE', { ...o, branch: `${o.branch}-bye`, toTag: final.toTag, cseq: 2 }), d.ip, d.port);
      await client.expect(is(200, 'BYE'), 5_000);
    } else {
      expect(final.status).toBe(487);
      await client.send(buildRequest('ACK', { ...o, toTag: final.toTag }), d.ip, d.port);
    }
    await expect.poll(() => metric('sipfleet_admission_total{outcome="released"}')).toBe(before + 1);
    expect(await levelCounts()).toEqual([0, 0, 0, 0]);
    await client.close();
  });

  it('over 1,000 mixed calls: all counts back to 0, releases = admissions', async () => {
    // sw2 refuses with 486 (a final the dispatcher relays: no failover), sw1 answers; the channel
    // cap of 80 refuses some calls at peaks (hold 400 ms at 250 CPS ≈ 100 concurrent).
    await c.switches[1].behaviour({ invite: '486' });
    const runs = c.dispatchers.map((d) => runSipp({ scenario: 'uac', target: `${d.ip}:${d.port}`, rate: 125, calls: 500, holdMs: 400 }));
    const results = await Promise.all(runs);
    await c.switches[1].behaviour({ invite: 'answer' });
    const total = results.reduce((n, r) => n + r.successful + r.failed, 0);
    expect(total).toBe(1_000);
    expect(results.reduce((n, r) => n + r.successful, 0)).toBeGreaterThan(100);
    await expect.poll(levelCounts, { timeout: 8_000 }).toEqual([0, 0, 0, 0]);
    const admitted = await metric('sipfleet_admission_total{outcome="admitted"}');
    await expect.poll(() => metric('sipfleet_admission_total{outcome="released"}'), { timeout: 5_000 }).toBe(admitted);
    expect(await metric('sipfleet_admission_total{outcome="releaseNotFound"}')).toBe(0);
    expect(await metric('sipfleet_dialogs')).toBe(0);
  });
});
