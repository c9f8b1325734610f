/**
 * keys.ts is the source of truth for key names; the Lua builders in lua/lib/common.lua mirror it.
 * Runs those builders on a real redis-server and compares, then checks that the scripts create
 * exactly the keys keys.ts names (and leave none behind once everything is released).
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeKeys } from '../shared/cluster-store/keys.ts';
import { RedisClusterStore } from '../shared/cluster-store/redis-cluster-store.ts';
import { SCRIPT_SOURCES } from '../shared/cluster-store/scripts.ts';
import { stopAllProcesses } from './support/managed-process.ts';
import { startRedis, type RedisServer } from './support/redis-server.ts';
import { requireTool } from './support/require-tool.ts';

let redis: RedisServer;
let client: Redis;

beforeAll(async () => {
  requireTool('redis-server', 'redis-server');
  redis = await startRedis();
  client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
  await client.connect();
});
afterAll(async () => {
  client?.disconnect();
  await redis?.stop();
  await stopAllProcesses();
});

/** common.lua as the scripts see it (the part before the first script's own text). */
function commonLua(): string {
  const source = SCRIPT_SOURCES['level-stats'];
  return source.slice(0, source.indexOf('-- ---- end of common.lua'));
}

async function keysOf(cluster: string): Promise<string[]> {
  // KEYS is fine in a test on a private server; the store itself never scans.
  return (await client.keys(`sf:{${cluster}}:*`)).sort();
}

describe('cluster store key names', () => {
  it('the Lua key builders produce exactly what keys.ts produces', async () => {
    const k = storeKeys('main');
    const args = ['node:7', 'call-1@host:5060', 'switch:sw1', '1732345678901', 'sw-1.a_b', '2001:db8::1', 'rtp-1.a_b'];
    const lua = `${commonLua()}
local p, node, id, level, epoch, sw, source, relay = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
return {k_nodes(p), k_fenced(p), k_calls_by_start(p), k_calls_by_expiry(p), k_node_epoch(p, node),
  k_node_info(p, node), k_node_calls(p, node, epoch), k_call(p, id), k_level_calls(p, level),
  k_level_admits(p, level), k_switches(p), k_events(p), k_probes(p), k_probe(p, sw, node), k_sticky(p, source),
  k_relays(p), k_media_session(p, id), k_media_by_start(p), k_media_by_expiry(p), k_media_relays(p),
  k_relay_media(p, relay), k_dialog(p, id)}`;
    const fromLua = await client.eval(lua, 0, k.prefix, ...args);
    const [node, id, level, epoch, sw, source, relay] = args;
    expect(fromLua).toEqual([
      k.nodes,
      k.fenced,
      k.callsByStart,
      k.callsByExpiry,
      k.nodeEpoch(node),
      k.nodeInfo(node),
      k.nodeCalls(node, Number(epoch)),
      k.call(id),
      k.levelCalls(level),
      k.levelAdmits(level),
      k.switches,
      k.events,
      k.probes,
      k.probe(sw, node),
      k.sticky(source),
      k.relays,
      k.mediaSession(id),
      k.mediaByStart,
      k.mediaByExpiry,
      k.mediaRelays,
      k.relayMedia(relay),
      k.dialog(id),
    ]);
    expect(k.prefix).toBe('sf:{main}:');
  });

  it('the scripts create only the keys keys.ts names, and release every one they made', async () => {
    const cluster = 'keys-check';
    const k = storeKeys(cluster);
    const store = new RedisClusterStore({ cluster, url: redis.url });
    try {
      const lease = await store.registerNode('n:1', 60_000, { http: '127.0.0.1:9060' });
      const admit = (callId: string, level: string, chargeCps = true) =>
        store.admit({ callId, nodeId: 'n:1', epoch: lease.epoch, levels: [{ level: 'cluster:main', cps: 100, chargeCps }, { level, channels: 5 }], maxAgeMs: 60_000 });
      expect((await admit('c1', 'switch:sw1')).admitted).toBe(true);
      expect(await keysOf(cluster)).toEqual(
        [
          k.nodes,
          k.nodeEpoch('n:1'),
          k.nodeInfo('n:1'),
          k.nodeCalls('n:1', lease.epoch),
          k.call('c1'),
          k.callsByStart,
          k.callsByExpiry,
          k.levelCalls('cluster:main'),
          k.levelAdmits('cluster:main'),
          k.levelCalls('switch:sw1'),
          k.levelAdmits('switch:sw1'),
        ].sort(),
      );
      // A re-attempt on another switch: the Lua-built key of the old level goes away.
      expect((await admit('c1', 'switch:sw2', false)).admitted).toBe(true);
      expect(await client.exists(k.levelCalls('switch:sw1'))).toBe(0);
      expect(await client.zscore(k.levelCalls('switch:sw2'), 'c1')).not.toBeNull();

      // Re-registering fences the old epoch: its call set is queued, drained and gone.
      const again = await store.registerNode('n:1', 60_000);
      const left = await keysOf(cluster);
      expect(left).not.toContain(k.call('c1'));
      expect(left).not.toContain(k.nodeCalls('n:1', lease.epoch));
      expect(left).not.toContain(k.fenced);
      expect(left).not.toContain(k.levelCalls('cluster:main'));
      expect(await client.get(k.nodeEpoch('n:1'))).toBe(String(again.epoch));

      // Once the node leaves and the CPS state idles out, only the epoch counter remains.
      await store.deregisterNode('n:1', again.epoch);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      expect(await keysOf(cluster)).toEqual([k.nodeEpoch('n:1')]);
    } finally {
      await store.close();
    }
  });

  it('the registry, probe reports and stickiness use only the keys keys.ts names, and expiring ones leave nothing', async () => {
    const cluster = 'keys-check-shared';
    const k = storeKeys(cluster);
    const store = new RedisClusterStore({ cluster, url: redis.url });
    try {
      const sw = { id: 'sw1', host: '::1', port: 5060, transport: 'udp', weight: 1, priority: 0, state: 'active' } as const;
      await store.putSwitch(sw);
      await store.putProbeReport({ switchId: 'sw1', nodeId: 'n:1', up: true, latencyMs: 2 }, 300);
      await store.stickySet('2001:db8::1', 'sw1', 300);
      expect(await keysOf(cluster)).toEqual([k.switches, k.probes, k.probe('sw1', 'n:1'), k.sticky('2001:db8::1')].sort());
      expect(JSON.parse((await client.hget(k.switches, 'sw1')) ?? '')).toEqual(sw);
      const probeTtl = await client.pttl(k.probe('sw1', 'n:1'));
      expect(probeTtl).toBeGreaterThan(0);
      expect(probeTtl).toBeLessThanOrEqual(300);
      expect(await client.pttl(k.probes)).toBeGreaterThan(0); // the index expires with its last report

      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(await keysOf(cluster)).toEqual([k.switches]);
      expect(await store.removeSwitch('sw1')).toBe(true);
      expect(await keysOf(cluster)).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it('relays and media sessions use only the keys keys.ts names; removal and expiry leave nothing', async () => {
    const cluster = 'keys-check-media';
    const k = storeKeys(cluster);
    const store = new RedisClusterStore({ cluster, url: redis.url });
    try {
      const relay = { id: 'rtp1', host: '2001:db8::9', port: 2223, weight: 5, zone: 'eu', state: 'draining' } as const;
      expect(await store.seedRelays([relay])).toBe(1);
      expect(await keysOf(cluster)).toEqual([k.relays]);
      expect(JSON.parse((await client.hget(k.relays, 'rtp1')) ?? '')).toEqual({ id: 'rtp1', host: '2001:db8::9', port: 2223, weight: 5, state: 'draining', zone: 'eu' });

      // Call ids may hold ':' and braces; one that spells an index name cannot reach the index.
      const odd = 'by-start';
      await store.putMediaSession({ callId: 'c:1@h{x}', fromTag: 'f1', relayId: 'rtp1', nodeId: 'n:1' }, 300);
      await store.putMediaSession({ callId: odd, fromTag: 'f2', relayId: 'rtp2', nodeId: 'n:1' }, 300);
      expect(await keysOf(cluster)).toEqual(
        [k.relays, k.mediaSession('c:1@h{x}'), k.mediaSession(odd), k.mediaByStart, k.mediaByExpiry, k.mediaRelays, k.relayMedia('rtp1'), k.relayMedia('rtp2')].sort(),
      );
      expect(await client.hgetall(k.mediaSession(odd))).toMatchObject({ from: 'f2', relay: 'rtp2', node: 'n:1' });
      expect((await client.smembers(k.mediaRelays)).sort()).toEqual(['rtp1', 'rtp2']);
      // Every media key expires by itself, a little after its last session.
      for (const key of [k.mediaSession(odd), k.mediaByStart, k.mediaByExpiry, k.mediaRelays, k.relayMedia('rtp1')]) {
        const ttl = await client.pttl(key);
        expect(ttl, key).toBeGreaterThan(0);
        expect(ttl, key).toBeLessThanOrEqual(302);
      }

      // Moving a session to another relay empties the old relay's set: its key goes, and the relay leaves the index.
      await store.putMediaSession({ callId: odd, fromTag: 'f2', relayId: 'rtp1', nodeId: 'n:1' }, 300);
      expect(await client.exists(k.relayMedia('rtp2'))).toBe(0);
      expect(await client.smembers(k.mediaRelays)).toEqual(['rtp1']);
      expect(await client.zcard(k.relayMedia('rtp1'))).toBe(2);

      // Removal leaves nothing of the session.
      expect(await store.removeMediaSession(odd)).toBe(true);
      expect(await store.removeMediaSession('c:1@h{x}')).toBe(true);
      expect(await keysOf(cluster)).toEqual([k.relays]);

      // Expiry alone (nobody reads or removes) leaves nothing either.
      await store.putMediaSession({ callId: 'c2', fromTag: 'f', relayId: 'rtp3', nodeId: 'n:1' }, 200);
      expect(await keysOf(cluster)).toHaveLength(6);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await keysOf(cluster)).toEqual([k.relays]);

      // An expired session found by a reader is pruned from every index.
      await store.putMediaSession({ callId: 'c3', fromTag: 'f', relayId: 'rtp3', nodeId: 'n:1' }, 100);
      await store.putMediaSession({ callId: 'c4', fromTag: 'f', relayId: 'rtp4', nodeId: 'n:1' }, 60_000);
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect(await store.listMediaSessions()).toMatchObject([{ callId: 'c4' }]);
      expect(await store.relaySessionCounts()).toEqual({ rtp4: 1 });
      expect(await client.zrange(k.mediaByStart, '0', '-1')).toEqual(['c4']);
      expect(await client.zrange(k.mediaByExpiry, '0', '-1')).toEqual(['c4']);
      expect(await client.smembers(k.mediaRelays)).toEqual(['rtp4']);
      expect(await client.exists(k.relayMedia('rtp3'))).toBe(0);
      expect(await store.removeMediaSession('c4')).toBe(true);

      expect(await store.removeRelay('rtp1')).toBe(true);
      expect(await keysOf(cluster)).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
