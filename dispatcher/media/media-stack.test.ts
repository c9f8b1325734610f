import { describe, expect, it } from 'vitest';
import { MemoryClusterStore } from '../../shared/cluster-store/memory-cluster-store.ts';
import { ManualClock } from '../transaction/manual-clock.ts';
import { MediaStack } from './media-stack.ts';
import { FakeRelays, logger, mediaConfig, relay, settle } from './media-test-kit.ts';

const SDP = Buffer.from('v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n');

async function setup() {
  const store = new MemoryClusterStore();
  const fakes = new FakeRelays();
  const clock = new ManualClock(0);
  const stack = await MediaStack.create({
    nodeId: 'n1',
    cluster: { media: mediaConfig(), carriers: [{ id: 'eu', sources: [], selection: 'hash-call-id', zone: 'eu' }], users: [], maxCallAge: 3_600_000 },
    store,
    clock,
    logger,
    createClient: fakes.factory,
  });
  return { store, fakes, clock, stack };
}

describe('MediaStack', () => {
  it('starts with an empty registry (direct media) and uses relays added live', async () => {
    const { store, fakes, stack } = await setup();
    expect(await stack.service.startCall({ callId: 'c0', fromTag: 'ft', carrierId: 'eu', sourceIp: '192.0.2.1' })).toBeUndefined();
    await store.putRelay(relay('eu1', { zone: 'eu' }));
    await settle(10);
    const call = await stack.service.startCall({ callId: 'c1', fromTag: 'ft', carrierId: 'eu', sourceIp: '192.0.2.1' });
    expect(call?.relayId).toBe('eu1');
    await call!.offer('ft', undefined, SDP);
    const stats = stack.stats();
    expect(stats.service).toMatchObject({ sessions: 1, calls: { relayed: 1, direct: 1, refused: 0 }, offers: { ok: 1 } });
    expect(stats.relays.map((r) => ({ id: r.record.id, up: r.health.up, load: r.load }))).toEqual([{ id: 'eu1', up: true, load: 1 }]);
    // Shutdown deletes what is still up.
    await stack.close();
    expect(fakes.get('eu1').sessions.size).toBe(0);
    expect(fakes.get('eu1').closed).toBe(true);
    expect(await store.listMediaSessions()).toEqual([]);
  });

  it("deletes a reaped node's sessions", async () => {
    const { store, fakes, stack } = await setup();
    await store.putRelay(relay('eu1', { zone: 'eu' }));
    await settle(10);
    fakes.get('eu1').sessions.set('x', new Set(['ft']));
    await store.putMediaSession({ callId: 'x', fromTag: 'ft', relayId: 'eu1', nodeId: 'n9' }, 60_000);
    expect(await stack.onNodesReaped(['n9'])).toBe(1);
    expect(fakes.get('eu1').sessions.size).toBe(0);
    await stack.close();
  });
});
