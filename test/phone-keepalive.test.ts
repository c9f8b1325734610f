/**
 * NAT keep-alive of softphone bindings on a real 3-node cluster on loopback (docs/registrar.md,
 * "NAT keep-alive"): only the binding's owner pings it; a phone that stops answering loses its
 * binding after `misses` missed pings, in every node's view; the store keeps the ping round trip;
 * when the owner dies, the node that reaps it hands the binding to a live node, which pings the
 * phone from its own address.
 *
 * Phones come from 127.0.0.31 (the carrier `local` is narrowed to 127.0.0.40/32, so any other
 * loopback address that is no switch is a phone); the caller of the 480 checks sends from the
 * first switch's address (a call from a switch = a call to a phone).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisRegistrarStore } from '../shared/registrar-store/redis-registrar-store.ts';
import type { Binding } from '../shared/registrar-store/registrar-store.ts';
import { generateBranch, generateCallId, generateTag } from '../shared/sip/index.ts';
import { startClusterHarness, type ClusterHarness, type DispatcherNodeHandle } from './support/cluster-harness.ts';
import { stopAllProcesses } from './support/managed-process.ts';
import { UdpPhone } from './support/phone-client.ts';

const INTERVAL = 1_000;
const TIMEOUT = 500;
const MISSES = 3;
const LEASE_TTL = 2_000;
const REAP = 500;
const USER = 'alice';
const PASSWORD = 'alice-keepalive-pw';
const PHONE_IP = '127.0.0.31';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let cluster: ClusterHarness | undefined;
let store: RedisRegistrarStore | undefined;
const phones: UdpPhone[] = [];

beforeAll(async () => {
  cluster = await startClusterHarness({
    dispatchers: 3,
    switches: 1,
    carrierSources: ['127.0.0.40/32'],
    clusterYaml: [
      `  leases: { ttl: ${LEASE_TTL}ms, reapInterval: ${REAP}ms }`,
      '  users:',
      `    - { username: ${USER}, password: ${PASSWORD} }`,
      '  registrar:',
      `    keepalive: { interval: ${INTERVAL}ms, timeout: ${TIMEOUT}ms, misses: ${MISSES} }`,
    ].join('\n'),
  });
  store = new RedisRegistrarStore({ cluster: cluster.clusterName, url: cluster.redis.url });
  for (const deadline = Date.now() + 5_000; !store.connected; await sleep(20)) {
    if (Date.now() > deadline) throw new Error('the registrar store reader did not connect within 5 s');
  }
});

afterAll(async () => {
  for (const p of phones.splice(0)) await p.close();
  await store?.close();
  await cluster?.stop();
  await stopAllProcesses();
});

async function bindings(): Promise<Binding[]> {
  return store!.lookup(USER);
}

async function openPhone(): Promise<UdpPhone> {
  const p = await UdpPhone.open(PHONE_IP);
  phones.push(p);
  return p;
}

async function register(phone: UdpPhone, node: DispatcherNodeHandle): Promise<void> {
  const r = await phone.register({ host: node.ip, port: node.port, username: USER, password: PASSWORD, expires: 300 });
  expect(r.challenge?.status, 'the first REGISTER is challenged').toBe(401);
  expect(r.response.status, `REGISTER through ${node.id}`).toBe(200);
}

/** An INVITE for the user from the switch's address through `node`; resolves with the final status. */
async function callFromSwitch(node: DispatcherNodeHandle): Promise<number> {
  const c = cluster!;
  const caller = await UdpPhone.open(c.switches.length > 0 ? '127.0.0.21' : '127.0.0.1');
  try {
    const callId = generateCallId('switch');
    const branch = generateBranch();
    const fromTag = generateTag();
    const head = (method: string, toTag?: string): string[] => [
      `${method} sip:${USER}@${node.ip}:${node.port} SIP/2.0`,
      `Via: SIP/2.0/UDP ${caller.host}:${caller.port};branch=${branch};rport`,
      'Max-Forwards: 70',
      `From: <sip:+15550001@${caller.host}>;tag=${fromTag}`,
      `To: <sip:${USER}@${node.ip}>${toTag === undefined ? '' : `;tag=${toTag}`}`,
      `Call-ID: ${callId}`,
      `CSeq: 1 ${method}`,
    ];
    await caller.send([...head('INVITE'), `Contact: <sip:switch@${caller.host}:${caller.port}>`, 'Content-Length: 0', '', ''].join('\r\n'), node.ip, node.port);
    const final = await caller.response(callId, 1, 5_000);
    if (final.status >= 300) await caller.send([...head('ACK', final.toTag), 'Content-Length: 0', '', ''].join('\r\n'), node.ip, node.port);
    return final.status;
  } finally {
    await caller.close();
  }
}

async function metric(node: DispatcherNodeHandle, name: string): Promise<number> {
  return (await node.process.metrics())[name] ?? 0;
}

describe('NAT keep-alive of a registered phone (interval 1 s, timeout 500 ms, 3 misses)', () => {
  it('is pinged by its owner node only while it answers; loses its binding in every node\'s view after 3 misses', async () => {
    const c = cluster!;
    const [a, b, cc] = c.dispatchers;
    const phone = await openPhone();
    await register(phone, a);
    const registeredAt = Date.now();

    const [owned] = await bindings();
    expect(owned.flow.nodeId, 'the node the REGISTER went to owns the binding').toBe(a.id);
    expect(owned.flow.address).toBe(PHONE_IP);
    expect(owned.flow.port).toBe(phone.port);

    // Several intervals while answering: the binding stays, only the owner pings.
    await sleep(4.5 * INTERVAL);
    expect(await bindings(), 'binding still there after 4.5 intervals of answered pings').toHaveLength(1);
    const bySource = phone.optionsBySource();
    expect([...bySource.keys()], 'every OPTIONS came from the owner\'s SIP address').toEqual([`${a.ip}:${a.port}`]);
    // First ping at a random offset within the interval, then every interval ± 10 %.
    expect(bySource.get(`${a.ip}:${a.port}`)).toBeGreaterThanOrEqual(3);
    expect(bySource.get(`${a.ip}:${a.port}`)).toBeLessThanOrEqual(6);
    for (const o of phone.options) {
      expect(o.msg.kind === 'request' && o.msg.get('from')).toContain('sipfleet-keepalive@');
    }
    await expect.poll(async () => (await bindings())[0]?.pingRttMs, { timeout: 3_000, message: 'the store records the ping round trip' }).toBeTypeOf('number');
    const rtt = (await bindings())[0].pingRttMs!;
    expect(rtt).toBeGreaterThanOrEqual(0);
    expect(rtt).toBeLessThan(TIMEOUT);
    expect(await metric(a, 'sipfleet_keepalive_bindings')).toBe(1);
    const pingsBefore = await metric(a, 'sipfleet_keepalive_pings_total');
    const pongsBefore = await metric(a, 'sipfleet_keepalive_pongs_total');
    expect(pingsBefore).toBeGreaterThanOrEqual(3);
    expect(pongsBefore).toBeGreaterThanOrEqual(3);
    expect(await metric(a, 'sipfleet_keepalive_misses_total')).toBe(0);
    for (const other of [b, cc]) {
      expect(await metric(other, 'sipfleet_keepalive_pings_total'), `${other.id} never pings a binding it does not own`).toBe(0);
      expect(await metric(other, 'sipfleet_keepalive_bindings')).toBe(0);
    }

    // The phone stops answering: gone after 3 misses, i.e. within (misses + 1) × interval.
    phone.answerOptions = false;
    const stoppedAt = Date.now();
    await expect
      .poll(async () => (await bindings()).length, { timeout: (MISSES + 3) * INTERVAL, interval: 100, message: 'binding removed after the missed pings' })
      .toBe(0);
    const took = Date.now() - stoppedAt;
    // Worst case: the next ping 1.1 intervals after the last answered one, two more 1.1 apart, the
    // third one's timeout, a 100 ms tick: 3.9 s; up to 1 s more for a loaded machine.
    expect(took, 'ms until the binding was removed').toBeLessThanOrEqual((MISSES + 1) * INTERVAL + 1_000);
    expect(took, 'not before 3 pings could have been missed').toBeGreaterThanOrEqual((MISSES - 1) * INTERVAL * 0.9);
    expect(Date.now() - registeredAt).toBeLessThan(300_000); // not expired by itself

    // Every node sees it gone: calls through each node get 480 (user known, no binding).
    for (const node of [b, cc, a]) expect(await callFromSwitch(node), `a call through ${node.id}`).toBe(480);
    const ignored = phone.optionsBySource(stoppedAt);
    expect([...ignored.keys()], 'the unanswered pings also came from the owner only').toEqual([`${a.ip}:${a.port}`]);
    expect(ignored.get(`${a.ip}:${a.port}`), 'unanswered OPTIONS (each retransmitted by Timer E within the timeout)').toBeGreaterThanOrEqual(MISSES);

    expect(await metric(a, 'sipfleet_keepalive_misses_total')).toBeGreaterThanOrEqual(MISSES);
    expect(await metric(a, 'sipfleet_keepalive_removed_total')).toBe(1);
    expect(await metric(a, 'sipfleet_keepalive_pings_total')).toBeGreaterThan(pingsBefore);
    expect(await metric(a, 'sipfleet_keepalive_bindings')).toBe(0);

    // No more pings once removed.
    const removedAt = Date.now();
    await sleep(1.5 * INTERVAL);
    expect(phone.options.filter((o) => o.at > removedAt + TIMEOUT).length, 'OPTIONS after the removal').toBe(0);
  });

  it('is handed over when its owner is killed: another live node owns it after the lease TTL and pings the phone', async () => {
    const c = cluster!;
    const [a, ...rest] = c.dispatchers;
    const phone = await openPhone();
    await register(phone, a);
    expect((await bindings()).map((x) => x.flow.nodeId)).toEqual([a.id]);
    await expect.poll(() => phone.optionsBySource().get(`${a.ip}:${a.port}`) ?? 0, { timeout: 3 * INTERVAL }).toBeGreaterThanOrEqual(1);

    a.process.kill('SIGKILL');
    const killedAt = Date.now();
    await expect
      .poll(async () => (await bindings())[0]?.flow.nodeId, { timeout: LEASE_TTL + REAP + 5_000, interval: 100, message: 'the binding moves to a live node' })
      .toMatch(/^d[23]$/);
    const movedAfter = Date.now() - killedAt;
    expect(movedAfter, 'ms until the hand-over').toBeLessThanOrEqual(LEASE_TTL + 2 * REAP + 1_000);
    const [moved] = await bindings();
    const owner = rest.find((d) => d.id === moved.flow.nodeId)!;
    expect(moved.flow.ownerUri, 'calls for the phone now go to the new owner').toContain(`${owner.ip}:${owner.port}`);
    expect(moved.flow.address).toBe(PHONE_IP);
    expect(moved.flow.port).toBe(phone.port);

    // The new owner pings the phone from its own address (its next reload of owned bindings).
    const movedAt = Date.now();
    await expect
      .poll(() => phone.optionsBySource(movedAt).get(`${owner.ip}:${owner.port}`) ?? 0, { timeout: 4 * INTERVAL, interval: 100, message: `OPTIONS from ${owner.id}` })
      .toBeGreaterThanOrEqual(2);
    const since = [...phone.optionsBySource(movedAt).keys()];
    expect(since, 'only the new owner pings after the hand-over').toEqual([`${owner.ip}:${owner.port}`]);
    const other = rest.find((d) => d !== owner)!;
    expect(await metric(other, 'sipfleet_keepalive_pings_total'), `${other.id} never pinged`).toBe(0);
    expect(await metric(owner, 'sipfleet_keepalive_bindings')).toBe(1);
    // Answered, so it stays.
    await sleep(2 * INTERVAL);
    expect((await bindings()).map((x) => x.flow.nodeId)).toEqual([owner.id]);
    await expect.poll(async () => (await bindings())[0]?.pingRttMs, { timeout: 3_000 }).toBeTypeOf('number');
  });
});
