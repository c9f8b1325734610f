/** The pool against the real in-process store (registry notifications, sticky table, channel counts). */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryClusterStore, type StoreClock } from '../../shared/cluster-store/memory-cluster-store.ts';
import { FakeHealth, logger, nextChange, pick, sw } from './routing-test-kit.ts';
import { SwitchPool, type SwitchPoolOptions } from './switch-pool.ts';

const pools: SwitchPool[] = [];
afterEach(() => {
  for (const p of pools.splice(0)) p.stop();
});

async function pool(store: MemoryClusterStore, opts: Partial<SwitchPoolOptions> = {}): Promise<SwitchPool> {
  const p = new SwitchPool({ store, health: new FakeHealth(), selection: 'round-robin', stickyTtlMs: 1000, logger, ...opts });
  await p.start();
  pools.push(p);
  return p;
}

describe('SwitchPool over MemoryClusterStore', () => {
  it('follows registry changes made through the store', async () => {
    const store = new MemoryClusterStore();
    await store.seedSwitches([sw('sw1', { priority: 1 }), sw('sw2', { priority: 2 })]);
    const p = await pool(store, { selection: 'priority' });
    expect(await pick(p, 'a')).toBe('sw1');
    const change = nextChange(p);
    await store.putSwitch(sw('sw1', { priority: 1, state: 'draining' }));
    await change;
    expect(await pick(p, 'b')).toBe('sw2');
    await store.close();
  });

  it('shares source stickiness between two nodes until the TTL passes', async () => {
    let now = 1_000_000;
    const clock: StoreClock = { nowMs: () => now };
    const store = new MemoryClusterStore({ clock });
    await store.seedSwitches([sw('sw1'), sw('sw2'), sw('sw3')]);
    const a = await pool(store, { selection: 'hash-source' });
    const b = await pool(store, { selection: 'hash-source' });
    const source = '198.51.100.9';
    const first = await pick(a, 'c1', source);
    expect(first).toBeDefined();
    // Pin the source elsewhere through the store (as another node would after a registry change).
    const other = ['sw1', 'sw2', 'sw3'].find((id) => id !== first) ?? '';
    await store.stickySet(source, other, 1000);
    expect(await pick(b, 'c2', source)).toBe(other);
    now += 1001;
    expect(await pick(b, 'c3', source)).toBe(first);
    await store.close();
  });
});
