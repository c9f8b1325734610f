import { describe, expect, it } from 'vitest';
import { MemoryClusterStore } from '../../shared/cluster-store/memory-cluster-store.ts';
import { ManualClock } from '../transaction/manual-clock.ts';
import { FakeRelays, logger, mediaConfig, relay, settle } from './media-test-kit.ts';
import { RelayPool, relayRecordOf } from './relay-pool.ts';

async function setup(seed = [relay('eu1', { zone: 'eu' }), relay('us1', { zone: 'us', host: '127.0.0.2' })]) {
  const store = new MemoryClusterStore();
  await store.seedRelays(seed);
  const fakes = new FakeRelays();
  const clock = new ManualClock(0);
  const resolved: string[] = [];
  const pool = new RelayPool({
    store,
    media: mediaConfig({ probe: { interval: 1000, timeout: 500, fall: 1, rise: 1 } }),
    clock,
    logger,
    createClient: fakes.factory,
    resolve: async (host) => {
      resolved.push(host);
      if (host === 'rtp.example.net') return '192.0.2.9';
      throw new Error('NXDOMAIN');
    },
  });
  await pool.start();
  return { store, fakes, clock, pool, resolved };
}

describe('RelayPool', () => {
  it('loads the registry with one client per relay at its ng address', async () => {
    const { pool, fakes } = await setup();
    expect(pool.snapshot().map((r) => r.id)).toEqual(['eu1', 'us1']);
    expect(fakes.made.map((c) => `${c.id} ${c.address}:${c.port}`)).toEqual(['eu1 127.0.0.1:22222', 'us1 127.0.0.2:22222']);
    expect(pool.usable('eu1')).toBe(true);
    expect(pool.indexOf('us1')).toBe(1);
    await pool.close();
    expect(fakes.made.every((c) => c.closed)).toBe(true);
  });

  it('follows live changes: a new relay gets a client, a removed one is closed, a state change keeps the client', async () => {
    const { pool, fakes, store } = await setup();
    await store.putRelay(relay('eu2', { zone: 'eu', host: '127.0.0.3' }));
    await store.removeRelay('us1');
    await store.putRelay(relay('eu1', { zone: 'eu', state: 'draining' }));
    await settle(10);
    expect(pool.snapshot().map((r) => `${r.id}:${r.state}`)).toEqual(['eu1:draining', 'eu2:active']);
    expect(fakes.get('us1').closed).toBe(true);
    expect(fakes.made.filter((c) => c.id === 'eu1')).toHaveLength(1);
    expect(pool.usable('eu1')).toBe(false);
    expect(pool.usable('eu2')).toBe(true);
    expect(pool.usable('us1')).toBe(false);
    await pool.close();
  });

  it('keeps a leased client open until its last call lets go, even after the relay left or moved', async () => {
    const { pool, fakes, store } = await setup();
    const lease = pool.lease('eu1')!;
    const old = fakes.get('eu1');
    await store.putRelay(relay('eu1', { zone: 'eu', host: '127.0.0.7' }));
    await settle(10);
    expect(fakes.get('eu1')).not.toBe(old);
    expect(fakes.get('eu1').address).toBe('127.0.0.7');
    expect(old.closed).toBe(false);
    expect(lease.client).toBe(old);
    lease.release();
    lease.release();
    expect(old.closed).toBe(true);
    await pool.close();
  });

  it('probes through the clients; a relay down is not usable, a disabled one is not probed', async () => {
    const { pool, fakes, store, clock } = await setup();
    await store.putRelay(relay('us1', { zone: 'us', host: '127.0.0.2', state: 'disabled' }));
    await settle(10);
    fakes.get('eu1').mode.ping = 'MEDIA_ERR_TIMEOUT';
    clock.advance(1000);
    await settle();
    expect(pool.health.isUp('eu1')).toBe(false);
    expect(pool.usable('eu1')).toBe(false);
    expect(fakes.get('us1').log).not.toContain('ping');
    await pool.close();
  });

  it('resolves a host name once; a name that does not resolve leaves the relay unused', async () => {
    const { pool, store, fakes, resolved } = await setup([relay('n1', { host: 'rtp.example.net' }), relay('n2', { host: 'nowhere.invalid' })]);
    expect(fakes.get('n1').address).toBe('192.0.2.9');
    expect(() => fakes.get('n2')).toThrow();
    expect(pool.usable('n2')).toBe(false);
    expect(pool.lease('n2')).toBeUndefined();
    await store.putRelay(relay('n1', { host: 'rtp.example.net', weight: 5 }));
    await settle(10);
    expect(resolved.filter((h) => h === 'rtp.example.net')).toHaveLength(1);
    await pool.close();
  });

  it('retries the first load every second while the store is down', async () => {
    const store = new MemoryClusterStore();
    await store.seedRelays([relay('r1')]);
    let fail = true;
    const flaky = {
      listRelays: () => (fail ? Promise.reject(new Error('down')) : store.listRelays()),
      onSwitchesChanged: (l: () => void) => store.onSwitchesChanged(l),
      relaySessionCounts: () => store.relaySessionCounts(),
    };
    const clock = new ManualClock(0);
    const pool = new RelayPool({ store: flaky, media: mediaConfig(), clock, logger, createClient: new FakeRelays().factory });
    await expect(pool.start()).rejects.toThrow('down');
    expect(pool.size).toBe(0);
    fail = false;
    clock.advance(1000);
    await settle(10);
    expect(pool.size).toBe(1);
    await pool.close();
  });

  it('seeds registry records from the config entries', () => {
    expect(relayRecordOf({ id: 'r', ng: '10.0.0.1:2223', host: '10.0.0.1', port: 2223, weight: 3, state: 'draining', zone: 'eu' })).toEqual({
      id: 'r',
      host: '10.0.0.1',
      port: 2223,
      weight: 3,
      state: 'draining',
      zone: 'eu',
    });
  });
});
