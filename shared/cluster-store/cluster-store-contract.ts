/**
 * The contract suite every `ClusterStore` adapter passes: the memory store in the unit project
 * (`memory-cluster-store.test.ts`) and the redis store against a real redis-server in the e2e
 * project (`test/redis-cluster-store.test.ts`). Each test gets a fresh, empty store from
 * `makeStore` and real time (leases, maximum ages and CPS windows are waited out).
 *
 * Registry listeners are at least once: an adapter may also call them without a change (the
 * redis one does when its subscription is first in place and after a reconnect), so the tests
 * let a fresh subscription settle before they count.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isSipfleetError } from '../errors.ts';
import type { AdmitRequest, AdmitResult, ClusterStore, DialogStateRecord, LevelLimit, MediaSessionRecord, NodeLease, RelayRecord, SwitchRecord } from './cluster-store.ts';

export interface ContractStore {
  readonly store: ClusterStore;
  cleanup(): Promise<void>;
  /**
   * Another client of the same cluster (a second dispatcher), for the concurrency tests; it is
   * closed by `cleanup`. Without it the tests use `store` twice.
   */
  readonly peer?: (() => Promise<ClusterStore>) | undefined;
}

const HOUR = 3_600_000;
const LONG_TTL = 60_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** How long a fresh `onSwitchesChanged` subscription gets to be in place before a test counts. */
const SUBSCRIBE_SETTLE_MS = 400;

function switchRecord(id: string, extra: Partial<SwitchRecord> = {}): SwitchRecord {
  return { id, host: '10.0.0.1', port: 5060, transport: 'udp', weight: 10, priority: 0, state: 'active', ...extra };
}

function relayRecord(id: string, extra: Partial<RelayRecord> = {}): RelayRecord {
  return { id, host: '10.0.1.1', port: 2223, weight: 10, state: 'active', ...extra };
}

function mediaSession(callId: string, relayId: string, extra: Partial<Omit<MediaSessionRecord, 'startedAtMs'>> = {}): Omit<MediaSessionRecord, 'startedAtMs'> {
  return { callId, fromTag: `tag-${callId}`, relayId, nodeId: 'n1', ...extra };
}

/** A dialog record for the call whose admission key is `callKey` (Call-ID = the key's part before `|`). */
function dialogRecord(callKey: string, nodeId: string, extra: Partial<DialogStateRecord> = {}): DialogStateRecord {
  return {
    callId: callKey.split('|')[0],
    fromTag: 'from-1',
    toTag: 'to-1',
    caller: { protocol: 'udp', address: '192.0.2.10', port: 5060 },
    switch: { protocol: 'udp', address: '10.0.0.1', port: 5060, switchId: 'sw1' },
    relayId: 'rtp1',
    callKey,
    nodeId,
    ...extra,
  };
}

/** A listener that counts its calls. */
function counter(): { readonly fn: () => void; count: number } {
  const c = { count: 0, fn: () => void (c.count += 1) };
  return c;
}

function invalidField(field: string): (e: unknown) => boolean {
  return (e) => isSipfleetError(e) && e.code === 'STORE_ERR_INVALID' && e.detail?.field === field;
}

let seq = 0;
function callId(tag: string): string {
  seq += 1;
  return `${tag}-${seq}@contract`;
}

function request(lease: NodeLease, id: string, levels: LevelLimit[], extra: Partial<AdmitRequest> = {}): AdmitRequest {
  return { callId: id, nodeId: lease.nodeId, epoch: lease.epoch, levels, maxAgeMs: HOUR, ...extra };
}

function admittedCount(results: readonly AdmitResult[]): number {
  return results.filter((r) => r.admitted).length;
}

/** The most admissions found in any half-open window [t, t + 1000) ms. */
function maxInAnySecond(startedAtMs: readonly number[]): number {
  const times = [...startedAtMs].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (j < times.length && times[j] < times[i] + 1000) j++;
    best = Math.max(best, j - i);
  }
  return best;
}

export function describeClusterStoreContract(name: string, makeStore: () => Promise<ContractStore>): void {
  describe(`ClusterStore contract: ${name}`, () => {
    let handle: ContractStore;
    let store: ClusterStore;

    beforeEach(async () => {
      handle = await makeStore();
      store = handle.store;
    });
    afterEach(async () => {
      await handle.cleanup();
    });

    const channels = async (level: string): Promise<number> => (await store.levelStats([level]))[0].channels;

    it('admits and releases a call, keeping its record, counts and clock', async () => {
      const lease = await store.registerNode('n1', LONG_TTL, { http: '127.0.0.1:9060' });
      expect(lease.nodeId).toBe('n1');
      expect(store.connected).toBe(true);
      const before = await store.now();
      expect(Math.abs(before - Date.now())).toBeLessThan(1000);
      const id = callId('round-trip');
      const levels: LevelLimit[] = [
        { level: 'cluster:main', cps: 100, channels: 10 },
        { level: 'switch:sw1', channels: 5 },
      ];
      const r = await store.admit(request(lease, id, levels, { meta: { switch: 'sw1', carrier: 'acme' } }));
      const after = await store.now();
      expect(r.admitted).toBe(true);
      if (!r.admitted) return;
      expect(r.startedAtMs).toBeGreaterThanOrEqual(before);
      expect(r.startedAtMs).toBeLessThanOrEqual(after);

      expect(await store.levelStats(['cluster:main', 'switch:sw1', 'switch:none'])).toEqual([
        { level: 'cluster:main', channels: 1, cpsNow: 1 },
        { level: 'switch:sw1', channels: 1, cpsNow: 1 },
        { level: 'switch:none', channels: 0, cpsNow: 0 },
      ]);
      const expected = {
        callId: id,
        nodeId: 'n1',
        epoch: lease.epoch,
        levels: ['cluster:main', 'switch:sw1'],
        startedAtMs: r.startedAtMs,
        expiresAtMs: r.startedAtMs + HOUR,
        meta: { switch: 'sw1', carrier: 'acme' },
      };
      expect(await store.calls('switch:sw1')).toEqual([expected]);
      expect(await store.calls()).toEqual([expected]);
      expect(await store.calls('switch:none')).toEqual([]);

      expect(await store.release(id, 'n1', lease.epoch)).toBe('released');
      expect(await store.levelStats(['cluster:main', 'switch:sw1'])).toEqual([
        { level: 'cluster:main', channels: 0, cpsNow: 1 },
        { level: 'switch:sw1', channels: 0, cpsNow: 1 },
      ]);
      expect(await store.calls()).toEqual([]);
    });

    it('refuses invalid arguments with STORE_ERR_INVALID', async () => {
      const lease = await store.registerNode('n1', LONG_TTL);
      const dup = request(lease, callId('dup'), [{ level: 'switch:a' }, { level: 'switch:a' }]);
      await expect(store.admit(dup)).rejects.toSatisfy((e) => isSipfleetError(e) && e.code === 'STORE_ERR_INVALID');
      const zeroCps = request(lease, callId('zero'), [{ level: 'switch:a', cps: 0 }]);
      await expect(store.admit(zeroCps)).rejects.toSatisfy((e) => isSipfleetError(e) && e.code === 'STORE_ERR_INVALID');
      expect(await channels('switch:a')).toBe(0);
    });

    it('admits exactly the channel cap out of 200 concurrent admits', async () => {
      const lease = await store.registerNode('n1', LONG_TTL);
      const ids = Array.from({ length: 200 }, () => callId('cap'));
      const results = await Promise.all(ids.map((id) => store.admit(request(lease, id, [{ level: 'switch:sw1', channels: 50 }]))));
      expect(admittedCount(results)).toBe(50);
      for (const r of results) {
        if (!r.admitted) expect(r).toEqual({ admitted: false, level: 'switch:sw1', reason: 'channels', retryAfterMs: 0 });
      }
      expect(await channels('switch:sw1')).toBe(50);
      expect(await store.calls('switch:sw1', 1000)).toHaveLength(50);
    });

    it('CPS 3, burst 0: of 50 admits at once exactly 3 pass; the refusals name the level and when to retry', async () => {
      const lease = await store.registerNode('n1', LONG_TTL);
      const level: LevelLimit = { level: 'carrier:acme', cps: 3, burst: 0 };
      const results = await Promise.all(Array.from({ length: 50 }, () => store.admit(request(lease, callId('cps'), [level]))));
      expect(admittedCount(results)).toBe(3);
      for (const r of results) {
        if (r.admitted) continue;
        expect(r.level).toBe('carrier:acme');
        expect(r.reason).toBe('cps');
        // The window frees its oldest slot one second after it was taken.
        expect(r.retryAfterMs).toBeGreaterThan(900);
        expect(r.retryAfterMs).toBeLessThanOrEqual(1000);
      }
      const refusal = results.find((r) => !r.admitted);
      // Once the oldest admission has left the window, slots free up again (here all three at once).
      await sleep((refusal?.retryAfterMs ?? 1000) + 20);
      const next = await Promise.all(Array.from({ length: 5 }, () => store.admit(request(lease, callId('cps'), [level]))));
      expect(admittedCount(next)).toBe(3);
      expect((await store.levelStats(['carrier:acme']))[0]).toEqual({ level: 'carrier:acme', channels: 6, cpsNow: 3 });
    });

    it('CPS 10: admissions over 1.25 s never exceed 10 in any half-open 1 s window', async () => {
      const lease = await store.registerNode('n1', LONG_TTL);
      const level: LevelLimit = { level: 'switch:sw1', cps: 10 };
      const starts: number[] = [];
      const end = Date.now() + 1250;
      while (Date.now() < end) {
        const batch = await Promise.all(Array.from({ length: 3 }, () => store.admit(request(lease, callId('spread'), [level]))));
        for (const r of batch) if (r.admitted) starts.push(r.startedAtMs);
        await sleep(7);
      }
      expect(maxInAnySecond(starts)).toBeLessThanOrEqual(10);
      expect(starts.length).toBeGreaterThanOrEqual(11); // the rate is reached (13 at most), not just respected
      expect((await store.levelStats(['switch:sw1']))[0].cpsNow).toBeLessThanOrEqual(10);
    });

    it('burst lets `burst` extra calls through in the window, never more', async () => {
      const lease = await store.registerNode('n1', LONG_TTL);
      const level: LevelLimit = { level: 'switch:sw1', cps: 10, burst: 5 };
      const results = await Promise.all(Array.from({ length: 50 }, () => store.admit(request(lease, callId('burst'), [level]))));
      expect(admittedCount(results)).toBe(15);
    });

    it('a refusal at one level takes nothing at any level', async () => {
      const lease = await store.registerNode('n1', LONG_TTL);
      const cluster: LevelLimit = { level: 'cluster:main', cps: 1, burst: 1, channels: 10 };
      expect((await store.admit(request(lease, callId('a'), [cluster, { level: 'switch:sw1', channels: 1 }]))).admitted).toBe(true);
      const refused = await store.admit(request(lease, callId('b'), [cluster, { level: 'switch:sw1', channels: 1 }]));
      expect(refused).toEqual({ admitted: false, level: 'switch:sw1', reason: 'channels', retryAfterMs: 0 });
      expect(await store.levelStats(['cluster:main'])).toEqual([{ level: 'cluster:main', channels: 1, cpsNow: 1 }]);
      // The cluster's second CPS slot (burst 1) is still free: the refused call did not take it.
      expect((await store.admit(request(lease, callId('c'), [cluster, { level: 'switch:sw2' }]))).admitted).toBe(true);
      const third = await store.admit(request(lease, callId('d'), [{ level: 'switch:sw3', channels: 5 }, cluster]));
      expect(third).toMatchObject({ admitted: false, level: 'cluster:main', reason: 'cps' });
      expect(await channels('switch:sw3')).toBe(0);
    });

    it('a failover re-attempt charges only the new switch CPS and moves the call to it', async () => {
      const lease = await store.registerNode('n1', LONG_TTL);
      const cluster: LevelLimit = { level: 'cluster:main', cps: 1, burst: 0, channels: 10 };
      const id = callId('failover');
      expect((await store.admit(request(lease, id, [cluster, { level: 'switch:sw1', cps: 10 }]))).admitted).toBe(true);
      // The cluster's CPS slot is taken: a new call is refused there.
      expect(await store.admit(request(lease, callId('other'), [cluster, { level: 'switch:sw2', cps: 10 }]))).toMatchObject({
        admitted: false,
        level: 'cluster:main',
        reason: 'cps',
      });
      const retry = await store.admit(request(lease, id, [{ ...cluster, chargeCps: false }, { level: 'switch:sw2', cps: 10 }]));
      expect(retry.admitted).toBe(true);
      expect(await store.levelStats(['cluster:main', 'switch:sw1', 'switch:sw2'])).toEqual([
        { level: 'cluster:main', channels: 1, cpsNow: 1 },
        { level: 'switch:sw1', channels: 0, cpsNow: 1 },
        { level: 'switch:sw2', channels: 1, cpsNow: 1 },
      ]);
      expect((await store.calls('switch:sw2')).map((c) => [c.callId, c.levels])).toEqual([[id, ['cluster:main', 'switch:sw2']]]);
      expect(await store.calls('switch:sw1')).toEqual([]);

      // A refused re-attempt leaves the call released everywhere.
      const full = await store.admit(request(lease, id, [{ ...cluster, chargeCps: false }, { level: 'switch:sw3', channels: 0 }]));
      expect(full).toEqual({ admitted: false, level: 'switch:sw3', reason: 'channels', retryAfterMs: 0 });
      expect(await store.levelStats(['cluster:main', 'switch:sw2'])).toMatchObject([{ channels: 0 }, { channels: 0 }]);
      expect(await store.release(id, 'n1', lease.epoch)).toBe('not-found');
    });

    it('a call admitted by another node is taken over, and the first node can no longer release it', async () => {
      const a = await store.registerNode('na', LONG_TTL);
      const b = await store.registerNode('nb', LONG_TTL);
      const id = callId('takeover');
      expect((await store.admit(request(a, id, [{ level: 'switch:sw1' }]))).admitted).toBe(true);
      expect((await store.admit(request(b, id, [{ level: 'switch:sw2' }]))).admitted).toBe(true);
      expect(await store.levelStats(['switch:sw1', 'switch:sw2'])).toMatchObject([{ channels: 0 }, { channels: 1 }]);
      expect(await store.release(id, 'na', a.epoch)).toBe('not-found');
      expect(await store.release(id, 'nb', b.epoch)).toBe('released');
    });

    it('release is idempotent and only the owner under its current epoch releases', async () => {
      const lease = await store.registerNode('n1', LONG_TTL);
      const other = await store.registerNode('n2', LONG_TTL);
      const id = callId('idem');
      expect((await store.admit(request(lease, id, [{ level: 'switch:sw1' }]))).admitted).toBe(true);
      expect(await store.release(id, 'n1', lease.epoch + 1)).toBe('fenced');
      expect(await store.release(id, 'n2', other.epoch)).toBe('not-found');
      expect(await channels('switch:sw1')).toBe(1);
      expect(await store.release(id, 'n1', lease.epoch)).toBe('released');
      expect(await store.release(id, 'n1', lease.epoch)).toBe('not-found');
      expect(await store.release(callId('never'), 'n1', lease.epoch)).toBe('not-found');
      expect(await channels('switch:sw1')).toBe(0);
    });

    it('register-node bumps the epoch, releases the old epoch calls and fences the old epoch', async () => {
      const first = await store.registerNode('n1', LONG_TTL);
      const id = callId('old');
      expect((await store.admit(request(first, id, [{ level: 'switch:sw1', channels: 10 }]))).admitted).toBe(true);
      const second = await store.registerNode('n1', LONG_TTL);
      expect(second.epoch).toBeGreaterThan(first.epoch);
      expect(await channels('switch:sw1')).toBe(0);
      expect(await store.calls()).toEqual([]);
      expect(await store.heartbeat('n1', first.epoch, LONG_TTL)).toBe('fenced');
      expect(await store.heartbeat('n1', second.epoch, LONG_TTL)).toBe('ok');
      expect(await store.admit(request(first, callId('stale'), [{ level: 'switch:sw1' }]))).toEqual({
        admitted: false,
        level: 'node',
        reason: 'fenced',
        retryAfterMs: 0,
      });
      expect(await store.release(id, 'n1', first.epoch)).toBe('fenced');
      expect(await store.resyncCalls('n1', first.epoch, [{ callId: id, levels: ['switch:sw1'], startedAtMs: 1, expiresAtMs: Date.now() + HOUR, meta: {} }])).toBe(0);
      expect(await channels('switch:sw1')).toBe(0);
      expect((await store.liveNodes()).filter((n) => n.nodeId === 'n1').map((n) => n.epoch)).toEqual([second.epoch]);
    });

    it('liveNodes carries the info a node registered with', async () => {
      await store.registerNode('n1', LONG_TTL, { listen: 'udp://127.0.0.11:5060', version: '0.1.0' });
      const [node] = await store.liveNodes();
      expect(node.info).toEqual({ listen: 'udp://127.0.0.11:5060', version: '0.1.0' });
    });

    it('heartbeat renews the lease; deregister releases the calls, drops the lease and fences', async () => {
      const lease = await store.registerNode('n1', 300);
      expect(lease.expiresAtMs - (await store.now())).toBeLessThanOrEqual(300);
      expect(await store.heartbeat('n1', lease.epoch, LONG_TTL)).toBe('ok');
      const [renewed] = await store.liveNodes();
      expect(renewed.nodeId).toBe('n1');
      expect(renewed.epoch).toBe(lease.epoch);
      expect(renewed.expiresAtMs - (await store.now())).toBeGreaterThan(LONG_TTL - 5000);
      await Promise.all([1, 2, 3].map(() => store.admit(request(lease, callId('dereg'), [{ level: 'switch:sw1' }]))));
      expect(await channels('switch:sw1')).toBe(3);

      await store.deregisterNode('n1', lease.epoch + 1); // stale epoch: nothing happens
      expect(await channels('switch:sw1')).toBe(3);
      await store.deregisterNode('n1', lease.epoch);
      expect(await channels('switch:sw1')).toBe(0);
      expect(await store.liveNodes()).toEqual([]);
      expect(await store.heartbeat('n1', lease.epoch, LONG_TTL)).toBe('fenced');
      expect(await store.admit(request(lease, callId('after'), [{ level: 'switch:sw1' }]))).toMatchObject({ reason: 'fenced' });
    });

    it('reap releases the calls of a node whose lease expired and fences it; a live node is untouched', async () => {
      const dead = await store.registerNode('dead', 300);
      const live = await store.registerNode('live', LONG_TTL);
      const deadIds = [callId('dead'), callId('dead'), callId('dead')];
      const liveIds = [callId('live'), callId('live')];
      for (const id of deadIds) expect((await store.admit(request(dead, id, [{ level: 'cluster:main' }]))).admitted).toBe(true);
      for (const id of liveIds) expect((await store.admit(request(live, id, [{ level: 'cluster:main' }]))).admitted).toBe(true);
      expect(await store.reap()).toEqual({ nodes: [], calls: 0 }); // nothing expired yet
      await sleep(450);
      expect((await store.liveNodes()).map((n) => n.nodeId)).toEqual(['live']); // expired, not yet reaped

      expect(await store.reap()).toEqual({ nodes: ['dead'], calls: 3 });
      expect(await channels('cluster:main')).toBe(2);
      expect((await store.calls()).map((c) => c.callId).sort()).toEqual([...liveIds].sort());
      expect(await store.heartbeat('dead', dead.epoch, LONG_TTL)).toBe('fenced');
      expect(await store.release(deadIds[0], 'dead', dead.epoch)).toBe('fenced');
      expect(await store.admit(request(dead, callId('zombie'), [{ level: 'cluster:main' }]))).toMatchObject({ reason: 'fenced' });
      expect(await store.heartbeat('live', live.epoch, LONG_TTL)).toBe('ok');
      expect(await store.reap()).toEqual({ nodes: [], calls: 0 });
      expect(await store.release(liveIds[0], 'live', live.epoch)).toBe('released');
    });

    it('reap releases calls past their maximum age, whoever holds them', async () => {
      const lease = await store.registerNode('n1', LONG_TTL);
      const old = callId('max-age');
      const young = callId('young');
      expect((await store.admit(request(lease, old, [{ level: 'switch:sw1' }], { maxAgeMs: 200 }))).admitted).toBe(true);
      expect((await store.admit(request(lease, young, [{ level: 'switch:sw1' }]))).admitted).toBe(true);
      await sleep(350);
      expect(await store.reap()).toEqual({ nodes: [], calls: 1 });
      expect((await store.calls('switch:sw1')).map((c) => c.callId)).toEqual([young]);
      expect(await store.release(old, 'n1', lease.epoch)).toBe('not-found');
      expect(await store.heartbeat('n1', lease.epoch, LONG_TTL)).toBe('ok');
    });

    it('resyncCalls restores calls the store lost and never duplicates one it has', async () => {
      const lease = await store.registerNode('n1', LONG_TTL);
      const kept = callId('kept');
      const admitted = await store.admit(request(lease, kept, [{ level: 'cluster:main' }, { level: 'switch:sw1' }]));
      expect(admitted.admitted).toBe(true);
      const now = await store.now();
      const lost = [callId('lost'), callId('lost')].map((id, i) => ({
        callId: id,
        levels: ['cluster:main', 'switch:sw1'],
        startedAtMs: now - 10_000 + i,
        expiresAtMs: now + HOUR,
        meta: { switch: 'sw1' },
      }));
      const all = [{ callId: kept, levels: ['cluster:main', 'switch:sw1'], startedAtMs: now, expiresAtMs: now + HOUR, meta: {} }, ...lost];
      expect(await store.resyncCalls('n1', lease.epoch, all)).toBe(2);
      expect(await store.resyncCalls('n1', lease.epoch, all)).toBe(0);
      expect(await store.levelStats(['cluster:main', 'switch:sw1'])).toMatchObject([{ channels: 3 }, { channels: 3 }]);
      const listed = await store.calls('switch:sw1');
      expect(listed.map((c) => c.callId)).toEqual([lost[0].callId, lost[1].callId, kept]); // oldest first
      expect(listed[0]).toEqual({ ...lost[0], nodeId: 'n1', epoch: lease.epoch });
      // Resync takes no CPS.
      expect((await store.levelStats(['switch:sw1']))[0].cpsNow).toBe(1);
      expect(await store.release(lost[0].callId, 'n1', lease.epoch)).toBe('released');
      expect(await store.levelStats(['cluster:main'])).toMatchObject([{ channels: 2 }]);
    });

    it('levelStats and calls list every call with node and start, oldest first, up to the limit', async () => {
      const a = await store.registerNode('na', LONG_TTL);
      const b = await store.registerNode('nb', LONG_TTL);
      const admitted: { id: string; node: string; start: number }[] = [];
      for (let i = 0; i < 5; i++) {
        const lease = i % 2 === 0 ? a : b;
        const id = callId('list');
        const r = await store.admit(request(lease, id, [{ level: 'cluster:main' }, { level: `switch:sw${i % 2}` }]));
        if (!r.admitted) throw new Error('not admitted');
        admitted.push({ id, node: lease.nodeId, start: r.startedAtMs });
        await sleep(3);
      }
      const listed = await store.calls('cluster:main');
      expect(listed.map((c) => ({ id: c.callId, node: c.nodeId, start: c.startedAtMs }))).toEqual(admitted);
      expect((await store.calls('cluster:main', 2)).map((c) => c.callId)).toEqual(admitted.slice(0, 2).map((c) => c.id));
      expect(await store.calls('cluster:main', 0)).toEqual([]);
      expect((await store.calls('switch:sw1')).map((c) => c.nodeId)).toEqual(['nb', 'nb']);
      expect(await store.levelStats(['cluster:main', 'switch:sw0', 'switch:sw1'])).toEqual([
        { level: 'cluster:main', channels: 5, cpsNow: 5 },
        { level: 'switch:sw0', channels: 3, cpsNow: 3 },
        { level: 'switch:sw1', channels: 2, cpsNow: 2 },
      ]);
      await sleep(1050);
      expect(await store.levelStats(['cluster:main'])).toEqual([{ level: 'cluster:main', channels: 5, cpsNow: 0 }]);
    });

    it('counts return to 0 once every call is released', async () => {
      const lease = await store.registerNode('n1', LONG_TTL);
      const ids = Array.from({ length: 100 }, () => callId('zero'));
      const levels = (i: number): LevelLimit[] => [{ level: 'cluster:main', channels: 1000 }, { level: `switch:sw${i % 3}` }, { level: 'user:alice' }];
      const results = await Promise.all(ids.map((id, i) => store.admit(request(lease, id, levels(i)))));
      expect(admittedCount(results)).toBe(100);
      const released = await Promise.all(ids.map((id) => store.release(id, 'n1', lease.epoch)));
      expect(released.every((r) => r === 'released')).toBe(true);
      const stats = await store.levelStats(['cluster:main', 'switch:sw0', 'switch:sw1', 'switch:sw2', 'user:alice']);
      expect(stats.map((s) => s.channels)).toEqual([0, 0, 0, 0, 0]);
      expect(await store.calls()).toEqual([]);
    });

    it('the switch registry: put, list in id order, replace, remove; every client of the cluster sees it', async () => {
      const peer = handle.peer === undefined ? store : await handle.peer();
      expect(await store.listSwitches()).toEqual([]);
      const b = switchRecord('sw-b', { host: '2001:db8::5', port: 5061, transport: 'tls', weight: 1000, priority: -3, cps: 2.5, channels: 0, zone: 'eu-1' });
      const a = switchRecord('sw-a', { state: 'draining' });
      await store.putSwitch(b);
      await store.putSwitch({ ...a, zone: undefined });
      expect(await store.listSwitches()).toEqual([a, b]);
      expect(Object.keys((await store.listSwitches())[0])).not.toContain('zone'); // absent optionals stay absent
      expect(await peer.listSwitches()).toEqual([a, b]);

      const a2 = { ...a, state: 'disabled' as const, weight: 1, channels: 30 };
      await peer.putSwitch(a2);
      expect(await store.listSwitches()).toEqual([a2, b]);
      expect(await store.removeSwitch('sw-a')).toBe(true);
      expect(await peer.removeSwitch('sw-a')).toBe(false);
      expect(await peer.listSwitches()).toEqual([b]);
      // The returned records are copies: changing one changes nothing stored.
      const [listed] = await store.listSwitches();
      (listed as { weight: number }).weight = 7;
      expect((await store.listSwitches())[0].weight).toBe(1000);
    });

    it('refuses invalid switch records with STORE_ERR_INVALID naming the field', async () => {
      const cases: Array<[Partial<Record<keyof SwitchRecord, unknown>>, string]> = [
        [{ id: 'bad id' }, 'switch.id'],
        [{ id: 'a:b' }, 'switch.id'],
        [{ id: 'x'.repeat(65) }, 'switch.id'],
        [{ host: '' }, 'switch.host'],
        [{ host: '[::1]' }, 'switch.host'],
        [{ port: 0 }, 'switch.port'],
        [{ port: 65536 }, 'switch.port'],
        [{ port: 5060.5 }, 'switch.port'],
        [{ transport: 'sctp' }, 'switch.transport'],
        [{ weight: 0 }, 'switch.weight'],
        [{ weight: 1001 }, 'switch.weight'],
        [{ priority: 1.5 }, 'switch.priority'],
        [{ cps: -1 }, 'switch.cps'],
        [{ channels: -1 }, 'switch.channels'],
        [{ channels: 2.5 }, 'switch.channels'],
        [{ zone: '' }, 'switch.zone'],
        [{ state: 'gone' }, 'switch.state'],
      ];
      for (const [change, field] of cases) {
        const sw = { ...switchRecord('sw1'), ...change } as SwitchRecord;
        await expect(store.putSwitch(sw), JSON.stringify(change)).rejects.toSatisfy(invalidField(field));
      }
      await expect(store.seedSwitches([switchRecord('sw1'), switchRecord('sw2', { port: 0 })])).rejects.toSatisfy(invalidField('switches[1].port'));
      await expect(store.seedSwitches([switchRecord('sw1'), switchRecord('sw1')])).rejects.toSatisfy(invalidField('switches[1].id'));
      await expect(store.removeSwitch('bad id')).rejects.toSatisfy(invalidField('id'));
      expect(await store.listSwitches()).toEqual([]); // a refused seed adds nothing, not even its valid records
    });

    it('seedSwitches adds only the ids that are missing and never overwrites a record', async () => {
      const peer = handle.peer === undefined ? store : await handle.peer();
      const live = switchRecord('sw1', { weight: 5, state: 'disabled' }); // changed live through the ops API
      await store.putSwitch(live);
      const config = [switchRecord('sw1'), switchRecord('sw2'), switchRecord('sw3', { host: 'sbc.example.net' })];
      expect(await peer.seedSwitches(config)).toBe(2);
      expect(await store.listSwitches()).toEqual([live, config[1], config[2]]);
      expect(await store.seedSwitches(config)).toBe(0); // every node seeds at start: the first wins
      expect(await store.seedSwitches([])).toBe(0);
      expect(await peer.listSwitches()).toEqual([live, config[1], config[2]]);
    });

    it('cluster limits: seeded once, replaced live with a notice to every client, validated', async () => {
      const peer = handle.peer === undefined ? store : await handle.peer();
      expect(await store.getClusterLimits()).toBeUndefined();
      expect(await store.seedClusterLimits({ cps: 20, channels: 100 })).toBe(true);
      expect(await peer.seedClusterLimits({ cps: 99 })).toBe(false);
      expect(await peer.getClusterLimits()).toEqual({ cps: 20, channels: 100 });
      const remote = counter();
      const stop = peer.onSwitchesChanged(remote.fn);
      await sleep(SUBSCRIBE_SETTLE_MS);
      remote.count = 0;
      await store.putClusterLimits({ cps: 30, channels: 100 });
      await until(() => remote.count > 0, 1000, 'a limits change to reach the other client');
      expect(await peer.getClusterLimits()).toEqual({ cps: 30, channels: 100 });
      await store.putClusterLimits({ channels: 100 });
      expect(await store.getClusterLimits()).toEqual({ channels: 100 });
      await expect(store.putClusterLimits({ cps: -1 })).rejects.toMatchObject({ code: 'STORE_ERR_INVALID' });
      stop();
    });

    it('onSwitchesChanged fires after every change, on every client of the cluster, within 1 s; unsubscribe works', async () => {
      const peer = handle.peer === undefined ? store : await handle.peer();
      const local = counter();
      const remote = counter();
      // A listener that throws breaks neither the store nor the other listeners.
      store.onSwitchesChanged(() => {
        throw new Error('listener fault');
      });
      store.onSwitchesChanged(local.fn);
      const stopRemote = peer.onSwitchesChanged(remote.fn);
      await sleep(SUBSCRIBE_SETTLE_MS);
      const reset = (): void => void ((local.count = 0), (remote.count = 0));
      const both = (what: string): Promise<void> => until(() => local.count > 0 && remote.count > 0, 1000, what);
      reset();

      await store.putSwitch(switchRecord('sw1'));
      await both('a put to reach both clients');
      reset();
      await peer.seedSwitches([switchRecord('sw1'), switchRecord('sw2')]);
      await both('a seed through the other client to reach both');
      reset();
      await store.putSwitch(switchRecord('sw2', { state: 'draining' }));
      await both('a replacement to reach both');
      reset();
      await peer.removeSwitch('sw1');
      await both('a removal to reach both');

      // Nothing changed: no notice.
      reset();
      await store.putSwitch(switchRecord('sw2', { state: 'draining' }));
      await peer.seedSwitches([switchRecord('sw2')]);
      expect(await store.removeSwitch('sw1')).toBe(false);
      await sleep(300);
      expect([local.count, remote.count]).toEqual([0, 0]);

      stopRemote();
      stopRemote(); // idempotent
      await store.putSwitch(switchRecord('sw3'));
      await until(() => local.count > 0, 1000, 'the remaining listener');
      await sleep(200);
      expect(remote.count).toBe(0);
      expect((await store.listSwitches()).map((s) => s.id)).toEqual(['sw2', 'sw3']);
    });

    it('the relay registry: put, list in id order, replace, remove; every client of the cluster sees it', async () => {
      const peer = handle.peer === undefined ? store : await handle.peer();
      expect(await store.listRelays()).toEqual([]);
      const b = relayRecord('rtp-b', { host: '2001:db8::7', port: 65535, weight: 1000, zone: 'eu-1', state: 'draining' });
      const a = relayRecord('rtp-a', { port: 1, weight: 1 });
      await store.putRelay(b);
      await store.putRelay({ ...a, zone: undefined });
      expect(await store.listRelays()).toEqual([a, b]);
      expect(Object.keys((await store.listRelays())[0])).not.toContain('zone'); // absent optionals stay absent
      expect(await peer.listRelays()).toEqual([a, b]);

      const a2 = { ...a, state: 'disabled' as const, weight: 7, zone: 'us' };
      await peer.putRelay(a2);
      expect(await store.listRelays()).toEqual([a2, b]);
      expect(await store.removeRelay('rtp-a')).toBe(true);
      expect(await peer.removeRelay('rtp-a')).toBe(false);
      expect(await peer.listRelays()).toEqual([b]);
      // Relays and switches are separate registries, even with the same ids.
      await store.putSwitch(switchRecord('rtp-b'));
      expect(await store.listRelays()).toEqual([b]);
      expect(await peer.removeSwitch('rtp-b')).toBe(true);
      expect(await store.listRelays()).toEqual([b]);
      // The returned records are copies: changing one changes nothing stored.
      const [listed] = await store.listRelays();
      (listed as { weight: number }).weight = 3;
      expect((await store.listRelays())[0].weight).toBe(1000);
    });

    it('refuses invalid relay records with STORE_ERR_INVALID naming the field', async () => {
      const cases: Array<[Partial<Record<keyof RelayRecord, unknown>>, string]> = [
        [{ id: 'bad id' }, 'relay.id'],
        [{ id: 'a:b' }, 'relay.id'],
        [{ id: '' }, 'relay.id'],
        [{ id: 'x'.repeat(65) }, 'relay.id'],
        [{ host: '' }, 'relay.host'],
        [{ host: '[::1]' }, 'relay.host'],
        [{ host: 'a b' }, 'relay.host'],
        [{ host: 'h'.repeat(256) }, 'relay.host'],
        [{ port: 0 }, 'relay.port'],
        [{ port: 65536 }, 'relay.port'],
        [{ port: 2223.5 }, 'relay.port'],
        [{ port: '2223' }, 'relay.port'],
        [{ zone: '' }, 'relay.zone'],
        [{ zone: 'z'.repeat(65) }, 'relay.zone'],
        [{ weight: 0 }, 'relay.weight'],
        [{ weight: 1001 }, 'relay.weight'],
        [{ weight: 1.5 }, 'relay.weight'],
        [{ state: 'gone' }, 'relay.state'],
        [{ state: undefined }, 'relay.state'],
      ];
      for (const [change, field] of cases) {
        const relay = { ...relayRecord('rtp1'), ...change } as RelayRecord;
        await expect(store.putRelay(relay), JSON.stringify(change)).rejects.toSatisfy(invalidField(field));
      }
      await expect(store.putRelay({ ...relayRecord('rtp1'), zone: 'z'.repeat(64) })).resolves.toBeUndefined(); // the bounds themselves pass
      await expect(store.removeRelay('rtp1')).resolves.toBe(true);
      await expect(store.seedRelays([relayRecord('rtp1'), relayRecord('rtp2', { weight: 0 })])).rejects.toSatisfy(invalidField('relays[1].weight'));
      await expect(store.seedRelays([relayRecord('rtp1'), relayRecord('rtp1')])).rejects.toSatisfy(invalidField('relays[1].id'));
      await expect(store.removeRelay('bad id')).rejects.toSatisfy(invalidField('id'));
      expect(await store.listRelays()).toEqual([]); // a refused seed adds nothing, not even its valid records
    });

    it('seedRelays adds only the ids that are missing and never overwrites a record', async () => {
      const peer = handle.peer === undefined ? store : await handle.peer();
      const live = relayRecord('rtp1', { weight: 5, state: 'draining' }); // changed live through the ops API
      await store.putRelay(live);
      const config = [relayRecord('rtp1'), relayRecord('rtp2', { zone: 'eu' }), relayRecord('rtp3', { host: 'rtp3.example.net' })];
      expect(await peer.seedRelays(config)).toBe(2);
      expect(await store.listRelays()).toEqual([live, config[1], config[2]]);
      expect(await store.seedRelays(config)).toBe(0); // every node seeds at start: the first wins
      expect(await store.seedRelays([])).toBe(0);
      expect(await peer.listRelays()).toEqual([live, config[1], config[2]]);
      expect(await store.listSwitches()).toEqual([]); // relays are not switches
    });

    it('relay changes fire onSwitchesChanged on every client of the cluster within 1 s; no change, no notice', async () => {
      const peer = handle.peer === undefined ? store : await handle.peer();
      const local = counter();
      const remote = counter();
      store.onSwitchesChanged(local.fn);
      const stopRemote = peer.onSwitchesChanged(remote.fn);
      await sleep(SUBSCRIBE_SETTLE_MS);
      const reset = (): void => void ((local.count = 0), (remote.count = 0));
      const both = (what: string): Promise<void> => until(() => local.count > 0 && remote.count > 0, 1000, what);
      reset();

      await store.putRelay(relayRecord('rtp1'));
      await both('a relay put to reach both clients');
      reset();
      await peer.seedRelays([relayRecord('rtp1'), relayRecord('rtp2')]);
      await both('a relay seed through the other client to reach both');
      reset();
      await store.putRelay(relayRecord('rtp2', { state: 'draining' }));
      await both('a relay replacement to reach both');
      reset();
      await peer.removeRelay('rtp1');
      await both('a relay removal to reach both');

      // Nothing changed (and media sessions are no registry change): no notice.
      reset();
      await store.putRelay(relayRecord('rtp2', { state: 'draining' }));
      await peer.seedRelays([relayRecord('rtp2')]);
      expect(await store.removeRelay('rtp1')).toBe(false);
      await store.putMediaSession(mediaSession(callId('quiet'), 'rtp2'), LONG_TTL);
      await sleep(300);
      expect([local.count, remote.count]).toEqual([0, 0]);
      stopRemote();
    });

    it('media sessions: put, get from any client, replace, remove; start on the store clock', async () => {
      const peer = handle.peer === undefined ? store : await handle.peer();
      const id = callId('media');
      expect(await store.getMediaSession(id)).toBeUndefined();
      const before = await store.now();
      await store.putMediaSession(mediaSession(id, 'rtp1', { nodeId: 'n:1' }), LONG_TTL);
      const after = await store.now();
      const got = await peer.getMediaSession(id);
      expect(got).toEqual({ callId: id, fromTag: `tag-${id}`, relayId: 'rtp1', nodeId: 'n:1', startedAtMs: got?.startedAtMs });
      expect(got?.startedAtMs).toBeGreaterThanOrEqual(before);
      expect(got?.startedAtMs).toBeLessThanOrEqual(after);
      expect(await store.relaySessionCounts()).toEqual({ rtp1: 1 });

      // Replaced whole by another node: it moves to the new relay, the old relay's count drops.
      await peer.putMediaSession(mediaSession(id, 'rtp2', { fromTag: 'other-tag', nodeId: 'n2' }), LONG_TTL);
      expect(await store.getMediaSession(id)).toMatchObject({ callId: id, fromTag: 'other-tag', relayId: 'rtp2', nodeId: 'n2' });
      expect(await store.relaySessionCounts()).toEqual({ rtp2: 1 });
      expect((await store.listMediaSessions()).map((m) => [m.callId, m.relayId])).toEqual([[id, 'rtp2']]);

      expect(await store.removeMediaSession(id)).toBe(true);
      expect(await peer.removeMediaSession(id)).toBe(false);
      expect(await peer.getMediaSession(id)).toBeUndefined();
      expect(await store.relaySessionCounts()).toEqual({});
      expect(await store.listMediaSessions()).toEqual([]);

      await expect(store.putMediaSession(mediaSession('', 'rtp1'), 1000)).rejects.toSatisfy(invalidField('session.callId'));
      await expect(store.putMediaSession(mediaSession('c', 'rtp1', { fromTag: '' }), 1000)).rejects.toSatisfy(invalidField('session.fromTag'));
      await expect(store.putMediaSession(mediaSession('c', 'bad id'), 1000)).rejects.toSatisfy(invalidField('session.relayId'));
      await expect(store.putMediaSession(mediaSession('c', 'rtp1', { nodeId: '' }), 1000)).rejects.toSatisfy(invalidField('session.nodeId'));
      await expect(store.putMediaSession(mediaSession('c', 'rtp1'), 0)).rejects.toSatisfy(invalidField('ttlMs'));
      await expect(store.getMediaSession('')).rejects.toSatisfy(invalidField('callId'));
      await expect(store.removeMediaSession('')).rejects.toSatisfy(invalidField('callId'));
      await expect(store.listMediaSessions(Number.NaN)).rejects.toSatisfy(invalidField('limit'));
      expect(await store.listMediaSessions()).toEqual([]);
    });

    it('media sessions expire after their ttl: gone from get, list and the relay counts', async () => {
      const peer = handle.peer === undefined ? store : await handle.peer();
      const short = callId('short');
      const kept = callId('kept');
      const moved = callId('moved');
      await store.putMediaSession(mediaSession(short, 'rtp1'), 300);
      await peer.putMediaSession(mediaSession(kept, 'rtp1'), LONG_TTL);
      // A short session replaced by a long one on another relay: the replacement's ttl counts.
      await store.putMediaSession(mediaSession(moved, 'rtp1'), 300);
      await store.putMediaSession(mediaSession(moved, 'rtp2'), LONG_TTL);
      expect(await peer.relaySessionCounts()).toEqual({ rtp1: 2, rtp2: 1 });
      expect(await store.getMediaSession(short)).toBeDefined();

      await sleep(450);
      expect(await store.getMediaSession(short)).toBeUndefined();
      expect(await peer.relaySessionCounts()).toEqual({ rtp1: 1, rtp2: 1 });
      expect((await store.listMediaSessions()).map((m) => m.callId).sort()).toEqual([kept, moved].sort());
      expect(await store.removeMediaSession(short)).toBe(false); // expired: nothing to remove
      expect(await store.getMediaSession(moved)).toMatchObject({ relayId: 'rtp2' });

      // An expired session's call id can be used again.
      await peer.putMediaSession(mediaSession(short, 'rtp3'), LONG_TTL);
      expect(await store.relaySessionCounts()).toEqual({ rtp1: 1, rtp2: 1, rtp3: 1 });
    });

    it('listMediaSessions: oldest start first, up to the limit', async () => {
      const peer = handle.peer === undefined ? store : await handle.peer();
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const id = callId('order');
        await (i % 2 === 0 ? store : peer).putMediaSession(mediaSession(id, `rtp${i % 2}`), LONG_TTL);
        ids.push(id);
        await sleep(3); // distinct start ms
      }
      const listed = await peer.listMediaSessions();
      expect(listed.map((m) => m.callId)).toEqual(ids);
      const starts = listed.map((m) => m.startedAtMs);
      expect(starts).toEqual([...starts].sort((x, y) => x - y));
      expect(listed[1]).toEqual({ callId: ids[1], fromTag: `tag-${ids[1]}`, relayId: 'rtp1', nodeId: 'n1', startedAtMs: starts[1] });
      expect((await store.listMediaSessions(2)).map((m) => m.callId)).toEqual(ids.slice(0, 2));
      expect(await store.listMediaSessions(0)).toEqual([]);
      // Replacing a session makes it the newest (a replacement is a new session).
      await store.putMediaSession(mediaSession(ids[0], 'rtp1'), LONG_TTL);
      expect((await store.listMediaSessions()).map((m) => m.callId)).toEqual([...ids.slice(1), ids[0]]);
      expect((await store.listMediaSessions(3)).map((m) => m.callId)).toEqual(ids.slice(1, 4));
    });

    it('relaySessionCounts stays exact through concurrent puts, moves, removes and expiries', async () => {
      const peer = handle.peer === undefined ? store : await handle.peer();
      const ids = Array.from({ length: 60 }, () => callId('count'));
      const relayOf = (i: number): string => `rtp${i % 3}`;
      // 60 sessions over 3 relays, from both clients at once; every 4th one is short-lived.
      await Promise.all(ids.map((id, i) => (i % 2 === 0 ? store : peer).putMediaSession(mediaSession(id, relayOf(i)), i % 4 === 3 ? 300 : LONG_TTL)));
      expect(await store.relaySessionCounts()).toEqual({ rtp0: 20, rtp1: 20, rtp2: 20 });
      // Concurrently: move the first 10 to rtp9 (some twice), remove the next 10 (some twice).
      await Promise.all([
        ...ids.slice(0, 10).map((id, i) => (i % 2 === 0 ? store : peer).putMediaSession(mediaSession(id, 'rtp9'), LONG_TTL)),
        ...ids.slice(0, 4).map((id) => peer.putMediaSession(mediaSession(id, 'rtp9'), LONG_TTL)),
        ...ids.slice(10, 20).map((id) => store.removeMediaSession(id)),
        ...ids.slice(10, 14).map((id) => peer.removeMediaSession(id)),
      ]);
      const expected = (live: (i: number) => boolean): Record<string, number> => {
        const counts: Record<string, number> = {};
        ids.forEach((_id, i) => {
          if (i >= 10 && i < 20) return;
          if (!live(i)) return;
          const relay = i < 10 ? 'rtp9' : relayOf(i);
          counts[relay] = (counts[relay] ?? 0) + 1;
        });
        return Object.fromEntries(Object.entries(counts).sort(([x], [y]) => (x < y ? -1 : 1)));
      };
      expect(await peer.relaySessionCounts()).toEqual(expected(() => true));
      expect(await store.listMediaSessions()).toHaveLength(50);

      await sleep(450); // the short-lived ones (i % 4 === 3, not moved) expire
      const live = (i: number): boolean => i < 10 || i % 4 !== 3;
      expect(await store.relaySessionCounts()).toEqual(expected(live));
      expect(await peer.listMediaSessions()).toHaveLength(ids.filter((_id, i) => (i < 10 || i >= 20) && live(i)).length);
      await Promise.all(ids.map((id) => store.removeMediaSession(id)));
      expect(await peer.relaySessionCounts()).toEqual({});
      expect(await peer.listMediaSessions()).toEqual([]);
    });

    it('probe reports: every node reports, listed per switch, replaced, and gone after their ttl', async () => {
      const peer = handle.peer === undefined ? store : await handle.peer();
      const before = await store.now();
      await store.putProbeReport({ switchId: 'sw1', nodeId: 'n1', up: true, latencyMs: 12.5, p99Ms: 40.25 }, 400);
      await peer.putProbeReport({ switchId: 'sw1', nodeId: 'n:2', up: false }, LONG_TTL);
      await store.putProbeReport({ switchId: 'sw2', nodeId: 'n1', up: true, latencyMs: 3 }, LONG_TTL);
      const after = await store.now();

      const all = await peer.probeReports();
      expect(all.map((r) => [r.switchId, r.nodeId])).toEqual([
        ['sw1', 'n1'],
        ['sw1', 'n:2'],
        ['sw2', 'n1'],
      ]);
      for (const r of all) {
        expect(r.atMs).toBeGreaterThanOrEqual(before);
        expect(r.atMs).toBeLessThanOrEqual(after);
      }
      expect(all).toEqual([
        { switchId: 'sw1', nodeId: 'n1', up: true, latencyMs: 12.5, p99Ms: 40.25, atMs: all[0].atMs },
        { switchId: 'sw1', nodeId: 'n:2', up: false, atMs: all[1].atMs },
        { switchId: 'sw2', nodeId: 'n1', up: true, latencyMs: 3, atMs: all[2].atMs },
      ]);
      expect(await store.probeReports('sw1')).toEqual(all.slice(0, 2));
      expect(await store.probeReports('sw9')).toEqual([]);

      // A node's new report replaces its old one whole (no latency left over from it).
      await store.putProbeReport({ switchId: 'sw2', nodeId: 'n1', up: false }, LONG_TTL);
      const [replaced] = await peer.probeReports('sw2');
      expect(replaced).toEqual({ switchId: 'sw2', nodeId: 'n1', up: false, atMs: replaced.atMs });

      await sleep(550);
      expect((await peer.probeReports('sw1')).map((r) => r.nodeId)).toEqual(['n:2']);
      expect(await store.probeReports()).toHaveLength(2);

      await expect(store.putProbeReport({ switchId: 'bad id', nodeId: 'n1', up: true }, 1000)).rejects.toSatisfy(invalidField('report.switchId'));
      await expect(store.putProbeReport({ switchId: 'sw1', nodeId: '', up: true }, 1000)).rejects.toSatisfy(invalidField('report.nodeId'));
      await expect(store.putProbeReport({ switchId: 'sw1', nodeId: 'n1', up: true, latencyMs: -1 }, 1000)).rejects.toSatisfy(invalidField('report.latencyMs'));
      await expect(store.putProbeReport({ switchId: 'sw1', nodeId: 'n1', up: true }, 0)).rejects.toSatisfy(invalidField('ttlMs'));
      await expect(store.probeReports('a:b')).rejects.toSatisfy(invalidField('switchId'));
    });

    it('stickiness: set, get from any client, refresh, replace and expiry', async () => {
      const peer = handle.peer === undefined ? store : await handle.peer();
      const v6 = '2001:db8::1';
      expect(await store.stickyGet(v6)).toBeUndefined();
      await store.stickySet(v6, 'sw1', 400);
      expect(await peer.stickyGet(v6)).toBe('sw1');
      await peer.stickySet(v6, 'sw2', 400); // replaced
      await store.stickySet('user:alice@example.com', 'sw3', LONG_TTL);
      expect(await store.stickyGet(v6)).toBe('sw2');
      await sleep(250);
      await store.stickySet(v6, 'sw2', 400); // refreshed: now + 400 ms
      await sleep(250);
      expect(await peer.stickyGet(v6)).toBe('sw2'); // 500 ms after the first set
      await sleep(300);
      expect(await peer.stickyGet(v6)).toBeUndefined();
      expect(await store.stickyGet('user:alice@example.com')).toBe('sw3');

      await expect(store.stickySet('', 'sw1', 1000)).rejects.toSatisfy(invalidField('key'));
      await expect(store.stickyGet('k'.repeat(513))).rejects.toSatisfy(invalidField('key'));
      await expect(store.stickySet('10.0.0.1', 'bad id', 1000)).rejects.toSatisfy(invalidField('switchId'));
      await expect(store.stickySet('10.0.0.1', 'sw1', 0)).rejects.toSatisfy(invalidField('ttlMs'));
    });

    it('named leases: one holder at a time, a new epoch per grant, renew and release only by holder and epoch', async () => {
      const peer = handle.peer === undefined ? store : await handle.peer();
      const vip = 'vip:198.51.100.10';
      expect(await store.getLease(vip)).toBeUndefined();
      const a = await store.acquireLease(vip, 'd1', LONG_TTL, 200);
      expect(a).toMatchObject({ acquired: true, epoch: 1 });
      if (!a.acquired) throw new Error('not acquired');
      expect(a.lapsed).toBeUndefined();
      expect(Math.abs(a.expiresAtMs - (Date.now() + LONG_TTL))).toBeLessThan(1000);
      // Another holder is refused (and told who holds it); the holder itself gets a fresh epoch.
      const refused = await peer.acquireLease(vip, 'd2', LONG_TTL, 100);
      expect(refused).toMatchObject({ acquired: false, holder: 'd1', epoch: 1 });
      if (refused.acquired) throw new Error('acquired');
      expect(refused.remainingMs).toBeGreaterThan(LONG_TTL - 1000);
      const again = await store.acquireLease(vip, 'd1', LONG_TTL, 200);
      expect(again).toMatchObject({ acquired: true, epoch: 2 });
      // Only the current holder and epoch renew and release.
      expect(await store.renewLease(vip, 'd1', 1, LONG_TTL)).toEqual({ renewed: false });
      expect(await peer.renewLease(vip, 'd2', 2, LONG_TTL)).toEqual({ renewed: false });
      const renewed = await store.renewLease(vip, 'd1', 2, LONG_TTL);
      expect(renewed).toMatchObject({ renewed: true, wantedBy: { holder: 'd2', priority: 100 } });
      expect(await peer.releaseLease(vip, 'd2', 2)).toBe(false);
      expect(await store.releaseLease(vip, 'd1', 1)).toBe(false);
      expect(await peer.getLease(vip)).toMatchObject({ name: vip, holder: 'd1', epoch: 2, wantedBy: { holder: 'd2', priority: 100 } });
      expect(await store.releaseLease(vip, 'd1', 2)).toBe(true);
      expect(await store.releaseLease(vip, 'd1', 2)).toBe(false);
      expect(await peer.getLease(vip)).toMatchObject({ holder: undefined, epoch: 2, expiresAtMs: 0 });
      // Released (not lapsed): the next grant reports no lapsed holder; d1's old epoch is fenced.
      const taken = await peer.acquireLease(vip, 'd2', LONG_TTL, 100);
      expect(taken).toMatchObject({ acquired: true, epoch: 3 });
      if (!taken.acquired) throw new Error('not acquired');
      expect(taken.lapsed).toBeUndefined();
      expect(await store.renewLease(vip, 'd1', 2, LONG_TTL)).toEqual({ renewed: false });
      expect(await peer.renewLease(vip, 'd2', 3, LONG_TTL)).toMatchObject({ renewed: true });
      // Leases are independent of each other.
      expect(await store.acquireLease('vip:198.51.100.11', 'd1', LONG_TTL)).toMatchObject({ acquired: true, epoch: 1 });

      await expect(store.acquireLease('', 'd1', 1000)).rejects.toSatisfy(invalidField('name'));
      await expect(store.acquireLease('vip 1', 'd1', 1000)).rejects.toSatisfy(invalidField('name'));
      await expect(store.acquireLease(vip, '', 1000)).rejects.toSatisfy(invalidField('holder'));
      await expect(store.acquireLease(vip, 'd1', 0)).rejects.toSatisfy(invalidField('ttlMs'));
      await expect(store.acquireLease(vip, 'd1', 1000, -1)).rejects.toSatisfy(invalidField('priority'));
      await expect(store.acquireLease(vip, 'd1', 1000, 1.5)).rejects.toSatisfy(invalidField('priority'));
      await expect(store.renewLease(vip, 'd1', 0, 1000)).rejects.toSatisfy(invalidField('epoch'));
      await expect(store.releaseLease(vip, 'd1', -3)).rejects.toSatisfy(invalidField('epoch'));
      await expect(store.getLease('x'.repeat(201))).rejects.toSatisfy(invalidField('name'));
    });

    it('named leases: an expired grant is not renewed, and the next grant names the lapsed holder', async () => {
      const peer = handle.peer === undefined ? store : await handle.peer();
      const vip = 'vip:lapse';
      const a = await store.acquireLease(vip, 'd1', 300);
      if (!a.acquired) throw new Error('not acquired');
      expect(await peer.acquireLease(vip, 'd2', 300)).toMatchObject({ acquired: false, holder: 'd1' });
      await sleep(450);
      expect(await store.renewLease(vip, 'd1', a.epoch, 300)).toEqual({ renewed: false });
      expect(await store.getLease(vip)).toMatchObject({ holder: undefined, epoch: a.epoch });
      const b = await peer.acquireLease(vip, 'd2', LONG_TTL);
      expect(b).toMatchObject({ acquired: true, epoch: a.epoch + 1, lapsed: { holder: 'd1' } });
      if (!b.acquired || b.lapsed === undefined) throw new Error('no lapse reported');
      expect(b.lapsed.agoMs).toBeGreaterThanOrEqual(100);
      expect(b.lapsed.agoMs).toBeLessThan(1500);
      expect(await store.releaseLease(vip, 'd1', a.epoch)).toBe(false);
    });

    it('named lease claims: a free lease is reserved for a higher live claim; a lower or expired one does not block', async () => {
      const peer = handle.peer === undefined ? store : await handle.peer();
      const vip = 'vip:claims';
      const backup = await peer.acquireLease(vip, 'd2', LONG_TTL, 100);
      if (!backup.acquired) throw new Error('not acquired');
      // A lower claim is recorded only while no higher one is live.
      expect(await store.acquireLease(vip, 'd3', 400, 50)).toMatchObject({ acquired: false, holder: 'd2' });
      expect(await peer.renewLease(vip, 'd2', backup.epoch, LONG_TTL)).toMatchObject({ wantedBy: { holder: 'd3', priority: 50 } });
      expect(await store.acquireLease(vip, 'd1', 400, 200)).toMatchObject({ acquired: false, holder: 'd2' });
      expect(await store.acquireLease(vip, 'd3', 400, 50)).toMatchObject({ acquired: false });
      expect(await peer.renewLease(vip, 'd2', backup.epoch, LONG_TTL)).toMatchObject({ wantedBy: { holder: 'd1', priority: 200 } });
      // The backup yields: the free lease is reserved for d1, not for the backup or d3.
      expect(await peer.releaseLease(vip, 'd2', backup.epoch)).toBe(true);
      expect(await peer.acquireLease(vip, 'd2', LONG_TTL, 100)).toEqual({ acquired: false, holder: undefined, reservedFor: 'd1', epoch: backup.epoch, remainingMs: 0 });
      const primary = await store.acquireLease(vip, 'd1', LONG_TTL, 200);
      expect(primary).toMatchObject({ acquired: true, epoch: backup.epoch + 1 });
      if (!primary.acquired) throw new Error('not acquired');
      expect(primary.lapsed).toBeUndefined();
      // The claim was d1's own: gone with the grant.
      expect(await store.renewLease(vip, 'd1', primary.epoch, LONG_TTL)).toEqual({ renewed: true, expiresAtMs: expect.any(Number) });
      // A claim that is not renewed expires: it reserves nothing after its ttl.
      expect(await peer.acquireLease(vip, 'd2', 300, 100)).toMatchObject({ acquired: false, holder: 'd1' });
      expect(await store.releaseLease(vip, 'd1', primary.epoch)).toBe(true);
      expect(await store.acquireLease(vip, 'd1', LONG_TTL, 50)).toMatchObject({ acquired: false, reservedFor: 'd2' });
      await sleep(450);
      expect(await store.acquireLease(vip, 'd1', LONG_TTL, 50)).toMatchObject({ acquired: true });
    });

    it('concurrent acquires of one free lease grant exactly one holder', async () => {
      const peer = handle.peer === undefined ? store : await handle.peer();
      const holders = Array.from({ length: 20 }, (_, i) => `n${i}`);
      const results = await Promise.all(holders.map((h, i) => (i % 2 === 0 ? store : peer).acquireLease('vip:race', h, LONG_TTL)));
      const granted = results.filter((r) => r.acquired);
      expect(granted).toHaveLength(1);
      const lease = await store.getLease('vip:race');
      expect(lease?.epoch).toBe(1);
      expect(holders[results.findIndex((r) => r.acquired)]).toBe(lease?.holder);
      expect(results.filter((r) => !r.acquired).every((r) => !r.acquired && r.holder === lease?.holder)).toBe(true);
    });

    it('dialog records: put, get from any client, replace, remove; invalid ones refused', async () => {
      const peer = handle.peer === undefined ? store : await handle.peer();
      const d = dialogRecord('dlg-1@contract|192.0.2.10', 'n1');
      expect(await store.getDialog(d.callId)).toBeUndefined();
      await store.putDialog(d, LONG_TTL);
      expect(await peer.getDialog(d.callId)).toEqual(d);
      const { relayId: _relay, ...direct } = dialogRecord(d.callKey, 'n2', { toTag: 'to-2' });
      await peer.putDialog(direct, LONG_TTL);
      expect(await store.getDialog(d.callId)).toEqual(direct);
      expect(await store.removeDialog(d.callId)).toBe(true);
      expect(await peer.removeDialog(d.callId)).toBe(false);
      expect(await peer.getDialog(d.callId)).toBeUndefined();
      await expect(store.putDialog({ ...d, caller: { ...d.caller, port: 0 } }, LONG_TTL)).rejects.toSatisfy(invalidField('dialog.caller.port'));
      await expect(store.putDialog({ ...d, switch: { ...d.switch, switchId: 'a:b' } }, LONG_TTL)).rejects.toSatisfy(invalidField('dialog.switch.switchId'));
      await expect(store.putDialog({ ...d, callKey: '' }, LONG_TTL)).rejects.toSatisfy(invalidField('dialog.callKey'));
      await expect(store.putDialog(d, 0)).rejects.toSatisfy(invalidField('ttlMs'));
    });

    it('dialog records expire after their ttl; a call whose dialog expired is released by the reap', async () => {
      const dead = await store.registerNode('dead', 300);
      const key = `${callId('dlg-exp')}|192.0.2.10`;
      expect((await store.admit(request(dead, key, [{ level: 'cluster:main' }]))).admitted).toBe(true);
      await store.putDialog(dialogRecord(key, 'dead'), 150);
      await sleep(450);
      expect(await store.getDialog(key.split('|')[0])).toBeUndefined();
      expect(await store.reap()).toEqual({ nodes: ['dead'], calls: 1 });
      expect(await channels('cluster:main')).toBe(0);
    });

    it('reap keeps a dead node call with a dialog record counted as an orphan and releases the others; releaseOrphan releases it exactly once', async () => {
      const peer = handle.peer === undefined ? store : await handle.peer();
      const dead = await store.registerNode('dead', 300);
      const live = await peer.registerNode('live', LONG_TTL);
      const withDialog = [1, 2, 3].map(() => `${callId('dlg')}|192.0.2.10`);
      const without = [1, 2].map(() => `${callId('plain')}|192.0.2.10`);
      const liveKey = `${callId('live')}|192.0.2.11`;
      const levels = [{ level: 'cluster:main' }, { level: 'switch:sw1' }];
      for (const key of [...withDialog, ...without]) expect((await store.admit(request(dead, key, levels))).admitted).toBe(true);
      expect((await peer.admit(request(live, liveKey, levels))).admitted).toBe(true);
      for (const key of withDialog) await store.putDialog(dialogRecord(key, 'dead'), LONG_TTL);
      await peer.putDialog(dialogRecord(liveKey, 'live'), LONG_TTL);
      // A dialog record that names another call leg (a spiral) keeps nothing.
      await store.putDialog(dialogRecord(without[0].replace('|192.0.2.10', '|10.0.0.9'), 'dead', { callId: without[0].split('|')[0] }), LONG_TTL);
      await sleep(450);

      expect(await peer.reap()).toEqual({ nodes: ['dead'], calls: 2 });
      expect(await channels('cluster:main')).toBe(4);
      expect(await channels('switch:sw1')).toBe(4);
      const orphans = (await peer.calls()).filter((c) => c.nodeId === '-');
      expect(orphans.map((c) => c.callId).sort()).toEqual([...withDialog].sort());
      expect(orphans.every((c) => c.epoch === 0 && c.levels.length === 2)).toBe(true);
      // Fencing is untouched: the dead node releases nothing; a live node's call is no orphan.
      expect(await store.release(withDialog[0], 'dead', dead.epoch)).toBe('fenced');
      expect(await peer.releaseOrphan(liveKey)).toBe('not-found');
      expect(await peer.releaseOrphan(without[1])).toBe('not-found');
      expect(await peer.reap()).toEqual({ nodes: [], calls: 0 });
      expect(await channels('cluster:main')).toBe(4);

      const once = await Promise.all([store.releaseOrphan(withDialog[0]), peer.releaseOrphan(withDialog[0]), store.releaseOrphan(withDialog[0])]);
      expect(once.filter((r) => r === 'released')).toHaveLength(1);
      expect(once.filter((r) => r === 'not-found')).toHaveLength(2);
      expect(await channels('cluster:main')).toBe(3);
      for (const key of withDialog.slice(1)) expect(await peer.releaseOrphan(key)).toBe('released');
      expect(await channels('switch:sw1')).toBe(1);
      expect(await peer.release(liveKey, 'live', live.epoch)).toBe('released');
      expect(await channels('cluster:main')).toBe(0);
    });

    it('a call whose dialog record was removed before its node is reaped is released by the reap', async () => {
      const dead = await store.registerNode('dead', 300);
      const key = `${callId('bye-first')}|192.0.2.10`;
      expect((await store.admit(request(dead, key, [{ level: 'cluster:main' }]))).admitted).toBe(true);
      await store.putDialog(dialogRecord(key, 'dead'), LONG_TTL);
      expect(await store.releaseOrphan(key)).toBe('not-found'); // its node is not reaped yet
      expect(await store.removeDialog(key.split('|')[0])).toBe(true);
      await sleep(450);
      expect(await store.reap()).toEqual({ nodes: ['dead'], calls: 1 });
      expect(await channels('cluster:main')).toBe(0);
    });

    it('a re-registration orphans the old epoch calls that have a dialog record; orphans end at their maximum age', async () => {
      const first = await store.registerNode('n1', LONG_TTL);
      const kept = `${callId('kept')}|192.0.2.10`;
      const gone = `${callId('gone')}|192.0.2.10`;
      expect((await store.admit(request(first, kept, [{ level: 'cluster:main' }], { maxAgeMs: 400 }))).admitted).toBe(true);
      expect((await store.admit(request(first, gone, [{ level: 'cluster:main' }]))).admitted).toBe(true);
      await store.putDialog(dialogRecord(kept, 'n1'), LONG_TTL);
      const second = await store.registerNode('n1', LONG_TTL);
      expect(second.epoch).toBeGreaterThan(first.epoch);
      expect((await store.calls()).map((c) => [c.callId, c.nodeId, c.epoch])).toEqual([[kept, '-', 0]]);
      expect(await store.release(kept, 'n1', second.epoch)).toBe('not-found');
      await sleep(550);
      expect(await store.reap()).toEqual({ nodes: [], calls: 1 });
      expect(await channels('cluster:main')).toBe(0);
      expect(await store.releaseOrphan(kept)).toBe('not-found');
    });

    it('concurrent reaps from two nodes never release a call twice', async () => {
      const peer = handle.peer === undefined ? store : await handle.peer();
      const dead = await store.registerNode('dead', 300);
      const live = await peer.registerNode('live', LONG_TTL);
      const deadIds = Array.from({ length: 1500 }, () => callId('mass'));
      const agedIds = Array.from({ length: 50 }, () => callId('aged'));
      const keptIds = Array.from({ length: 20 }, () => callId('kept'));
      const admits: AdmitResult[] = [];
      // In slices, so that no admit waits behind a thousand others (a store may time commands out).
      for (let i = 0; i < deadIds.length; i += 250) {
        admits.push(...(await Promise.all(deadIds.slice(i, i + 250).map((id) => store.admit(request(dead, id, [{ level: 'cluster:main' }]))))));
      }
      admits.push(
        ...(await Promise.all([
          ...agedIds.map((id) => peer.admit(request(live, id, [{ level: 'cluster:main' }], { maxAgeMs: 200 }))),
          ...keptIds.map((id) => peer.admit(request(live, id, [{ level: 'cluster:main' }]))),
        ])),
      );
      expect(admittedCount(admits)).toBe(1570);
      await sleep(450);
      const results = await Promise.all([store.reap(), peer.reap(), store.reap(), peer.reap()]);
      expect(results.reduce((n, r) => n + r.calls, 0)).toBe(1550);
      expect(results.flatMap((r) => r.nodes)).toEqual(['dead']);
      expect(await channels('cluster:main')).toBe(20);
      expect(await peer.reap()).toEqual({ nodes: [], calls: 0 });
      const released = await Promise.all(keptIds.map((id) => peer.release(id, 'live', live.epoch)));
      expect(released.every((r) => r === 'released')).toBe(true);
      expect(await channels('cluster:main')).toBe(0);
    });
  });
}
