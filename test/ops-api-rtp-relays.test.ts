/**
 * The ops API's rtp relay and carrier resources on a real Redis cluster store: the API runs in
 * process (`startOpsApi`, seeding `cluster.rtp-relays`), and a second RedisClusterStore plays a
 * dispatcher. Each relay change made over HTTP reaches that node within 1 s (the registry's change
 * notice) and the node reads the new record; the sessions and carrier calls the node records show
 * in `/v1/rtp-relays`, `/v1/servers` and `/v1/carriers`.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisClusterStore } from '../shared/cluster-store/redis-cluster-store.ts';
import { parseConfig } from '../shared/config/load-config.ts';
import { createLogger } from '../shared/log.ts';
import type { RtpRelay, Server } from '../ops-api/schemas.ts';
import { startOpsApi, type OpsApiHandle } from '../ops-api/server.ts';
import { stopAllProcesses } from './support/managed-process.ts';
import { startRedis, type RedisServer } from './support/redis-server.ts';

const TOKEN = 'e2e-admin-token-0123456789abcd';
const CLUSTER = `relays${process.pid}`;

let redis: RedisServer;
let api: OpsApiHandle;
let node: RedisClusterStore;
let dir: string;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

beforeAll(async () => {
  redis = await startRedis();
  dir = mkdtempSync(join(tmpdir(), 'sipfleet-ops-relays-'));
  const config = parseConfig(
    `
node: { id: ops, listen: [udp://127.0.0.1:5060] }
store: ${redis.url}
cluster:
  name: ${CLUSTER}
  carriers: [{ id: acme, sources: [10.1.0.0/16], cps: 5, channels: 20 }]
  rtp-relays:
    - { id: r1, ng: 127.0.0.31:2223, zone: eu, weight: 2 }
    - { id: r2, ng: "[::1]:2224", state: draining }
ops:
  tokens: [{ name: e2e, role: admin, sha256: ${createHash('sha256').update(TOKEN).digest('hex')} }]
  audit: ./audit.jsonl
`,
    { baseDir: dir },
  );
  api = await startOpsApi({ config, listen: { host: '127.0.0.1', port: 0 }, logger: createLogger({ service: 'ops-api-e2e' }), version: 'e2e' });
  await until(async () => (await fetch(`${api.url}/readyz`)).status === 200, 'the ops API to be ready');
  node = new RedisClusterStore({ cluster: CLUSTER, url: redis.url });
  await until(() => node.connected, 'the node store to connect');
});

afterAll(async () => {
  await node?.close();
  await api?.close();
  await redis?.stop();
  await stopAllProcesses();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

async function request(method: string, path: string, body?: object): Promise<{ status: number; body: any }> {
  const res = await fetch(`${api.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
}

/** Runs `change`, then waits for the node's change notice; returns the ms from the answer to the notice. */
async function noticeAfter(change: () => Promise<unknown>): Promise<number> {
  let heardAt: number | undefined;
  const stop = node.onSwitchesChanged(() => (heardAt ??= performance.now()));
  try {
    await change();
    const answeredAt = performance.now();
    const deadline = answeredAt + 1_000;
    while (heardAt === undefined && performance.now() < deadline) await sleep(5);
    expect(heardAt, 'change notice within 1 s').toBeDefined();
    return Math.max(0, (heardAt ?? 0) - answeredAt);
  } finally {
    stop();
  }
}

describe('ops API rtp relays and carriers on Redis', () => {
  it('seeds the config relays, and every relay change reaches another node within 1 s', async () => {
    expect(await node.listRelays()).toEqual([
      { id: 'r1', host: '127.0.0.31', port: 2223, weight: 2, state: 'active', zone: 'eu' },
      { id: 'r2', host: '::1', port: 2224, weight: 1, state: 'draining' },
    ]);

    const relay = async (id: string) => (await node.listRelays()).find((r) => r.id === id);
    await noticeAfter(async () => expect((await request('POST', '/v1/rtp-relays', { id: 'r3', ng: '127.0.0.33:2223', zone: 'us' })).status).toBe(201));
    expect(await relay('r3')).toEqual({ id: 'r3', host: '127.0.0.33', port: 2223, weight: 1, state: 'active', zone: 'us' });

    await noticeAfter(async () => expect((await request('POST', '/v1/rtp-relays/r1/drain')).body.state).toBe('draining'));
    expect((await relay('r1'))?.state).toBe('draining');

    await noticeAfter(async () => expect((await request('PATCH', '/v1/rtp-relays/r1', { weight: 9, zone: null, state: 'active' })).status).toBe(200));
    expect(await relay('r1')).toEqual({ id: 'r1', host: '127.0.0.31', port: 2223, weight: 9, state: 'active' });

    await noticeAfter(async () => expect((await request('DELETE', '/v1/rtp-relays/r3')).status).toBe(204));
    expect(await relay('r3')).toBeUndefined();
    expect((await request('GET', '/v1/rtp-relays/r3')).status).toBe(404);

    // Audit records are appended once each answer is sent.
    const lines = () => readFileSync(join(dir, 'audit.jsonl'), 'utf8').split('\n').filter(Boolean);
    await until(() => lines().length >= 4, 'the audit records');
    const audit = lines().map((l) => JSON.parse(l) as { method: string; path: string; status: number });
    expect(audit.map((r) => [r.method, r.path, r.status])).toEqual([
      ['POST', '/v1/rtp-relays', 201],
      ['POST', '/v1/rtp-relays/r1/drain', 200],
      ['PATCH', '/v1/rtp-relays/r1', 200],
      ['DELETE', '/v1/rtp-relays/r3', 204],
    ]);
  });

  it("shows the node's media sessions per relay and its carrier calls", async () => {
    const lease = await node.registerNode('d1', 10_000);
    await node.putMediaSession({ callId: 'm1', fromTag: 'a', relayId: 'r1', nodeId: 'd1' }, 60_000);
    await node.putMediaSession({ callId: 'm2', fromTag: 'b', relayId: 'r1', nodeId: 'd1' }, 60_000);
    await node.putMediaSession({ callId: 'm3', fromTag: 'c', relayId: 'r2', nodeId: 'd1' }, 60_000);
    const relays = (await request('GET', '/v1/rtp-relays')).body.rtpRelays as RtpRelay[];
    expect(relays.map((r) => [r.id, r.ng, r.state, r.sessions])).toEqual([
      ['r1', '127.0.0.31:2223', 'active', 2],
      ['r2', '[::1]:2224', 'draining', 1],
    ]);
    const servers = (await request('GET', '/v1/servers')).body.servers as Server[];
    expect(servers.map((s) => [s.id, s.type, s.status, s.channels.inUse])).toEqual([
      ['d1', 'dispatcher', 'up', 0],
      ['r1', 'rtp-relay', 'unknown', 2],
      ['r2', 'rtp-relay', 'draining', 1],
    ]);

    const admitted = await node.admit({
      callId: 'call-1',
      nodeId: 'd1',
      epoch: lease.epoch,
      levels: [{ level: `cluster:${CLUSTER}` }, { level: 'carrier:acme', cps: 5, channels: 20 }],
      maxAgeMs: 60_000,
      meta: { carrier: 'acme' },
    });
    expect(admitted.admitted).toBe(true);
    const carrier = (await request('GET', '/v1/carriers/acme')).body;
    expect(carrier).toEqual({
      id: 'acme',
      sources: ['10.1.0.0/16'],
      channels: { inUse: 1, max: 20 },
      cps: { now: 1, max: 5 },
      selection: 'round-robin',
      rejectCode: null,
      zone: null,
    });
    await node.deregisterNode('d1', lease.epoch);
  });
});
