/** The algorithms through the pool: hot standby, load, latency, slow start, source stickiness. */
import { afterEach, describe, expect, it } from 'vitest';
import { rendezvousOrder } from './algorithms/rendezvous-order.ts';
import { callCtx, cand, FakeHealth, FakeRegistryStore, nextChange, pick, startPool, sw } from './routing-test-kit.ts';
import type { SwitchPool } from './switch-pool.ts';

const pools: SwitchPool[] = [];
async function pool(...args: Parameters<typeof startPool>): Promise<SwitchPool> {
  const p = await startPool(...args);
  pools.push(p);
  return p;
}
afterEach(() => {
  for (const p of pools.splice(0)) p.stop();
});

/** A deterministic uniform [0, 1) source (LCG). */
function lcg(seed = 1): () => number {
  let s = seed;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

describe('Priority through the pool (hot standby)', () => {
  it('primary first; backup while the primary is down or draining; primary again when back', async () => {
    const health = new FakeHealth();
    const store = new FakeRegistryStore([sw('sw2', { priority: 2 }), sw('sw1', { priority: 1 })]);
    const p = await pool(store, health, { selection: 'priority' });
    expect(await pick(p, 'a')).toBe('sw1');
    health.down.add('sw1');
    expect(await pick(p, 'b')).toBe('sw2');
    health.down.delete('sw1');
    expect(await pick(p, 'c')).toBe('sw1');
    let change = nextChange(p);
    await store.putSwitch(sw('sw1', { priority: 1, state: 'draining' }));
    await change;
    expect(await pick(p, 'd')).toBe('sw2');
    change = nextChange(p);
    await store.putSwitch(sw('sw1', { priority: 1, state: 'active' }));
    await change;
    expect(await pick(p, 'e')).toBe('sw1');
  });
});

describe('LeastChannels through the pool', () => {
  it('picks the fewest channels per weight, counting its own calls between refreshes', async () => {
    const store = new FakeRegistryStore([sw('sw1'), sw('sw2'), sw('sw3', { weight: 4 })]);
    store.channels.set('sw1', 10).set('sw2', 12).set('sw3', 60); // per weight: 10, 12, 15
    const p = await pool(store, new FakeHealth(), { selection: 'least-channels' });
    expect(p.channels('sw1')).toBe(10);
    const picks = [];
    for (let i = 0; i < 4; i++) picks.push(await pick(p, `c${i}`));
    // 10/12 → 11/12 → 12/12 (tie: registry order) → 13/12
    expect(picks).toEqual(['sw1', 'sw1', 'sw1', 'sw2']);
    expect(p.channels('sw1')).toBe(13);

    // The refresh replaces the counts (they now include those calls).
    store.channels.set('sw1', 40).set('sw2', 40).set('sw3', 40);
    await p.refreshChannels();
    expect(p.channels('sw1')).toBe(40);
    expect(await pick(p, 'x')).toBe('sw3');

    // A failed refresh keeps the last values.
    store.failStats = true;
    await p.refreshChannels();
    expect(p.channels('sw2')).toBe(40);
  });
});

describe('LowestLatency through the pool', () => {
  it('picks the lowest latency; unmeasured switches only after measured ones', async () => {
    const health = new FakeHealth();
    health.latencies.set('sw2', 30).set('sw3', 8);
    const p = await pool(new FakeRegistryStore([sw('sw1'), sw('sw2'), sw('sw3')]), health, { selection: 'latency' });
    const ctx = callCtx('c1');
    expect((await p.select(ctx))?.id).toBe('sw3');
    expect((await p.next(ctx, new Set(['sw3'])))?.id).toBe('sw2');
    expect((await p.next(ctx, new Set(['sw3', 'sw2'])))?.id).toBe('sw1');
    health.latencies.set('sw1', 2);
    expect(await pick(p, 'c2')).toBe('sw1');
  });
});

describe('slow start', () => {
  it('moves a warming switch to the back with probability 1 − share', async () => {
    const health = new FakeHealth();
    health.shares.set('sw1', 0.25);
    let r = 0.9;
    const p = await pool(new FakeRegistryStore([sw('sw1'), sw('sw2')]), health, { random: () => r, selection: 'priority' });
    expect(await pick(p, 'a')).toBe('sw2'); // 0.9 ≥ 0.25: sent back
    r = 0.1;
    expect(await pick(p, 'b')).toBe('sw1'); // 0.1 < 0.25: keeps its place
  });

  it('gives a warming switch its reduced share of first picks over many calls', async () => {
    const health = new FakeHealth();
    health.shares.set('sw1', 0.25);
    const p = await pool(new FakeRegistryStore([sw('sw1'), sw('sw2')]), health, { random: lcg(7) });
    let sw1 = 0;
    const n = 10_000;
    for (let i = 0; i < n; i++) if ((await pick(p, `c${i}`)) === 'sw1') sw1++;
    // Round-robin would give it 1/2; at share 0.25 it keeps 1/2 × 0.25.
    expect(Math.abs(sw1 / n - 0.125)).toBeLessThanOrEqual(0.02);
    health.shares.delete('sw1');
    let full = 0;
    for (let i = 0; i < 1000; i++) if ((await pick(p, `d${i}`)) === 'sw1') full++;
    expect(full).toBe(500);
  });

  it('weighted uses the share in its weights instead (no random step)', async () => {
    const health = new FakeHealth();
    health.shares.set('sw1', 0.5);
    let calls = 0;
    const p = await pool(new FakeRegistryStore([sw('sw1', { weight: 2 }), sw('sw2', { weight: 2 })]), health, {
      selection: 'weighted',
      random: () => {
        calls++;
        return 0.99;
      },
    });
    let sw1 = 0;
    for (let i = 0; i < 3000; i++) if ((await pick(p, `c${i}`)) === 'sw1') sw1++;
    expect(sw1).toBe(1000);
    expect(calls).toBe(0);
  });
});

describe('hash-call-id through the pool', () => {
  it('sends every attempt of a Call-ID to the same switch, on every node', async () => {
    const store = new FakeRegistryStore([sw('sw1'), sw('sw2'), sw('sw3')]);
    const a = await pool(store, new FakeHealth(), { selection: 'hash-call-id' });
    const b = await pool(store, new FakeHealth(), { selection: 'hash-call-id' });
    for (let i = 0; i < 50; i++) {
      const id = `call-${i}@x`;
      const first = await pick(a, id);
      expect(await pick(a, id)).toBe(first);
      expect(await pick(b, id, `10.0.0.${i}`)).toBe(first);
    }
  });
});

describe('locate (in-dialog requests at a node that did not set the call up)', () => {
  it('names the switch a Call-ID was sent to under hash-call-id, and nothing under other selections', async () => {
    const store = new FakeRegistryStore([sw('sw1'), sw('sw2'), sw('sw3')]);
    const a = await pool(store, new FakeHealth(), { selection: 'hash-call-id' });
    const b = await pool(store, new FakeHealth(), { selection: 'hash-call-id' });
    for (let i = 0; i < 30; i++) {
      const id = `dlg-${i}@x`;
      expect(b.locate(id)?.id).toBe(await pick(a, id));
    }
    const rr = await pool(store, new FakeHealth(), { selection: 'round-robin' });
    expect(rr.locate('dlg-1@x')).toBeUndefined();
  });
});

describe('hash-source stickiness', () => {
  const ids = ['sw1', 'sw2', 'sw3'];
  const grown = ['sw4', 'sw3', 'sw2', 'sw1']; // a new switch, and a different registry order
  /** A source that the hash moves to sw4 once sw4 joins. */
  function movingSource(): { source: string; before: string } {
    for (let i = 0; ; i++) {
      const source = `198.51.100.${i % 250}:${i}`;
      const before = rendezvousOrder(source, ids.map((id, k) => cand(id, k)))[0];
      const after = rendezvousOrder(source, grown.map((id, k) => cand(id, k)))[0];
      if (after === 'sw4') return { source, before };
    }
  }

  it('two nodes sharing a store keep a source on its switch across a registry change, until the TTL passes', async () => {
    const store = new FakeRegistryStore(ids.map((id) => sw(id)));
    const opts = { selection: 'hash-source' as const, stickyTtlMs: 1000 };
    const nodeA = await pool(store, new FakeHealth(), opts);
    const nodeB = await pool(store, new FakeHealth(), opts);
    const { source, before } = movingSource();

    expect(await pick(nodeA, 'c1', source)).toBe(before);

    const changed = Promise.all([nextChange(nodeA), nextChange(nodeB)]);
    await store.setSwitches(grown.map((id) => sw(id)));
    await changed;

    store.now += 600;
    expect(await pick(nodeB, 'c2', source)).toBe(before); // sticky, though the hash now says sw4
    store.now += 600; // 1200 ms after the first call, but c2 refreshed the TTL
    expect(await pick(nodeA, 'c3', source)).toBe(before);

    store.now += 1001; // quiet for longer than the TTL
    expect(await pick(nodeB, 'c4', source)).toBe('sw4');
    expect(await pick(nodeA, 'c5', source)).toBe('sw4');
  });

  it('a sticky switch that is unavailable is skipped, and the source then sticks to the new one', async () => {
    const health = new FakeHealth();
    const store = new FakeRegistryStore(grown.map((id) => sw(id)));
    const p = await pool(store, health, { selection: 'hash-source', stickyTtlMs: 1000 });
    const { source } = movingSource();
    expect(await pick(p, 'c1', source)).toBe('sw4');
    health.down.add('sw4');
    const second = await pick(p, 'c2', source);
    expect(second).not.toBe('sw4');
    health.down.delete('sw4');
    expect(await pick(p, 'c3', source)).toBe(second);
  });

  it('store errors or a disconnected store fall back to the hash', async () => {
    const store = new FakeRegistryStore(ids.map((id) => sw(id)));
    const p = await pool(store, new FakeHealth(), { selection: 'hash-source' });
    const { source, before } = movingSource();
    store.failSticky = true;
    expect(await pick(p, 'c1', source)).toBe(before);
    store.failSticky = false;
    store.connected = false;
    expect(await pick(p, 'c2', source)).toBe(before);
  });

  it('a hanging sticky lookup falls back to the hash after stickyTimeoutMs', async () => {
    const store = new FakeRegistryStore(ids.map((id) => sw(id)));
    store.stickyGet = () => new Promise(() => {});
    const p = await pool(store, new FakeHealth(), { selection: 'hash-source', stickyTimeoutMs: 20 });
    const { source, before } = movingSource();
    expect(await pick(p, 'c1', source)).toBe(before);
  });
});
