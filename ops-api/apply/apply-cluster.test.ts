import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryClusterStore } from '../../shared/cluster-store/memory-cluster-store.ts';
import { MemoryRegistrarStore } from '../../shared/registrar-store/memory-registrar-store.ts';
import { parseConfig } from '../../shared/config/load-config.ts';
import { buildApp } from '../app.ts';
import { AuditLog } from '../audit-log.ts';
import { applyCluster } from './apply-cluster.ts';

const TOKEN = 'apply-test-token-0123456789';
const RUNNING = parseConfig(
  `node: { id: d1, listen: [udp://127.0.0.1:5060] }
cluster:
  name: main
  limits: { cps: 10 }
  switches:
    - { id: sw1, address: 127.0.0.21:5060, weight: 1 }
`,
  { baseDir: '/' },
);
const WANTED = parseConfig(
  `node: { id: d1, listen: [udp://127.0.0.1:5060] }
cluster:
  name: main
  limits: { cps: 30, channels: 300 }
  switches:
    - { id: sw1, address: 127.0.0.21:5060, weight: 5, channels: 100, state: draining }
    - { id: sw2, address: 127.0.0.22:5060, transport: tcp, priority: 1 }
`,
  { baseDir: '/' },
);

let dir: string;
let store: MemoryClusterStore;
let registrar: MemoryRegistrarStore;
let audit: AuditLog;
let app: FastifyInstance;
let url: string;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'apply-'));
  store = new MemoryClusterStore();
  registrar = new MemoryRegistrarStore();
  await store.seedSwitches(RUNNING.cluster.switches.map(({ address: _a, ...sw }) => sw));
  await store.seedClusterLimits(RUNNING.cluster.limits);
  audit = await AuditLog.open(join(dir, 'audit.jsonl'));
  app = await buildApp({
    store,
    registrar,
    cluster: RUNNING.cluster,
    tokens: [{ name: 'ops', role: 'admin', sha256: createHash('sha256').update(TOKEN).digest('hex') }],
    audit,
    logger: pino({ level: 'silent' }),
    version: 'test',
    limits: { rateLimit: { max: 1000, windowMs: 60_000 }, bodyLimit: 65_536 },
  });
  url = await app.listen({ host: '127.0.0.1', port: 0 });
});

afterEach(async () => {
  await app.close();
  await audit.close();
  await registrar.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('sipfleet apply', () => {
  it('makes the cluster match the description through the API, and is idempotent', async () => {
    const steps = await applyCluster(WANTED, url, TOKEN);
    expect(steps.filter((s) => s.status >= 400 && s.status !== 409)).toEqual([]);
    expect(await store.getClusterLimits()).toEqual({ cps: 30, channels: 300 });
    const byId = Object.fromEntries((await store.listSwitches()).map((s) => [s.id, s]));
    expect(byId.sw1).toMatchObject({ weight: 5, channels: 100, state: 'draining' });
    expect(byId.sw2).toMatchObject({ host: '127.0.0.22', port: 5060, transport: 'tcp', priority: 1, state: 'active' });
    const again = await applyCluster(WANTED, url, TOKEN);
    expect(again.filter((s) => s.status >= 400 && s.status !== 409)).toEqual([]);
    expect((await store.listSwitches()).map((s) => s.id)).toEqual(['sw1', 'sw2']);
  });

  it('reports what the API refused (a wrong token: 401 on every step)', async () => {
    const steps = await applyCluster(WANTED, url, 'not-the-token-at-all');
    expect(steps.length).toBeGreaterThan(0);
    expect(steps.every((s) => s.status === 401)).toBe(true);
    expect(await store.getClusterLimits()).toEqual({ cps: 10 });
  });
});
