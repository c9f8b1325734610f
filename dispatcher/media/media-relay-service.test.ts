import { describe, expect, it } from 'vitest';
import type { RelayRecord } from '../../shared/cluster-store/cluster-store.ts';
import { MemoryClusterStore } from '../../shared/cluster-store/memory-cluster-store.ts';
import { isSipfleetError } from '../../shared/errors.ts';
import { ManualClock } from '../transaction/manual-clock.ts';
import { EXPIRY_SWEEP_MS, MediaRelayService } from './media-relay-service.ts';
import { FakeRelays, logger, mediaConfig, relay, settle } from './media-test-kit.ts';
import type { RelayCall } from './relay-call.ts';
import { RelayPool } from './relay-pool.ts';
import { SessionDeleter } from './session-deleter.ts';
import { ZonePolicy } from './zone-policy.ts';

const SDP = Buffer.from('v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n');
const WEBRTC_SDP = Buffer.from('v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\n');
const MAX_AGE = 60_000;

async function setup(opts: { relays?: RelayRecord[]; required?: boolean; fall?: number } = {}) {
  const store = new MemoryClusterStore();
  await store.seedRelays(opts.relays ?? [relay('eu1', { zone: 'eu' }), relay('us1', { zone: 'us', host: '127.0.0.2' })]);
  const fakes = new FakeRelays();
  const clock = new ManualClock(1_000_000);
  const media = mediaConfig({ required: opts.required ?? true, probe: { interval: 1000, timeout: 500, fall: opts.fall ?? 3, rise: 1 } });
  const pool = new RelayPool({ store, media, clock, logger, createClient: fakes.factory });
  await pool.start();
  const deleter = new SessionDeleter({ clientOf: (id) => pool.client(id), isUp: (id) => pool.health.isUp(id), clock, logger });
  const service = new MediaRelayService({
    nodeId: 'n1',
    pool,
    policy: new ZonePolicy({ media, carriers: [{ id: 'eucarrier', zone: 'eu' }, { id: 'uscarrier', zone: 'us' }, { id: 'direct', zone: 'none' }], users: [] }),
    store,
    deleter,
    required: media.required,
    maxCallAgeMs: MAX_AGE,
    clock,
    logger,
  });
  service.start();
  let n = 0;
  const start = (carrierId?: string) => service.startCall({ callId: `call-${++n}`, fromTag: 'ft', carrierId, sourceIp: '198.51.100.7' }) as Promise<RelayCall | undefined>;
  return { store, fakes, clock, pool, deleter, service, start };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (isSipfleetError(err)) return err.code;
    throw err;
  }
  throw new Error('expected a rejection');
}

describe('MediaRelayService.startCall', () => {
  it("gives a carrier's call a relay of its zone and records it in the store", async () => {
    const { start, store, service } = await setup();
    const call = (await start('eucarrier'))!;
    expect(call.relayId).toBe('eu1');
    expect(service.find('call-1')).toBe(call);
    expect(await store.getMediaSession('call-1')).toMatchObject({ callId: 'call-1', fromTag: 'ft', relayId: 'eu1', nodeId: 'n1' });
    expect((await start('uscarrier'))!.relayId).toBe('us1');
  });

  it('goes to the next zone when its own has no usable relay (draining, disabled, down)', async () => {
    const { start, store, pool, fakes } = await setup({
      relays: [relay('eu1', { zone: 'eu' }), relay('eu2', { zone: 'eu' }), relay('eu3', { zone: 'eu' }), relay('us1', { zone: 'us' })],
      fall: 1,
    });
    await store.putRelay(relay('eu1', { zone: 'eu', state: 'draining' }));
    await store.putRelay(relay('eu2', { zone: 'eu', state: 'disabled' }));
    await settle(10);
    fakes.get('eu3').mode.ping = 'MEDIA_ERR_TIMEOUT';
    await pool.health.probeAll();
    expect((await start('eucarrier'))!.relayId).toBe('us1');
  });

  it('picks the least loaded relay of the zone and spreads equal ones', async () => {
    const { start, pool } = await setup({ relays: [relay('eu1', { zone: 'eu' }), relay('eu2', { zone: 'eu', weight: 2 })] });
    // eu2 has twice the weight: with 0 sessions both, it goes first (tie by weight).
    const picks: string[] = [];
    for (let i = 0; i < 6; i++) picks.push((await start('eucarrier'))!.relayId);
    // Local picks count as load at once: 2 per weight-1 relay ~ 4 per weight-2 relay.
    expect(picks.filter((p) => p === 'eu2')).toHaveLength(4);
    expect(pool.health.sessions('eu2')).toBe(4);
  });

  it('media `none` and an empty registry mean direct media, without touching the store', async () => {
    const { start, service } = await setup();
    // Known at once, not a promise: the proxy then awaits nothing for a call without a relay.
    expect(start('direct')).toBeUndefined();
    const empty = await setup({ relays: [] });
    expect(empty.start('eucarrier')).toBeUndefined();
    expect(await empty.store.listMediaSessions()).toEqual([]);
    expect(service.stats().calls).toEqual({ relayed: 0, direct: 1, refused: 0 });
  });

  it('no usable relay: MEDIA_ERR_NO_RELAY when required, direct media when not', async () => {
    const { start, store } = await setup();
    for (const id of ['eu1', 'us1']) await store.putRelay(relay(id, { zone: id.slice(0, 2), host: '127.0.0.9', state: 'draining' }));
    await settle(10);
    expect(await codeOf(start('eucarrier'))).toBe('MEDIA_ERR_NO_RELAY');
    const lax = await setup({ required: false });
    for (const id of ['eu1', 'us1']) await lax.store.putRelay(relay(id, { zone: id.slice(0, 2), state: 'disabled' }));
    await settle(10);
    expect(await lax.start('eucarrier')).toBeUndefined();
  });
});

describe('a relayed call', () => {
  it('offers and answers through its relay with the documented flags', async () => {
    const { start, fakes } = await setup();
    const call = (await start('eucarrier'))!;
    const offered = await call.offer('ft', undefined, SDP);
    expect(offered.toString()).toContain('a=relay:eu1');
    const answered = await call.answer('ft', 'tt', SDP);
    expect(answered.toString()).toContain('a=relay:eu1');
    expect(fakes.get('eu1').log.filter((l) => !l.startsWith('ping') && l !== 'statistics')).toEqual([
      'offer call-1 ft - ice=remove replace=origin,session-connection',
      'answer call-1 ft tt ice=remove',
    ]);
  });

  it("converts a WebRTC offer to plain RTP and gives the browser's answer rtpengine's ICE", async () => {
    const { start, fakes } = await setup();
    const call = (await start('eucarrier'))!;
    await call.offer('ft', undefined, WEBRTC_SDP);
    await call.answer('ft', 'tt', SDP);
    const log = fakes.get('eu1').log.filter((l) => l.startsWith('offer') || l.startsWith('answer'));
    expect(log).toEqual(['offer call-1 ft - ice=remove replace=origin,session-connection proto=RTP/AVP', 'answer call-1 ft tt ice=force']);
  });

  it('retries a first offer the relay did not answer on the next relay, once, and moves the stored session', async () => {
    const { start, fakes, store, pool, service } = await setup({ relays: [relay('eu1', { zone: 'eu' }), relay('eu2', { zone: 'eu' }), relay('us1', { zone: 'us' })] });
    const call = (await start('eucarrier'))!;
    const first = call.relayId;
    const second = first === 'eu1' ? 'eu2' : 'eu1';
    fakes.get(first).mode.offer = 'MEDIA_ERR_TIMEOUT';
    const sdp = await call.offer('ft', undefined, SDP);
    expect(sdp.toString()).toContain(`a=relay:${second}`);
    expect(call.relayId).toBe(second);
    expect((await store.getMediaSession('call-1'))?.relayId).toBe(second);
    expect(pool.health.snapshot(first).consecutiveFailures).toBe(1);
    await settle();
    // Whatever the unanswered offer may have created on the first relay is deleted.
    expect(fakes.get(first).log).toContain('delete call-1 ft');
    expect(service.stats().offers).toEqual({ ok: 0, retried: 1, failed: 0 });
    // Later offers stay on the call's relay, failures and all.
    fakes.get(second).mode.offer = 'MEDIA_ERR_TIMEOUT';
    expect(await codeOf(call.offer('tt', 'ft', SDP))).toBe('MEDIA_ERR_TIMEOUT');
    expect(call.relayId).toBe(second);
  });

  it('rejects the first offer when the retry fails too, or when there is nothing to retry on', async () => {
    const { start, fakes, service } = await setup({ relays: [relay('eu1', { zone: 'eu' }), relay('eu2', { zone: 'eu' })] });
    fakes.get('eu1').mode.offer = 'MEDIA_ERR_RELAY';
    fakes.get('eu2').mode.offer = 'MEDIA_ERR_SEND';
    const call = (await start('eucarrier'))!;
    expect(await codeOf(call.offer('ft', undefined, SDP))).toBe('MEDIA_ERR_SEND');
    expect(service.stats().offers.failed).toBe(1);
    const single = await setup({ relays: [relay('eu1', { zone: 'eu' })] });
    single.fakes.get('eu1').mode.offer = 'MEDIA_ERR_TIMEOUT';
    const c2 = (await single.start('eucarrier'))!;
    expect(await codeOf(c2.offer('ft', undefined, SDP))).toBe('MEDIA_ERR_TIMEOUT');
  });

  it('end: deletes the session and its record once, forgets the call, refuses later offers', async () => {
    const { start, fakes, store, service } = await setup();
    const call = (await start('eucarrier'))!;
    await call.offer('ft', undefined, SDP);
    await Promise.all([call.end('bye'), call.end('bye')]);
    await call.end('rejected');
    expect(fakes.get('eu1').log.filter((l) => l.startsWith('delete'))).toEqual(['delete call-1 ft']);
    expect(fakes.get('eu1').sessions.size).toBe(0);
    expect(await store.getMediaSession('call-1')).toBeUndefined();
    expect(service.find('call-1')).toBeUndefined();
    expect(service.stats().sessions).toBe(0);
    expect(await codeOf(call.answer('ft', 'tt', SDP))).toBe('MEDIA_ERR_CLOSED');
  });

  it('end without any offer sends no delete; a failing delete never rejects and is queued', async () => {
    const { start, fakes, store, deleter } = await setup();
    const quiet = (await start('eucarrier'))!;
    await quiet.end('rejected');
    expect(fakes.get('eu1').log.some((l) => l.startsWith('delete'))).toBe(false);
    expect(await store.getMediaSession('call-1')).toBeUndefined();
    const call = (await start('eucarrier'))!;
    await call.offer('ft', undefined, SDP);
    fakes.get('eu1').mode.delete = 'MEDIA_ERR_TIMEOUT';
    await expect(call.end('bye')).resolves.toBeUndefined();
    expect(deleter.stats()).toMatchObject({ queued: 1, waiting: 1 });
    expect(await store.getMediaSession('call-2')).toBeUndefined();
  });

  it('the delete waits for an offer in flight (never overtakes it)', async () => {
    const { start, fakes } = await setup();
    const call = (await start('eucarrier'))!;
    const eu1 = fakes.get('eu1');
    eu1.hold = true;
    const offer = call.offer('ft', undefined, SDP);
    const ended = call.end('cancel');
    await settle();
    expect(eu1.log.filter((l) => l.startsWith('delete'))).toEqual([]);
    eu1.release();
    await offer;
    await ended;
    expect(eu1.log.filter((l) => l.startsWith('offer') || l.startsWith('delete'))).toEqual([
      'offer call-1 ft - ice=remove replace=origin,session-connection',
      'delete call-1 ft',
    ]);
    expect(eu1.sessions.size).toBe(0);
  });

  it('calls held past maxCallAge are ended by the sweep; close ends the rest', async () => {
    const { start, fakes, clock, service } = await setup();
    const old = (await start('eucarrier'))!;
    await old.offer('ft', undefined, SDP);
    clock.advance(MAX_AGE - EXPIRY_SWEEP_MS);
    const young = (await start('eucarrier'))!;
    await young.offer('ft', undefined, SDP);
    clock.advance(EXPIRY_SWEEP_MS);
    await settle();
    expect(old.ended).toBe(true);
    expect(young.ended).toBe(false);
    expect(service.stats().expired).toBe(1);
    await service.close();
    expect(young.ended).toBe(true);
    expect(fakes.get('eu1').sessions.size).toBe(0);
  });
});
