/**
 * The redis registrar store against a real redis-server on loopback: the same contract suite as
 * the memory store (with a second client as the peer node), then what only Redis can show: the
 * Lua key builders agree with registrar-keys.ts, the scripts leave only documented keys behind,
 * and an outage rejects every method fast with STORE_ERR_UNAVAILABLE and heals by itself.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSipfleetError } from '../shared/errors.ts';
import { RedisRegistrarStore } from '../shared/registrar-store/redis-registrar-store.ts';
import { registrarKeys } from '../shared/registrar-store/registrar-keys.ts';
import { REGISTRAR_SCRIPT_SOURCES } from '../shared/registrar-store/registrar-scripts.ts';
import { describeRegistrarStoreContract } from '../shared/registrar-store/registrar-store-contract.ts';
import type { Ban, BindingInput, RegistrarStore } from '../shared/registrar-store/registrar-store.ts';
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
  return `r${process.pid}-${clusterSeq}`;
}

async function openStore(cluster: string): Promise<RedisRegistrarStore> {
  const store = new RedisRegistrarStore({ cluster, url: redis.url });
  await until(() => store.connected, 5000, 'the store to connect');
  return store;
}

describeRegistrarStoreContract('redis', async () => {
  const cluster = freshCluster();
  const store = await openStore(cluster);
  const peers: RegistrarStore[] = [];
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

function input(key: string, nodeId = 'n:1', expires = 3600): BindingInput {
  return {
    key,
    contact: key,
    q: 1,
    expires,
    path: [],
    flow: { nodeId, protocol: 'udp', address: '203.0.113.1', port: 5060, localAddress: '127.0.0.1', localPort: 5060, ownerUri: `sip:${nodeId}` },
  };
}

describe('registrar store key names', () => {
  let client: Redis;
  beforeAll(async () => {
    client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
    await client.connect();
  });
  afterAll(() => client?.disconnect());

  /** common.lua as the scripts see it. */
  const commonLua = (): string => {
    const source = REGISTRAR_SCRIPT_SOURCES.lookup;
    return source.slice(0, source.indexOf('-- ---- end of common.lua'));
  };

  it('the Lua key builders produce exactly what registrar-keys.ts produces', async () => {
    const k = registrarKeys('main');
    const args = ['alice', 'node:{7}', '2001:db8::1', 'nonce/+=='];
    const lua = `${commonLua()}
local p, aor, node, ip, nonce = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
return {k_users(p), k_user_names(p), k_aor(p, aor), k_expiry(p), k_owner(p, node), k_fail(p, ip),
  k_banned(p), k_secret(p), k_bans(p), k_nonce(p, nonce), ref(aor, 'sip:a@b:5060')}`;
    const [aor, node, ip, nonce] = args;
    expect(await client.eval(lua, 0, k.prefix, ...args)).toEqual([
      k.users,
      k.userNames,
      k.aor(aor),
      k.expiry,
      k.owner(node),
      k.fail(ip),
      k.banned,
      k.secret,
      k.bans,
      k.nonce(nonce),
      'alice:sip:a@b:5060',
    ]);
    expect(k.prefix).toBe('sf:{main}:reg:');
    expect(() => registrarKeys('a{b')).toThrow(expect.objectContaining({ code: 'STORE_ERR_INVALID' }));
  });

  it('the scripts create only documented keys and leave no binding state behind', async () => {
    const cluster = freshCluster();
    const k = registrarKeys(cluster);
    const keysOf = async (): Promise<string[]> => (await client.keys(`sf:{${cluster}}:*`)).sort();
    const store = await openStore(cluster);
    try {
      await store.putUser({ username: 'alice', realm: 'r', ha1Md5: '0'.repeat(32) });
      const r = await store.register({ aor: 'alice', callId: 'c', cseq: 1, removeAll: false, upserts: [input('sip:a@1'), input('sip:a@2', 'n2', 1)], removals: [], maxContacts: 5 });
      expect(r.ok).toBe(true);
      await store.recordAuthFailure('192.0.2.7', { windowMs: 60_000, threshold: 5, banMs: 60_000 });
      await store.recordAuthFailure('192.0.2.8', { windowMs: 60_000, threshold: 1, banMs: 60_000 });
      await store.acceptNonceCount('abc', 1, 60_000);
      await store.clusterSecret();
      expect(await keysOf()).toEqual(
        [k.users, k.userNames, k.aor('alice'), k.expiry, k.owner('n:1'), k.owner('n2'), k.fail('192.0.2.7'), k.banned, k.nonce('abc'), k.secret].sort(),
      );
      // The stored form: header (strings) + body (no owner fields).
      const stored = await client.hget(k.aor('alice'), 'sip:a@1');
      const [header, body] = (stored ?? '').split('\n');
      expect(JSON.parse(header)).toEqual([expect.any(String), expect.any(String), '', '1', 'c', 'n:1', 'sip:n:1']);
      expect(JSON.parse(body).flow).toEqual({ protocol: 'udp', address: '203.0.113.1', port: 5060, localAddress: '127.0.0.1', localPort: 5060 });

      await sleep(1100);
      expect(await store.sweepExpired()).toBe(1);
      expect(await client.exists(k.owner('n2'))).toBe(0);
      expect(await store.removeUser('alice')).toBe(true);
      await store.unban('192.0.2.8');
      expect(await keysOf()).toEqual([k.fail('192.0.2.7'), k.nonce('abc'), k.secret].sort());
    } finally {
      await store.close();
    }
  });
});

function expectUnavailable(err: unknown): void {
  expect(isSipfleetError(err) && err.code === 'STORE_ERR_UNAVAILABLE', String(err)).toBe(true);
}

/** Every method, each expected to reject fast with STORE_ERR_UNAVAILABLE. */
function everyMethod(store: RegistrarStore): Array<[string, () => Promise<unknown>]> {
  const policy = { windowMs: 1000, threshold: 3, banMs: 1000 };
  return [
    ['getUser', () => store.getUser('alice')],
    ['putUser', () => store.putUser({ username: 'alice', realm: 'r', ha1Md5: '0'.repeat(32) })],
    ['removeUser', () => store.removeUser('alice')],
    ['listUsers', () => store.listUsers()],
    ['seedUsers', () => store.seedUsers([{ username: 'bob', realm: 'r', ha1Md5: '0'.repeat(32) }])],
    ['register', () => store.register({ aor: 'alice', callId: 'c', cseq: 9, removeAll: false, upserts: [input('sip:a@9')], removals: [], maxContacts: 5 })],
    ['lookup', () => store.lookup('alice')],
    ['removeBinding', () => store.removeBinding({ aor: 'alice', key: 'sip:a@1' }, 'n:1')],
    ['bindingsOwnedBy', () => store.bindingsOwnedBy('n:1')],
    ['moveBindings', () => store.moveBindings('n:1', [{ aor: 'alice', key: 'sip:a@1', nodeId: 'n2', ownerUri: 'sip:n2' }], [])],
    ['recordPingRtts', () => store.recordPingRtts([{ aor: 'alice', key: 'sip:a@1', rttMs: 5 }])],
    ['sweepExpired', () => store.sweepExpired()],
    ['countBindings', () => store.countBindings()],
    ['recordAuthFailure', () => store.recordAuthFailure('192.0.2.1', policy)],
    ['listBans', () => store.listBans()],
    ['unban', () => store.unban('192.0.2.1')],
    ['clusterSecret', () => store.clusterSecret()],
    ['acceptNonceCount', () => store.acceptNonceCount('n', 1, 1000)],
    ['now', () => store.now()],
  ];
}

describe('RedisRegistrarStore outages', () => {
  it('rejects every method fast while Redis is down, reconnects by itself, and re-announces the bans after a re-subscription', async () => {
    const cluster = freshCluster();
    const store = await openStore(cluster);
    const other = await openStore(cluster);
    try {
      const heard: Ban[] = [];
      store.onBan((b) => heard.push(b));
      await sleep(400);
      const r = await store.register({ aor: 'alice', callId: 'c', cseq: 1, removeAll: false, upserts: [input('sip:a@1')], removals: [], maxContacts: 5 });
      expect(r.ok).toBe(true);

      const restarting = redis.restart({ downMs: 1500 });
      await until(() => !store.connected, 5000, 'the store to notice the outage');
      for (const [name, call] of everyMethod(store)) {
        const started = performance.now();
        const err = await call().then(
          () => new Error(`${name} resolved`),
          (e: unknown) => e,
        );
        const elapsed = performance.now() - started;
        expectUnavailable(err);
        expect(elapsed, `${name} took ${elapsed.toFixed(0)} ms`).toBeLessThan(500);
      }
      // Bad arguments are still refused as such (nothing is sent).
      await expect(store.lookup('a b')).rejects.toMatchObject({ code: 'STORE_ERR_INVALID' });
      await restarting;
      await until(() => store.connected && other.connected, 10_000, 'both stores to reconnect');

      // Redis came back empty (no persistence).
      expect(await store.lookup('alice')).toEqual([]);
      // A ban made right after the restart, possibly before this store re-subscribed, still
      // reaches it: either as a notice or when the re-subscription re-reads the bans.
      expect(await other.recordAuthFailure('198.51.100.1', { windowMs: 60_000, threshold: 1, banMs: 60_000 })).toEqual({ failures: 1, banned: true });
      await until(() => heard.some((b) => b.ip === '198.51.100.1' && b.untilMs > 0), 10_000, 'the ban after the reconnect');
    } finally {
      await Promise.all([store.close(), other.close()]);
    }
    await expect(store.now()).rejects.toMatchObject({ code: 'STORE_ERR_UNAVAILABLE' });
  });

  it('never hangs a caller when Redis stops answering (SIGSTOP): commands time out fast', async () => {
    const store = await openStore(freshCluster());
    try {
      redis.process.kill('SIGSTOP');
      try {
        const started = performance.now();
        const err = await store.lookup('alice').then(
          () => new Error('resolved'),
          (e: unknown) => e,
        );
        expectUnavailable(err);
        expect(performance.now() - started).toBeLessThan(1000);
      } finally {
        redis.process.kill('SIGCONT');
      }
      // Answers flow again (the connection may have been recycled meanwhile).
      await until(() => store.connected, 10_000, 'the store to be ready again');
      let found: unknown = undefined;
      for (let i = 0; i < 50 && found === undefined; i++) found = await store.lookup('alice').catch(async () => (await sleep(100), undefined));
      expect(found).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
