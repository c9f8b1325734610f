/**
 * Failed-authentication bans and scanner drops on a real 3-node cluster on loopback
 * (docs/registrar.md, "Abuse"): 1,000 REGISTERs with wrong passwords from one IP, spread over the
 * nodes, get it banned on every node (silence, counted), while a legitimate phone on another IP
 * keeps registering through every node before, during and after; a carrier source is never
 * banned however often it fails; a SIP scanner's User-Agent gets silence.
 *
 * Policy: `abuse.threshold` 50 failures within `window` 60 s ban the IP for `banTime` 5 m. The
 * attacker sends at a bounded pace (1,000 over ~5 s), so only the few requests already being
 * processed when the 50th failure is recorded can still be answered: at most THRESHOLD + SLACK
 * answered failures in all.
 *
 * Addresses: nodes 127.0.0.11-13, the switch 127.0.0.21, the carrier `local` narrowed to
 * 127.0.0.40/32, attacker 127.0.0.66, legitimate phone 127.0.0.67, scanner 127.0.0.68.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisRegistrarStore } from '../shared/registrar-store/redis-registrar-store.ts';
import { generateBranch, generateCallId } from '../shared/sip/index.ts';
import { startClusterHarness, type ClusterHarness, type DispatcherNodeHandle } from './support/cluster-harness.ts';
import { stopAllProcesses } from './support/managed-process.ts';
import { digestAuthorization, UdpPhone } from './support/phone-client.ts';

const THRESHOLD = 50;
const WINDOW_MS = 60_000;
const BAN_MS = 5 * 60_000;
/** Answered failures allowed beyond the threshold: requests in flight on the nodes when the ban lands. */
const SLACK = 15;
const ATTEMPTS = 1_000;
/** The attack's pace: a burst of BURST requests every BURST_EVERY_MS (1,000 in ~5 s). */
const BURST = 2;
const BURST_EVERY_MS = 10;
const ATTACKER_IP = '127.0.0.66';
const PHONE_IP = '127.0.0.67';
const SCANNER_IP = '127.0.0.68';
const CARRIER_IP = '127.0.0.40';
const USER = 'bob';
const PASSWORD = 'bob-real-password';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let cluster: ClusterHarness | undefined;
let store: RedisRegistrarStore | undefined;
const sockets: UdpPhone[] = [];

beforeAll(async () => {
  cluster = await startClusterHarness({
    dispatchers: 3,
    switches: 1,
    carrierSources: [`${CARRIER_IP}/32`],
    clusterYaml: [
      '  users:',
      `    - { username: ${USER}, password: ${PASSWORD} }`,
      '  registrar:',
      `    abuse: { threshold: ${THRESHOLD}, window: ${WINDOW_MS}ms, banTime: ${BAN_MS}ms }`,
    ].join('\n'),
  });
  store = new RedisRegistrarStore({ cluster: cluster.clusterName, url: cluster.redis.url });
  for (const deadline = Date.now() + 5_000; !store.connected; await sleep(20)) {
    if (Date.now() > deadline) throw new Error('the registrar store reader did not connect within 5 s');
  }
});

afterAll(async () => {
  for (const s of sockets.splice(0)) await s.close();
  await store?.close();
  await cluster?.stop();
  await stopAllProcesses();
});

async function open(ip: string): Promise<UdpPhone> {
  const s = await UdpPhone.open(ip);
  sockets.push(s);
  return s;
}

async function metric(node: DispatcherNodeHandle, name: string): Promise<number> {
  return (await node.process.metrics())[name] ?? 0;
}

async function metrics(name: string): Promise<number[]> {
  return Promise.all(cluster!.dispatchers.map((d) => metric(d, name)));
}

const BANNED = 'sipfleet_phone_drops_total{kind="banned"}';
const SCANNER = 'sipfleet_phone_drops_total{kind="scanner"}';
const AUTH_FAILURES = 'sipfleet_auth_failures_total';

/** Registers the legitimate phone through `node`; resolves with the final status. */
async function legitRegister(phone: UdpPhone, node: DispatcherNodeHandle): Promise<number> {
  const r = await phone.register({ host: node.ip, port: node.port, username: USER, password: PASSWORD, expires: 300 });
  return r.response.status;
}

/** A challenge (WWW-Authenticate value) from `node` to `from`, for REGISTERs that reuse its nonce. */
async function challengeFrom(from: UdpPhone, node: DispatcherNodeHandle): Promise<string> {
  const o = { host: node.ip, port: node.port, username: USER, password: 'x' };
  const callId = generateCallId(from.host);
  await from.send(from.registerRequest(o, undefined, callId, 1), node.ip, node.port);
  const r = await from.response(callId, 1, 3_000);
  expect(r.status).toBe(401);
  return r.getAll('www-authenticate')[0];
}

/**
 * `count` REGISTERs for USER with wrong passwords from `from`, round-robin over the nodes, each
 * answering that node's challenge (nonce reused, nonce-count going up), paced BURST per
 * BURST_EVERY_MS. Resolves once all are sent and `settleMs` has passed, with the Call-IDs sent per
 * node in order.
 */
async function wrongPasswords(from: UdpPhone, count: number, settleMs: number): Promise<Map<string, string[]>> {
  const nodes = cluster!.dispatchers;
  const challenges = new Map<string, string>();
  for (const n of nodes) challenges.set(n.id, await challengeFrom(from, n));
  const sent = new Map<string, string[]>(nodes.map((n) => [n.id, []]));
  for (let i = 0; i < count; i++) {
    const node = nodes[i % nodes.length];
    const calls = sent.get(node.id)!;
    const uri = `sip:${node.ip}:${node.port}`;
    const authorization = digestAuthorization({
      challenge: challenges.get(node.id)!,
      method: 'REGISTER',
      uri,
      username: USER,
      password: `guess-${i}`,
      nc: calls.length + 1,
    });
    const callId = generateCallId(from.host);
    calls.push(callId);
    await from.send(from.registerRequest({ host: node.ip, port: node.port, username: USER, password: '' }, authorization, callId, 1), node.ip, node.port);
    if (i % BURST === BURST - 1) await sleep(BURST_EVERY_MS);
  }
  await sleep(settleMs);
  return sent;
}

/** Final responses `from` got to the requests with these Call-IDs. */
function answered(from: UdpPhone, callIds: readonly string[]): number[] {
  const ids = new Set(callIds);
  return from.received.filter((m) => m.msg.kind === 'response' && ids.has(m.msg.callId)).map((m) => (m.msg.kind === 'response' ? m.msg.status : 0));
}

/** REGISTER, OPTIONS and INVITE from `from` to every node; resolves with how many answers came within `waitMs`. */
async function probeEveryNode(from: UdpPhone, waitMs: number, userAgent = 'sipfleet-test-phone'): Promise<number> {
  const before = from.received.length;
  for (const n of cluster!.dispatchers) {
    for (const method of ['REGISTER', 'OPTIONS', 'INVITE']) {
      const callId = generateCallId(from.host);
      const text = [
        `${method} sip:${method === 'INVITE' ? '+15551234@' : ''}${n.ip}:${n.port} SIP/2.0`,
        `Via: SIP/2.0/UDP ${from.host}:${from.port};branch=${generateBranch()};rport`,
        'Max-Forwards: 70',
        `From: <sip:${USER}@${n.ip}>;tag=p${callId.slice(0, 8)}`,
        `To: <sip:${USER}@${n.ip}>`,
        `Call-ID: ${callId}`,
        `CSeq: 1 ${method}`,
        `Contact: <sip:${USER}@${from.host}:${from.port}>`,
        `User-Agent: ${userAgent}`,
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
      await from.send(text, n.ip, n.port);
    }
  }
  await sleep(waitMs);
  return from.received.length - before;
}

describe(`${ATTEMPTS} wrong passwords from one IP (threshold ${THRESHOLD} in ${WINDOW_MS / 1000} s, ban ${BAN_MS / 60_000} min)`, () => {
  it('ban the IP on every node after ~threshold answered failures, while a legitimate phone keeps registering everywhere', async () => {
    const c = cluster!;
    const nodes = c.dispatchers;
    const phone = await open(PHONE_IP);
    for (const n of nodes) expect(await legitRegister(phone, n), `before: REGISTER through ${n.id}`).toBe(200);

    const attacker = await open(ATTACKER_IP);
    const dropsBefore = await metrics(BANNED);
    expect(dropsBefore).toEqual([0, 0, 0]);

    // The legitimate phone registers through every node, round-robin, for as long as the attack runs.
    let attacking = true;
    const during: Array<{ node: string; status: number }> = [];
    const legit = (async () => {
      for (let i = 0; attacking && i < 200; i++) {
        const n = nodes[i % nodes.length];
        during.push({ node: n.id, status: await legitRegister(phone, n).catch(() => 0) });
        await sleep(100);
      }
    })();
    const startedAt = Date.now();
    const sent = await wrongPasswords(attacker, ATTEMPTS, 1_000).finally(() => {
      attacking = false;
    });
    await legit;
    const attackMs = Date.now() - startedAt;
    expect(attackMs, 'the attack is bounded in time').toBeLessThan(30_000);

    // Only the failures processed before the ban were answered (401), each node at most that many.
    const perNode = new Map([...sent].map(([id, calls]) => [id, answered(attacker, calls)]));
    let total = 0;
    for (const [id, statuses] of perNode) {
      expect(new Set(statuses), `${id} answers wrong passwords with 401 only`).toEqual(statuses.length === 0 ? new Set() : new Set([401]));
      expect(statuses.length, `answered failures on ${id}`).toBeLessThanOrEqual(THRESHOLD + SLACK);
      // The first answered ones are the first sent: nothing is answered once the node knows the ban.
      const calls = sent.get(id)!;
      const answeredIds = new Set(attacker.received.filter((m) => m.msg.kind === 'response').map((m) => m.msg.callId));
      const lastAnswered = calls.reduce((last, id2, idx) => (answeredIds.has(id2) ? idx : last), -1);
      expect(lastAnswered, `${id}: no answer after the ban took effect there`).toBeLessThan(THRESHOLD + SLACK);
      total += statuses.length;
    }
    expect(total, 'answered failures in all (each one counted cluster-wide)').toBeGreaterThanOrEqual(THRESHOLD);
    expect(total).toBeLessThanOrEqual(THRESHOLD + SLACK);

    // The ban is in the store with its full ban time.
    const bans = await store!.listBans();
    const ban = bans.find((b) => b.ip === ATTACKER_IP);
    expect(ban, 'the attacker is banned in the store').toBeDefined();
    const left = ban!.untilMs - (await store!.now());
    expect(left).toBeGreaterThan(BAN_MS - attackMs - 5_000);
    expect(left).toBeLessThanOrEqual(BAN_MS);

    // Afterwards: silence from every node, to any request, from any port of that IP.
    expect(await probeEveryNode(attacker, 1_500), 'answers to the banned IP after the attack').toBe(0);
    const attacker2 = await open(ATTACKER_IP);
    expect(await probeEveryNode(attacker2, 1_500), 'answers to the banned IP on another port').toBe(0);

    // Every node dropped and counted: all but the answered attack requests, and the probes.
    const drops = await metrics(BANNED);
    drops.forEach((d, i) => expect(d - dropsBefore[i], `banned drops on ${nodes[i].id}`).toBeGreaterThanOrEqual(6 + 200));
    expect(drops.reduce((x, y) => x + y, 0)).toBeGreaterThanOrEqual(ATTEMPTS - total + 18);
    expect(await metrics('sipfleet_banned_sources'), 'every node knows of the ban').toEqual([1, 1, 1]);

    // The legitimate phone was never refused: before, during and after.
    expect(during.length, 'registrations during the attack').toBeGreaterThanOrEqual(nodes.length);
    expect(new Set(during.map((d) => d.node)).size, 'during the attack, through every node').toBe(nodes.length);
    expect(during.filter((d) => d.status !== 200), 'refused legitimate registrations').toEqual([]);
    for (const n of nodes) expect(await legitRegister(phone, n), `after: REGISTER through ${n.id}`).toBe(200);
    expect((await store!.listBans()).map((b) => b.ip)).toEqual([ATTACKER_IP]);
  });

  it('never bans a carrier source, however many wrong passwords it sends', async () => {
    const c = cluster!;
    const carrier = await open(CARRIER_IP);
    const failuresBefore = await metrics(AUTH_FAILURES);
    const sent = await wrongPasswords(carrier, 2 * THRESHOLD + 30, 1_000);
    const all = [...sent.values()].flat();
    const statuses = answered(carrier, all);
    expect(statuses.length, 'every wrong password from the carrier is answered').toBe(all.length);
    expect(new Set(statuses)).toEqual(new Set([401]));
    expect((await store!.listBans()).map((b) => b.ip), 'the carrier is not banned').not.toContain(CARRIER_IP);
    expect(await metrics(AUTH_FAILURES), 'carrier failures are not counted').toEqual(failuresBefore);
    // Still answered afterwards, by every node.
    for (const n of c.dispatchers) {
      const callId = generateCallId(carrier.host);
      await carrier.send(carrier.registerRequest({ host: n.ip, port: n.port, username: USER, password: '' }, undefined, callId, 1), n.ip, n.port);
      expect((await carrier.response(callId, 1, 3_000)).status).toBe(401);
    }
  });

  it('drops a scanner (User-Agent friendly-scanner) silently on every node and counts it', async () => {
    const scanner = await open(SCANNER_IP);
    const before = await metrics(SCANNER);
    expect(await probeEveryNode(scanner, 1_500, 'friendly-scanner'), 'answers to the scanner').toBe(0);
    const after = await metrics(SCANNER);
    after.forEach((n, i) => expect(n - before[i], `scanner drops on d${i + 1}`).toBe(3));
    // Not a ban: the same address with an ordinary User-Agent is answered.
    expect(await probeEveryNode(scanner, 1_000)).toBeGreaterThanOrEqual(3);
    expect((await store!.listBans()).map((b) => b.ip)).not.toContain(SCANNER_IP);
  });
});
