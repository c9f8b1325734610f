import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryClusterStore } from '../shared/cluster-store/memory-cluster-store.ts';
import { digestHa1 } from '../shared/config/digest-ha1.ts';
import { parseConfig } from '../shared/config/load-config.ts';
import type { OpsRole } from '../shared/config/config-types.ts';
import { MemoryRegistrarStore } from '../shared/registrar-store/memory-registrar-store.ts';
import type { BindingInput } from '../shared/registrar-store/registrar-store.ts';
import { buildApp } from './app.ts';
import { AuditLog, type AuditRecord } from './audit-log.ts';

const TOKENS: Record<OpsRole, string> = { admin: 'admin-token-0123456789abcdef', operator: 'operator-token-0123456789ab', viewer: 'viewer-token-0123456789abcd' };
const hash = (t: string) => createHash('sha256').update(t).digest('hex');
const CONFIG = parseConfig(
  `
node: { id: d1, listen: [udp://127.0.0.1:5060] }
cluster:
  name: main
  realm: sip.example.com
  switches: [{ id: sw1, address: 127.0.0.21:5060 }]
`,
  { baseDir: '/' },
);
const REALM = 'sip.example.com';
const PASSWORD = 'Correct-Horse-Battery-Staple-42';
const PASSWORD2 = 'Another-Secret-Passphrase-77';
const MD5_HA1 = '0123456789ABCDEF0123456789abcdef';

let dir: string;
let clock: number;
let store: MemoryClusterStore;
let registrar: MemoryRegistrarStore;
let audit: AuditLog;
let logLines: string[];
let app: FastifyInstance;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ops-users-'));
  clock = Date.UTC(2026, 0, 2, 3, 4, 5);
  store = new MemoryClusterStore();
  registrar = new MemoryRegistrarStore({ now: () => clock });
  audit = await AuditLog.open(join(dir, 'audit.jsonl'));
  logLines = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logLines.push(String(chunk));
      cb();
    },
  });
  app = await buildApp({
    store,
    registrar,
    cluster: CONFIG.cluster,
    tokens: (Object.keys(TOKENS) as OpsRole[]).map((role) => ({ name: `${role}-user`, role, sha256: hash(TOKENS[role]) })),
    audit,
    logger: pino({ level: 'trace' }, sink),
    version: '9.9.9',
    limits: { rateLimit: { max: 1000, windowMs: 60_000 }, bodyLimit: 4096 },
  });
});

afterEach(async () => {
  await app.close();
  await audit.close();
  await registrar.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Every response body seen, to check that no secret ever leaves. */
let bodies: string[] = [];
beforeEach(() => {
  bodies = [];
});

async function call(role: OpsRole, method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, payload?: object) {
  const res = await app.inject({ method, url, headers: { authorization: `Bearer ${TOKENS[role]}` }, ...(payload === undefined ? {} : { payload }) });
  bodies.push(res.body);
  return { status: res.statusCode, body: res.body === '' ? undefined : res.json() };
}

async function auditText(): Promise<string> {
  await audit.flush();
  return readFileSync(join(dir, 'audit.jsonl'), 'utf8');
}

async function auditFile(): Promise<AuditRecord[]> {
  return (await auditText())
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditRecord);
}

function binding(over: Partial<BindingInput> = {}): BindingInput {
  return {
    key: 'sip:alice@192.0.2.10:51000',
    contact: 'sip:alice@192.0.2.10:51000',
    q: 0.8,
    path: [],
    flow: { nodeId: 'd1', protocol: 'udp', address: '198.51.100.7', port: 40123, localAddress: '127.0.0.11', localPort: 5060, ownerUri: 'sip:127.0.0.11:5060' },
    userAgent: 'Linphone/5.2',
    expires: 3600,
    ...over,
  };
}

describe('users', () => {
  it('creates a user from a password: both HA1s with the cluster realm, the password never kept', async () => {
    const created = await call('operator', 'POST', '/v1/users', { username: 'alice', password: PASSWORD, cps: 2, channels: 3 });
    expect(created).toEqual({ status: 201, body: { username: 'alice', realm: REALM, cps: 2, channels: 3, zone: null, algorithms: ['SHA-256', 'MD5'] } });
    expect(await registrar.getUser('alice')).toEqual({
      username: 'alice',
      realm: REALM,
      ha1Md5: digestHa1('md5', 'alice', REALM, PASSWORD),
      ha1Sha256: digestHa1('sha256', 'alice', REALM, PASSWORD),
      cps: 2,
      channels: 3,
    });
    expect(JSON.stringify(await registrar.getUser('alice'))).not.toContain(PASSWORD);
  });

  it('creates a user from an MD5 ha1 (stored lower-case, MD5 only)', async () => {
    const created = await call('operator', 'POST', '/v1/users', { username: 'bob.2+x', ha1: MD5_HA1 });
    expect(created).toEqual({ status: 201, body: { username: 'bob.2+x', realm: REALM, cps: null, channels: null, zone: null, algorithms: ['MD5'] } });
    expect(await registrar.getUser('bob.2+x')).toEqual({ username: 'bob.2+x', realm: REALM, ha1Md5: MD5_HA1.toLowerCase() });
    expect((await call('viewer', 'GET', '/v1/users/bob.2+x')).body.username).toBe('bob.2+x');
  });

  it('lists and gets users (viewer), 404 for an unknown one', async () => {
    await call('operator', 'POST', '/v1/users', { username: 'bob', ha1: MD5_HA1 });
    await call('operator', 'POST', '/v1/users', { username: 'alice', password: PASSWORD, channels: 1 });
    const list = await call('viewer', 'GET', '/v1/users');
    expect(list.status).toBe(200);
    expect(list.body.users).toEqual([
      { username: 'alice', realm: REALM, cps: null, channels: 1, zone: null, algorithms: ['SHA-256', 'MD5'] },
      { username: 'bob', realm: REALM, cps: null, channels: null, zone: null, algorithms: ['MD5'] },
    ]);
    expect((await call('viewer', 'GET', '/v1/users?limit=1')).body.users.map((u: { username: string }) => u.username)).toEqual(['alice']);
    expect((await call('viewer', 'GET', '/v1/users/alice')).body).toEqual(list.body.users[0]);
    expect(await call('viewer', 'GET', '/v1/users/carol')).toEqual({ status: 404, body: { code: 'OPS_ERR_NOT_FOUND', message: 'no user carol' } });
    expect((await call('viewer', 'GET', '/v1/users?limit=0')).body.message).toBe('querystring.limit: must be >= 1');
  });

  it('refuses a duplicate (409)', async () => {
    await call('operator', 'POST', '/v1/users', { username: 'alice', password: PASSWORD });
    const again = await call('operator', 'POST', '/v1/users', { username: 'alice', password: PASSWORD2 });
    expect(again).toEqual({ status: 409, body: { code: 'OPS_ERR_CONFLICT', message: 'user alice already exists' } });
    expect((await registrar.getUser('alice'))?.ha1Md5).toBe(digestHa1('md5', 'alice', REALM, PASSWORD));
  });

  it('answers 400 naming the field', async () => {
    const cases: Array<[object, RegExp]> = [
      [{ username: 'bad name', password: PASSWORD }, /^body\.username: /],
      [{ username: 'x'.repeat(65), password: PASSWORD }, /^body\.username: /],
      [{ username: '', password: PASSWORD }, /^body\.username: /],
      [{ username: 'alice:1', password: PASSWORD }, /^body\.username: /],
      [{ password: PASSWORD }, /^body\.username: is required$/],
      [{ username: 'alice', password: '' }, /^body\.password: /],
      [{ username: 'alice', password: 'p'.repeat(1025) }, /^body\.password: /],
      [{ username: 'alice', password: 42 }, /^body\.password: /],
      [{ username: 'alice', ha1: 'abc' }, /^body\.ha1: /],
      [{ username: 'alice', ha1: 'g'.repeat(32) }, /^body\.ha1: /],
      [{ username: 'alice' }, /^body\.password: is required/],
      [{ username: 'alice', password: PASSWORD, ha1: MD5_HA1 }, /^body\.ha1: give either password or ha1, not both$/],
      [{ username: 'alice', password: PASSWORD, cps: -1 }, /^body\.cps: must be >= 0$/],
      [{ username: 'alice', password: PASSWORD, cps: 1.5 }, /^body\.cps: /],
      [{ username: 'alice', password: PASSWORD, channels: '5' }, /^body\.channels: /],
      [{ username: 'alice', password: PASSWORD, realm: 'other' }, /^body\.realm: is not allowed$/],
    ];
    for (const [payload, message] of cases) {
      const res = await call('operator', 'POST', '/v1/users', payload);
      expect(res.status, JSON.stringify(payload).slice(0, 80)).toBe(400);
      expect(res.body.code).toBe('OPS_ERR_VALIDATION');
      expect(res.body.message).toMatch(message);
    }
    expect(await registrar.listUsers()).toEqual([]);
    expect((await call('viewer', 'GET', '/v1/users/bad%20name')).body.message).toMatch(/^params\.username: /);
    expect((await call('viewer', 'GET', `/v1/users/${'x'.repeat(65)}`)).status).toBe(400);
  });

  it('PUT replaces a user: cps/channels as given, the HA1s kept without a password, new ones with it', async () => {
    await call('operator', 'POST', '/v1/users', { username: 'alice', password: PASSWORD, cps: 2, channels: 3 });
    const kept = await call('operator', 'PUT', '/v1/users/alice', { channels: 9 });
    expect(kept).toEqual({ status: 200, body: { username: 'alice', realm: REALM, cps: null, channels: 9, zone: null, algorithms: ['SHA-256', 'MD5'] } });
    expect(await registrar.getUser('alice')).toEqual({
      username: 'alice',
      realm: REALM,
      ha1Md5: digestHa1('md5', 'alice', REALM, PASSWORD),
      ha1Sha256: digestHa1('sha256', 'alice', REALM, PASSWORD),
      channels: 9,
    });
    await call('operator', 'PUT', '/v1/users/alice', { password: PASSWORD2 });
    expect(await registrar.getUser('alice')).toEqual({
      username: 'alice',
      realm: REALM,
      ha1Md5: digestHa1('md5', 'alice', REALM, PASSWORD2),
      ha1Sha256: digestHa1('sha256', 'alice', REALM, PASSWORD2),
    });
    expect((await call('operator', 'PUT', '/v1/users/alice', { ha1: MD5_HA1 })).body.algorithms).toEqual(['MD5']);
    expect(await registrar.getUser('alice')).toEqual({ username: 'alice', realm: REALM, ha1Md5: MD5_HA1.toLowerCase() });
    expect((await call('operator', 'PUT', '/v1/users/carol', { password: PASSWORD })).status).toBe(404);
    expect((await call('operator', 'PUT', '/v1/users/alice', { username: 'alice' })).body.message).toBe('body.username: is not allowed');
    expect((await call('operator', 'PUT', '/v1/users/alice', { cps: -1 })).body.message).toBe('body.cps: must be >= 0');
  });

  it('PATCH changes cps, channels or the password; null removes a cap, an absent field keeps it', async () => {
    await call('operator', 'POST', '/v1/users', { username: 'alice', password: PASSWORD, cps: 2, channels: 3 });
    expect((await call('operator', 'PATCH', '/v1/users/alice', { cps: 5 })).body).toMatchObject({ cps: 5, channels: 3 });
    expect((await call('operator', 'PATCH', '/v1/users/alice', { channels: null })).body).toMatchObject({ cps: 5, channels: null });
    expect(await registrar.getUser('alice')).not.toHaveProperty('channels');
    await call('operator', 'PATCH', '/v1/users/alice', { password: PASSWORD2 });
    expect(await registrar.getUser('alice')).toEqual({
      username: 'alice',
      realm: REALM,
      ha1Md5: digestHa1('md5', 'alice', REALM, PASSWORD2),
      ha1Sha256: digestHa1('sha256', 'alice', REALM, PASSWORD2),
      cps: 5,
    });
    // An MD5 ha1 drops the SHA-256 HA1 (it belongs to the old password).
    expect((await call('operator', 'PATCH', '/v1/users/alice', { ha1: MD5_HA1 })).body.algorithms).toEqual(['MD5']);
    expect(await registrar.getUser('alice')).toEqual({ username: 'alice', realm: REALM, ha1Md5: MD5_HA1.toLowerCase(), cps: 5 });
    expect((await call('operator', 'PATCH', '/v1/users/alice', {})).body.message).toBe('body: must name at least one field');
    expect((await call('operator', 'PATCH', '/v1/users/alice', { channels: -3 })).body.message).toBe('body.channels: must be >= 0');
    expect((await call('operator', 'PATCH', '/v1/users/carol', { cps: 1 })).status).toBe(404);
  });

  it('DELETE (admin) removes the user and its bindings; 404 when absent', async () => {
    await call('operator', 'POST', '/v1/users', { username: 'alice', password: PASSWORD });
    expect((await registrar.register({ aor: 'alice', callId: 'c1', cseq: 1, removeAll: false, upserts: [binding()], removals: [], maxContacts: 10 })).ok).toBe(true);
    expect((await call('operator', 'DELETE', '/v1/users/alice')).status).toBe(403);
    expect(await call('admin', 'DELETE', '/v1/users/alice')).toEqual({ status: 204, body: undefined });
    expect(await registrar.getUser('alice')).toBeUndefined();
    expect(await registrar.lookup('alice')).toEqual([]);
    expect(await call('admin', 'DELETE', '/v1/users/alice')).toEqual({ status: 404, body: { code: 'OPS_ERR_NOT_FOUND', message: 'no user alice' } });
  });

  it('lets a viewer read but not create (403), and audits the denial', async () => {
    const res = await call('viewer', 'POST', '/v1/users', { username: 'mallory', password: PASSWORD });
    expect(res).toEqual({ status: 403, body: { code: 'OPS_ERR_FORBIDDEN', message: 'role viewer may not POST /v1/users (needs operator)' } });
    expect((await call('viewer', 'PATCH', '/v1/users/alice', { cps: 1 })).status).toBe(403);
    expect(await registrar.getUser('mallory')).toBeUndefined();
    const records = await auditFile();
    expect(records.map((r) => [r.token, r.role, r.method, r.path, r.status, r.code])).toEqual([
      ['viewer-user', 'viewer', 'POST', '/v1/users', 403, 'OPS_ERR_FORBIDDEN'],
      ['viewer-user', 'viewer', 'PATCH', '/v1/users/alice', 403, 'OPS_ERR_FORBIDDEN'],
    ]);
  });

  it('audits every change without the password or an HA1', async () => {
    await call('operator', 'POST', '/v1/users', { username: 'alice', password: PASSWORD, cps: 2 });
    await call('operator', 'PATCH', '/v1/users/alice', { password: PASSWORD2 });
    await call('operator', 'PUT', '/v1/users/alice', { ha1: MD5_HA1, channels: 4 });
    await call('operator', 'POST', '/v1/users', { username: 'bad name', password: PASSWORD });
    await call('admin', 'DELETE', '/v1/users/alice');
    const records = await auditFile();
    expect(records.map((r) => [r.method, r.path, r.status, r.body])).toEqual([
      ['POST', '/v1/users', 201, { username: 'alice', password: '[redacted]', cps: 2 }],
      ['PATCH', '/v1/users/alice', 200, { password: '[redacted]' }],
      ['PUT', '/v1/users/alice', 200, { ha1: '[redacted]', channels: 4 }],
      ['POST', '/v1/users', 400, { username: 'bad name', password: '[redacted]' }],
      ['DELETE', '/v1/users/alice', 204, undefined],
    ]);
    expect(records[1].params).toEqual({ username: 'alice' });
  });
});

describe('secrets', () => {
  it('never show a password or an HA1 in any answer, audit record or log line', async () => {
    await call('operator', 'POST', '/v1/users', { username: 'alice', password: PASSWORD, cps: 2 });
    await call('operator', 'POST', '/v1/users', { username: 'alice', password: PASSWORD });
    await call('operator', 'POST', '/v1/users', { username: 'bob', ha1: MD5_HA1 });
    await call('operator', 'POST', '/v1/users', { username: 'carol', password: PASSWORD, ha1: MD5_HA1 });
    await call('operator', 'POST', '/v1/users', { username: 'dave', password: PASSWORD, cps: -1 });
    await call('viewer', 'POST', '/v1/users', { username: 'erin', password: PASSWORD });
    await call('operator', 'PATCH', '/v1/users/alice', { password: PASSWORD2 });
    await call('operator', 'PUT', '/v1/users/alice', { password: PASSWORD2, channels: 1 });
    await call('operator', 'PATCH', '/v1/users/zed', { password: PASSWORD2 });
    await call('viewer', 'GET', '/v1/users');
    await call('viewer', 'GET', '/v1/users/alice');
    await call('viewer', 'GET', '/v1/users/bob');
    await call('viewer', 'GET', '/v1/audit');
    const alice = await registrar.getUser('alice');
    const secrets = [
      PASSWORD,
      PASSWORD2,
      MD5_HA1,
      MD5_HA1.toLowerCase(),
      alice?.ha1Md5 ?? '?',
      alice?.ha1Sha256 ?? '?',
      digestHa1('md5', 'alice', REALM, PASSWORD),
      digestHa1('sha256', 'alice', REALM, PASSWORD),
    ];
    const answers = bodies.join('\n');
    const auditLines = await auditText();
    const logs = logLines.join('');
    expect(answers).toContain('alice');
    expect(auditLines).toContain('/v1/users');
    expect(logs).toContain('/v1/users');
    for (const secret of secrets) {
      expect(answers, 'answers').not.toContain(secret);
      expect(auditLines, 'audit file').not.toContain(secret);
      expect(JSON.stringify(audit.recent(1000)), 'audit records').not.toContain(secret);
      expect(logs, 'logs').not.toContain(secret);
    }
  });

  it('redacts passwords and HA1s should a log call pass them', async () => {
    app.log.info({ password: PASSWORD, user: { password: PASSWORD2, ha1: MD5_HA1, ha1Md5: 'a'.repeat(32), ha1Sha256: 'b'.repeat(64) } }, 'user seen');
    const logs = logLines.join('');
    expect(logs).toContain('[redacted]');
    for (const secret of [PASSWORD, PASSWORD2, MD5_HA1, 'a'.repeat(32), 'b'.repeat(64)]) expect(logs).not.toContain(secret);
  });
});

describe('registrations', () => {
  it("GET /v1/registrations/:aor shows the AOR's bindings with their flows", async () => {
    await call('operator', 'POST', '/v1/users', { username: 'alice', password: PASSWORD });
    const registeredAt = clock;
    const outbound = binding({
      key: '<urn:uuid:00000000-0000-0000-0000-000000000001>;reg-id=1',
      contact: 'sip:alice@[2001:db8::5]:5070;transport=tcp;ob',
      q: 1,
      instanceId: '<urn:uuid:00000000-0000-0000-0000-000000000001>',
      regId: 1,
      path: ['<sip:edge.example.com;lr>'],
      flow: { nodeId: 'd2', protocol: 'tcp', address: '2001:db8::5', port: 50_000, connectionId: 7, localAddress: '127.0.0.12', localPort: 5060, ownerUri: 'sip:127.0.0.12:5060' },
      userAgent: undefined,
      expires: 600,
    });
    const result = await registrar.register({ aor: 'alice', callId: 'c1', cseq: 1, removeAll: false, upserts: [binding(), outbound], removals: [], maxContacts: 10 });
    expect(result.ok).toBe(true);
    await registrar.recordPingRtts([{ aor: 'alice', key: 'sip:alice@192.0.2.10:51000', rttMs: 42 }]);
    clock += 10_000;
    const res = await call('viewer', 'GET', '/v1/registrations/alice');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      aor: 'alice',
      bindings: [
        {
          contact: 'sip:alice@[2001:db8::5]:5070;transport=tcp;ob',
          q: 1,
          expiresInS: 590,
          flow: { node: 'd2', transport: 'tcp', source: '[2001:db8::5]:50000', local: '127.0.0.12:5060' },
          path: ['<sip:edge.example.com;lr>'],
          instanceId: '<urn:uuid:00000000-0000-0000-0000-000000000001>',
          regId: 1,
          userAgent: null,
          pingRttMs: null,
          registeredAt: new Date(registeredAt).toISOString(),
        },
        {
          contact: 'sip:alice@192.0.2.10:51000',
          q: 0.8,
          expiresInS: 3590,
          flow: { node: 'd1', transport: 'udp', source: '198.51.100.7:40123', local: '127.0.0.11:5060' },
          path: [],
          instanceId: null,
          regId: null,
          userAgent: 'Linphone/5.2',
          pingRttMs: 42,
          registeredAt: new Date(registeredAt).toISOString(),
        },
      ],
    });
  });

  it('answers { aor, bindings: [] } for a user without bindings, 404 for an unknown user, 400 for a bad AOR', async () => {
    await call('operator', 'POST', '/v1/users', { username: 'bob', ha1: MD5_HA1 });
    expect(await call('viewer', 'GET', '/v1/registrations/bob')).toEqual({ status: 200, body: { aor: 'bob', bindings: [] } });
    expect(await call('viewer', 'GET', '/v1/registrations/nobody')).toEqual({ status: 404, body: { code: 'OPS_ERR_NOT_FOUND', message: 'no user nobody' } });
    expect((await call('viewer', 'GET', '/v1/registrations/a%20b')).body.message).toMatch(/^params\.aor: /);
  });

  it('GET /v1/registrations counts bindings, per live node or for one node', async () => {
    await store.registerNode('d1', 10_000);
    await store.registerNode('d2', 10_000);
    await call('operator', 'POST', '/v1/users', { username: 'alice', password: PASSWORD });
    await call('operator', 'POST', '/v1/users', { username: 'bob', password: PASSWORD2 });
    await registrar.register({ aor: 'alice', callId: 'c1', cseq: 1, removeAll: false, upserts: [binding()], removals: [], maxContacts: 10 });
    await registrar.register({
      aor: 'bob',
      callId: 'c2',
      cseq: 1,
      removeAll: false,
      upserts: [binding({ key: 'sip:bob@192.0.2.11', contact: 'sip:bob@192.0.2.11' }), binding({ key: 'sip:bob@192.0.2.12', contact: 'sip:bob@192.0.2.12', flow: { ...binding().flow, nodeId: 'd2' } })],
      removals: [],
      maxContacts: 10,
    });
    expect(await call('viewer', 'GET', '/v1/registrations')).toEqual({ status: 200, body: { total: 3, byNode: { d1: 2, d2: 1 } } });
    expect(await call('viewer', 'GET', '/v1/registrations?node=d2')).toEqual({ status: 200, body: { total: 1 } });
    expect(await call('viewer', 'GET', '/v1/registrations?node=d9')).toEqual({ status: 200, body: { total: 0 } });
    expect((await call('viewer', 'GET', '/v1/registrations?node=a%20b')).body.message).toMatch(/^querystring\.node: /);
  });
});

describe('bans', () => {
  const policy = { windowMs: 60_000, threshold: 3, banMs: 600_000 };

  it('lists the bans in force and lifts one (operator); 404 when none, 400 for a bad IP', async () => {
    expect(await call('viewer', 'GET', '/v1/bans')).toEqual({ status: 200, body: { bans: [] } });
    for (let i = 0; i < 3; i++) await registrar.recordAuthFailure('203.0.113.9', policy);
    await registrar.recordAuthFailure('2001:db8::66', policy);
    expect(await call('viewer', 'GET', '/v1/bans')).toEqual({ status: 200, body: { bans: [{ ip: '203.0.113.9', until: new Date(clock + 600_000).toISOString() }] } });
    expect((await call('viewer', 'DELETE', '/v1/bans/203.0.113.9')).status).toBe(403);
    expect(await call('operator', 'DELETE', '/v1/bans/203.0.113.9')).toEqual({ status: 204, body: undefined });
    expect(await registrar.listBans()).toEqual([]);
    expect(await call('operator', 'DELETE', '/v1/bans/203.0.113.9')).toEqual({ status: 404, body: { code: 'OPS_ERR_NOT_FOUND', message: 'no ban for 203.0.113.9' } });
    expect(await call('operator', 'DELETE', '/v1/bans/2001:db8::66')).toEqual({ status: 404, body: { code: 'OPS_ERR_NOT_FOUND', message: 'no ban for 2001:db8::66' } });
    expect(await call('operator', 'DELETE', '/v1/bans/not-an-ip')).toEqual({ status: 400, body: { code: 'OPS_ERR_VALIDATION', message: 'params.ip: must be an IPv4 or IPv6 address' } });
    expect((await auditFile()).map((r) => [r.role, r.method, r.path, r.status])).toEqual([
      ['viewer', 'DELETE', '/v1/bans/203.0.113.9', 403],
      ['operator', 'DELETE', '/v1/bans/203.0.113.9', 204],
      ['operator', 'DELETE', '/v1/bans/203.0.113.9', 404],
      ['operator', 'DELETE', '/v1/bans/2001:db8::66', 404],
      ['operator', 'DELETE', '/v1/bans/not-an-ip', 400],
    ]);
  });

  it('lifts an IPv6 ban', async () => {
    for (let i = 0; i < 3; i++) await registrar.recordAuthFailure('2001:db8::66', policy);
    expect((await call('viewer', 'GET', '/v1/bans')).body.bans.map((b: { ip: string }) => b.ip)).toEqual(['2001:db8::66']);
    expect((await call('operator', 'DELETE', '/v1/bans/2001:db8::66')).status).toBe(204);
  });
});

describe('store outage', () => {
  it('answers 503 OPS_ERR_STORE_UNAVAILABLE when the registrar store is unreachable', async () => {
    await registrar.close();
    for (const [method, url] of [
      ['GET', '/v1/users'],
      ['GET', '/v1/registrations/alice'],
      ['GET', '/v1/bans'],
    ] as const) {
      const res = await call('viewer', method, url);
      expect(res, url).toEqual({ status: 503, body: { code: 'OPS_ERR_STORE_UNAVAILABLE', message: 'the cluster store is unreachable; try again' } });
    }
    expect((await call('operator', 'POST', '/v1/users', { username: 'alice', password: PASSWORD })).status).toBe(503);
  });
});

describe('OpenAPI', () => {
  it('documents the new routes', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json();
    for (const path of ['/v1/users', '/v1/users/{username}', '/v1/registrations', '/v1/registrations/{aor}', '/v1/bans', '/v1/bans/{ip}']) expect(doc.paths, path).toHaveProperty([path]);
  });
});

describe('user zones (media relay selection)', () => {
  it("sets, shows and removes a user's media zone", async () => {
    const created = await call('operator', 'POST', '/v1/users', { username: 'zed', password: PASSWORD, zone: 'eu' });
    expect(created.status).toBe(201);
    expect(created.body.zone).toBe('eu');
    expect((await registrar.getUser('zed'))?.zone).toBe('eu');
    const patched = await call('operator', 'PATCH', '/v1/users/zed', { zone: null });
    expect(patched.body.zone).toBeNull();
    expect((await registrar.getUser('zed'))?.zone).toBeUndefined();
    expect((await call('operator', 'PATCH', '/v1/users/zed', { zone: 'not a zone!' })).status).toBe(400);
  });
});
