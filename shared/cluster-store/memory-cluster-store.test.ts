import { describe, expect, it } from 'vitest';
import { describeClusterStoreContract } from './cluster-store-contract.ts';
import { MemoryClusterStore } from './memory-cluster-store.ts';

describeClusterStoreContract('memory', async () => {
  const store = new MemoryClusterStore();
  return { store, cleanup: () => store.close() };
});

/** A clock the test moves by hand. */
function manualClock(startMs = 1_700_000_000_000): { nowMs(): number; advance(ms: number): void } {
  let now = startMs;
  return { nowMs: () => now, advance: (ms) => (now += ms) };
}

describe('MemoryClusterStore specifics', () => {
  it('follows an injected clock: CPS window, cpsNow, lease and maximum age', async () => {
    const clock = manualClock();
    const store = new MemoryClusterStore({ clock });
    const lease = await store.registerNode('n1', 1000);
    const level = { level: 'switch:sw1', cps: 2 };
    const admit = (id: string, maxAgeMs = 10_000) => store.admit({ callId: id, nodeId: 'n1', epoch: lease.epoch, levels: [level], maxAgeMs });
    expect((await admit('a')).admitted).toBe(true);
    clock.advance(250);
    expect((await admit('b', 500)).admitted).toBe(true);
    expect(await admit('c')).toEqual({ admitted: false, level: 'switch:sw1', reason: 'cps', retryAfterMs: 750 });
    clock.advance(749.999);
    expect((await admit('c')).admitted).toBe(false);
    clock.advance(0.001); // 1000 ms after 'a': its slot has left the window
    expect((await store.levelStats(['switch:sw1']))[0].cpsNow).toBe(1);
    expect((await admit('c')).admitted).toBe(true);
    expect((await store.levelStats(['switch:sw1']))[0].cpsNow).toBe(2);
    expect(await store.reap()).toEqual({ nodes: [], calls: 1 }); // 'b' passed its 500 ms
    expect(await store.heartbeat('n1', lease.epoch, 1000)).toBe('ok');
    clock.advance(1001);
    expect(await store.reap()).toEqual({ nodes: ['n1'], calls: 2 });
    await store.close();
    await expect(store.now()).rejects.toMatchObject({ code: 'STORE_ERR_UNAVAILABLE' });
    expect(store.connected).toBe(false);
  });

  it('stays bounded: released and reaped calls leave no state behind', async () => {
    const clock = manualClock();
    const store = new MemoryClusterStore({ clock });
    const lease = await store.registerNode('n1', 60_000);
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 1000; i++) {
        const callId = `c${round}-${i}`;
        await store.admit({ callId, nodeId: 'n1', epoch: lease.epoch, levels: [{ level: 'cluster:main', cps: 1e6 }], maxAgeMs: 3_600_000 });
        await store.release(callId, 'n1', lease.epoch);
      }
      clock.advance(10);
    }
    expect(await store.calls()).toEqual([]);
    clock.advance(2000);
    await store.reap();
    expect(await store.levelStats(['cluster:main'])).toEqual([{ level: 'cluster:main', channels: 0, cpsNow: 0 }]);
  });

  it('media sessions follow the injected clock: live up to and including their expiry, then gone everywhere', async () => {
    const clock = manualClock();
    const store = new MemoryClusterStore({ clock });
    const session = (callId: string, relayId: string) => ({ callId, fromTag: `t-${callId}`, relayId, nodeId: 'n1' });
    await store.putMediaSession(session('a', 'rtp1'), 1000);
    clock.advance(0.5);
    await store.putMediaSession(session('b', 'rtp2'), 2000);
    expect(await store.getMediaSession('a')).toEqual({ callId: 'a', fromTag: 't-a', relayId: 'rtp1', nodeId: 'n1', startedAtMs: 1_700_000_000_000 });
    clock.advance(999.5); // exactly a's expiry: still live (like a Redis PEXPIRE)
    expect(await store.relaySessionCounts()).toEqual({ rtp1: 1, rtp2: 1 });
    clock.advance(0.001);
    expect(await store.getMediaSession('a')).toBeUndefined();
    expect(await store.relaySessionCounts()).toEqual({ rtp2: 1 });
    expect((await store.listMediaSessions()).map((m) => m.callId)).toEqual(['b']);
    // A replacement restarts the session (new start, new ttl) on its new relay.
    await store.putMediaSession(session('b', 'rtp1'), 10);
    expect(await store.getMediaSession('b')).toMatchObject({ relayId: 'rtp1', startedAtMs: 1_700_000_001_000 });
    expect(await store.relaySessionCounts()).toEqual({ rtp1: 1 });
    clock.advance(11);
    expect(await store.relaySessionCounts()).toEqual({});
    expect(await store.removeMediaSession('b')).toBe(false);
  });

  it('stays bounded: removed and expired media sessions leave no state behind', async () => {
    const clock = manualClock();
    const store = new MemoryClusterStore({ clock });
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 1000; i++) {
        const callId = `m${round}-${i}`;
        await store.putMediaSession({ callId, fromTag: 'f', relayId: `rtp${i % 7}`, nodeId: 'n1' }, i % 2 === 0 ? 5 : 3_600_000);
        if (i % 2 === 1) await store.removeMediaSession(callId);
      }
      clock.advance(10);
    }
    expect(await store.listMediaSessions()).toEqual([]);
    expect(await store.relaySessionCounts()).toEqual({});
  });
});
