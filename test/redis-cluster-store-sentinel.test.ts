/**
 * The redis adapter through Redis Sentinel, as `store: sentinel://...` configures it: a master,
 * a replica and one sentinel, all on loopback. Admission works through the sentinel, and keeps
 * working (with the replicated calls) after a failover promotes the replica; so do the switch
 * registry's change notices (the subscriber connection follows the master too).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdmitRequest, ClusterStore } from '../shared/cluster-store/cluster-store.ts';
import { createClusterStore } from '../shared/cluster-store/create-cluster-store.ts';
import { storeKeys } from '../shared/cluster-store/keys.ts';
import { startProcess, stopAllProcesses } from './support/managed-process.ts';
import { freePort, isPortListening } from './support/ports.ts';
import { redisCommand, startRedis, type RedisServer } from './support/redis-server.ts';
import { requireTool } from './support/require-tool.ts';

const HOST = '127.0.0.1';
const MASTER_NAME = 'sfmaster';
const CLUSTER = 'sentinel-test';

let master: RedisServer;
let replica: RedisServer;
let sentinelPort: number;
let dir: string;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(probe: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

beforeAll(async () => {
  const redisServer = requireTool('redis-server', 'redis-server');
  master = await startRedis();
  replica = await startRedis({ extraArgs: ['--replicaof', HOST, String(master.port)] });
  sentinelPort = await freePort(HOST, ['tcp']);
  dir = await mkdtemp(join(tmpdir(), 'sipfleet-sentinel-'));
  const conf = join(dir, 'sentinel.conf');
  await writeFile(
    conf,
    [
      `port ${sentinelPort}`,
      `bind ${HOST}`,
      'daemonize no',
      'logfile ""',
      `dir ${dir}`,
      `sentinel monitor ${MASTER_NAME} ${HOST} ${master.port} 1`,
      `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
      `sentinel failover-timeout ${MASTER_NAME} 10000`,
      '',
    ].join('\n'),
  );
  // Debian's redis-server doubles as redis-sentinel with --sentinel.
  await startProcess({
    name: `sentinel-${sentinelPort}`,
    command: redisServer,
    args: [conf, '--sentinel'],
    cwd: dir,
    readyWhen: async (p) => (await isPortListening(sentinelPort, 'tcp', { host: HOST, pid: p.pid })) && (await redisCommand(HOST, sentinelPort, ['PING'], 500)) === '+PONG',
    readyTimeoutMs: 10_000,
  });
});
afterAll(async () => {
  await stopAllProcesses();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('RedisClusterStore through Redis Sentinel', () => {
  it('admits through the sentinel and keeps admitting after a failover to the replica', async () => {
    const store: ClusterStore = createClusterStore({ kind: 'sentinel', sentinels: [{ host: HOST, port: sentinelPort }], name: MASTER_NAME }, CLUSTER);
    const sentinel = new Redis({ host: HOST, port: sentinelPort, lazyConnect: true, maxRetriesPerRequest: 0 });
    try {
      await until(async () => (store.connected ? true : undefined), 10_000, 'the store to connect through the sentinel');
      let changes = 0;
      store.onSwitchesChanged(() => void (changes += 1));
      await until(async () => (changes > 0 ? true : undefined), 10_000, 'the change subscriber to subscribe through the sentinel');
      const lease = await store.registerNode('n1', 60_000);
      const req = (callId: string): AdmitRequest => ({
        callId,
        nodeId: 'n1',
        epoch: lease.epoch,
        levels: [{ level: 'cluster:main', channels: 10 }],
        maxAgeMs: 3_600_000,
      });
      expect(await store.admit(req('before'))).toMatchObject({ admitted: true });
      expect(await store.levelStats(['cluster:main'])).toMatchObject([{ channels: 1 }]);
      // Replication is asynchronous: make sure the replica has everything before failing over
      // (a promoted replica that missed writes is the "store lost data" case, tested elsewhere).
      const direct = new Redis({ host: HOST, port: master.port, lazyConnect: true, maxRetriesPerRequest: 0 });
      await direct.connect();
      await until(async () => ((await direct.call('WAIT', '1', '1000')) === 1 ? true : undefined), 20_000, 'the replica to acknowledge the writes');
      direct.disconnect();

      // Fail over: the sentinel promotes the replica (once it knows it) and demotes the master.
      await sentinel.connect();
      await until(
        async () => {
          const reply = String(await sentinel.call('SENTINEL', 'FAILOVER', MASTER_NAME));
          return reply === 'OK' ? true : undefined;
        },
        20_000,
        'the sentinel to accept a failover',
      );
      await until(
        async () => {
          const [, port] = (await sentinel.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME)) as string[];
          return Number(port) === replica.port ? true : undefined;
        },
        20_000,
        'the replica to become master',
      );

      // The store follows the new master by itself (the sentinel announces the switch; the old
      // master is demoted only later): the admit lands there, and the replicated call still counts.
      const newMaster = new Redis({ host: HOST, port: replica.port, lazyConnect: true, maxRetriesPerRequest: 0 });
      await newMaster.connect();
      const after = await until(
        async () => {
          const r = await store.admit(req('after')); // a repeat of the same call simply re-takes it
          return r.admitted && (await newMaster.exists(storeKeys(CLUSTER).call('after'))) === 1 ? r : undefined;
        },
        20_000,
        'an admit on the new master',
      );
      newMaster.disconnect();
      expect(after.admitted).toBe(true);
      expect(await store.levelStats(['cluster:main'])).toMatchObject([{ channels: 2 }]);
      expect(await redisCommand(HOST, replica.port, ['ROLE'])).toBe('*3');
      expect(await store.release('before', 'n1', lease.epoch)).toBe('released');
      expect(await store.release('after', 'n1', lease.epoch)).toBe('released');

      // Registry changes made on the new master reach the listener (each attempt changes the record).
      let weight = 1;
      await until(
        async () => {
          changes = 0;
          await store.putSwitch({ id: 'sw1', host: HOST, port: 5060, transport: 'udp', weight: weight++, priority: 0, state: 'active' });
          await sleep(200);
          return changes > 0 ? true : undefined;
        },
        20_000,
        'a registry notice after the failover',
      );
    } finally {
      sentinel.disconnect();
      await store.close();
    }
  });
});
