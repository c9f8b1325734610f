import { describe, expect, it } from 'vitest';
import { describeRegistrarStoreContract } from './registrar-store-contract.ts';
import { MemoryRegistrarStore } from './memory-registrar-store.ts';
import type { BindingInput } from './registrar-store.ts';

/** A clock the test moves by hand, starting at the wall clock. */
function manualClock(): { now(): number; advance(ms: number): void } {
  let now = Date.now();
  return { now: () => now, advance: (ms) => void (now += ms) };
}

describeRegistrarStoreContract('memory', async () => {
  const clock = manualClock();
  const store = new MemoryRegistrarStore({ now: clock.now });
  return { store, advance: clock.advance, cleanup: () => store.close() };
});

function input(key: string, nodeId: string, expires = 60): BindingInput {
  return {
    key,
    contact: key,
    q: 1,
    expires,
    path: [],
    flow: { nodeId, protocol: 'udp', address: '203.0.113.1', port: 5060, localAddress: '127.0.0.1', localPort: 5060, ownerUri: `sip:${nodeId}` },
  };
}

describe('MemoryRegistrarStore specifics', () => {
  it('rejects every call once closed', async () => {
    const store = new MemoryRegistrarStore();
    await store.close();
    await expect(store.now()).rejects.toMatchObject({ code: 'STORE_ERR_UNAVAILABLE' });
    await expect(store.lookup('alice')).rejects.toMatchObject({ code: 'STORE_ERR_UNAVAILABLE' });
    await store.close();
  });

  it('a listener that throws is logged and skipped', async () => {
    const store = new MemoryRegistrarStore();
    const heard: string[] = [];
    store.onBan(() => {
      throw new Error('boom');
    });
    store.onBan((b) => heard.push(b.ip));
    await store.recordAuthFailure('10.0.0.1', { windowMs: 1000, threshold: 1, banMs: 1000 });
    await new Promise((r) => setTimeout(r, 0));
    expect(heard).toEqual(['10.0.0.1']);
  });

  it('stays bounded: refreshed, expired and swept bindings leave no state behind', async () => {
    const clock = manualClock();
    const store = new MemoryRegistrarStore({ now: clock.now });
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 500; i++) {
        const r = await store.register({ aor: `u${i}`, callId: 'c', cseq: round + 1, removeAll: false, upserts: [input(`sip:u${i}@x`, `n${round % 3}`, 5)], removals: [], maxContacts: 5 });
        expect(r.ok).toBe(true);
      }
      clock.advance(1000);
    }
    expect(await store.countBindings()).toBe(500);
    expect(await store.countBindings('n0')).toBe(500); // round 9 moved every binding to n0
    expect(await store.countBindings('n1')).toBe(0);
    clock.advance(5000);
    expect(await store.sweepExpired()).toBe(500);
    expect(await store.sweepExpired()).toBe(0);
    expect(await store.countBindings()).toBe(0);
  });
});
