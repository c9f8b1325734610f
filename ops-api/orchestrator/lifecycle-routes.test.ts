/**
 * The lifecycle routes over a fake orchestrator and a memory store: deploy (switch, dispatcher),
 * start, stop, restart, drain, delete answer 202 with an operation that is polled to its end;
 * 404/409/501, roles, audit; the orchestrator's state shows in /v1/servers.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server as HttpServer } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryClusterStore } from '../../shared/cluster-store/memory-cluster-store.ts';
import { parseConfig } from '../../shared/config/load-config.ts';
import { MemoryRegistrarStore } from '../../shared/registrar-store/memory-registrar-store.ts';
import { buildApp } from '../app.ts';
import { AuditLog } from '../audit-log.ts';
import type { Server } from '../schemas.ts';
import { OrchestratorError, type Orchestrator, type ServerInstance, type ServerSpec, type StopOptions } from './orchestrator.ts';
import { ServerLifecycle } from './server-lifecycle.ts';

const TEMPLATE = `
node: { id: ops, listen: [udp://127.0.0.1:5999] }
store: redis://127.0.0.1:6390
cluster:
  name: main
  probe: { interval: 1s, timeout: 500ms, rise: 1, fall: 2 }
  switches:
    - { id: sw1, address: 127.0.0.21:5060 }
ops:
  tokens: []
`;
const CONFIG = parseConfig(TEMPLATE, { baseDir: '/' });
const TOKENS = { admin: 'admin-token-0123456789abcdef', operator: 'operator-token-0123456789ab', viewer: 'viewer-token-0123456789abcd' } as const;
type Role = keyof typeof TOKENS;

/** Runs nothing: records the calls; hooks stand in for the process (a lease, a failure). */
class FakeOrchestrator implements Orchestrator {
  readonly backend = 'fake';
  readonly calls: string[] = [];
  readonly specs = new Map<string, ServerSpec>();
  readonly #inst = new Map<string, ServerInstance>();
  #pid = 1000;
  onStart: (spec: ServerSpec) => Promise<void> = async () => undefined;
  onStop: (spec: ServerSpec) => Promise<void> = async () => undefined;

  async deploy(spec: ServerSpec): Promise<ServerInstance> {
    this.calls.push(`deploy ${spec.id}`);
    if (this.#inst.has(spec.id)) throw new OrchestratorError('exists', `server ${spec.id} already exists`);
    this.specs.set(spec.id, spec);
    const i: ServerInstance = { id: spec.id, kind: spec.kind, state: 'starting', backend: 'fake', restarts: 0, draining: false, logFile: `/logs/${spec.id}.log`, listen: spec.listen, http: spec.http };
    this.#inst.set(spec.id, i);
    return this.#run(i, false);
  }
  async start(id: string) {
    this.calls.push(`start ${id}`);
    return this.#run(this.#get(id), true);
  }
  async stop(id: string, o: StopOptions = {}) {
    this.calls.push(`stop ${id} ${o.graceMs ?? ''}`.trim());
    const i = this.#get(id);
    Object.assign(i, { state: 'stopped', exitCode: 0, draining: false });
    await this.onStop(this.specs.get(id)!);
    return { ...i };
  }
  async restart(id: string, o: StopOptions = {}) {
    await this.stop(id, o);
    this.calls.push(`start ${id}`);
    return this.#run(this.#get(id), true);
  }
  async drain(id: string) {
    this.calls.push(`drain ${id}`);
    const i = this.#get(id);
    if (i.kind !== 'dispatcher') throw new OrchestratorError('unsupported', 'switch');
    i.draining = true;
    return { ...i };
  }
  async remove(id: string) {
    this.calls.push(`remove ${id}`);
    this.#get(id);
    this.#inst.delete(id);
  }
  async get(id: string) {
    const i = this.#inst.get(id);
    return i === undefined ? undefined : { ...i };
  }
  async list() {
    return [...this.#inst.values()].map((i) => ({ ...i }));
  }
  async logs(id: string, lines = 100) {
    this.#get(id);
    return ['one', 'two', 'three'].slice(-lines);
  }
  async close() {}

  #get(id: string): ServerInstance {
    const i = this.#inst.get(id);
    if (i === undefined) throw new OrchestratorError('not-found', id);
    return i;
  }
  async #run(i: ServerInstance, again: boolean): Promise<ServerInstance> {
    if (again) i.restarts++;
    try {
      await this.onStart(this.specs.get(i.id)!);
    } catch (err) {
      Object.assign(i, { state: 'failed', exitCode: 2 });
      throw new OrchestratorError('not-ready', `${i.id} exited (code 2) before it was ready`, { cause: err });
    }
    Object.assign(i, { state: 'running', pid: this.#pid++, startedAt: new Date().toISOString(), exitCode: undefined, draining: false });
    return { ...i };
  }
}

let store: MemoryClusterStore;
let orch: FakeOrchestrator;
let lifecycle: ServerLifecycle;
let audit: AuditLog;
let app: FastifyInstance;
let prober: NodeJS.Timeout | undefined;
let readyz: HttpServer | undefined;

async function build(o: { sharedStore?: boolean; lifecycle?: boolean } = {}): Promise<void> {
  await app?.close();
  lifecycle = new ServerLifecycle({ store, orchestrator: orch, cluster: CONFIG.cluster, sharedStore: o.sharedStore ?? true, configText: TEMPLATE, pollMs: 10, settleMs: 0, joinTimeoutMs: 2_000, probeTimeoutMs: 2_000 });
  app = await buildApp({
    store,
    registrar: new MemoryRegistrarStore(),
    cluster: CONFIG.cluster,
    tokens: (Object.keys(TOKENS) as Role[]).map((role) => ({ name: role, role, sha256: createHash('sha256').update(TOKENS[role]).digest('hex') })),
    audit,
    logger: pino({ level: 'silent' }),
    version: 'test',
    limits: { rateLimit: { max: 10_000, windowMs: 60_000 }, bodyLimit: 8192 },
    lifecycle: o.lifecycle === false ? undefined : lifecycle,
  });
}

beforeEach(async () => {
  store = new MemoryClusterStore();
  orch = new FakeOrchestrator();
  audit = await AuditLog.open();
  await store.seedSwitches(CONFIG.cluster.switches.map(({ address: _a, ...sw }) => sw));
  await store.registerNode('d1', 60_000, { listen: 'udp://127.0.0.11:5060' });
  // d1's prober: every switch in the registry reported up, as it would every interval.
  prober = setInterval(() => {
    void store.listSwitches().then((sws) => Promise.all(sws.map((sw) => store.putProbeReport({ switchId: sw.id, nodeId: 'd1', up: true }, 60_000))));
  }, 20);
  await build();
});

afterEach(async () => {
  clearInterval(prober);
  await lifecycle.close();
  await app.close();
  await new Promise<void>((r) => (readyz === undefined ? r() : readyz.close(() => r())));
  readyz = undefined;
});

async function call(method: string, url: string, body?: unknown, role: Role = 'admin'): Promise<{ status: number; body: any; headers: Record<string, unknown> }> {
  const res = await app.inject({
    method: method as 'GET',
    url,
    headers: { authorization: `Bearer ${TOKENS[role]}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  });
  return { status: res.statusCode, body: res.body === '' ? undefined : res.json(), headers: res.headers };
}

/** Polls the operation until it is no longer running. */
async function finished(href: string): Promise<any> {
  let op;
  await expect
    .poll(
      async () => {
        op = (await call('GET', href, undefined, 'viewer')).body;
        return op.state;
      },
      { timeout: 5_000, interval: 10 },
    )
    .not.toBe('running');
  return op;
}

async function accepted(method: string, url: string, body?: unknown, role: Role = 'admin'): Promise<any> {
  const res = await call(method, url, body, role);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  expect(res.body.href).toBe(`/v1/operations/${res.body.operationId}`);
  expect(res.headers.location).toBe(res.body.href);
  expect(res.body.operation).toMatchObject({ id: res.body.operationId, state: 'running' });
  return finished(res.body.href);
}

const messages = (op: { steps: { message: string }[] }) => op.steps.map((s) => s.message);
const sw = async (id: string) => (await store.listSwitches()).find((s) => s.id === id);

describe('deploy a switch (POST /v1/servers with deploy)', () => {
  it('202, then the operation: process ready → registered → probed up by every dispatcher; the listing shows it managed', async () => {
    const op = await accepted('POST', '/v1/servers', { id: 'sw3', type: 'switch', address: '127.0.0.23:5060', channels: 30, deploy: true, sim: { http: '127.0.0.23:8060', cps: 50 } });
    expect(op, JSON.stringify(op)).toMatchObject({ action: 'deploy', server: 'sw3', state: 'succeeded' });
    expect(messages(op)).toEqual([
      'starting switch-sim sw3 on udp://127.0.0.23:5060 tcp://127.0.0.23:5060 (control http://127.0.0.23:8060)',
      'process 1000 ready (GET /status 200); log /logs/sw3.log',
      'registered in the switch registry (state active); every dispatcher picks it up within 1 s',
      'probed up by d1',
    ]);
    expect(orch.specs.get('sw3')).toEqual({ kind: 'switch', id: 'sw3', listen: ['udp://127.0.0.23:5060', 'tcp://127.0.0.23:5060'], http: '127.0.0.23:8060', channels: 30, cps: 50, args: [] });
    expect(await sw('sw3')).toEqual({ id: 'sw3', host: '127.0.0.23', port: 5060, transport: 'udp', weight: 1, priority: 0, state: 'active', channels: 30 });

    const servers: Server[] = (await call('GET', '/v1/servers', undefined, 'viewer')).body.servers;
    expect(servers.map((s) => [s.id, s.managed?.state ?? null])).toEqual([
      ['d1', null],
      ['sw1', null],
      ['sw3', 'running'],
    ]);
    expect(servers[2].managed).toMatchObject({ backend: 'fake', pid: 1000, restarts: 0, logFile: '/logs/sw3.log', http: '127.0.0.23:8060' });
    expect((await call('GET', '/v1/servers/sw3', undefined, 'viewer')).body).toMatchObject({ status: 'up', managed: { state: 'running' } });
    expect((await call('GET', '/v1/servers/sw3/logs?lines=2', undefined, 'operator')).body).toEqual({ id: 'sw3', logFile: '/logs/sw3.log', lines: ['two', 'three'] });
    expect((await call('GET', '/v1/operations', undefined, 'viewer')).body.operations.map((o: { id: string }) => o.id)).toEqual([op.id]);

    // The change is audited with its status.
    await audit.flush();
    expect(audit.recent(1)[0]).toMatchObject({ method: 'POST', path: '/v1/servers', status: 202, token: 'admin', body: { id: 'sw3', deploy: true } });
  });

  it('refuses what it cannot do: 409 taken id, 400 tls or misplaced options, 403 below admin, 501 without an orchestrator', async () => {
    expect((await call('POST', '/v1/servers', { id: 'sw1', type: 'switch', address: '127.0.0.23:5060', deploy: true })).body).toEqual({ code: 'OPS_ERR_CONFLICT', message: 'server sw1 already exists' });
    expect((await call('POST', '/v1/servers', { id: 'd1', type: 'switch', address: '127.0.0.23:5060', deploy: true })).status).toBe(409);
    expect((await call('POST', '/v1/servers', { id: 'sw4', type: 'switch', address: '127.0.0.23:5061', transport: 'tls', deploy: true })).body.message).toMatch(/^body.transport:/);
    expect((await call('POST', '/v1/servers', { id: 'sw4', type: 'switch', address: '127.0.0.23:5061', sim: { cps: 1 } })).body).toEqual({ code: 'OPS_ERR_VALIDATION', message: 'body.sim: only with deploy: true' });
    expect((await call('POST', '/v1/servers', { id: 'sw4', type: 'switch', address: '127.0.0.23:5061', deploy: true, sim: { bogus: 1 } })).body.message).toBe('body.sim.bogus: is not allowed');
    expect((await call('POST', '/v1/servers', { id: 'sw4', type: 'switch', address: '127.0.0.23:5061', deploy: true }, 'operator')).status).toBe(403);
    expect(orch.calls).toEqual([]);
    await build({ lifecycle: false });
    expect((await call('POST', '/v1/servers', { id: 'sw4', type: 'switch', address: '127.0.0.23:5061', deploy: true })).status).toBe(501);
    expect((await call('POST', '/v1/servers/sw1/start', undefined, 'operator')).status).toBe(501);
    // Without deploy, create stays a registry change.
    expect((await call('POST', '/v1/servers', { id: 'sw4', type: 'switch', address: '127.0.0.23:5061' })).status).toBe(201);
  });

  it('a process that does not become ready fails the operation, with the reason; the registry is untouched', async () => {
    orch.onStart = async () => {
      throw new Error('boom');
    };
    const op = await accepted('POST', '/v1/servers', { id: 'sw5', type: 'switch', address: '127.0.0.25:5060', deploy: true, sim: { http: '127.0.0.25:8060' } });
    expect(op).toMatchObject({ state: 'failed', error: 'sw5 exited (code 2) before it was ready' });
    expect(messages(op).at(-1)).toBe('failed: sw5 exited (code 2) before it was ready');
    expect(await sw('sw5')).toBeUndefined();
    // Listed (managed, down) until deleted.
    expect((await call('GET', '/v1/servers/sw5', undefined, 'viewer')).body).toMatchObject({ type: 'switch', status: 'down', address: '127.0.0.25:5060', managed: { state: 'failed', exitCode: 2 } });
    expect((await accepted('DELETE', '/v1/servers/sw5')).state).toBe('succeeded');
    expect((await call('GET', '/v1/servers/sw5', undefined, 'viewer')).status).toBe(404);
  });
});

describe('start, stop, restart, delete of a managed switch', () => {
  beforeEach(async () => {
    expect((await accepted('POST', '/v1/servers', { id: 'sw3', type: 'switch', address: '127.0.0.23:5060', deploy: true, sim: { http: '127.0.0.23:8060' } })).state).toBe('succeeded');
    orch.calls.length = 0;
  });

  it('stop disables it in the registry first, then stops the process; start brings both back', async () => {
    const stop = await accepted('POST', '/v1/servers/sw3/stop', { graceS: 2 }, 'operator');
    expect(stop.state).toBe('succeeded');
    expect(messages(stop)).toEqual(['registry: sw3 disabled (no new calls)', 'stopping (SIGTERM, SIGKILL after 2 s)', 'stopped (exit code 0)']);
    expect((await sw('sw3'))?.state).toBe('disabled');
    expect((await call('GET', '/v1/servers/sw3', undefined, 'viewer')).body).toMatchObject({ status: 'disabled', managed: { state: 'stopped', exitCode: 0 } });
    const start = await accepted('POST', '/v1/servers/sw3/start', undefined, 'operator');
    expect(messages(start)).toEqual(['starting switch sw3', 'process 1001 ready (GET /status 200)', 'registry: sw3 active']);
    expect((await sw('sw3'))?.state).toBe('active');
    expect(orch.calls).toEqual(['stop sw3 2000', 'start sw3']);
  });

  it('restart drains it in the registry, waits for its channels (up to the deadline), restarts, and sets it active again', async () => {
    const lease = (await store.liveNodes())[0];
    await store.admit({ callId: 'c1', nodeId: 'd1', epoch: lease.epoch, levels: [{ level: 'switch:sw3' }], maxAgeMs: 60_000, meta: { callId: 'c1@x', switch: 'sw3' } });
    const op = await accepted('POST', '/v1/servers/sw3/restart', { deadlineS: 0.3 }, 'operator');
    expect(op.state, JSON.stringify(op)).toBe('succeeded');
    expect(messages(op)).toEqual([
      'registry: sw3 draining (no new calls, calls in progress continue)',
      '1 calls in progress; waiting up to 0.3 s for them to end',
      'deadline of 0.3 s reached with 1 calls still up: going on',
      'restarting the process (SIGTERM, SIGKILL after 10 s)',
      'process 1001 ready (GET /status 200)',
      'registry: sw3 active',
      'probed up by d1',
    ]);
    expect((await sw('sw3'))?.state).toBe('active');

    // Without calls it does not wait for the deadline.
    await store.release('c1', 'd1', lease.epoch);
    const quick = await accepted('POST', '/v1/servers/sw3/restart', { deadlineS: 30 }, 'operator');
    expect(messages(quick)[2]).toMatch(/^no calls left after 0\.\d s$/);
    expect((await call('GET', '/v1/servers/sw3', undefined, 'viewer')).body.managed.restarts).toBe(2);
  });

  it('one operation at a time per server: 409 while one runs', async () => {
    let release!: () => void;
    orch.onStop = () => new Promise<void>((r) => (release = r));
    const first = await call('POST', '/v1/servers/sw3/stop', undefined, 'operator');
    expect(first.status).toBe(202);
    await expect.poll(() => release !== undefined).toBe(true);
    const second = await call('POST', '/v1/servers/sw3/restart', undefined, 'operator');
    expect(second.body).toEqual({ code: 'OPS_ERR_CONFLICT', message: `operation ${first.body.operationId} (stop) is still running on sw3` });
    release();
    expect((await finished(first.body.href)).state).toBe('succeeded');
  });

  it('delete stops and forgets it and removes its registry entry (202); a registry-only switch is still deleted at once (204)', async () => {
    expect((await call('DELETE', '/v1/servers/sw3', undefined, 'operator')).status).toBe(403);
    const op = await accepted('DELETE', '/v1/servers/sw3');
    expect(messages(op)).toEqual(['registry: sw3 disabled (no new calls)', 'stopping and removing the process', 'removed from the orchestrator (its log is kept: /logs/sw3.log)', 'removed from the switch registry']);
    expect(await sw('sw3')).toBeUndefined();
    expect(await orch.get('sw3')).toBeUndefined();
    expect((await call('DELETE', '/v1/servers/sw1')).status).toBe(204);
  });

  it('404 for an unknown server, 409 for one this orchestrator does not run, 400 for a bad body; roles', async () => {
    for (const action of ['start', 'stop', 'restart']) {
      expect((await call('POST', `/v1/servers/nope/${action}`, undefined, 'operator')).body).toEqual({ code: 'OPS_ERR_NOT_FOUND', message: 'no server nope' });
      expect((await call('POST', `/v1/servers/sw1/${action}`, undefined, 'operator')).body).toEqual({
        code: 'OPS_ERR_CONFLICT',
        message: "server sw1 is not managed by this ops API's orchestrator (fake): it was started elsewhere",
      });
      expect((await call('POST', `/v1/servers/d1/${action}`, undefined, 'operator')).status).toBe(409);
      expect((await call('POST', `/v1/servers/sw3/${action}`, undefined, 'viewer')).status).toBe(403);
    }
    expect((await call('POST', '/v1/servers/sw3/restart', { deadlineS: -1 }, 'operator')).body.message).toMatch(/^body.deadlineS: /);
    expect((await call('POST', '/v1/servers/sw3/stop', { grace: 1 }, 'operator')).body.message).toBe('body.grace: is not allowed');
    expect((await call('GET', '/v1/servers/sw1/logs', undefined, 'operator')).status).toBe(409);
    expect((await call('GET', '/v1/operations/00000000-0000-0000-0000-000000000000', undefined, 'viewer')).status).toBe(404);
    expect((await call('GET', '/v1/operations/nope', undefined, 'viewer')).status).toBe(400);
    expect(orch.calls).toEqual([]);
    // A registry drain of a managed switch is the registry's (200).
    expect((await call('POST', '/v1/servers/sw3/drain', undefined, 'operator')).body).toMatchObject({ id: 'sw3', status: 'draining' });
  });
});

describe('dispatchers', () => {
  /** A stand-in for the node's /readyz: 503 draining once drained. */
  async function fakeReadyz(): Promise<string> {
    readyz = createServer((_req, res) => {
      const draining = orch.calls.includes('drain d3');
      res.writeHead(draining ? 503 : 200, { 'content-type': 'application/json' }).end(JSON.stringify({ ready: !draining, draining }));
    });
    await new Promise<void>((r) => readyz!.listen(0, '127.0.0.1', () => r()));
    const addr = readyz.address();
    return `127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}`;
  }

  beforeEach(() => {
    // The process registers its lease once started, and deregisters on stop.
    orch.onStart = async (spec) => {
      if (spec.kind === 'dispatcher') await store.registerNode(spec.id, 60_000);
    };
    orch.onStop = async (spec) => {
      const lease = (await store.liveNodes()).find((n) => n.nodeId === spec.id);
      if (lease !== undefined) await store.deregisterNode(spec.id, lease.epoch);
    };
  });

  it('deploy generates its config from the ops API config (store and cluster kept, node replaced, ops dropped) and waits for its lease', async () => {
    const http = await fakeReadyz();
    const op = await accepted('POST', '/v1/servers', { id: 'd3', type: 'dispatcher', address: '127.0.0.13:5070', node: { http } });
    expect(op.state, JSON.stringify(op)).toBe('succeeded');
    expect(messages(op)).toEqual([`starting dispatcher d3 on udp://127.0.0.13:5070 tcp://127.0.0.13:5070 (node.http ${http})`, 'process 1000 ready (GET /readyz 200); log /logs/d3.log', expect.stringMatching(/^joined the cluster \(lease epoch \d+\)$/)]);
    const spec = orch.specs.get('d3');
    if (spec?.kind !== 'dispatcher') throw new Error('not a dispatcher spec');
    const config = parseConfig(spec.configText, { baseDir: '/' });
    expect(config.node).toMatchObject({ id: 'd3', http: { host: '127.0.0.1' } });
    expect(config.node.listen.map((l) => l.url)).toEqual(['udp://127.0.0.13:5070', 'tcp://127.0.0.13:5070']);
    expect(config.store).toEqual({ kind: 'redis', url: 'redis://127.0.0.1:6390' });
    expect(config.cluster.switches.map((s) => s.id)).toEqual(['sw1']);
    expect(config.ops).toBeUndefined();
    expect((await call('GET', '/v1/servers/d3', undefined, 'viewer')).body).toMatchObject({ type: 'dispatcher', status: 'up', managed: { state: 'running' } });

    // Drain: SIGUSR2 (the orchestrator's drain), then /readyz says 503 draining.
    const drain = await accepted('POST', '/v1/servers/d3/drain', undefined, 'operator');
    expect(messages(drain)).toEqual([
      'asked to drain (SIGUSR2): new calls go to a live peer (or get 503 Draining), calls in progress continue',
      'GET /readyz answers 503 (draining): load balancers stop sending it calls',
      '0 calls in progress',
    ]);
    expect((await call('GET', '/v1/servers/d3', undefined, 'viewer')).body).toMatchObject({ status: 'draining', adminState: 'draining', managed: { draining: true } });
    // The registry actions do not apply to a dispatcher.
    expect((await call('POST', '/v1/servers/d3/resize', { cps: 1 }, 'operator')).status).toBe(501);
    // A live dispatcher it does not run: 409.
    expect((await call('POST', '/v1/servers/d1/drain', undefined, 'operator')).status).toBe(409);
    expect((await call('DELETE', '/v1/servers/d1')).status).toBe(409);
  });

  it('restart: drain → its calls reach 0 (or the deadline) → restart → ready → rejoined; stop leaves it listed, down', async () => {
    const http = await fakeReadyz();
    expect((await accepted('POST', '/v1/servers', { id: 'd3', type: 'dispatcher', address: '127.0.0.13:5070', node: { http } })).state).toBe('succeeded');
    const lease = (await store.liveNodes()).find((n) => n.nodeId === 'd3')!;
    await store.admit({ callId: 'k1', nodeId: 'd3', epoch: lease.epoch, levels: [{ level: 'cluster:main' }], maxAgeMs: 60_000, meta: { callId: 'k1@x' } });
    setTimeout(() => void store.release('k1', 'd3', lease.epoch), 150);
    const op = await accepted('POST', '/v1/servers/d3/restart', { deadlineS: 5, graceS: 3 }, 'operator');
    expect(op.state, JSON.stringify(op)).toBe('succeeded');
    const steps = messages(op);
    expect(steps.slice(0, 2)).toEqual(['draining (SIGUSR2): new calls go to a live peer (or get 503 Draining), calls in progress continue', '1 calls in progress; waiting up to 5 s for them to end']);
    expect(steps[2]).toMatch(/^no calls left after 0\.\d s$/);
    expect(steps.slice(3)).toEqual(['restarting (SIGTERM, SIGKILL after 3 s)', 'process 1001 ready (GET /readyz 200)', expect.stringMatching(/^joined the cluster \(lease epoch \d+\)$/)]);
    expect(orch.calls.slice(-3)).toEqual(['drain d3', 'stop d3 3000', 'start d3']);

    expect((await accepted('POST', '/v1/servers/d3/stop', undefined, 'operator')).state).toBe('succeeded');
    expect((await call('GET', '/v1/servers', undefined, 'viewer')).body.servers.map((s: Server) => [s.id, s.status])).toEqual([
      ['d1', 'up'],
      ['d3', 'down'],
      ['sw1', 'up'],
    ]);
    expect((await call('POST', '/v1/servers/d3/drain', undefined, 'operator')).body).toEqual({ code: 'OPS_ERR_CONFLICT', message: 'dispatcher d3 is not running (stopped)' });
  });

  it('needs a shared store: 409 on the memory store', async () => {
    await build({ sharedStore: false });
    expect((await call('POST', '/v1/servers', { id: 'd3', type: 'dispatcher', address: '127.0.0.13:5070' })).body.code).toBe('OPS_ERR_CONFLICT');
    expect((await call('POST', '/v1/servers', { id: 'd3', type: 'dispatcher', address: '127.0.0.13:5070', node: { listen: ['bogus://x'] } })).status).toBe(409);
    await build();
    expect((await call('POST', '/v1/servers', { id: 'd3', type: 'dispatcher', address: '127.0.0.13:5070', node: { listen: ['bogus://127.0.0.13:5070'], http: '127.0.0.13:9000' } })).body).toMatchObject({
      code: 'OPS_ERR_VALIDATION',
      message: expect.stringMatching(/^dispatcher config: .*node\.listen/),
    });
  });
});
