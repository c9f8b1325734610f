import { afterEach, describe, expect, it } from 'vitest';
import { callCtx, FakeHealth, FakeRegistryStore, nextChange, pick, startPool, sw } from './routing-test-kit.ts';
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

describe('SwitchPool: select and next', () => {
  it('returns a route candidate with the switch target', async () => {
    const store = new FakeRegistryStore([sw('sw1', { host: '2001:db8::1', port: 5080, transport: 'tcp' })]);
    const p = await pool(store, new FakeHealth());
    expect(await p.select(callCtx('c1'))).toEqual({ id: 'sw1', target: { protocol: 'tcp', address: '2001:db8::1', port: 5080 } });
  });

  it('returns undefined when nothing is available', async () => {
    const health = new FakeHealth();
    const store = new FakeRegistryStore([sw('sw1'), sw('sw2', { state: 'draining' }), sw('sw3', { state: 'disabled' })]);
    const p = await pool(store, health);
    health.down.add('sw1');
    const ctx = callCtx('c1');
    expect(await p.select(ctx)).toBeUndefined();
    expect(await p.next(ctx, new Set())).toBeUndefined();
    expect(await (await pool(new FakeRegistryStore(), health)).select(callCtx('c2'))).toBeUndefined();
  });

  it('rotates over the available switches only (round-robin)', async () => {
    const health = new FakeHealth();
    const p = await pool(new FakeRegistryStore([sw('sw1'), sw('sw2'), sw('sw3')]), health);
    expect([await pick(p, 'a'), await pick(p, 'b'), await pick(p, 'c')]).toEqual(['sw1', 'sw2', 'sw3']);
    health.down.add('sw2');
    const picks = [await pick(p, 'd'), await pick(p, 'e'), await pick(p, 'f'), await pick(p, 'g')];
    expect(picks).not.toContain('sw2');
    expect(new Set(picks)).toEqual(new Set(['sw1', 'sw3']));
  });

  it('next() follows the call order and never returns a tried or unavailable switch', async () => {
    const health = new FakeHealth();
    const store = new FakeRegistryStore([sw('sw1', { priority: 1 }), sw('sw2', { priority: 2 }), sw('sw3', { priority: 3 }), sw('sw4', { priority: 4 })]);
    const p = await pool(store, health, { selection: 'priority' });
    const ctx = callCtx('c1');
    const tried = new Set<string>();
    const first = await p.select(ctx);
    expect(first?.id).toBe('sw1');
    tried.add('sw1');
    health.down.add('sw2'); // went down after the call started
    const change = nextChange(p);
    await store.putSwitch(sw('sw3', { priority: 3, state: 'disabled' })); // disabled since
    await change;
    const second = await p.next(ctx, tried);
    expect(second?.id).toBe('sw4');
    tried.add('sw4');
    expect(await p.next(ctx, tried)).toBeUndefined();
    health.down.delete('sw2');
    expect((await p.next(ctx, tried))?.id).toBe('sw2');
  });

  it('uses a carrier\'s own selection over the cluster default', async () => {
    const store = new FakeRegistryStore([sw('sw1', { priority: 5 }), sw('sw2', { priority: 1 })]);
    const p = await pool(store, new FakeHealth(), { selection: 'round-robin', carrierSelection: new Map([['acme', 'priority']]) });
    const acme = [await pick(p, 'a', undefined, 'acme'), await pick(p, 'b', undefined, 'acme'), await pick(p, 'c', undefined, 'acme')];
    expect(acme).toEqual(['sw2', 'sw2', 'sw2']);
    const others = [await pick(p, 'd'), await pick(p, 'e'), await pick(p, 'f', undefined, 'other')];
    expect(new Set(others)).toEqual(new Set(['sw1', 'sw2']));
  });
});

describe('SwitchPool: registry changes', () => {
  it('applies disabled, draining, removal and a new switch after the change notification', async () => {
    const store = new FakeRegistryStore([sw('sw1'), sw('sw2')]);
    const p = await pool(store, new FakeHealth(), { selection: 'priority' });
    expect(await pick(p, 'a')).toBe('sw1');

    let change = nextChange(p);
    await store.putSwitch(sw('sw1', { state: 'disabled' }));
    await change;
    expect(await pick(p, 'b')).toBe('sw2');

    change = nextChange(p);
    await store.putSwitch(sw('sw1', { state: 'active' }));
    await change;
    expect(await pick(p, 'c')).toBe('sw1');

    change = nextChange(p);
    await store.putSwitch(sw('sw1', { state: 'draining' }));
    await change;
    expect(await pick(p, 'd')).toBe('sw2');

    change = nextChange(p);
    await store.removeSwitch('sw2');
    await change;
    expect(await pick(p, 'e')).toBeUndefined();
    expect(p.isFromKnownPeer('192.0.2.2')).toBe(false);
    expect(p.isFromKnownPeer('192.0.2.1')).toBe(true); // draining is still a peer

    change = nextChange(p);
    await store.putSwitch(sw('sw7', { host: '192.0.2.77' }));
    await change;
    expect(await pick(p, 'f')).toBe('sw7');
    expect(p.isFromKnownPeer('192.0.2.77')).toBe(true);
    expect(p.snapshot().map((s) => [s.id, s.state])).toEqual([
      ['sw1', 'draining'],
      ['sw7', 'active'],
    ]);
  });

  it('coalesces a burst of notifications into few loads, ending on the latest registry', async () => {
    const store = new FakeRegistryStore([sw('sw1')]);
    let loads = 0;
    const list = store.listSwitches.bind(store);
    store.listSwitches = async () => {
      loads++;
      await new Promise((r) => setTimeout(r, 5));
      return list();
    };
    const p = await pool(store, new FakeHealth());
    loads = 0;
    for (let i = 2; i <= 20; i++) await store.putSwitch(sw(`sw${i}`));
    await p.reload();
    expect(loads).toBeLessThanOrEqual(3);
    expect(p.snapshot()).toHaveLength(20);
  });

  it('keeps the last registry when a reload fails', async () => {
    const store = new FakeRegistryStore([sw('sw1')]);
    const p = await pool(store, new FakeHealth());
    store.listSwitches = () => Promise.reject(new Error('store down'));
    await expect(p.reload()).rejects.toThrow('store down');
    expect(await pick(p, 'a')).toBe('sw1');
  });
});

describe('SwitchPool: report', () => {
  it('marks a switch suspect on timeout or transport error; responses are stats only', async () => {
    const health = new FakeHealth();
    const p = await pool(new FakeRegistryStore([sw('sw1'), sw('sw2')]), health);
    const sw1 = { id: 'sw1', target: { protocol: 'udp' as const, address: '192.0.2.1', port: 5060 } };
    const sw2 = { id: 'sw2', target: { protocol: 'udp' as const, address: '192.0.2.2', port: 5060 } };
    p.report(sw1, { kind: 'response', status: 503, latencyMs: 12 });
    expect(health.suspects).toEqual([]);
    expect(p.traffic('sw1')).toMatchObject({ responses: 1, lastStatus: 503, lastLatencyMs: 12 });
    p.report(sw1, { kind: 'timeout' });
    p.report(sw2, { kind: 'transport-error' });
    expect(health.suspects).toEqual(['sw1', 'sw2']);
    expect(p.traffic('sw2')).toMatchObject({ transportErrors: 1 });
    expect(await pick(p, 'a')).toBeUndefined();
  });

  it('does not hold a timeout against the switch while this node is behind on its own input', async () => {
    const health = new FakeHealth();
    let behind = true;
    const p = await pool(new FakeRegistryStore([sw('sw1'), sw('sw2')]), health, { selfBehind: () => behind });
    const sw1 = { id: 'sw1', target: { protocol: 'udp' as const, address: '192.0.2.1', port: 5060 } };
    p.report(sw1, { kind: 'timeout' });
    // Its answer may be waiting in our own socket: counted, not suspected; still selectable.
    expect(health.suspects).toEqual([]);
    expect(p.traffic('sw1')).toMatchObject({ timeouts: 1, timeoutsWhileBehind: 1 });
    expect(await pick(p, 'a')).toBeDefined();
    // A transport error is the switch's (or the path's) whatever our load.
    p.report(sw1, { kind: 'transport-error' });
    expect(health.suspects).toEqual(['sw1']);
    behind = false;
    p.report({ ...sw1, id: 'sw2' }, { kind: 'timeout' });
    expect(health.suspects).toEqual(['sw1', 'sw2']);
    expect(p.traffic('sw2')).toMatchObject({ timeouts: 1, timeoutsWhileBehind: 0 });
  });
});
