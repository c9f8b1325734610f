import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryClusterStore } from '../shared/cluster-store/memory-cluster-store.ts';
import type { OpsRole } from '../shared/config/config-types.ts';
import { parseConfig } from '../shared/config/load-config.ts';
import { MemoryRegistrarStore } from '../shared/registrar-store/memory-registrar-store.ts';
import { buildApp } from './app.ts';
import { AuditLog } from './audit-log.ts';
import type { Server } from './schemas.ts';

const TOKENS: Record<OpsRole, string> = { admin: 'admin-token-0123456789abcdef', operator: 'operator-token-0123456789ab', viewer: 'viewer-token-0123456789abcd' };
const hash = (t: string) => createHash('sha256').update(t).digest('hex');
const CONFIG = parseConfig(
  `
node: { id: d1, listen: [udp://127.0.0.1:5060] }
cluster:
  name: main
  switches: [{ id: sw1, address: 127.0.0.21:5060 }]
  carriers:
    - { id: acme, sources: [10.1.0.0/16, 10.9.9.9, "2001:db8::/32"], cps: 5, channels: 20, selection: priority, rejectCode: 486, zone: eu }
    - { id: other, sources: [192.0.2.0/24] }
  rtp-relays:
    - { id: r1, ng: 127.0.0.31:2223, zone: eu, weight: 2 }
    - { id: r2, ng: "[::1]:2224", state: draining }
`,
  { baseDir: '/' },
);

let store: MemoryClusterStore;
let registrar: MemoryRegistrarStore;
let audit: AuditLog;
let app: FastifyInstance;
let epoch: number;

beforeEach(async () => {
  store = new MemoryClusterStore();
  registrar = new MemoryRegistrarStore();
  audit = await AuditLog.open();
  await store.seedSwitches(CONFIG.cluster.switches.map(({ address: _a, ...sw }) => sw));
  await store.seedRelays(CONFIG.cluster.rtpRelays.map(({ ng: _ng, ...r }) => r));
  app = await buildApp({
    store,
    registrar,
    cluster: CONFIG.cluster,
    tokens: (Object.keys(TOKENS) as OpsRole[]).map((role) => ({ name: `${role}-user`, role, sha256: hash(TOKENS[role]) })),
    audit,
    logger: pino({ level: 'silent' }),
    version: '1.2.3',
    limits: { rateLimit: { max: 1000, windowMs: 60_000 }, bodyLimit: 4096 },
  });
  epoch = (await store.registerNode('d1', 10_000)).epoch;
});

afterEach(async () => {
  await app.close();
  await audit.close();
  await registrar.close();
  await store.close();
});

async function call(role: OpsRole, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) {
  const res = await app.inject({ method, url, headers: { authorization: `Bearer ${TOKENS[role]}` }, ...(payload === undefined ? {} : { payload }) });
  return { status: res.statusCode, body: res.body === '' ? undefined : res.json() };
}

/** The audit records, oldest first. */
async function auditRecords() {
  await audit.flush();
  return audit.recent(1000).reverse();
}

/** Counts the store's change notices from now on. */
function listen(): { count: () => number; stop: () => void } {
  let n = 0;
  const stop = store.onSwitchesChanged(() => n++);
  return { count: () => n, stop };
}

describe('rtp relays', () => {
  it('lists the relays (viewer) with the cluster-wide session count of each, and gets one', async () => {
    await store.putMediaSession({ callId: 'c1', fromTag: 't1', relayId: 'r1', nodeId: 'd1' }, 60_000);
    await store.putMediaSession({ callId: 'c2', fromTag: 't2', relayId: 'r1', nodeId: 'd2' }, 60_000);
    const list = await call('viewer', 'GET', '/v1/rtp-relays');
    expect(list).toEqual({
      status: 200,
      body: {
        rtpRelays: [
          { id: 'r1', ng: '127.0.0.31:2223', zone: 'eu', weight: 2, state: 'active', sessions: 2 },
          { id: 'r2', ng: '[::1]:2224', zone: null, weight: 1, state: 'draining', sessions: 0 },
        ],
      },
    });
    expect(await call('viewer', 'GET', '/v1/rtp-relays/r1')).toEqual({ status: 200, body: list.body.rtpRelays[0] });
    expect(await call('viewer', 'GET', '/v1/rtp-relays/nope')).toEqual({ status: 404, body: { code: 'OPS_ERR_NOT_FOUND', message: 'no rtp relay nope' } });
    expect((await call('viewer', 'GET', '/v1/rtp-relays/bad%20id')).body.message).toMatch(/^params\.id: /);
  });

  it('creates a relay (admin, 201): the store holds it and every listener hears of it; 409 for any existing server id', async () => {
    const heard = listen();
    const created = await call('admin', 'POST', '/v1/rtp-relays', { id: 'r3', ng: '[2001:db8::7]:2223', zone: 'us', weight: 5 });
    expect(created).toEqual({ status: 201, body: { id: 'r3', ng: '[2001:db8::7]:2223', zone: 'us', weight: 5, state: 'active', sessions: 0 } });
    expect((await store.listRelays()).find((r) => r.id === 'r3')).toEqual({ id: 'r3', host: '2001:db8::7', port: 2223, weight: 5, state: 'active', zone: 'us' });
    await expect.poll(heard.count).toBe(1);
    heard.stop();

    const minimal = await call('admin', 'POST', '/v1/rtp-relays', { id: 'r4', ng: 'rtp4.example.net:2223', state: 'disabled' });
    expect(minimal.body).toEqual({ id: 'r4', ng: 'rtp4.example.net:2223', zone: null, weight: 1, state: 'disabled', sessions: 0 });

    expect(await call('admin', 'POST', '/v1/rtp-relays', { id: 'r1', ng: '127.0.0.39:2223' })).toEqual({
      status: 409,
      body: { code: 'OPS_ERR_CONFLICT', message: 'rtp relay r1 already exists' },
    });
    expect((await call('admin', 'POST', '/v1/rtp-relays', { id: 'sw1', ng: '127.0.0.39:2223' })).body.message).toBe('server sw1 already exists (a switch)');
    expect((await call('admin', 'POST', '/v1/rtp-relays', { id: 'd1', ng: '127.0.0.39:2223' })).body.message).toBe('server d1 already exists (a dispatcher)');
    // And a switch cannot take a relay's id.
    expect((await call('admin', 'POST', '/v1/servers', { id: 'r1', type: 'switch', address: '127.0.0.29:5060' })).status).toBe(409);
    expect((await store.listRelays()).find((r) => r.id === 'r1')?.host).toBe('127.0.0.31');
  });

  it('patches zone, weight and state (operator); null removes the zone', async () => {
    const heard = listen();
    const patched = await call('operator', 'PATCH', '/v1/rtp-relays/r1', { weight: 7, zone: 'us' });
    expect(patched).toEqual({ status: 200, body: { id: 'r1', ng: '127.0.0.31:2223', zone: 'us', weight: 7, state: 'active', sessions: 0 } });
    await expect.poll(heard.count).toBe(1);
    heard.stop();
    expect((await call('operator', 'PATCH', '/v1/rtp-relays/r1', { zone: null, state: 'draining' })).body).toMatchObject({ zone: null, state: 'draining' });
    expect((await store.listRelays())[0]).toEqual({ id: 'r1', host: '127.0.0.31', port: 2223, weight: 7, state: 'draining' });
    expect((await call('operator', 'PATCH', '/v1/rtp-relays/nope', { weight: 1 })).status).toBe(404);
  });

  it('drains, disables and enables (operator), with a change notice each', async () => {
    await store.putMediaSession({ callId: 'c1', fromTag: 't1', relayId: 'r1', nodeId: 'd1' }, 60_000);
    const heard = listen();
    const state = async () => (await store.listRelays()).find((r) => r.id === 'r1')?.state;
    expect((await call('operator', 'POST', '/v1/rtp-relays/r1/drain')).body).toMatchObject({ state: 'draining', sessions: 1 });
    expect(await state()).toBe('draining');
    await expect.poll(heard.count).toBe(1);
    expect((await call('operator', 'POST', '/v1/rtp-relays/r1/disable')).body.state).toBe('disabled');
    expect(await state()).toBe('disabled');
    await expect.poll(heard.count).toBe(2);
    expect((await call('operator', 'POST', '/v1/rtp-relays/r1/enable')).body.state).toBe('active');
    expect(await state()).toBe('active');
    await expect.poll(heard.count).toBe(3);
    // Enabling an active relay changes nothing: no notice.
    expect((await call('operator', 'POST', '/v1/rtp-relays/r1/enable')).status).toBe(200);
    await new Promise((r) => setTimeout(r, 10));
    expect(heard.count()).toBe(3);
    heard.stop();
    expect(await call('operator', 'POST', '/v1/rtp-relays/nope/drain')).toEqual({ status: 404, body: { code: 'OPS_ERR_NOT_FOUND', message: 'no rtp relay nope' } });
  });

  it('deletes a relay (admin, 204), then 404; its sessions are left to end', async () => {
    await store.putMediaSession({ callId: 'c1', fromTag: 't1', relayId: 'r2', nodeId: 'd1' }, 60_000);
    const heard = listen();
    expect(await call('admin', 'DELETE', '/v1/rtp-relays/r2')).toEqual({ status: 204, body: undefined });
    expect((await store.listRelays()).map((r) => r.id)).toEqual(['r1']);
    await expect.poll(heard.count).toBe(1);
    heard.stop();
    expect(await store.relaySessionCounts()).toEqual({ r2: 1 });
    expect((await call('admin', 'DELETE', '/v1/rtp-relays/r2')).status).toBe(404);
  });

  it('answers 400 naming the field', async () => {
    const message = async (method: 'POST' | 'PATCH', url: string, payload: object) => {
      const res = await call('admin', method, url, payload);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('OPS_ERR_VALIDATION');
      return res.body.message as string;
    };
    expect(await message('POST', '/v1/rtp-relays', { ng: '127.0.0.1:2223' })).toBe('body.id: is required');
    expect(await message('POST', '/v1/rtp-relays', { id: 'r9' })).toBe('body.ng: is required');
    expect(await message('POST', '/v1/rtp-relays', { id: 'r9', ng: '127.0.0.1' })).toMatch(/^body\.ng: must be host:port/);
    expect(await message('POST', '/v1/rtp-relays', { id: 'r9', ng: '127.0.0.1:70000' })).toBe('body.ng: port must be from 1 to 65535');
    expect(await message('POST', '/v1/rtp-relays', { id: 'r9', ng: '::1:2223' })).toMatch(/^body\.ng: .*brackets/);
    expect(await message('POST', '/v1/rtp-relays', { id: 'bad id', ng: '127.0.0.1:2223' })).toMatch(/^body\.id: /);
    expect(await message('POST', '/v1/rtp-relays', { id: 'r9', ng: '127.0.0.1:2223', weight: 0 })).toMatch(/^body\.weight: /);
    expect(await message('POST', '/v1/rtp-relays', { id: 'r9', ng: '127.0.0.1:2223', state: 'up' })).toMatch(/^body\.state: /);
    expect(await message('POST', '/v1/rtp-relays', { id: 'r9', ng: '127.0.0.1:2223', port: 1 })).toBe('body.port: is not allowed');
    expect(await message('PATCH', '/v1/rtp-relays/r1', {})).toBe('body: must name at least one field');
    expect(await message('PATCH', '/v1/rtp-relays/r1', { weight: 1001 })).toMatch(/^body\.weight: /);
    expect(await message('PATCH', '/v1/rtp-relays/r1', { zone: '' })).toMatch(/^body\.zone: /);
    expect(await message('PATCH', '/v1/rtp-relays/r1', { ng: '127.0.0.1:2223' })).toBe('body.ng: is not allowed');
    expect((await store.listRelays()).map((r) => r.id)).toEqual(['r1', 'r2']);
    expect((await store.listRelays())[0]).toMatchObject({ weight: 2, zone: 'eu' });
  });

  it('lets a viewer read but not change (403), an operator change but not create or delete; every attempt audited', async () => {
    expect(await call('viewer', 'POST', '/v1/rtp-relays', { id: 'r9', ng: '127.0.0.1:2223' })).toEqual({
      status: 403,
      body: { code: 'OPS_ERR_FORBIDDEN', message: 'role viewer may not POST /v1/rtp-relays (needs admin)' },
    });
    expect((await call('viewer', 'POST', '/v1/rtp-relays/r1/drain')).status).toBe(403);
    expect((await call('viewer', 'PATCH', '/v1/rtp-relays/r1', { weight: 3 })).status).toBe(403);
    expect((await call('operator', 'POST', '/v1/rtp-relays', { id: 'r9', ng: '127.0.0.1:2223' })).status).toBe(403);
    expect((await call('operator', 'DELETE', '/v1/rtp-relays/r1')).status).toBe(403);
    expect((await store.listRelays()).map((r) => [r.id, r.state, r.weight])).toEqual([
      ['r1', 'active', 2],
      ['r2', 'draining', 1],
    ]);
    await call('operator', 'POST', '/v1/rtp-relays/r1/drain');
    await call('admin', 'POST', '/v1/rtp-relays', { id: 'r9', ng: '127.0.0.1:2223' });
    await call('admin', 'DELETE', '/v1/rtp-relays/r9');
    await call('admin', 'POST', '/v1/rtp-relays', { id: 'r8', ng: 'nope' });
    const records = await auditRecords();
    expect(records.map((r) => [r.token, r.method, r.path, r.status, r.code])).toEqual([
      ['viewer-user', 'POST', '/v1/rtp-relays', 403, 'OPS_ERR_FORBIDDEN'],
      ['viewer-user', 'POST', '/v1/rtp-relays/r1/drain', 403, 'OPS_ERR_FORBIDDEN'],
      ['viewer-user', 'PATCH', '/v1/rtp-relays/r1', 403, 'OPS_ERR_FORBIDDEN'],
      ['operator-user', 'POST', '/v1/rtp-relays', 403, 'OPS_ERR_FORBIDDEN'],
      ['operator-user', 'DELETE', '/v1/rtp-relays/r1', 403, 'OPS_ERR_FORBIDDEN'],
      ['operator-user', 'POST', '/v1/rtp-relays/r1/drain', 200, undefined],
      ['admin-user', 'POST', '/v1/rtp-relays', 201, undefined],
      ['admin-user', 'DELETE', '/v1/rtp-relays/r9', 204, undefined],
      ['admin-user', 'POST', '/v1/rtp-relays', 400, 'OPS_ERR_VALIDATION'],
    ]);
    expect(records[5].params).toEqual({ id: 'r1' });
    expect(records[6].body).toEqual({ id: 'r9', ng: '127.0.0.1:2223' });
  });
});

describe('GET /v1/servers with rtp relays', () => {
  it('lists the relays after the dispatchers and switches: ng address, zone, admin status, sessions as channels in use', async () => {
    await store.putMediaSession({ callId: 'c1', fromTag: 't1', relayId: 'r1', nodeId: 'd1' }, 60_000);
    await store.putMediaSession({ callId: 'c2', fromTag: 't2', relayId: 'r1', nodeId: 'd1' }, 60_000);
    await store.putMediaSession({ callId: 'c3', fromTag: 't3', relayId: 'r2', nodeId: 'd1' }, 60_000);
    const { status, body } = await call('viewer', 'GET', '/v1/servers');
    expect(status).toBe(200);
    const servers = body.servers as Server[];
    expect(servers.map((s) => [s.id, s.type, s.status])).toEqual([
      ['d1', 'dispatcher', 'up'],
      ['sw1', 'switch', 'unknown'],
      ['r1', 'rtp-relay', 'unknown'],
      ['r2', 'rtp-relay', 'draining'],
    ]);
    expect(servers[2]).toEqual({
      id: 'r1',
      type: 'rtp-relay',
      address: '127.0.0.31:2223',
      transport: null,
      cluster: 'main',
      zone: 'eu',
      channels: { inUse: 2, max: null },
      cps: { now: null, max: null },
      status: 'unknown',
      adminState: 'active',
      health: { up: 0, down: 0 },
      latency: { ewmaMs: null, p99Ms: null },
      weight: 2,
      priority: null,
      epoch: null,
      version: null,
      uptimeS: null,
    });
    expect(servers[3]).toMatchObject({ address: '[::1]:2224', zone: null, channels: { inUse: 1, max: null }, adminState: 'draining' });
    expect(await call('viewer', 'GET', '/v1/servers/r2')).toEqual({ status: 200, body: servers[3] });
    await call('operator', 'POST', '/v1/rtp-relays/r1/disable');
    expect((await call('viewer', 'GET', '/v1/servers/r1')).body).toMatchObject({ status: 'disabled', adminState: 'disabled' });
  });

  it('points switch actions on a relay id to /v1/rtp-relays', async () => {
    expect(await call('operator', 'POST', '/v1/servers/r1/drain')).toEqual({
      status: 404,
      body: { code: 'OPS_ERR_NOT_FOUND', message: 'no switch r1: it is an rtp relay (use /v1/rtp-relays/r1)' },
    });
    expect((await call('admin', 'DELETE', '/v1/servers/r1')).status).toBe(404);
    expect((await store.listRelays()).map((r) => [r.id, r.state])).toEqual([
      ['r1', 'active'],
      ['r2', 'draining'],
    ]);
  });
});

describe('carriers', () => {
  it('lists the config carriers (viewer) with live channels and CPS from their level', async () => {
    for (const id of ['c1', 'c2', 'c3']) {
      const admitted = await store.admit({
        callId: id,
        nodeId: 'd1',
        epoch,
        levels: [{ level: 'cluster:main' }, { level: 'carrier:acme', cps: 5, channels: 20 }],
        maxAgeMs: 60_000,
        meta: { carrier: 'acme' },
      });
      expect(admitted.admitted).toBe(true);
    }
    await store.release('c3', 'd1', epoch);
    const { status, body } = await call('viewer', 'GET', '/v1/carriers');
    expect(status).toBe(200);
    expect(body).toEqual({
      carriers: [
        {
          id: 'acme',
          sources: ['10.1.0.0/16', '10.9.9.9/32', '2001:db8::/32'],
          channels: { inUse: 2, max: 20 },
          cps: { now: 3, max: 5 },
          selection: 'priority',
          rejectCode: 486,
          zone: 'eu',
        },
        {
          id: 'other',
          sources: ['192.0.2.0/24'],
          channels: { inUse: 0, max: null },
          cps: { now: 0, max: null },
          selection: 'round-robin',
          rejectCode: null,
          zone: null,
        },
      ],
    });
    expect(await call('viewer', 'GET', '/v1/carriers/acme')).toEqual({ status: 200, body: body.carriers[0] });
    expect(await call('viewer', 'GET', '/v1/carriers/nope')).toEqual({ status: 404, body: { code: 'OPS_ERR_NOT_FOUND', message: 'no carrier nope' } });
    expect((await call('viewer', 'GET', '/v1/carriers/bad%20id')).status).toBe(400);
  });

  it('is read-only: no change routes (404)', async () => {
    expect((await call('admin', 'POST', '/v1/carriers', { id: 'x' })).status).toBe(404);
    expect((await call('admin', 'PATCH', '/v1/carriers/acme', { cps: 1 })).status).toBe(404);
    expect((await call('admin', 'DELETE', '/v1/carriers/acme')).status).toBe(404);
  });
});

describe('OpenAPI', () => {
  it('documents the rtp relay and carrier routes', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json();
    for (const path of ['/v1/rtp-relays', '/v1/rtp-relays/{id}', '/v1/rtp-relays/{id}/drain', '/v1/rtp-relays/{id}/disable', '/v1/rtp-relays/{id}/enable', '/v1/carriers', '/v1/carriers/{id}']) {
      expect(doc.paths, path).toHaveProperty([path]);
    }
    expect(Object.keys(doc.paths['/v1/rtp-relays/{id}']).sort()).toEqual(['delete', 'get', 'patch']);
  });
});
