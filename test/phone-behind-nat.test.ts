/**
 * A softphone behind a real NAT (docs/registrar.md, "Registrations" and "Calls to phones"): it
 * registers through node A, a switch's call for it arrives at node B, B hands it to A over the
 * internal hop, A sends it through the NAT pinhole the REGISTER opened, and the phone answers;
 * the stored binding records the NAT's outside address and the port the NAT chose.
 *
 * Network namespaces (root: ip netns, iptables), every name starting with `sfnat`:
 *
 *   sfnat-home (phone)           sfnat-nat (router)                      sfnat-dc (the cluster)
 *   sfh0 10.77.1.2/24  <──────>  sfn0 10.77.1.1/24
 *   default via 10.77.1.1        sfn1 198.18.7.1/24      <──────>  sfd0 198.18.7.11 (node A)
 *                                ip_forward = 1                          198.18.7.12 (node B)
 *                                POSTROUTING -o sfn1 -p udp              198.18.7.21 (switch-sim
 *                                  MASQUERADE --to-ports 40000-40099       :5060, caller :5070)
 *                                                                  sfd1 198.18.8.1/24 <──> sfnath
 *                                                                  host: 198.18.8.2/24 (Redis),
 *                                                                  route 198.18.7.0/24 via .8.1
 *
 * MASQUERADE applies only to forwarded traffic, hence the router namespace between the phone and
 * the cluster; `--to-ports` makes the NAT pick a source port in 40000-40099, so the binding's port
 * is provably the NAT's and not the phone's (5060). The cluster has no route to 10.77.1.0/24: the
 * phone is reachable only through A's pinhole (conntrack maps replies from 198.18.7.11:5060 only).
 * The test process (host namespace) reaches Redis, the dispatchers' HTTP and the store over the
 * host veth; every process runs in its namespace through `ip netns exec` (the `netns` option).
 *
 * SIPp 3.6.1 computes MD5 digests only, so the cluster offers `algorithms: [MD5]`.
 */
import { readFileSync, rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisRegistrarStore } from '../shared/registrar-store/redis-registrar-store.ts';
import type { Binding } from '../shared/registrar-store/registrar-store.ts';
import { isSipUri, type SipRequest } from '../shared/sip/index.ts';
import { stopAllProcesses } from './support/managed-process.ts';
import { NetnsLab } from './support/netns.ts';
import { startRedis, type RedisServer } from './support/redis-server.ts';
import { requireTool } from './support/require-tool.ts';
import { startDispatcherProcess, startSwitchSimProcess, type DispatcherProcess } from './support/sipfleet-processes.ts';
import { parseSippMessageTrace, runSipp, startSipp } from './support/sipp.ts';

const PHONE_SCENARIO = fileURLToPath(new URL('./scenarios/phone-register-then-answer.xml', import.meta.url));
const PHONE_OOC = fileURLToPath(new URL('./scenarios/phone-answer-call.xml', import.meta.url));
const CALLER_SCENARIO = fileURLToPath(new URL('./scenarios/switch-calls-phone.xml', import.meta.url));

const PREFIX = 'sfnat';
const PHONE_IP = '10.77.1.2';
const PHONE_PORT = 5060;
const NAT_INSIDE = '10.77.1.1';
const NAT_OUTSIDE = '198.18.7.1';
const NAT_PORTS = [40000, 40099] as const;
const A_IP = '198.18.7.11';
const B_IP = '198.18.7.12';
const SWITCH_IP = '198.18.7.21';
const SIP_PORT = 5060;
const HTTP_PORT = 8080;
const CALLER_PORT = 5070;
const HOST_IP = '198.18.8.2';
const DC_HOST_SIDE_IP = '198.18.8.1';
const USER = 'alice';
const PASSWORD = 'alice-behind-nat';
const KEEPALIVE_INTERVAL_MS = 2_000;

let lab: NetnsLab | undefined;
let redis: RedisServer | undefined;
let store: RedisRegistrarStore | undefined;
let workDir: string | undefined;
const nodes: Array<{ id: string; ip: string; process: DispatcherProcess }> = [];
const ns = { home: '', nat: '', dc: '' };

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function buildNetwork(l: NetnsLab): void {
  ns.home = l.add('home');
  ns.nat = l.add('nat');
  ns.dc = l.add('dc');
  // home <-> nat
  l.veth('sfh0', ns.home, 'sfn0', ns.nat);
  l.exec(ns.home, 'ip', 'addr', 'add', `${PHONE_IP}/24`, 'dev', 'sfh0');
  l.exec(ns.home, 'ip', 'route', 'add', 'default', 'via', NAT_INSIDE);
  l.exec(ns.nat, 'ip', 'addr', 'add', `${NAT_INSIDE}/24`, 'dev', 'sfn0');
  // nat <-> dc
  l.veth('sfn1', ns.nat, 'sfd0', ns.dc);
  l.exec(ns.nat, 'ip', 'addr', 'add', `${NAT_OUTSIDE}/24`, 'dev', 'sfn1');
  for (const a of [A_IP, B_IP, SWITCH_IP]) l.exec(ns.dc, 'ip', 'addr', 'add', `${a}/24`, 'dev', 'sfd0');
  l.exec(ns.nat, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1');
  l.exec(ns.nat, 'iptables', '-t', 'nat', '-A', 'POSTROUTING', '-o', 'sfn1', '-p', 'udp', '-j', 'MASQUERADE', '--to-ports', `${NAT_PORTS[0]}-${NAT_PORTS[1]}`);
  l.exec(ns.nat, 'iptables', '-t', 'nat', '-A', 'POSTROUTING', '-o', 'sfn1', '-j', 'MASQUERADE');
  // dc <-> host (the test process: Redis, HTTP, the store reader)
  l.veth('sfd1', ns.dc, 'sfnath', undefined);
  l.exec(ns.dc, 'ip', 'addr', 'add', `${DC_HOST_SIDE_IP}/24`, 'dev', 'sfd1');
  l.exec(undefined, 'ip', 'addr', 'add', `${HOST_IP}/24`, 'dev', 'sfnath');
  l.exec(undefined, 'ip', 'route', 'add', '198.18.7.0/24', 'via', DC_HOST_SIDE_IP, 'dev', 'sfnath');
}

function dispatcherYaml(id: string, ip: string, redisUrl: string, clusterName: string): string {
  return `node:
  id: ${id}
  listen: [udp://${ip}:${SIP_PORT}, tcp://${ip}:${SIP_PORT}]
  http: ${ip}:${HTTP_PORT}
store: ${redisUrl}
cluster:
  name: ${clusterName}
  users:
    - { username: ${USER}, password: ${PASSWORD} }
  registrar:
    algorithms: [MD5]
    keepalive: { interval: ${KEEPALIVE_INTERVAL_MS}ms, timeout: 1000ms, misses: 3 }
  carriers:
    - { id: trunk, sources: [192.0.2.0/24] }
  switches:
    - { id: sw1, address: ${SWITCH_IP}:${SIP_PORT}, transport: udp }
`;
}

/** The NAT's conntrack entries for UDP from the phone: inside port → outside (masqueraded) port, per destination. */
function natMappings(): Array<{ dst: string; dport: number; sport: number; natPort: number }> {
  const text = lab!.exec(ns.nat, 'cat', '/proc/net/nf_conntrack');
  const out: Array<{ dst: string; dport: number; sport: number; natPort: number }> = [];
  for (const line of text.split('\n')) {
    if (!/\budp\b/.test(line)) continue;
    const src = [...line.matchAll(/src=(\S+)/g)].map((m) => m[1]);
    const dst = [...line.matchAll(/dst=(\S+)/g)].map((m) => m[1]);
    const sport = [...line.matchAll(/sport=(\d+)/g)].map((m) => Number(m[1]));
    const dport = [...line.matchAll(/dport=(\d+)/g)].map((m) => Number(m[1]));
    if (src[0] !== PHONE_IP || src.length < 2) continue;
    // Original: phone → dst; reply: dst → NAT outside address, to the masqueraded port.
    out.push({ dst: dst[0], dport: dport[0], sport: sport[0], natPort: dport[1] });
  }
  return out;
}

async function metric(node: { process: DispatcherProcess }, name: string): Promise<number> {
  return (await node.process.metrics())[name] ?? 0;
}

beforeAll(async () => {
  requireTool('ip', 'iproute2');
  requireTool('iptables', 'iptables');
  requireTool('sipp', 'sip-tester');
  lab = new NetnsLab(PREFIX); // removes what a crashed run left behind
  buildNetwork(lab);
  workDir = mkdtempSync(join(tmpdir(), 'sipfleet-nat-'));
  // Not loopback: without protected mode off, Redis refuses the dispatchers (no password set).
  redis = await startRedis({ host: HOST_IP, extraArgs: ['--protected-mode', 'no'] });
  const clusterName = `nat${Date.now().toString(36)}`;
  await startSwitchSimProcess('sw1', [`udp://${SWITCH_IP}:${SIP_PORT}`], `${SWITCH_IP}:${HTTP_PORT + 1}`, [], { netns: ns.dc });
  for (const [id, ip] of [['d1', A_IP], ['d2', B_IP]] as const) {
    nodes.push({ id, ip, process: await startDispatcherProcess(id, dispatcherYaml(id, ip, redis.url, clusterName), `${ip}:${HTTP_PORT}`, {}, { netns: ns.dc }) });
  }
  store = new RedisRegistrarStore({ cluster: clusterName, url: redis.url });
  for (const deadline = Date.now() + 5_000; !store.connected; await sleep(20)) {
    if (Date.now() > deadline) throw new Error('the registrar store reader did not connect within 5 s');
  }
}, 90_000);

afterAll(async () => {
  await store?.close().catch(() => undefined);
  await stopAllProcesses();
  await redis?.stop().catch(() => undefined);
  lab?.remove();
  if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
});

describe('a phone in its own network namespace behind a MASQUERADE NAT', () => {
  it('registers through node A, is reached by a call through node B, and its binding holds the NATed address', async () => {
    const [a, b] = nodes;
    // The phone has no other way in: the cluster cannot route to the phone's network.
    expect(() => lab!.exec(ns.dc, 'ip', 'route', 'get', PHONE_IP)).toThrow();

    const trace = join(workDir!, 'phone-trace.log');
    const phone = await startSipp({
      scenario: PHONE_SCENARIO,
      target: `${A_IP}:${SIP_PORT}`,
      localIp: PHONE_IP,
      localPort: PHONE_PORT,
      netns: ns.home,
      calls: 1,
      timeoutS: 40,
      service: USER,
      extraArgs: ['-au', USER, '-ap', PASSWORD, '-oocsf', PHONE_OOC, '-trace_msg', '-message_file', trace],
    });
    try {
      // Registered: the binding is in the store, owned by A, with the NAT's side of the flow.
      await expect.poll(async () => (await store!.lookup(USER)).length, { timeout: 10_000, interval: 100 }).toBe(1);
      const [binding]: Binding[] = await store!.lookup(USER);
      expect(binding.flow.nodeId, 'owned by the node the REGISTER went to').toBe(a.id);
      expect(binding.flow.protocol).toBe('udp');
      expect(binding.flow.address, "the NAT's outside address, not the phone's").toBe(NAT_OUTSIDE);
      expect(binding.flow.port).toBeGreaterThanOrEqual(NAT_PORTS[0]);
      expect(binding.flow.port).toBeLessThanOrEqual(NAT_PORTS[1]);
      expect(binding.flow.localAddress).toBe(A_IP);
      expect(binding.flow.localPort).toBe(SIP_PORT);
      expect(binding.flow.ownerUri).toBe(`sip:${A_IP}:${SIP_PORT}`);
      expect(binding.contact, "the Contact keeps the phone's private address").toMatch(new RegExp(`^sip:${USER}@${PHONE_IP.replace(/\./g, '\\.')}:${PHONE_PORT}\\b`));
      // The port is the one the NAT chose for the phone's flow to A (its conntrack entry).
      const toA = natMappings().filter((m) => m.dst === A_IP && m.dport === SIP_PORT && m.sport === PHONE_PORT);
      expect(toA.map((m) => m.natPort), 'the masqueraded source port of phone → A').toEqual([binding.flow.port]);

      // A keeps the pinhole open: its OPTIONS reach the phone through the NAT and are answered.
      await expect.poll(() => metric(a, 'sipfleet_keepalive_pongs_total'), { timeout: 3 * KEEPALIVE_INTERVAL_MS, interval: 200 }).toBeGreaterThanOrEqual(1);
      await expect.poll(async () => (await store!.lookup(USER))[0]?.pingRttMs, { timeout: 3_000 }).toBeTypeOf('number');
      expect(await metric(b, 'sipfleet_keepalive_pings_total'), 'B never pings a binding A owns').toBe(0);

      // The switch calls the user through B, from the switch's address (another port than the switch-sim's).
      const caller = await runSipp({
        scenario: CALLER_SCENARIO,
        target: `${B_IP}:${SIP_PORT}`,
        localIp: SWITCH_IP,
        localPort: CALLER_PORT,
        netns: ns.dc,
        service: USER,
        holdMs: 500,
        timeoutS: 20,
      });
      expect(caller.exitCode, `caller SIPp: ${caller.errors}\n${caller.stdout.slice(-2000)}`).toBe(0);
      expect(caller.successful).toBe(1);
      expect(caller.failed).toBe(0);

      const exit = await Promise.race([phone.exited, sleep(25_000).then(() => undefined)]);
      const result = await phone.finish();
      expect(exit?.code, `phone SIPp: ${result.errors}\n${result.stdout.slice(-2000)}`).toBe(0);
      expect(result.successful).toBe(1);

      // What the phone saw: the INVITE came from A (relaying B's), addressed to its private Contact.
      const messages = parseSippMessageTrace(readFileSync(trace, 'latin1'));
      const invite = messages.find((m) => m.direction === 'received' && m.message.kind === 'request' && m.message.method === 'INVITE')?.message as SipRequest | undefined;
      expect(invite, 'the phone received the INVITE').toBeDefined();
      const vias = invite!.vias().map((v) => `${v.host}:${v.port}`);
      expect(vias.slice(0, 2)).toEqual([`${A_IP}:${SIP_PORT}`, `${B_IP}:${SIP_PORT}`]);
      expect(vias[2]).toBe(`${SWITCH_IP}:${CALLER_PORT}`);
      const ruri = invite!.requestUri;
      expect(isSipUri(ruri) && `${ruri.user}@${ruri.host}:${ruri.port}`).toBe(`${USER}@${PHONE_IP}:${PHONE_PORT}`);
      const rr = invite!.getAll('record-route').join(', ');
      expect(rr).toContain(`@${A_IP}:${SIP_PORT}`); // A's value facing the phone carries the flow token
      expect(rr).toContain(`${B_IP}:${SIP_PORT}`);
      // The BYE came through the NAT too (sent by the caller along the route set, relayed by A).
      expect(messages.some((m) => m.direction === 'received' && m.message.kind === 'request' && m.message.method === 'BYE')).toBe(true);
      // Every request the phone got came over its one pinhole: the NAT has no other mapping for it.
      const mappings = natMappings().filter((m) => m.sport === PHONE_PORT);
      expect(new Set(mappings.map((m) => `${m.dst}:${m.dport}`))).toEqual(new Set([`${A_IP}:${SIP_PORT}`]));
    } finally {
      await phone.stop().catch(() => undefined);
    }
  });
});
