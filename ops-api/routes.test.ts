import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryClusterStore } from '../shared/cluster-store/memory-cluster-store.ts';
import { MemoryRegistrarStore } from '../shared/registrar-store/memory-registrar-store.ts';
import { parseConfig } from '../shared/config/load-config.ts';
import { buildApp } from './app.ts';
import { AuditLog } from './audit-log.ts';
import type { Server } from './schemas.ts';

const ADMIN = 'admin-token-0123456789abcdef';
const CONFIG = parseConfig(
  `
node: { id: d1, listen: [udp://127.0.0.1:5060] }
cluster:
  name: main
  limits: { cps: 50, channels: 500 }
  selection: weighted
  switches:
    - { id: sw1, address: 127.0.0.21:5060, weight: 2, channels: 100, cps: 10, zone: eu }
    - { id: sw2, address: "[::1]:5062", transport: tcp, state: draining }
`,
  { baseDir: '/' },
);
const headers = { authorization: `Bearer ${ADMIN}` };

let store: MemoryClusterStore;
let registrar: MemoryRegistrarStore;
let app: FastifyInstance;

beforeEach(async () => {
  store = new MemoryClusterStore();
  registrar = new MemoryRegistrarStore();
  await store.seedSwitches(CONFIG.cluster.switches.map(({ address: _a, ...sw }) => sw));
  app = await buildApp({
    store,
    registrar,
    cluster: CONFIG.cluster,
    tokens: [{ name: 'root', role: 'admin', sha256: createHash('sha256').update(ADMIN).digest('hex') }],
    audit: await AuditLog.open(),
    logger: pino({ level: 'silent' }),
    version: '1.2.3',
    limits: { rateLimit: { max: 1000, windowMs: 60_000 }, bodyLimit: 4096 },
  });
  const d1 = await store.registerNode('d1', 10_000, { listen: 'udp://127.0.0.11:5060' });
  await store.registerNode('d2', 10_000);
  await store.putProbeReport({ switchId: 'sw1', nodeId: 'd1', up: true, latencyMs: 4, p99Ms: 9 }, 10_000);
  await store.putProbeReport({ switchId: 'sw1', nodeId: 'd2', up: true, latencyMs: 6, p99Ms: 12 }, 10_000);
  for (const id of ['c1', 'c2']) {
    await store.admit({
      callId: id,
      nodeId: 'd1',
      epoch: d1.epoch,
      levels: [{ level: 'cluster:main' }, { level: 'switch:sw1', channels: 100 }, { level: 'carrier:acme' }],
      maxAgeMs: 60_000,
      meta: { callId: `${id}@host`, switch: 'sw1', carrier: 'acme', ...(id === 'c1' ? { relay: 'r-eu' } : {}) },
    });
  }
});

afterEach(async () => {
  await app.close();
  await registrar.close();
  await store.close();
});

async function call(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) {
  const res = await app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload }) });
  return { status: res.statusCode, body: res.body === '' ? undefined : res.json() };
}

describe('GET /v1/servers', () => {
  it('lists the dispatchers and the switches with live counts, probe state and latency', async () => {
    const { status, body } = await call('GET', '/v1/servers');
    expect(status).toBe(200);
    const servers = body.servers as Server[];
    expect(servers.map((s) => [s.id, s.type, s.status])).toEqual([
      ['d1', 'dispatcher', 'up'],
      ['d2', 'dispatcher', 'up'],
      ['sw1', 'switch', 'up'],
      ['sw2', 'switch', 'draining'],
    ]);
    expect(servers[0].channels).toEqual({ inUse: 2, max: null });
    expect(servers[2]).toMatchObject({
      address: '127.0.0.21:5060',
      transport: 'udp',
      cluster: 'main',
      zone: 'eu',
      channels: { inUse: 2, max: 100 },
      cps: { now: 2, max: 10 },
      adminState: 'active',
      health: { up: 2, down: 0 },
      latency: { ewmaMs: 5, p99Ms: 12 },
      weight: 2,
    });
    expect(servers[3]).toMatchObject({ address: '[::1]:5062', transport: 'tcp', health: { up: 0, down: 0 }, latency: { ewmaMs: null, p99Ms: null } });
  });

  it('GET /v1/servers/:id finds one, 404 otherwise, 400 on a bad id', async () => {
    expect((await call('GET', '/v1/servers/sw1')).body.id).toBe('sw1');
    expect((await call('GET', '/v1/servers/d2')).body.type).toBe('dispatcher');
    expect(await call('GET', '/v1/servers/nope')).toEqual({ status: 404, body: { code: 'OPS_ERR_NOT_FOUND', message: 'no server nope' } });
    expect((await call('GET', '/v1/servers/bad%20id')).body.message).toMatch(/^params\.id: /);
  });
});

describe('switch actions', () => {
  it('creates a switch (201), refuses a duplicate (409)', async () => {
    const created = await call('POST', '/v1/servers', { id: 'sw3', type: 'switch', address: '127.0.0.23:5060', weight: 3, cps: 5, channels: 7, zone: 'us' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: 'sw3', status: 'unknown', channels: { inUse: 0, max: 7 }, cps: { now: 0, max: 5 }, weight: 3 });
    expect((await store.listSwitches()).find((s) => s.id === 'sw3')).toEqual({ id: 'sw3', host: '127.0.0.23', port: 5060, transport: 'udp', weight: 3, priority: 0, cps: 5, channels: 7, zone: 'us', state: 'active' });
    expect((await call('POST', '/v1/servers', { id: 'sw3', type: 'switch', address: '127.0.0.23:5060' })).body.code).toBe('OPS_ERR_CONFLICT');
    expect((await call('POST', '/v1/servers', { id: 'd1', type: 'switch', address: '127.0.0.23:5060' })).status).toBe(409);
  });

  it('resizes, drains, disables, enables and patches through the registry', async () => {
    const sw1 = async () => (await store.listSwitches()).find((s) => s.id === 'sw1');
    expect((await call('POST', '/v1/servers/sw1/resize', { channels: 0 })).body.channels).toEqual({ inUse: 2, max: 0 });
    expect((await sw1())?.channels).toBe(0);
    await call('POST', '/v1/servers/sw1/resize', { cps: null });
    expect((await sw1())?.cps).toBeUndefined();
    expect((await call('POST', '/v1/servers/sw1/drain')).body.status).toBe('draining');
    expect((await call('POST', '/v1/servers/sw1/disable')).body.adminState).toBe('disabled');
    expect((await sw1())?.state).toBe('disabled');
    expect((await call('POST', '/v1/servers/sw1/enable')).body.status).toBe('up');
    const patched = await call('PATCH', '/v1/servers/sw1', { weight: 9, priority: 2, zone: null });
    expect(patched.body).toMatchObject({ weight: 9, priority: 2, zone: null });
    expect(await sw1()).toMatchObject({ weight: 9, priority: 2 });
    expect(await sw1()).not.toHaveProperty('zone');
    expect((await call('POST', '/v1/servers/nope/drain')).status).toBe(404);
  });

  it('deletes a switch (204), then 404', async () => {
    expect(await call('DELETE', '/v1/servers/sw2')).toEqual({ status: 204, body: undefined });
    expect((await store.listSwitches()).map((s) => s.id)).toEqual(['sw1']);
    expect((await call('DELETE', '/v1/servers/sw2')).status).toBe(404);
  });

  it('answers 501 for dispatcher lifecycle', async () => {
    const expected = { status: 501, body: { code: 'OPS_ERR_NOT_IMPLEMENTED', message: 'dispatcher lifecycle needs an orchestrator (this ops API runs without one)' } };
    expect(await call('POST', '/v1/servers/d1/drain')).toEqual(expected);
    expect(await call('POST', '/v1/servers/d1/resize', { channels: 1 })).toEqual(expected);
    expect(await call('PATCH', '/v1/servers/d1', { weight: 1 })).toEqual(expected);
    expect(await call('DELETE', '/v1/servers/d1')).toEqual(expected);
    expect(await call('POST', '/v1/servers', { id: 'd9', type: 'dispatcher', address: '127.0.0.19:5060' })).toEqual(expected);
  });
});

describe('clusters, calls, audit, docs', () => {
  it('GET /v1/clusters', async () => {
    const { body } = await call('GET', '/v1/clusters');
    expect(body.clusters).toEqual([
      {
        name: 'main',
        limits: { cps: 50, channels: 500, burst: null },
        selection: 'weighted',
        probe: { intervalMs: 5000, timeoutMs: 2000, fall: 3, rise: 2, accept: [200], warmupMs: 30_000, quorum: false },
        redisOutage: 'fail-closed',
        now: { channels: 2, cps: 2 },
        dispatchers: 2,
        switches: 2,
      },
    ]);
  });

  it('POST /v1/clusters/:name/resize changes the live cluster caps (null removes one)', async () => {
    const resized = await call('POST', '/v1/clusters/main/resize', { cps: 30 });
    expect(resized.status).toBe(200);
    expect(resized.body.limits).toEqual({ cps: 30, channels: 500, burst: null });
    expect(await store.getClusterLimits()).toEqual({ cps: 30, channels: 500 });
    expect((await call('POST', '/v1/clusters/main/resize', { channels: null })).body.limits).toEqual({ cps: 30, channels: null, burst: null });
    expect((await call('GET', '/v1/clusters')).body.clusters[0].limits).toEqual({ cps: 30, channels: null, burst: null });
    expect((await call('POST', '/v1/clusters/other/resize', { cps: 1 })).status).toBe(404);
    const bad = await call('POST', '/v1/clusters/main/resize', { cps: -5 });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/cps/);
    expect((await call('POST', '/v1/clusters/main/resize', {})).status).toBe(400);
  });

  it('GET /v1/calls with level and limit', async () => {
    const all = await call('GET', '/v1/calls');
    expect(all.body.calls).toHaveLength(2);
    expect(all.body.calls[0]).toMatchObject({ callId: 'c1@host', node: 'd1', switch: 'sw1', carrier: 'acme', relay: 'r-eu' });
    expect(all.body.calls[1].relay).toBeNull();
    expect(all.body.calls[0].ageS).toBeGreaterThanOrEqual(0);
    expect((await call('GET', '/v1/calls?level=switch:sw1&limit=1')).body.calls).toHaveLength(1);
    expect((await call('GET', '/v1/calls?level=switch:sw2')).body.calls).toHaveLength(0);
    expect((await call('GET', '/v1/calls?level=bogus')).status).toBe(400);
  });

  it('GET /v1/audit lists the changes, newest first', async () => {
    await call('POST', '/v1/servers/sw1/drain');
    await call('POST', '/v1/servers/sw1/enable');
    expect((await call('GET', '/v1/audit?limit=1')).body.records.map((r: { path: string }) => r.path)).toEqual(['/v1/servers/sw1/enable']);
  });

  it('serves the OpenAPI document at /docs/json, with every route', async () => {
    const res = await app.inject({ method: 'GET', url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toMatch(/^3\./);
    for (const path of ['/v1/servers', '/v1/servers/{id}', '/v1/servers/{id}/resize', '/v1/servers/{id}/drain', '/v1/clusters', '/v1/calls', '/v1/audit', '/healthz', '/readyz']) {
      expect(doc.paths, path).toHaveProperty([path]);
    }
  });
});
