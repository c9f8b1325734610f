/**
 * Selection across the switch pool with real processes: weighted 1:2:3 over 10,000 SIPp calls,
 * hash-call-id sending every request of a call to one switch (even through another node), and
 * hash-source keeping one carrier address on one switch on every node (stickiness in Redis).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { SipResponse } from '../shared/sip/index.ts';
import { startClusterHarness, type ClusterHarness } from './support/cluster-harness.ts';
import { buildInvite, buildRequest, UdpSipClient, type InviteOptions } from './support/sip-test-client.ts';
import { runSipp } from './support/sipp.ts';

let cluster: ClusterHarness | undefined;

afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

async function answered(c: ClusterHarness): Promise<number[]> {
  return Promise.all(c.switches.map(async (s) => (await s.status()).calls.answered));
}

describe('weighted selection', () => {
  it('spreads 10,000 calls over 3 switches as 1:2:3 (±3%)', async () => {
    const weights = [1, 2, 3];
    cluster = await startClusterHarness({
      dispatchers: 1,
      switches: 3,
      clusterYaml: '  selection: weighted',
      switchYaml: (i) => `weight: ${weights[i]}`,
    });
    const d = cluster.dispatchers[0];
    const r = await runSipp({ scenario: 'uac', target: `${d.ip}:${d.port}`, rate: 500, calls: 10_000, maxConcurrent: 2_000 });
    expect(r.failed, r.errors.slice(0, 1_000)).toBe(0);
    const counts = await answered(cluster);
    const total = counts.reduce((a, b) => a + b, 0);
    expect(total).toBe(10_000);
    counts.forEach((n, i) => expect(Math.abs(n / total - weights[i] / 6), `switch ${i + 1}: ${n} of ${total}`).toBeLessThanOrEqual(0.03));
  });
});

describe('hash-call-id selection', () => {
  it('keeps every request of a call on one switch, even one that arrives through another node', async () => {
    cluster = await startClusterHarness({ dispatchers: 2, switches: 3, clusterYaml: '  selection: hash-call-id' });
    const [a, b] = cluster.dispatchers;
    const r = await runSipp({ scenario: 'uac', target: `${a.ip}:${a.port}`, rate: 200, calls: 600 });
    expect(r.failed, r.errors.slice(0, 1_000)).toBe(0);
    for (const n of await answered(cluster)) expect(n).toBeGreaterThan(100);
    // INVITE through node A; ACK and BYE through node B, which never saw the call: the hash of the
    // Call-ID still names the switch that holds the dialog (it answers 481 to any other switch's BYE).
    const client = await UdpSipClient.open();
    for (let i = 0; i < 10; i++) {
      const o: InviteOptions = { target: `${a.ip}:${a.port}`, localHost: '127.0.0.1', localPort: client.port, callId: `hash-${i}-${Date.now()}@t`, branch: `z9hG4bK-h${i}-${Date.now()}` };
      await client.send(buildInvite(o), a.ip, a.port);
      const ok = (await client.expect((m) => m.kind === 'response' && (m as SipResponse).status === 200 && m.callId === o.callId, 5_000)) as SipResponse;
      const viaB = { ...o, target: `${b.ip}:${b.port}` };
      await client.send(buildRequest('ACK', { ...viaB, branch: `${o.branch}-ack`, toTag: ok.toTag }), b.ip, b.port);
      await client.send(buildRequest('BYE', { ...viaB, branch: `${o.branch}-bye`, toTag: ok.toTag, cseq: 2 }), b.ip, b.port);
      const bye = (await client.expect((m) => m.kind === 'response' && m.callId === o.callId && (m as SipResponse).cseq.method === 'BYE', 5_000)) as SipResponse;
      expect(bye.status).toBe(200);
    }
    await client.close();
    for (const s of cluster.switches) expect((await s.status()).channels).toBe(0);
  });
});

describe('hash-source selection', () => {
  it('sends one source address to one switch on every node, for the sticky TTL', async () => {
    cluster = await startClusterHarness({ dispatchers: 2, switches: 3, clusterYaml: '  selection: hash-source\n  stickyTtl: 10m' });
    const [a, b] = cluster.dispatchers;
    const [ra, rb] = await Promise.all([
      runSipp({ scenario: 'uac', target: `${a.ip}:${a.port}`, rate: 50, calls: 100, localIp: '127.0.0.5' }),
      runSipp({ scenario: 'uac', target: `${b.ip}:${b.port}`, rate: 50, calls: 100, localIp: '127.0.0.5' }),
    ]);
    expect(ra.failed + rb.failed).toBe(0);
    const counts = await answered(cluster);
    expect(counts.filter((n) => n > 0), `calls per switch: ${counts.join(', ')}`).toEqual([200]);
  });
});
