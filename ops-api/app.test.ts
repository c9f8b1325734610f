import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryClusterStore } from '../shared/cluster-store/memory-cluster-store.ts';
import { MemoryRegistrarStore } from '../shared/registrar-store/memory-registrar-store.ts';
import { parseConfig } from '../shared/config/load-config.ts';
import type { OpsRole } from '../shared/config/config-types.ts';
import { buildApp } from './app.ts';
import { AuditLog, type AuditRecord } from './audit-log.ts';

const TOKENS: Record<OpsRole, string> = { admin: 'admin-token-0123456789abcdef', operator: 'operator-token-0123456789ab', viewer: 'viewer-token-0123456789abcd' };
const hash = (t: string) => createHash('sha256').update(t).digest('hex');
const CONFIG = parseConfig(
  `
node: { id: d1, listen: [udp://127.0.0.1:5060] }
cluster:
  name: main
  limits: { cps: 50, channels: 500 }
  selection: weighted
  switches:
    - { id: sw1, address: 127.0.0.21:5060, weight: 2, channels: 100, cps: 10, zone: eu }
    - { id: sw2, address: 127.0.0.22:5060 }
`,
  { baseDir: '/' },
);

let dir: string;
let store: MemoryClusterStore;
let registrar: MemoryRegistrarStore;
let audit: AuditLog;
let logLines: string[];
let app: FastifyInstance;

async function build(limits = { rateLimit: { max: 1000, windowMs: 60_000 }, bodyLimit: 1024 }): Promise<FastifyInstance> {
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logLines.push(String(chunk));
      cb();
    },
  });
  return buildApp({
    store,
    registrar,
    cluster: CONFIG.cluster,
    tokens: (Object.keys(TOKENS) as OpsRole[]).map((role) => ({ name: `${role}-user`, role, sha256: hash(TOKENS[role]) })),
    audit,
    logger: pino({ level: 'trace' }, sink),
    version: '9.9.9',
    limits,
  });
}

const auth = (role: OpsRole) => ({ authorization: `Bearer ${TOKENS[role]}` });

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ops-api-'));
  store = new MemoryClusterStore();
  registrar = new MemoryRegistrarStore();
  await store.seedSwitches(CONFIG.cluster.switches.map(({ address: _a, ...sw }) => sw));
  audit = await AuditLog.open(join(dir, 'audit.jsonl'));
  logLines = [];
  app = await build();
});

afterEach(async () => {
  await app.close();
  await audit.close();
  await registrar.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function auditFile(): Promise<AuditRecord[]> {
  await audit.flush();
  return readFileSync(join(dir, 'audit.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditRecord);
}

describe('authentication and roles', () => {
  it('answers 401 with WWW-Authenticate without a token or with a wrong one', async () => {
    for (const headers of [{}, { authorization: 'Bearer not-a-valid-token' }, { authorization: `Basic ${TOKENS.admin}` }]) {
      const res = await app.inject({ method: 'GET', url: '/v1/servers', headers });
      expect(res.statusCode).toBe(401);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(res.json().code).toBe('OPS_ERR_UNAUTHORIZED');
    }
  });

  it('lets a viewer read but not change (403)', async () => {
    expect((await app.inject({ method: 'GET', url: '/v1/servers', headers: auth('viewer') })).statusCode).toBe(200);
    const res = await app.inject({ method: 'POST', url: '/v1/servers/sw1/disable', headers: auth('viewer') });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toEqual({ code: 'OPS_ERR_FORBIDDEN', message: expect.stringContaining('needs operator') });
  });

  it('lets an operator act on switches but not create or delete them (403)', async () => {
    expect((await app.inject({ method: 'POST', url: '/v1/servers/sw1/drain', headers: auth('operator') })).statusCode).toBe(200);
    expect((await app.inject({ method: 'DELETE', url: '/v1/servers/sw1', headers: auth('operator') })).statusCode).toBe(403);
    const create = await app.inject({ method: 'POST', url: '/v1/servers', headers: auth('operator'), payload: { id: 'sw9', type: 'switch', address: '127.0.0.29:5060' } });
    expect(create.statusCode).toBe(403);
    expect((await app.inject({ method: 'DELETE', url: '/v1/servers/sw1', headers: auth('admin') })).statusCode).toBe(204);
  });

  it('needs no token for /healthz and /readyz, and a token for unknown routes', async () => {
    expect((await app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/v1/nothing' })).statusCode).toBe(401);
    const res = await app.inject({ method: 'GET', url: '/v1/nothing', headers: auth('viewer') });
    expect(res.statusCode).toBe(404);
    expect(res.json().code).toBe('OPS_ERR_NOT_FOUND');
  });

  it('answers 503 on /readyz when the store is unreachable', async () => {
    await store.close();
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(503);
  });
});

describe('limits and input', () => {
  it('answers 429 past the rate limit, per token', async () => {
    await app.close();
    app = await build({ rateLimit: { max: 3, windowMs: 60_000 }, bodyLimit: 1024 });
    const codes: number[] = [];
    for (let i = 0; i < 4; i++) codes.push((await app.inject({ method: 'GET', url: '/v1/servers', headers: auth('viewer') })).statusCode);
    expect(codes).toEqual([200, 200, 200, 429]);
    const res = await app.inject({ method: 'GET', url: '/v1/servers', headers: auth('viewer') });
    expect(res.json().code).toBe('OPS_ERR_RATE_LIMITED');
    // Another token has its own budget.
    expect((await app.inject({ method: 'GET', url: '/v1/servers', headers: auth('admin') })).statusCode).toBe(200);
  });

  it('answers 400 naming the field', async () => {
    const cases: Array<[unknown, string]> = [
      [{ cps: -1 }, 'body.cps: must be >= 0'],
      [{ channels: 1.5 }, 'body.channels'],
      [{ cpz: 1 }, 'body.cpz: is not allowed'],
      [{}, 'body: must name at least one field'],
    ];
    for (const [payload, message] of cases) {
      const res = await app.inject({ method: 'POST', url: '/v1/servers/sw1/resize', headers: auth('operator'), payload: payload as object });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json().code).toBe('OPS_ERR_VALIDATION');
      expect(res.json().message).toContain(message);
    }
    const missing = await app.inject({ method: 'POST', url: '/v1/servers', headers: auth('admin'), payload: { id: 'sw9', type: 'switch' } });
    expect(missing.json()).toEqual({ code: 'OPS_ERR_VALIDATION', message: 'body.address: is required' });
    const badAddress = await app.inject({ method: 'POST', url: '/v1/servers', headers: auth('admin'), payload: { id: 'sw9', type: 'switch', address: 'nope' } });
    expect(badAddress.json().message).toMatch(/^body\.address: /);
    const badQuery = await app.inject({ method: 'GET', url: '/v1/calls?limit=0', headers: auth('viewer') });
    expect(badQuery.json().message).toBe('querystring.limit: must be >= 1');
    const badJson = await app.inject({ method: 'PATCH', url: '/v1/servers/sw1', headers: { ...auth('operator'), 'content-type': 'application/json' }, payload: '{nope' });
    expect(badJson.statusCode).toBe(400);
    expect(badJson.json().code).toBe('OPS_ERR_BAD_JSON');
  });

  it('limits requests without a valid token per client IP, before checking the token', async () => {
    await app.close();
    app = await build({ rateLimit: { max: 2, windowMs: 60_000 }, bodyLimit: 1024 });
    const codes: number[] = [];
    for (let i = 0; i < 3; i++) codes.push((await app.inject({ method: 'POST', url: '/v1/servers/sw1/drain', headers: { authorization: `Bearer guess-${i}` } })).statusCode);
    expect(codes).toEqual([401, 401, 429]);
    const records = await auditFile();
    expect(records.map((r) => [r.status, r.code])).toEqual([
      [401, 'OPS_ERR_UNAUTHORIZED'],
      [401, 'OPS_ERR_UNAUTHORIZED'],
      [429, 'OPS_ERR_RATE_LIMITED'],
    ]);
  });

  it('takes bodies as sent: no coercion, null removes a cap, 0 stays 0', async () => {
    const asString = await app.inject({ method: 'POST', url: '/v1/servers/sw1/resize', headers: auth('operator'), payload: { channels: '5' } });
    expect(asString.json()).toEqual({ code: 'OPS_ERR_VALIDATION', message: expect.stringMatching(/^body\.channels: /) });
    expect((await app.inject({ method: 'POST', url: '/v1/servers/sw1/resize', headers: auth('operator'), payload: { channels: 0 } })).json().channels.max).toBe(0);
    expect((await app.inject({ method: 'POST', url: '/v1/servers/sw1/resize', headers: auth('operator'), payload: { channels: null } })).json().channels.max).toBeNull();
    const badType = await app.inject({ method: 'POST', url: '/v1/servers', headers: auth('admin'), payload: { id: 'x', type: 'router', address: '127.0.0.1:5060' } });
    expect(badType.json().message).toBe('body.type: must be one of switch, dispatcher');
    const text = await app.inject({ method: 'PATCH', url: '/v1/servers/sw1', headers: { ...auth('operator'), 'content-type': 'text/plain' }, payload: 'weight=3' });
    expect(text.statusCode).toBe(415);
    expect(text.json().code).toBe('OPS_ERR_UNSUPPORTED_MEDIA_TYPE');
  });

  it('answers 413 on an oversized body', async () => {
    const res = await app.inject({ method: 'PATCH', url: '/v1/servers/sw1', headers: auth('operator'), payload: { zone: 'x'.repeat(2000) } });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toEqual({ code: 'OPS_ERR_BODY_TOO_LARGE', message: 'body: must be at most 1024 bytes' });
    expect((await auditFile()).map((r) => [r.token, r.status, r.body])).toEqual([['operator-user', 413, undefined]]);
  });
});

describe('audit', () => {
  it('records allowed and denied changes, never the token', async () => {
    await app.inject({ method: 'POST', url: '/v1/servers/sw1/resize', headers: auth('operator'), payload: { channels: 5 } });
    await app.inject({ method: 'POST', url: '/v1/servers/sw1/disable', headers: auth('viewer') });
    await app.inject({ method: 'POST', url: '/v1/servers/sw1/disable', headers: { authorization: 'Bearer wrong-token-xyz' } });
    await app.inject({ method: 'POST', url: '/v1/servers/sw1/resize', headers: auth('operator'), payload: { cps: -5 } });
    await app.inject({ method: 'GET', url: '/v1/servers', headers: auth('viewer') });
    const records = await auditFile();
    expect(records.map((r) => [r.token, r.role, r.method, r.path, r.status])).toEqual([
      ['operator-user', 'operator', 'POST', '/v1/servers/sw1/resize', 200],
      ['viewer-user', 'viewer', 'POST', '/v1/servers/sw1/disable', 403],
      [null, null, 'POST', '/v1/servers/sw1/disable', 401],
      ['operator-user', 'operator', 'POST', '/v1/servers/sw1/resize', 400],
    ]);
    expect(records[0].body).toEqual({ channels: 5 });
    expect(records[0].params).toEqual({ id: 'sw1' });
    expect(records[1].code).toBe('OPS_ERR_FORBIDDEN');
    const text = readFileSync(join(dir, 'audit.jsonl'), 'utf8');
    for (const token of [...Object.values(TOKENS), 'wrong-token-xyz']) expect(text).not.toContain(token);
    const listed = await app.inject({ method: 'GET', url: '/v1/audit?limit=2', headers: auth('viewer') });
    expect(listed.json().records.map((r: AuditRecord) => r.status)).toEqual([400, 401]);
  });

  it('appends to an existing file and keeps its records', async () => {
    await app.inject({ method: 'POST', url: '/v1/servers/sw1/drain', headers: auth('operator') });
    await app.close();
    await audit.close();
    audit = await AuditLog.open(join(dir, 'audit.jsonl'));
    app = await build();
    await app.inject({ method: 'POST', url: '/v1/servers/sw1/enable', headers: auth('operator') });
    expect((await auditFile()).map((r) => r.path)).toEqual(['/v1/servers/sw1/drain', '/v1/servers/sw1/enable']);
    expect(audit.recent(10).map((r) => r.path)).toEqual(['/v1/servers/sw1/enable', '/v1/servers/sw1/drain']);
  });
});

describe('logs', () => {
  it('never contain a token or an Authorization value', async () => {
    await app.inject({ method: 'GET', url: '/v1/servers', headers: auth('admin') });
    await app.inject({ method: 'POST', url: '/v1/servers/sw1/disable', headers: auth('viewer') });
    await app.inject({ method: 'GET', url: '/v1/servers', headers: { authorization: 'Bearer wrong-token-xyz' } });
    app.log.info({ req: { headers: { authorization: `Bearer ${TOKENS.operator}` } }, authorization: TOKENS.operator, token: TOKENS.operator }, 'headers seen');
    const text = logLines.join('');
    expect(text).toContain('incoming request');
    expect(text).toContain('[redacted]');
    for (const token of [...Object.values(TOKENS), 'wrong-token-xyz']) expect(text).not.toContain(token);
  });
});
