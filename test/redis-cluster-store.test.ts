/**
 * The redis adapter against a real redis-server on loopback: the same contract suite as the
 * memory store, then what only Redis can do: go away (stopped, hung), come back empty, and
 * serve many dispatchers at once.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallRecord, ClusterStore, SwitchRecord } from '../shared/cluster-store/cluster-store.ts';
import { describeClusterStoreContract } from '../shared/cluster-store/cluster-store-contract.ts';
import { storeKeys } from '../shared/cluster-store/keys.ts';
import { RedisClusterStore } from '../shared/cluster-store/redis-cluster-store.ts';
import { isSipfleetError } from '../shared/errors.ts';
import { stopAllProcesses } from './support/managed-process.ts';
import { startRedis, type RedisServer } from './support/redis-server.ts';
import { requireTool } from './support/require-tool.ts';

let redis: RedisServer;

beforeAll(async () => {
  requireTool('redis-server', 'redis-server');
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
  await stopAllProcesses();
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

let clusterSeq = 0;
/** A cluster name no other test uses: each test starts from empty keys on the shared server. */
function freshCluster(): string {
  clusterSeq += 1;
  return `t${process.pid}-${clusterSeq}`;
}

async function openStore(cluster: string): Promise<RedisClusterStore> {
  const store = new RedisClusterStore({ cluster, url: redis.url });
  await until(() => store.connected, 5000, 'the store to connect');
  return store;
}

describeClusterStoreContract('redis', async () => {
  const cluster = freshCluster();
  const store = await openStore(cluster);
  const peers: ClusterStore[] = [];
  return {
    store,
    peer: async () => {
      const peer = await openStore(cluster);
      peers.push(peer);
      return peer;
    },
    cleanup: async () => {
      await Promise.all([store, ...peers].map((s) => s.close()));
    },
  };
});

function expectUnavailable(err: unknown): void {
  expect(isSipfleetError(err) && err.code === 'STORE_ERR_UNAVAILABLE', String(err)).toBe(true);
}

function switchRecord(id: string, extra: Partial<SwitchRecord> = {}): SwitchRecord {
  return { id, host: '10.0.0.1', port: 5060, transport: 'udp', weight: 10, priority: 0, state: 'active', ...extra };
}

/** Every method, each expected to reject fast with STORE_ERR_UNAVAILABLE. */
function everyMethod(store: ClusterStore, epoch: number): Array<[string, () => Promise<unknown>]> {
  return [
    ['admit', () => store.admit({ callId: 'x', nodeId: 'n1', epoch, levels: [{ level: 'cluster:main', channels: 10 }], maxAgeMs: 60_000 })],
    ['release', () => store.release('x', 'n1', epoch)],
    ['registerNode', () => store.registerNode('n2', 5000)],
    ['heartbeat', () => store.heartbeat('n1', epoch, 5000)],
    ['deregisterNode', () => store.deregisterNode('n9', epoch)],
    ['liveNodes', () => store.liveNodes()],
    ['resyncCalls', () => store.resyncCalls('n1', epoch, [{ callId: 'x', levels: ['cluster:main'], startedAtMs: 1, expiresAtMs: 2, meta: {} }])],
    ['reap', () => store.reap()],
    ['levelStats', () => store.levelStats(['cluster:main'])],
    ['calls', () => store.calls()],
    ['now', () => store.now()],
    ['listSwitches', () => store.listSwitches()],
    ['putSwitch', () => store.putSwitch(switchRecord('sw1'))],
    ['removeSwitch', () => store.removeSwitch('sw1')],
    ['seedSwitches', () => store.seedSwitches([switchRecord('sw1')])],
    ['putProbeReport', () => store.putProbeReport({ switchId: 'sw1', nodeId: 'n1', up: true }, 5000)],
    ['probeReports', () => store.probeReports()],
    ['stickyGet', () => store.stickyGet('10.0.0.1')],
    ['stickySet', () => store.stickySet('10.0.0.1', 'sw1', 5000)],
    ['listRelays', () => store.listRelays()],
    ['putRelay', () => store.putRelay({ id: 'rtp1', host: '10.0.1.1', port: 2223, weight: 1, state: 'active' })],
    ['removeRelay', () => store.removeRelay('rtp1')],
    ['seedRelays', () => store.seedRelays([{ id: 'rtp1', host: '10.0.1.1', port: 2223, weight: 1, state: 'active' }])],
    ['putMediaSession', () => store.putMediaSession({ callId: 'x', fromTag: 't', relayId: 'rtp1', nodeId: 'n1' }, 5000)],
    ['getMediaSession', () => store.getMediaSession('x')],
    ['removeMediaSession', () => store.removeMediaSession('x')],
    ['listMediaSessions', () => store.listMediaSessions()],
    ['relaySessionCounts', () => store.relaySessionCounts()],
  ];
}

async function expectAllRejectFast(store: ClusterStore, epoch: number): Promise<void> {
  for (const [name, call] of everyMethod(store, epoch)) {
    const started = performance.now();
    const err = await call().then(
      () => new Error(`${name} resolved`),
      (e: unknown) => e,
    );
    const elapsed = performance.now() - started;
    expectUnavailable(err);
    expect(elapsed, `${name} took ${elapsed.toFixed(0)} ms`).toBeLessThan(500);
  }
}

describe('RedisClusterStore outages', () => {
  it('rejects fast while Redis is down, reconnects by itself, and resyncCalls rebuilds the counts it lost', async () => {
    const store = await openStore(freshCluster());
    const changes: boolean[] = [];
    store.onConnectionChange((c) => changes.push(c));
    const lease = await store.registerNode('n1', 60_000);
    const held: Omit<CallRecord, 'nodeId' | 'epoch'>[] = [];
    for (let i = 0; i < 10; i++) {
      const callId = `outage-${i}`;
      const r = await store.admit({ callId, nodeId: 'n1', epoch: lease.epoch, levels: [{ level: 'cluster:main', channels: 100 }, { level: 'switch:sw1' }], maxAgeMs: 3_600_000 });
      if (!r.admitted) throw new Error('not admitted');
      held.push({ callId, levels: ['cluster:main', 'switch:sw1'], startedAtMs: r.startedAtMs, expiresAtMs: r.startedAtMs + 3_600_000, meta: {} });
    }

    const restarting = redis.restart({ downMs: 2000 });
    await until(() => !store.connected, 5000, 'the store to notice the outage');
    await expectAllRejectFast(store, lease.epoch);
    await restarting;
    await until(() => store.connected, 10_000, 'the store to reconnect');
    expect(changes).toEqual([false, true]);

    // Redis came back empty (no persistence): the node is fenced, registers again and resyncs.
    expect(await store.levelStats(['cluster:main'])).toEqual([{ level: 'cluster:main', channels: 0, cpsNow: 0 }]);
    expect(await store.heartbeat('n1', lease.epoch, 60_000)).toBe('fenced');
    expect(await store.resyncCalls('n1', lease.epoch, held)).toBe(0); // stale epoch: nothing written
    const again = await store.registerNode('n1', 60_000);
    expect(again.epoch).toBeGreaterThan(lease.epoch); // epochs never go back, even after the loss
    expect(await store.resyncCalls('n1', again.epoch, held)).toBe(10);
    expect(await store.levelStats(['cluster:main', 'switch:sw1'])).toMatchObject([{ channels: 10 }, { channels: 10 }]);
    expect((await store.calls('switch:sw1')).map((c) => c.callId)).toEqual(held.map((c) => c.callId));
    const released = await Promise.all(held.map((c) => store.release(c.callId, 'n1', again.epoch)));
    expect(released.every((r) => r === 'released')).toBe(true);
    expect(await store.levelStats(['cluster:main'])).toMatchObject([{ channels: 0 }]);
    await store.close();
    expect(store.connected).toBe(false);
    await expect(store.now()).rejects.toMatchObject({ code: 'STORE_ERR_UNAVAILABLE' });
  });

  it('after a Redis restart the change subscriber reconnects by itself and calls the listeners (nodes re-read)', async () => {
    const cluster = freshCluster();
    const store = await openStore(cluster);
    const other = await openStore(cluster);
    // A plain client that asks Redis how many connections listen on the cluster's channel.
    const admin = new Redis(redis.url);
    admin.on('error', () => {}); // reconnects by itself across the restart
    const subscribers = async (): Promise<number> => {
      const [, n] = (await admin.pubsub('NUMSUB', storeKeys(cluster).events)) as [string, number];
      return Number(n);
    };
    try {
      let calls = 0;
      let second = 0;
      store.onSwitchesChanged(() => void (calls += 1));
      store.onSwitchesChanged(() => void (second += 1)); // one subscriber connection, however many listeners
      await until(() => calls > 0, 5000, 'the first subscription'); // in place: listeners told to read
      expect(await subscribers()).toBe(1);
      calls = 0;
      await other.putSwitch(switchRecord('sw1'));
      await until(() => calls > 0, 1000, 'a notice before the restart');

      expect(second).toBeGreaterThan(0);
      calls = 0;
      await redis.restart({ downMs: 1000 });
      // Notices sent while it was down are lost; the reconnect itself tells the listeners to re-read.
      await until(() => calls > 0, 10_000, 'the listeners after the reconnect');
      expect(await subscribers()).toBe(1);
      await until(() => other.connected && store.connected, 10_000, 'both clients to reconnect');
      calls = 0;
      await other.putSwitch(switchRecord('sw2')); // Redis came back empty: a new registry
      await until(() => calls > 0, 1000, 'a notice after the restart');
      expect((await store.listSwitches()).map((s) => s.id)).toEqual(['sw2']);

      await store.close();
      let left = 1;
      for (let i = 0; i < 50 && left > 0; i++) {
        left = await subscribers();
        if (left > 0) await sleep(20);
      }
      expect(left).toBe(0); // close() closed the subscriber connection too
    } finally {
      admin.disconnect();
      await Promise.all([store.close(), other.close()]);
    }
  });

  it('never hangs a caller when Redis stops answering (SIGSTOP): commands time out fast', async () => {
    const store = await openStore(freshCluster());
    const lease = await store.registerNode('n1', 60_000);
    redis.process.kill('SIGSTOP');
    try {
      await expectAllRejectFast(store, lease.epoch);
    } finally {
      redis.process.kill('SIGCONT');
    }
    // Answers flow again (the connection may have been recycled meanwhile).
    await until(() => store.connected, 10_000, 'the store to be ready');
    let now = 0;
    for (let i = 0; i < 50 && now === 0; i++) now = await store.now().catch(async () => (await sleep(100), 0));
    expect(now).toBeGreaterThan(0);
    await store.close();
  });

  it('reports connected=false and rejects fast when created while Redis is unreachable', async () => {
    const store = new RedisClusterStore({ cluster: freshCluster(), url: 'redis://127.0.0.1:1' });
    const started = performance.now();
    await expect(store.now()).rejects.toMatchObject({ code: 'STORE_ERR_UNAVAILABLE' });
    expect(performance.now() - started).toBeLessThan(500);
    expect(store.connected).toBe(false);
    await store.close();
  });
});

describe('RedisClusterStore under many dispatchers', () => {
  it('20 nodes admitting against a cap of 50 channels never exceed it', async () => {
    const cluster = freshCluster();
    const stores = await Promise.all(Array.from({ length: 20 }, () => openStore(cluster)));
    try {
      const leases = await Promise.all(stores.map((s, i) => s.registerNode(`node${i}`, 60_000)));
      const levels = [{ level: 'cluster:main', channels: 50 }];
      let seq = 0;
      const admit = (i: number) => {
        const callId = `hammer-${i}-${seq++}`;
        return stores[i].admit({ callId, nodeId: leases[i].nodeId, epoch: leases[i].epoch, levels, maxAgeMs: 60_000 }).then((r) => ({ r, callId }));
      };

      // All at once: exactly the cap.
      const burst = await Promise.all(stores.flatMap((_s, i) => Array.from({ length: 10 }, () => admit(i))));
      expect(burst.filter((b) => b.r.admitted)).toHaveLength(50);
      expect((await stores[0].levelStats(['cluster:main']))[0].channels).toBe(50);
      await Promise.all(burst.map((b, k) => (b.r.admitted ? stores[Math.floor(k / 10)].release(b.callId, `node${Math.floor(k / 10)}`, leases[Math.floor(k / 10)].epoch) : null)));
      expect((await stores[0].levelStats(['cluster:main']))[0].channels).toBe(0);

      // Churn: admit, hold briefly, release, from every node, while a monitor watches the count.
      let maxSeen = 0;
      let admitted = 0;
      let running = true;
      const monitor = (async () => {
        while (running) {
          maxSeen = Math.max(maxSeen, (await stores[0].levelStats(['cluster:main']))[0].channels);
          await sleep(2);
        }
      })();
      const end = Date.now() + 1500;
      await Promise.all(
        stores.map(async (store, i) => {
          while (Date.now() < end) {
            const batch = await Promise.all([admit(i), admit(i), admit(i), admit(i)]);
            await sleep(Math.random() * 3);
            for (const b of batch) {
              if (!b.r.admitted) continue;
              admitted++;
              expect(await store.release(b.callId, leases[i].nodeId, leases[i].epoch)).toBe('released');
            }
          }
        }),
      );
      running = false;
      await monitor;
      expect(maxSeen).toBeLessThanOrEqual(50);
      expect(maxSeen).toBeGreaterThanOrEqual(40); // the cap was actually contended
      expect(admitted).toBeGreaterThan(200);
      expect((await stores[0].levelStats(['cluster:main']))[0].channels).toBe(0);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });
});

describe('RedisClusterStore batches the admissions and releases of one event-loop turn', () => {
  /** Script calls Redis has run so far (EVALSHA and EVAL, from INFO commandstats). */
  async function scriptCalls(): Promise<number> {
    const client = new Redis(redis.url);
    try {
      const info = await client.info('commandstats');
      let n = 0;
      for (const m of info.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)) n += Number(m[1]);
      return n;
    } finally {
      client.disconnect();
    }
  }

  it('one script call for a turn of admissions, each with its own exact result (caps, order, CPS window)', async () => {
    const store = await openStore(freshCluster());
    try {
      const lease = await store.registerNode('n1', 60_000);
      const levels = [
        { level: 'cluster:main', channels: 5 },
        { level: 'carrier:c1', cps: 4 },
      ];
      const admit = (callId: string) => store.admit({ callId, nodeId: 'n1', epoch: lease.epoch, levels, maxAgeMs: 60_000 });
      // Load both scripts first (the first call of each may go as EVALSHA, NOSCRIPT, then EVAL).
      await Promise.all([admit('warm-a'), admit('warm-b')]);
      await Promise.all([store.release('warm-a', 'n1', lease.epoch), store.release('warm-b', 'n1', lease.epoch)]);
      await sleep(1100); // the warm-ups leave the CPS window

      const before = await scriptCalls();
      const results = await Promise.all(Array.from({ length: 12 }, (_, i) => admit(`call-${i}`)));
      expect((await scriptCalls()) - before).toBe(1);
      // In order: the CPS cap (4) refuses the 5th on, before the channel cap (5) is reached.
      expect(results.map((r) => r.admitted)).toEqual([true, true, true, true, false, false, false, false, false, false, false, false]);
      for (const r of results.slice(4)) expect(r).toMatchObject({ admitted: false, reason: 'cps', level: 'carrier:c1' });
      expect((await store.levelStats(['cluster:main']))[0].channels).toBe(4);

      // Releases of one turn: one script call, released / not-found each, in order.
      const before2 = await scriptCalls();
      const released = await Promise.all(['call-0', 'call-1', 'nope', 'call-2', 'call-3', 'call-0'].map((id) => store.release(id, 'n1', lease.epoch)));
      expect((await scriptCalls()) - before2).toBe(1);
      expect(released).toEqual(['released', 'released', 'not-found', 'released', 'released', 'not-found']);
      expect((await store.levelStats(['cluster:main']))[0].channels).toBe(0);
    } finally {
      await store.close();
    }
  });

  it('a failover re-attempt in one turn (release, then admit the same call) stays counted, whatever came first in the turn', async () => {
    const store = await openStore(freshCluster());
    try {
      const lease = await store.registerNode('n1', 60_000);
      const levels = [{ level: 'cluster:main', channels: 10, cps: 10 }];
      const admit = (callId: string) => store.admit({ callId, nodeId: 'n1', epoch: lease.epoch, levels, maxAgeMs: 60_000 });
      expect((await admit('k')).admitted).toBe(true);
      // An unrelated admission opens the turn, then the failover: release k, admit k again.
      const [other, released, again, twice] = await Promise.all([admit('other'), store.release('k', 'n1', lease.epoch), admit('k'), admit('k')]);
      expect(other.admitted).toBe(true);
      expect(released).toBe('released');
      expect(again.admitted).toBe(true);
      expect(twice.admitted).toBe(true);
      const [stats] = await store.levelStats(['cluster:main']);
      expect(stats.channels).toBe(2); // other and k
      // Two attempts of one call in one batch are two admissions in the CPS window, as in sequence.
      expect(stats.cpsNow).toBe(4);
      expect(await store.release('k', 'n1', lease.epoch)).toBe('released');
      expect((await store.levelStats(['cluster:main']))[0].channels).toBe(1);
    } finally {
      await store.close();
    }
  });

  it('a release queued in the turn the store closes still reaches Redis', async () => {
    const cluster = freshCluster();
    const store = await openStore(cluster);
    const lease = await store.registerNode('n1', 60_000);
    const levels = [{ level: 'cluster:main', channels: 10 }];
    expect((await store.admit({ callId: 'last', nodeId: 'n1', epoch: lease.epoch, levels, maxAgeMs: 60_000 })).admitted).toBe(true);
    const released = store.release('last', 'n1', lease.epoch);
    await store.close();
    expect(await released).toBe('released');
    const check = await openStore(cluster);
    try {
      expect((await check.levelStats(['cluster:main']))[0].channels).toBe(0);
    } finally {
      await check.close();
    }
  });

  it('a turn over the batch limit is split, still in order; a stale epoch fences every call of its batch', async () => {
    const store = await openStore(freshCluster());
    try {
      const lease = await store.registerNode('n1', 60_000);
      const levels = [{ level: 'cluster:main', channels: 100 }];
      const results = await Promise.all(
        Array.from({ length: 150 }, (_, i) => store.admit({ callId: `c-${i}`, nodeId: 'n1', epoch: lease.epoch, levels, maxAgeMs: 60_000 })),
      );
      expect(results.findIndex((r) => !r.admitted)).toBe(100);
      expect(results.slice(100).every((r) => !r.admitted && r.reason === 'channels')).toBe(true);

      const stale = lease.epoch - 1;
      const fenced = await Promise.all([
        store.admit({ callId: 'late-1', nodeId: 'n1', epoch: stale, levels, maxAgeMs: 60_000 }),
        store.admit({ callId: 'late-2', nodeId: 'n1', epoch: stale, levels, maxAgeMs: 60_000 }),
        store.release('c-0', 'n1', stale),
        store.release('c-1', 'n1', stale),
      ]);
      expect(fenced).toEqual([
        { admitted: false, level: 'node', reason: 'fenced', retryAfterMs: 0 },
        { admitted: false, level: 'node', reason: 'fenced', retryAfterMs: 0 },
        'fenced',
        'fenced',
      ]);
      expect((await store.levelStats(['cluster:main']))[0].channels).toBe(100);
    } finally {
      await store.close();
    }
  });
});
