/**
 * Issue 9, point 2 (docs/ha.md): dialog state in the store. Calls set up through d1 by a caller
 * that does NOT follow Record-Route (its ACK and BYE go to the floating IP, Request-URI = the
 * floating IP, no Route); d1 is killed -9; d2 takes the floating IP. From the dialog records d1
 * wrote, d2 carries the BYEs of d1's calls to the switch; the store counts every call that is up
 * all along (d1's calls stay counted as orphans after d1 is reaped, no undercount), and 0 at the end.
 *
 * Network namespaces on one Linux bridge (root: ip netns), every name starting with `sfdg`:
 *
 *   sfdg-carrier  sfdgc  198.18.91.2    SIPp (the carrier), calls to the floating IP 198.18.91.10:5060
 *   sfdg-d1       sfdgd1 198.18.91.11   dispatcher d1, primary } both bind udp://198.18.91.10:5060
 *   sfdg-d2       sfdgd2 198.18.91.12   dispatcher d2, backup  } (ip_nonlocal_bind=1)
 *   sfdg-core     sfdgs  198.18.91.20   switch-sim sw1 (:5060, HTTP :8081)
 *   host          sfdgh  198.18.91.254  Redis, and this test (HTTP, `ip -n`, the store)
 *   sfdg-hub      br0    the bridge
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { levelKey } from '../shared/cluster-store/cluster-store.ts';
import { RedisClusterStore } from '../shared/cluster-store/redis-cluster-store.ts';
import { stopAllProcesses } from './support/managed-process.ts';
import { NetnsLab } from './support/netns.ts';
import { startRedis, type RedisServer } from './support/redis-server.ts';
import { requireTool } from './support/require-tool.ts';
import { startDispatcherProcess, startSwitchSimProcess, type DispatcherProcess, type SwitchSimProcess } from './support/sipfleet-processes.ts';
import { runSipp, startSipp } from './support/sipp.ts';
import { until } from './support/until.ts';

/** ACK and BYE to the floating IP as Request-URI, without Route: the caller ignores Record-Route. */
const SCENARIO = fileURLToPath(new URL('./scenarios/uac-long-call-or-503.xml', import.meta.url));
const PREFIX = 'sfdg';
const SUBNET = '198.18.91';
const VIP = `${SUBNET}.10`;
const CARRIER_IP = `${SUBNET}.2`;
const HOST_IP = `${SUBNET}.254`;
const SWITCH_IP = `${SUBNET}.20`;
const NODES = [
  { id: 'd1', ip: `${SUBNET}.11`, dev: 'sfdgd1', priority: 'primary' },
  { id: 'd2', ip: `${SUBNET}.12`, dev: 'sfdgd2', priority: 'backup' },
] as const;
const HTTP_PORT = 8080;
const CALLS = 20;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let lab: NetnsLab | undefined;
let redis: RedisServer | undefined;
let store: RedisClusterStore | undefined;
let sw: SwitchSimProcess | undefined;
const procs: Record<string, DispatcherProcess | undefined> = {};
const ns: Record<string, string> = {};
const clusterName = `dg${Date.now().toString(36)}`;

function dispatcherYaml(n: (typeof NODES)[number], redisUrl: string): string {
  return `node:
  id: ${n.id}
  listen: [udp://0.0.0.0:5080, udp://${VIP}:5060]
  http: ${n.ip}:${HTTP_PORT}
  vip: { address: ${VIP}/24, interface: ${n.dev}, priority: ${n.priority}, rise: 2, fall: 3, leaseTtl: 3000ms, checkInterval: 1000ms }
store: ${redisUrl}
cluster:
  name: ${clusterName}
  redisOutage: fail-closed
  leases: { ttl: 3s, reapInterval: 1s }
  probe: { interval: 1s, timeout: 500ms, fall: 2, rise: 1, warmup: 0ms }
  carriers:
    - { id: carrier, sources: [${CARRIER_IP}/32] }
  switches:
    - { id: sw1, address: ${SWITCH_IP}:5060, transport: udp }
`;
}

function buildNetwork(l: NetnsLab): void {
  ns.hub = l.add('hub');
  l.exec(ns.hub, 'ip', 'link', 'add', 'br0', 'type', 'bridge');
  l.exec(ns.hub, 'ip', 'link', 'set', 'br0', 'up');
  const attach = (dev: string, inNs: string | undefined, addrs: string[]): void => {
    l.veth(dev, inNs, `${dev}b`, ns.hub);
    l.exec(ns.hub, 'ip', 'link', 'set', `${dev}b`, 'master', 'br0');
    for (const a of addrs) l.exec(inNs, 'ip', 'addr', 'add', `${a}/24`, 'dev', dev);
  };
  ns.carrier = l.add('carrier');
  attach('sfdgc', ns.carrier, [CARRIER_IP]);
  ns.core = l.add('core');
  attach('sfdgs', ns.core, [SWITCH_IP]);
  for (const n of NODES) {
    ns[n.id] = l.add(n.id);
    attach(n.dev, ns[n.id], [n.ip]);
    l.exec(ns[n.id], 'sysctl', '-q', '-w', 'net.ipv4.ip_nonlocal_bind=1');
  }
  attach('sfdgh', undefined, [HOST_IP]);
}

async function leaderStatus(id: string): Promise<number | undefined> {
  const n = NODES.find((x) => x.id === id)!;
  try {
    return (await fetch(`http://${n.ip}:${HTTP_PORT}/leader`, { signal: AbortSignal.timeout(500) })).status;
  } catch {
    return undefined;
  }
}

const storeChannels = async (): Promise<number> => (await store!.levelStats([levelKey('cluster', clusterName)]))[0].channels;
const switchChannels = async (): Promise<number> => (await sw!.status()).channels;

async function startNode(id: 'd1' | 'd2'): Promise<DispatcherProcess> {
  const n = NODES.find((x) => x.id === id)!;
  const p = await startDispatcherProcess(id, dispatcherYaml(n, redis!.url), `${n.ip}:${HTTP_PORT}`, { LOG_LEVEL: 'warn' }, { netns: ns[id] });
  procs[id] = p;
  return p;
}

beforeAll(async () => {
  requireTool('ip', 'iproute2');
  requireTool('sipp', 'sip-tester');
  requireTool('arping', 'iputils-arping');
  lab = new NetnsLab(PREFIX); // deletes what a crashed run left behind
  buildNetwork(lab);
  redis = await startRedis({ host: HOST_IP, extraArgs: ['--protected-mode', 'no'] });
  store = new RedisClusterStore({ cluster: clusterName, url: redis.url });
  sw = await startSwitchSimProcess('sw1', [`udp://${SWITCH_IP}:5060`], `${SWITCH_IP}:8081`, [], { netns: ns.core });
  await startNode('d1');
  await startNode('d2');
}, 90_000);

afterAll(async () => {
  await store?.close().catch(() => undefined);
  await stopAllProcesses();
  lab?.remove();
});

describe('dialog state in the store: another node carries the calls of a dead one', () => {
  it('d1 killed: its calls stay counted, their BYEs (no Route, to the floating IP) reach the switch through d2, counts exact', async () => {
    await until(async () => (await leaderStatus('d1')) === 200, 15_000, 'd1 to hold the floating IP');

    // 20 calls through d1 at 10 CPS, held 20 s; ACK and BYE to the floating IP without Route.
    const sipp = await startSipp({
      scenario: SCENARIO,
      target: `${VIP}:5060`,
      netns: ns.carrier,
      localIp: CARRIER_IP,
      localPort: 5060,
      rate: 10,
      calls: CALLS,
      holdMs: 20_000,
      timeoutS: 90,
    });
    await until(async () => (await storeChannels()) === CALLS && (await switchChannels()) === CALLS, 10_000, 'every call up');
    const callIds = (await store!.calls()).map((c) => c.callId.slice(0, c.callId.lastIndexOf('|')));
    expect(callIds).toHaveLength(CALLS);
    const dialogsOf = () => Promise.all(callIds.map((id) => store!.getDialog(id)));
    await until(async () => (await dialogsOf()).every((d) => d?.nodeId === 'd1' && d.switch.switchId === 'sw1' && d.caller.address === CARRIER_IP), 5_000, 'a dialog record for every call');
    await sleep(500); // the last ACKs

    // From the kill on, the store's count is sampled against the calls up on the switch.
    const samples: Array<{ store: number; switch: number }> = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        samples.push({ store: await storeChannels(), switch: await switchChannels() });
        await sleep(200);
      }
    })();
    procs.d1!.kill('SIGKILL');
    const killedAt = Date.now();
    await procs.d1!.exited;
    await until(async () => (await leaderStatus('d2')) === 200, 15_000, 'd2 to take the floating IP', 20);
    const takeoverMs = Date.now() - killedAt;

    // d1 is reaped (lease 3 s + reap 1 s): its calls stay counted as orphans while they are up.
    await until(
      async () => {
        const calls = await store!.calls();
        return (await store!.liveNodes()).every((n) => n.nodeId !== 'd1') && calls.length === CALLS && calls.every((c) => c.nodeId === '-') ? true : undefined;
      },
      15_000,
      'd1 reaped and its calls orphaned',
      200,
    );
    await sleep(1500); // a few more reaps
    sampling = false;
    await sampler;
    samples.push({ store: await storeChannels(), switch: await switchChannels() });
    expect(samples.length).toBeGreaterThan(10);
    expect(samples.every((s) => s.store === CALLS && s.switch === CALLS), JSON.stringify(samples)).toBe(true);

    // New calls succeed through d2 meanwhile (and are its own, not orphans).
    const fresh = await runSipp({ scenario: SCENARIO, target: `${VIP}:5060`, netns: ns.carrier, localIp: CARRIER_IP, localPort: 5070, rate: 5, calls: 5, holdMs: 500 });
    expect(fresh.successful, JSON.stringify(fresh)).toBe(5);
    expect(await storeChannels()).toBe(CALLS);

    // The old calls' BYEs go to the floating IP: d2 carries them to the switch from the dialog records.
    await until(async () => sipp.exitStatus() !== undefined, 60_000, 'SIPp to end its calls', 500);
    const result = await sipp.finish();
    expect(result.successful, JSON.stringify({ failed: result.failed })).toBe(CALLS);
    expect(result.failed).toBe(0);
    await until(async () => (await switchChannels()) === 0, 10_000, 'the switch to hold no channel', 200);
    await until(async () => (await storeChannels()) === 0, 10_000, 'the store to count no channel', 200);
    expect(await store!.calls()).toEqual([]);
    expect((await dialogsOf()).every((d) => d === undefined)).toBe(true);
    console.log(JSON.stringify({ takeoverMs, samples: samples.length, bye: 'through d2' }));
  }, 120_000);
});
