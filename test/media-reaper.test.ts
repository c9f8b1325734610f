/**
 * A dispatcher killed with SIGKILL leaves relay sessions it can no longer delete; the node that
 * reaps it deletes them from the cluster store's session records (docs/media.md, "Cleanup
 * guarantees"), within lease TTL + reaper interval, and leaves the live node's calls alone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NgClient } from '../dispatcher/media/ng-client.ts';
import { RedisClusterStore } from '../shared/cluster-store/redis-cluster-store.ts';
import { createLogger } from '../shared/log.ts';
import { startClusterHarness, type ClusterHarness } from './support/cluster-harness.ts';
import { MediaUac, sdpFacts, type UacCall } from './support/media-uac.ts';
import { requireTool } from './support/require-tool.ts';
import { startRtpengine, type Rtpengine } from './support/rtpengine.ts';

const RELAY_IP = '127.0.0.43';
const CALLER = '127.0.0.51';
const TTL = 2_000;
const REAP = 500;

let cluster: ClusterHarness;
let relay: Rtpengine;
let ng: NgClient;
let store: RedisClusterStore;
let uac: MediaUac;

async function sessions(): Promise<number> {
  return (await ng.statistics()).statistics.currentstatistics.sessionstotal;
}

beforeAll(async () => {
  requireTool('rtpengine', 'rtpengine-daemon');
  relay = await startRtpengine({ host: RELAY_IP });
  cluster = await startClusterHarness({
    dispatchers: 2,
    switches: 1,
    switchArgs: ['--rtp', 'echo'],
    clusterYaml: `  leases: { ttl: ${TTL}ms, reapInterval: ${REAP}ms }
  media:
    probe: { interval: 500ms, timeout: 300ms, fall: 2, rise: 1 }
  rtp-relays:
    - { id: r1, ng: ${RELAY_IP}:${relay.ngPort} }`,
  });
  ng = new NgClient({ address: RELAY_IP, port: relay.ngPort, logger: createLogger({ test: 'media-reaper' }) });
  store = new RedisClusterStore({ cluster: cluster.clusterName, url: cluster.redis.url });
  for (let i = 0; i < 100 && !store.connected; i++) await new Promise((r) => setTimeout(r, 50));
  uac = await MediaUac.open(CALLER);
});

afterAll(async () => {
  await uac?.close();
  await ng?.close();
  await store?.close();
  await cluster?.stop();
  await relay?.stop();
});

async function callsThrough(d: { ip: string; port: number }, n: number): Promise<UacCall[]> {
  const calls: UacCall[] = [];
  for (let i = 0; i < n; i++) {
    const call = await uac.call({ proxy: { host: d.ip, port: d.port } });
    expect((await call.invite()).status).toBe(200);
    expect(sdpFacts(call.answer!.body.toString('latin1')).connection).toBe(RELAY_IP);
    calls.push(call);
  }
  return calls;
}

describe('the relay sessions of a dead dispatcher', () => {
  it('are deleted by the node that reaps it; the live node keeps its own', async () => {
    const [a, b] = cluster.dispatchers;
    await callsThrough(a, 10);
    const onB = await callsThrough(b, 5);
    expect(await sessions()).toBe(15);
    expect((await store.listMediaSessions()).length).toBe(15);
    a.process.kill('SIGKILL');
    const killedAt = Date.now();
    await expect.poll(sessions, { timeout: TTL + REAP + 5_000, interval: 100 }).toBe(5);
    const took = Date.now() - killedAt;
    console.log(`media-reaper: the dead node's 10 relay sessions deleted ${took} ms after the kill`);
    expect(took).toBeLessThanOrEqual(TTL + REAP + 1_500);
    // The reaper deletes a session on its relay first, then its record: the records may trail the relay by a moment.
    await expect
      .poll(async () => (await store.listMediaSessions()).map((s) => s.nodeId).sort(), { timeout: 2000, interval: 50 })
      .toEqual(['d2', 'd2', 'd2', 'd2', 'd2']);
    expect((await b.process.metrics()).sipfleet_media_reaped_total).toBe(10);
    // The live node's calls go on and end normally.
    for (const call of onB) {
      await call.sendRtp(3, 2);
      expect((await call.bye()).status).toBe(200);
    }
    await expect.poll(sessions, { timeout: 3000 }).toBe(0);
    await expect.poll(async () => (await store.listMediaSessions()).length, { timeout: 3000 }).toBe(0);
  });
});
