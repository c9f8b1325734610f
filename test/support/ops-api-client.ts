/**
 * Driving the ops API from an e2e test: the config of an ops API started in process (one bearer
 * token), an HTTP client with that token (plain requests, long actions polled to the end of
 * their operation, the server listing), and the cluster / API / temp dir torn down after each test.
 */
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { afterEach, expect } from 'vitest';
import type { Server } from '../../ops-api/schemas.ts';
import type { OpsApiHandle } from '../../ops-api/server.ts';
import type { ClusterHarness } from './cluster-harness.ts';

/** What an ops-API e2e test started: set by the test, stopped (and reset) after each test. */
export interface OpsApiE2e {
  cluster: ClusterHarness | undefined;
  api: OpsApiHandle | undefined;
  /** A temp dir (the API's base dir), removed. */
  dir: string | undefined;
}

/** Call at the top of a test file: after each test, closes the API, stops the cluster, removes the dir. */
export function useOpsApiE2e(): OpsApiE2e {
  const t: OpsApiE2e = { cluster: undefined, api: undefined, dir: undefined };
  afterEach(async () => {
    await t.api?.close();
    await t.cluster?.stop();
    if (t.dir !== undefined) rmSync(t.dir, { recursive: true, force: true });
    t.api = undefined;
    t.cluster = undefined;
    t.dir = undefined;
  });
  return t;
}

export interface OpsApiConfigOptions {
  /** The `store:` URL. */
  store: string;
  clusterName: string;
  /** More of the `cluster:` section (probe, carriers, switches...): whole lines, each ending in a newline. */
  clusterYaml?: string;
  /** The API's port on 127.0.0.1. */
  port: number;
  /** The one token (its name is `e2e`) and its role. */
  token: string;
  role: 'admin' | 'operator' | 'viewer';
  /** `ops.audit: ./audit.jsonl` (default true). */
  audit?: boolean;
}

/** The YAML config of an ops API (node `ops`) in process. */
export function opsApiConfigText(o: OpsApiConfigOptions): string {
  return `
node: { id: ops, listen: [udp://127.0.0.1:5060] }
store: ${o.store}
cluster:
  name: ${o.clusterName}
${o.clusterYaml ?? ''}ops:
  listen: 127.0.0.1:${o.port}
  tokens: [{ name: e2e, role: ${o.role}, sha256: ${createHash('sha256').update(o.token).digest('hex')} }]
${o.audit === false ? '' : '  audit: ./audit.jsonl\n'}`;
}

export interface OpsApiClient {
  /** One request with the token; `json` is the parsed body (undefined when empty). */
  request(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }>;
  /** Sends a long action, expects 202, polls its operation to the end (succeeded); returns it and how long it took. */
  operation(method: string, path: string, body?: unknown, timeoutMs?: number): Promise<{ op: any; ms: number }>;
  /** GET /v1/servers/:id (expects 200). */
  server(id: string): Promise<Server>;
  /** GET /v1/servers (expects 200), by id. */
  servers(): Promise<Record<string, Server>>;
}

/**
 * A client of the ops API at `baseUrl()` (read at each request: the API may start after the
 * client is made) with `token`; `operationTimeoutMs` is `operation`'s default timeout.
 */
export function opsApiClient(baseUrl: () => string, token: string, operationTimeoutMs = 30_000): OpsApiClient {
  async function request(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
    const res = await fetch(`${baseUrl()}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, json: text === '' ? undefined : JSON.parse(text) };
  }

  async function operation(method: string, path: string, body?: unknown, timeoutMs = operationTimeoutMs): Promise<{ op: any; ms: number }> {
    const started = Date.now();
    const res = await request(method, path, body);
    expect(res.status, JSON.stringify(res.json)).toBe(202);
    let op: any;
    await expect
      .poll(
        async () => {
          op = (await request('GET', res.json.href)).json;
          return op.state;
        },
        { timeout: timeoutMs, interval: 100 },
      )
      .not.toBe('running');
    expect(op.state, JSON.stringify(op.steps, null, 1)).toBe('succeeded');
    return { op, ms: Date.now() - started };
  }

  async function server(id: string): Promise<Server> {
    const { status, json } = await request('GET', `/v1/servers/${id}`);
    expect(status).toBe(200);
    return json as Server;
  }

  async function servers(): Promise<Record<string, Server>> {
    const { status, json } = await request('GET', '/v1/servers');
    expect(status).toBe(200);
    return Object.fromEntries((json.servers as Server[]).map((s) => [s.id, s]));
  }

  return { request, operation, server, servers };
}
