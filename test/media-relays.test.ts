/**
 * Media relays end to end (media relay issue, points 2-4): two real rtpengine processes (Debian's
 * rtpengine-daemon, userspace forwarding) in zones eu and us, a dispatcher, a switch-sim that
 * echoes RTP, and a Node UAC that sends real RTP to whatever the answer SDP names.
 *
 * - a carrier in eu gets the eu relay: both SDPs name it, the caller's RTP reaches the switch-sim
 *   from the relay's address and comes back, rtpengine counts it, nothing is left after BYE;
 * - a draining relay gets no new sessions and keeps its current one (re-INVITE, RTP, BYE);
 * - 1,000 calls (answered, rejected, cancelled) leave 0 sessions on both relays and in the store;
 * - the eu relay killed: new calls go to us within probe.interval × fall, the calls that were on
 *   eu are released cleanly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NgClient } from '../dispatcher/media/ng-client.ts';
import type { ClusterStore } from '../shared/cluster-store/cluster-store.ts';
import { RedisClusterStore } from '../shared/cluster-store/redis-cluster-store.ts';
import { createLogger } from '../shared/log.ts';
import { startClusterHarness, type ClusterHarness } from './support/cluster-harness.ts';
import { MediaUac, sdpFacts, type UacCall } from './support/media-uac.ts';
import { requireTool } from './support/require-tool.ts';
import { startRtpengine, type Rtpengine } from './support/rtpengine.ts';

const EU_IP = '127.0.0.41';
const US_IP = '127.0.0.42';
const EU_CALLER = '127.0.0.50';
const US_CALLER = '127.0.0.60';
const PROBE = { intervalMs: 500, timeoutMs: 300, fall: 2 };
/** New calls a second in the 1,000-call run. */
const RATE = 200;

const logger = createLogger({ test: 'media-relays' });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 5000, stepMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(stepMs);
  }
}

let cluster: ClusterHarness;
let eu: Rtpengine;
let us: Rtpengine;
let euNg: NgClient;
let usNg: NgClient;
let store: ClusterStore;
let euUac: MediaUac;
let usUac: MediaUac;
let proxy: { host: string; port: number };

interface SimCall {
  callId: string;
  state: string;
  rtpRemote: string | null;
  packetsIn: number;
  packetsOut: number;
  sources: string[];
}

async function simCall(callId: string): Promise<SimCall | undefined> {
  const res = await fetch(`http://${cluster.switches[0].http}/calls?callId=${encodeURIComponent(callId)}`);
  const body = (await res.json()) as SimCall[] | { calls: SimCall[] };
  const list = Array.isArray(body) ? body : body.calls;
  return list.find((c) => c.callId === callId);
}

async function sessions(ng: NgClient): Promise<number> {
  return (await ng.statistics()).statistics.currentstatistics.sessionstotal;
}

const inRange = (port: number, r: Rtpengine): boolean => port >= r.portMin && port <= r.portMax;

async function metrics(): Promise<Record<string, number>> {
  return cluster.dispatchers[0].process.metrics();
}

beforeAll(async () => {
  requireTool('rtpengine', 'rtpengine-daemon');
  eu = await startRtpengine({ host: EU_IP, portCount: 400 });
  us = await startRtpengine({ host: US_IP, portCount: 400 });
  cluster = await startClusterHarness({
    dispatchers: 1,
    switches: 1,
    switchArgs: ['--rtp', 'echo'],
    clusterYaml: `  media:
    required: true
    probe: { interval: ${PROBE.intervalMs}ms, timeout: ${PROBE.timeoutMs}ms, fall: ${PROBE.fall}, rise: 1 }
    statsInterval: 1s
  rtp-relays:
    - { id: eu, ng: ${EU_IP}:${eu.ngPort}, zone: eu }
    - { id: us, ng: ${US_IP}:${us.ngPort}, zone: us }`,
    carriersYaml: `    - { id: eu-carrier, sources: [${EU_CALLER}/32], zone: eu }
    - { id: us-carrier, sources: [${US_CALLER}/32], zone: us }`,
  });
  const d = cluster.dispatchers[0];
  proxy = { host: d.ip, port: d.port };
  euNg = new NgClient({ address: EU_IP, port: eu.ngPort, logger });
  usNg = new NgClient({ address: US_IP, port: us.ngPort, logger });
  store = new RedisClusterStore({ cluster: cluster.clusterName, url: cluster.redis.url });
  await until('the test store to connect', () => store.connected);
  euUac = await MediaUac.open(EU_CALLER);
  usUac = await MediaUac.open(US_CALLER);
  // Both relays known and up on the dispatcher.
  await until('both relays up', async () => {
    const m = await metrics();
    return m['sipfleet_relay_up{relay="eu"}'] === 1 && m['sipfleet_relay_up{relay="us"}'] === 1;
  }, 10_000);
});

afterAll(async () => {
  await euUac?.close();
  await usUac?.close();
  await euNg?.close();
  await usNg?.close();
  await store?.close();
  await cluster?.stop();
  await eu?.stop();
  await us?.stop();
});

/** An answered call from `uac`, RTP checked both ways. */
async function answeredCall(uac: MediaUac): Promise<UacCall> {
  const call = await uac.call({ proxy });
  const res = await call.invite();
  expect(res.status).toBe(200);
  return call;
}

describe('media relays (rtpengine) by zone', () => {
  it('a carrier in eu gets the eu relay: both SDPs name it, RTP crosses it both ways, nothing is left after BYE', async () => {
    const call = await answeredCall(euUac);
    // The 200's SDP, as the caller sees it, names the eu relay.
    const answer = sdpFacts(call.answer!.body.toString('latin1'));
    expect(answer.origin).toBe(EU_IP);
    expect(answer.connection).toBe(EU_IP);
    expect(inRange(answer.port, eu)).toBe(true);
    // The INVITE's SDP, as the switch-sim saw it, names the eu relay too.
    const sim = await until('the call on the switch-sim', () => simCall(call.callId));
    const [simHost, simPort] = sim.rtpRemote!.split(':');
    expect(simHost).toBe(EU_IP);
    expect(inRange(Number(simPort), eu)).toBe(true);
    // The store holds the call's relay.
    expect(await store.getMediaSession(call.callId)).toMatchObject({ relayId: 'eu', nodeId: 'd1' });

    await call.sendRtp(50, 4);
    await until('the echoes', () => call.received >= 45);
    const atSim = (await simCall(call.callId))!;
    expect(atSim.packetsIn).toBeGreaterThanOrEqual(45);
    // Every packet reached the switch-sim from the relay, and came back from the relay.
    expect(atSim.sources.every((s) => s.startsWith(`${EU_IP}:`))).toBe(true);
    expect([...call.sources].every((s) => s.startsWith(`${EU_IP}:`))).toBe(true);
    // rtpengine counted them (both directions).
    const q = await euNg.query({ callId: call.callId });
    const rtp = (q.totals?.RTP ?? {}) as { packets?: number };
    expect(rtp.packets ?? 0).toBeGreaterThanOrEqual(90);
    expect(await sessions(euNg)).toBe(1);
    expect(await sessions(usNg)).toBe(0);

    expect((await call.bye()).status).toBe(200);
    await until('eu to have no session', async () => (await sessions(euNg)) === 0);
    await until('the store to forget the session', async () => (await store.listMediaSessions()).length === 0);
    // The node forgets it once the store's reply reaches it, which may be just after the store
    // answered this test's own read: wait for the gauge rather than race that reply.
    await until('the node to forget the session', async () => (await metrics()).sipfleet_media_sessions === 0);
    const m = await metrics();
    expect(m['sipfleet_media_offers_total{outcome="ok"}']).toBeGreaterThanOrEqual(1);
    expect(m['sipfleet_media_deletes_total{outcome="deleted"}']).toBeGreaterThanOrEqual(1);
    expect(m.sipfleet_media_sessions).toBe(0);
  });

  it('a carrier in us gets the us relay', async () => {
    const call = await answeredCall(usUac);
    expect(sdpFacts(call.answer!.body.toString('latin1')).connection).toBe(US_IP);
    await call.sendRtp(20, 4);
    await until('the echoes', () => call.received >= 18);
    expect((await call.bye()).status).toBe(200);
    await until('us to have no session', async () => (await sessions(usNg)) === 0);
  });

  it('a draining relay gets no new session and keeps its current one (re-INVITE, RTP, BYE)', async () => {
    const up = await answeredCall(euUac);
    expect(sdpFacts(up.answer!.body.toString('latin1')).connection).toBe(EU_IP);
    await store.putRelay({ id: 'eu', host: EU_IP, port: eu.ngPort, zone: 'eu', weight: 1, state: 'draining' });
    await until('the dispatcher to see eu draining', async () => (await metrics())['sipfleet_relay_active{relay="eu",state="draining"}'] === 0);
    // A new eu call goes to the next zone.
    const fresh = await answeredCall(euUac);
    expect(sdpFacts(fresh.answer!.body.toString('latin1')).connection).toBe(US_IP);
    expect(await sessions(usNg)).toBe(1);
    // The existing call goes on: a re-INVITE is offered to its relay (eu), RTP still flows.
    const re = await up.reinvite();
    expect(re.status).toBe(200);
    expect(sdpFacts(re.body.toString('latin1')).connection).toBe(EU_IP);
    const before = up.received;
    await up.sendRtp(30, 4);
    await until('echoes after draining', () => up.received - before >= 25);
    expect(await sessions(euNg)).toBe(1);
    // ...and its session is deleted at its BYE.
    expect((await up.bye()).status).toBe(200);
    expect((await fresh.bye()).status).toBe(200);
    await until('both relays to have no session', async () => (await sessions(euNg)) === 0 && (await sessions(usNg)) === 0);
    await store.putRelay({ id: 'eu', host: EU_IP, port: eu.ngPort, zone: 'eu', weight: 1, state: 'active' });
    await until('eu active again', async () => (await metrics())['sipfleet_relay_active{relay="eu",state="active"}'] === 1);
  });

  it('1,000 calls (answered, rejected, cancelled) leave no session on either relay nor in the store', async () => {
    const sw = cluster.switches[0];
    const started = Date.now();
    const before = await sw.status();
    const counts = { answered: 0, rejected: 0, cancelled: 0 };
    /** Runs `n` calls, at most `width` at a time and RATE a second, alternating the eu and us callers. */
    const phase = async (n: number, width: number, one: (uac: MediaUac) => Promise<void>): Promise<void> => {
      const t0 = Date.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: width }, async () => {
          while (next < n) {
            const i = next++;
            const due = t0 + (i * 1000) / RATE - Date.now();
            if (due > 0) await sleep(due);
            await one(i % 2 === 0 ? euUac : usUac);
          }
        }),
      );
    };
    await sw.behaviour({ invite: 'answer', ringMs: 0, answerMs: 0 });
    await phase(500, 20, async (uac) => {
      const call = await uac.call({ proxy });
      expect((await call.invite()).status).toBe(200);
      expect((await call.bye()).status).toBe(200);
      counts.answered++;
      await uac.forget(call);
    });
    await sw.behaviour({ invite: '486' });
    await phase(250, 20, async (uac) => {
      const call = await uac.call({ proxy });
      expect((await call.invite()).status).toBe(486);
      counts.rejected++;
      await uac.forget(call);
    });
    await sw.behaviour({ invite: 'answer', ringMs: 0, answerMs: 60_000 });
    await phase(250, 20, async (uac) => {
      const call = await uac.call({ proxy });
      expect((await call.invite((s) => s === 180)).status).toBe(180);
      expect((await call.cancel()).status).toBe(487);
      counts.cancelled++;
      await uac.forget(call);
    });
    await sw.behaviour({ invite: 'answer', ringMs: 0, answerMs: 0 });
    const elapsed = Date.now() - started;
    expect(counts).toEqual({ answered: 500, rejected: 250, cancelled: 250 });
    await until('both relays to report 0 sessions', async () => (await sessions(euNg)) === 0 && (await sessions(usNg)) === 0, 5000, 100);
    expect(await store.listMediaSessions()).toEqual([]);
    const after = await sw.status();
    expect(after.calls.total - before.calls.total).toBe(1000);
    const m = await metrics();
    expect(m['sipfleet_media_offers_total{outcome="failed"}']).toBe(0);
    expect(m.sipfleet_media_sessions).toBe(0);
    // Both relays took a share (the eu and us carriers alternate).
    const euTotal = (await euNg.statistics()).statistics.totalstatistics as { managedsessions?: number } | undefined;
    const usTotal = (await usNg.statistics()).statistics.totalstatistics as { managedsessions?: number } | undefined;
    expect(euTotal?.managedsessions ?? 0).toBeGreaterThanOrEqual(500);
    expect(usTotal?.managedsessions ?? 0).toBeGreaterThanOrEqual(500);
    console.log(`media-relays: 1000 calls in ${elapsed} ms (${Math.round(1000 / (elapsed / 1000))} calls/s)`);
  });

  it('the eu relay killed: new calls go to us within probe.interval × fall, the calls on eu are released cleanly', async () => {
    const onEu = await answeredCall(euUac);
    expect(sdpFacts(onEu.answer!.body.toString('latin1')).connection).toBe(EU_IP);
    const killedAt = Date.now();
    await eu.process.stop('SIGKILL', 1000);
    // Calls placed from now on all land on us: the first ones by the retry of their first offer
    // (eu does not answer), the ones after the relay is marked down directly.
    const fresh: UacCall[] = [];
    let downAfterMs: number | undefined;
    while (downAfterMs === undefined || fresh.length < 3) {
      const call = await answeredCall(euUac);
      expect(sdpFacts(call.answer!.body.toString('latin1')).connection).toBe(US_IP);
      fresh.push(call);
      if (downAfterMs === undefined && (await metrics())['sipfleet_relay_up{relay="eu"}'] === 0) downAfterMs = Date.now() - killedAt;
      expect(Date.now() - killedAt).toBeLessThan(10_000);
    }
    const bound = PROBE.intervalMs * PROBE.fall + PROBE.timeoutMs;
    console.log(`media-relays: eu marked down ${downAfterMs} ms after the kill (bound ${bound} ms + slack)`);
    expect(downAfterMs).toBeLessThanOrEqual(bound + 1000);
    // Once eu is down, a new call no longer waits for eu's timeout.
    const t0 = Date.now();
    const quick = await answeredCall(euUac);
    expect(Date.now() - t0).toBeLessThan(PROBE.timeoutMs);
    expect(sdpFacts(quick.answer!.body.toString('latin1')).connection).toBe(US_IP);
    fresh.push(quick);
    // The call that was on eu is released cleanly: its BYE completes and its record goes.
    expect((await onEu.bye()).status).toBe(200);
    for (const c of fresh) {
      await c.sendRtp(5, 2);
      expect((await c.bye()).status).toBe(200);
    }
    await until('us to have no session', async () => (await sessions(usNg)) === 0);
    await until('the store to hold no session', async () => (await store.listMediaSessions()).length === 0);
    const m = await metrics();
    expect(m['sipfleet_media_offers_total{outcome="retried"}']).toBeGreaterThanOrEqual(1);
    expect(m['sipfleet_media_offers_total{outcome="failed"}']).toBe(0);
  });
});
