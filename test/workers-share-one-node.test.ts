/**
 * `node.workers: 2` (docs/workers.md): one dispatcher node runs two worker processes on one SIP
 * port (SO_REUSEPORT), each a cluster node of its own with a UDP port of its own.
 *
 * - SIPp with a socket per call (`-t un`): the kernel spreads the calls over both workers, every
 *   call completes, each is admitted and released once.
 * - SIPp from ONE socket (a carrier trunk: one source address and port, which the kernel hashes
 *   to one worker): the calls still spread over both, by Call-ID, and all complete.
 * - An in-dialog request the kernel hands to the worker that does not hold the call (ACK and BYE
 *   from another source port) reaches the one that does (relayed by its Call-ID), and the call is
 *   released there exactly once; the Record-Route names the shared port toward the carrier and
 *   the owner's own port toward the switch.
 * - A worker killed with SIGKILL is started again by the supervisor; the cluster releases the
 *   calls it held (its lease expires, it is reaped) and new calls go on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { levelKey } from '../shared/cluster-store/cluster-store.ts';
import { RedisClusterStore } from '../shared/cluster-store/redis-cluster-store.ts';
import type { SipResponse } from '../shared/sip/index.ts';
import { startClusterHarness, type ClusterHarness } from './support/cluster-harness.ts';
import { parseMetrics } from './support/sipfleet-processes.ts';
import { buildInvite, buildRequest, UdpSipClient, type InviteOptions } from './support/sip-test-client.ts';
import { runSipp } from './support/sipp.ts';
import { until } from './support/until.ts';

const WORKERS = 2;
let c: ClusterHarness;
let reader: RedisClusterStore;
let httpHost: string;
let httpPort: number;

beforeAll(async () => {
  // Long probe interval: the switch probes' responses would blur the per-worker message counts.
  c = await startClusterHarness({ dispatchers: 1, switches: 2, workers: WORKERS, clusterYaml: '  probe: { interval: 60s, timeout: 2s }\n  leases: { ttl: 2s, reapInterval: 500ms }' });
  reader = new RedisClusterStore({ cluster: c.clusterName, url: c.redis.url });
  [httpHost, httpPort] = [c.dispatchers[0].process.http.split(':')[0], Number(c.dispatchers[0].process.http.split(':')[1])];
  for (let k = 0; k < WORKERS; k++) await until(async () => (await get(k, '/readyz')).status === 200, 15_000, `worker ${k} ready`);
}, 60_000);

afterAll(async () => {
  await reader?.close();
  await c?.stop();
});

async function get(worker: number, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  try {
    const res = await fetch(`http://${httpHost}:${httpPort + worker}${path}`, { signal: AbortSignal.timeout(1000) });
    return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> };
  } catch {
    return { status: 0, body: {} };
  }
}

async function metrics(worker: number): Promise<Record<string, number>> {
  return parseMetrics(await (await fetch(`http://${httpHost}:${httpPort + worker}/metrics`)).text());
}

/** One metric, per worker (index = worker). */
async function perWorker(key: string): Promise<number[]> {
  const out: number[] = [];
  for (let k = 0; k < WORKERS; k++) out.push((await metrics(k))[key] ?? 0);
  return out;
}

async function clusterChannels(): Promise<number> {
  return (await reader.levelStats([levelKey('cluster', c.clusterName)]))[0].channels;
}

const ok = (method: string) => (m: { kind: string }) => m.kind === 'response' && (m as SipResponse).status === 200 && (m as SipResponse).cseq.method === method;

/** INVITE → 200 from its own socket; returns the dialog and the Record-Route values as received. */
async function setUp(tag: string): Promise<{ o: InviteOptions; toTag: string | undefined; recordRoute: string[]; client: UdpSipClient }> {
  const d = c.dispatchers[0];
  const client = await UdpSipClient.open();
  const o: InviteOptions = { target: `${d.ip}:${d.port}`, localHost: '127.0.0.1', localPort: client.port, callId: `${tag}@w`, branch: `z9hG4bK-${tag}` };
  await client.send(buildInvite(o), d.ip, d.port);
  const res = (await client.expect(ok('INVITE'), 5_000)) as SipResponse;
  const recordRoute = res.headers.filter((h) => h.key === 'record-route').flatMap((h) => h.value.split(/,\s*(?=<)/));
  return { o, toTag: res.toTag, recordRoute, client };
}

/** Worker index named by a call's switch-facing Record-Route (the worker that holds the call). */
function ownerOf(recordRoute: string[]): number {
  const base = c.dispatchers[0].workerPortBase!;
  const ports = recordRoute.map((r) => Number(/:(\d+)[;>]/.exec(r)?.[1]));
  const own = ports.find((p) => p >= base && p < base + WORKERS);
  if (own === undefined) throw new Error(`no worker port in Record-Route ${recordRoute.join(', ')}`);
  return own - base;
}

describe('two workers on one SIP port', () => {
  it('spread SIPp calls from many sockets over both workers; every call completes and is released once', async () => {
    const d = c.dispatchers[0];
    const before = await perWorker('sipfleet_admission_total{outcome="admitted"}');
    const r = await runSipp({ scenario: 'uac', target: `${d.ip}:${d.port}`, transport: 'un', rate: 50, calls: 200, localIp: '127.0.0.1', extraArgs: ['-max_socket', '1000'] });
    expect(r.failed, r.errors).toBe(0);
    expect(r.successful).toBe(200);
    const admitted = (await perWorker('sipfleet_admission_total{outcome="admitted"}')).map((n, k) => n - before[k]);
    expect(admitted[0] + admitted[1]).toBe(200);
    // Both took a share (the kernel hashes each call's source port: 200 calls all on one of two
    // workers would be a 2^-199 chance).
    expect(admitted[0]).toBeGreaterThan(0);
    expect(admitted[1]).toBeGreaterThan(0);
    await until(async () => (await clusterChannels()) === 0, 5_000, 'cluster channels back to 0');
    await until(async () => (await perWorker('sipfleet_dialogs')).every((n) => n === 0), 5_000, 'no dialog left on either worker');
  }, 60_000);

  it('spread the calls of one carrier socket over both workers by Call-ID', async () => {
    const d = c.dispatchers[0];
    const before = await perWorker('sipfleet_admission_total{outcome="admitted"}');
    const relayedBefore = (await perWorker('sipfleet_worker_relayed_total{direction="out"}')).reduce((a, b) => a + b);
    const r = await runSipp({ scenario: 'uac', target: `${d.ip}:${d.port}`, transport: 'u1', rate: 50, calls: 200, localIp: '127.0.0.1' });
    expect(r.failed, r.errors).toBe(0);
    expect(r.successful).toBe(200);
    const admitted = (await perWorker('sipfleet_admission_total{outcome="admitted"}')).map((n, k) => n - before[k]);
    expect(admitted[0] + admitted[1]).toBe(200);
    expect(Math.min(...admitted)).toBeGreaterThan(50);
    // The kernel gave every datagram to one worker; it passed the other's calls over.
    expect((await perWorker('sipfleet_worker_relayed_total{direction="out"}')).reduce((a, b) => a + b) - relayedBefore).toBeGreaterThanOrEqual(Math.min(...admitted));
    expect((await perWorker('sipfleet_worker_relayed_total{direction="refused"}')).reduce((a, b) => a + b)).toBe(0);
    await until(async () => (await clusterChannels()) === 0, 5_000, 'cluster channels back to 0');
  }, 60_000);

  it('carry an in-dialog request that lands on the worker not holding the call to the one that does', async () => {
    const d = c.dispatchers[0];
    const releasedBefore = (await perWorker('sipfleet_admission_total{outcome="released"}')).reduce((a, b) => a + b);
    let landedElsewhere = 0;
    const CALLS = 16;
    for (let i = 0; i < CALLS; i++) {
      const call = await setUp(`elsewhere-${i}-${Date.now()}`);
      // Facing the carrier: the shared port; facing the switch: the owner's own port (RFC 5658).
      expect(call.recordRoute).toHaveLength(2);
      expect(call.recordRoute.some((r) => r.includes(`:${d.port};`))).toBe(true);
      const owner = ownerOf(call.recordRoute);
      const routes = [...call.recordRoute].reverse();
      // ACK and BYE from another socket: the kernel may hand them to either worker.
      const other = await UdpSipClient.open();
      const at = { ...call.o, localPort: other.port, toTag: call.toTag, routes };
      const inBefore = await perWorker('sipfleet_messages_in_total');
      await other.send(buildRequest('ACK', { ...at, branch: `${call.o.branch}-ack` }), d.ip, d.port);
      await other.send(buildRequest('BYE', { ...at, branch: `${call.o.branch}-bye`, cseq: 2 }), d.ip, d.port);
      await other.expect(ok('BYE'), 5_000);
      const inAfter = await perWorker('sipfleet_messages_in_total');
      // The worker not holding the call saw messages only if the BYE (and ACK) went through it.
      if (inAfter[1 - owner] > inBefore[1 - owner]) landedElsewhere++;
      await other.close();
      await call.client.close();
    }
    await until(async () => (await perWorker('sipfleet_admission_total{outcome="released"}')).reduce((a, b) => a + b) === releasedBefore + CALLS, 5_000, 'every call released');
    expect(await clusterChannels()).toBe(0);
    // Each BYE's source port is new, so about half land elsewhere; none of 16 would be a 2^-16 chance.
    expect(landedElsewhere).toBeGreaterThan(0);
    expect((await perWorker('sipfleet_admission_total{outcome="releaseNotFound"}')).reduce((a, b) => a + b)).toBe(0);
  }, 60_000);

  it('restart a worker that dies; the cluster releases the calls it held and new calls go on', async () => {
    const held: Array<Awaited<ReturnType<typeof setUp>> & { owner: number }> = [];
    for (let i = 0; i < 12; i++) {
      const call = await setUp(`held-${i}-${Date.now()}`);
      held.push({ ...call, owner: ownerOf(call.recordRoute) });
    }
    const onWorker0 = held.filter((h) => h.owner === 0).length;
    expect(await clusterChannels()).toBe(12);
    const victim = held.some((h) => h.owner === 1) ? 1 : 0;
    const survivor = 1 - victim;
    const kept = held.filter((h) => h.owner === survivor).length;
    const pid = (await get(victim, '/healthz')).body.pid as number;
    expect(typeof pid).toBe('number');
    process.kill(pid, 'SIGKILL');
    // Reaped: its lease expired, another node released its calls; the survivor's calls stay.
    await until(async () => (await clusterChannels()) === kept, 15_000, `cluster channels down to the survivor's ${kept} calls`);
    await until(async () => {
      const h = await get(victim, '/healthz');
      return h.status === 200 && h.body.pid !== pid && (await get(victim, '/readyz')).status === 200;
    }, 20_000, 'the worker restarted and ready');
    expect(onWorker0 + held.filter((h) => h.owner === 1).length).toBe(12);
    // The survivor's calls end normally.
    const d = c.dispatchers[0];
    for (const h of held.filter((x) => x.owner === survivor)) {
      await h.client.send(buildRequest('BYE', { ...h.o, toTag: h.toTag, routes: [...h.recordRoute].reverse(), branch: `${h.o.branch}-bye`, cseq: 2 }), d.ip, d.port);
      await h.client.expect(ok('BYE'), 5_000);
    }
    for (const h of held) await h.client.close();
    await until(async () => (await clusterChannels()) === 0, 5_000, 'cluster channels back to 0');
    const r = await runSipp({ scenario: 'uac', target: `${d.ip}:${d.port}`, transport: 'un', rate: 50, calls: 100, localIp: '127.0.0.1', extraArgs: ['-max_socket', '1000'] });
    expect(r.failed, r.errors).toBe(0);
    expect(r.successful).toBe(100);
  }, 90_000);
});
