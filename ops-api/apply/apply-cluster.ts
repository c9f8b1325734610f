/**
 * `sipfleet apply -f cluster.yaml`: make the cluster match a description, through the ops API
 * (so it is authenticated, validated and audited like any other change). The file is a node
 * config (the same YAML the dispatchers read); its `cluster.limits` and `cluster.switches` are
 * applied: limits by a cluster resize, each switch created when new, else patched, resized and
 * set to its admin state. Switches absent from the file are left alone (never deleted).
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../../shared/config/load-config.ts';
import { formatConfigError } from '../../shared/config/format-config-error.ts';
import type { NodeConfig, SwitchConfig } from '../../shared/config/config-types.ts';

export const APPLY_USAGE = `Usage: sipfleet apply -f FILE [--api URL] [--token TOKEN]

Apply a cluster description (a sipfleet YAML config: cluster.limits and cluster.switches) through
the ops API. New switches are created; existing ones are patched, resized and set to their state.

Options:
  -f, --file FILE   the description
  --api URL         the ops API (default http://127.0.0.1:8080, or SIPFLEET_API)
  --token TOKEN     an operator or admin token (or SIPFLEET_TOKEN)
  -h, --help        show this help
`;

export interface ApplyStep {
  readonly what: string;
  readonly status: number;
  readonly message?: string | undefined;
}

type Fetch = typeof fetch;

/** Apply `config` through the API at `api`; returns every step with its HTTP status. */
export async function applyCluster(config: NodeConfig, api: string, token: string, fetchImpl: Fetch = fetch): Promise<ApplyStep[]> {
  const steps: ApplyStep[] = [];
  const call = async (what: string, method: string, path: string, body?: unknown): Promise<number> => {
    const res = await fetchImpl(`${api}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let message: string | undefined;
    if (!res.ok) {
      try {
        message = (JSON.parse(text) as { message?: string }).message;
      } catch {
        message = text.slice(0, 200);
      }
    }
    steps.push({ what, status: res.status, message });
    return res.status;
  };
  const c = config.cluster;
  await call(`cluster ${c.name} limits`, 'POST', `/v1/clusters/${encodeURIComponent(c.name)}/resize`, {
    cps: c.limits.cps ?? null,
    channels: c.limits.channels ?? null,
    burst: c.limits.burst ?? null,
  });
  for (const sw of c.switches) await applySwitch(sw, call);
  return steps;
}

async function applySwitch(sw: SwitchConfig, call: (what: string, method: string, path: string, body?: unknown) => Promise<number>): Promise<void> {
  const id = encodeURIComponent(sw.id);
  const created = await call(`switch ${sw.id} create`, 'POST', '/v1/servers', {
    id: sw.id,
    type: 'switch',
    address: sw.address,
    transport: sw.transport,
    weight: sw.weight,
    priority: sw.priority,
    ...(sw.cps === undefined ? {} : { cps: sw.cps }),
    ...(sw.channels === undefined ? {} : { channels: sw.channels }),
    ...(sw.zone === undefined ? {} : { zone: sw.zone }),
    state: sw.state,
  });
  if (created !== 409) return;
  // It exists: bring it to the description.
  await call(`switch ${sw.id} patch`, 'PATCH', `/v1/servers/${id}`, { weight: sw.weight, priority: sw.priority, zone: sw.zone ?? null });
  await call(`switch ${sw.id} resize`, 'POST', `/v1/servers/${id}/resize`, { cps: sw.cps ?? null, channels: sw.channels ?? null });
  const action = sw.state === 'active' ? 'enable' : sw.state === 'draining' ? 'drain' : 'disable';
  await call(`switch ${sw.id} ${action}`, 'POST', `/v1/servers/${id}/${action}`);
}

export async function runApplyCli(argv: string[]): Promise<number> {
  let values: { file?: string; api?: string; token?: string; help?: boolean };
  try {
    ({ values } = parseArgs({ args: argv, options: { file: { type: 'string', short: 'f' }, api: { type: 'string' }, token: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (err) {
    process.stderr.write(`sipfleet apply: ${(err as Error).message}\n\n${APPLY_USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(APPLY_USAGE);
    return 0;
  }
  const token = values.token ?? process.env.SIPFLEET_TOKEN;
  if (values.file === undefined || token === undefined) {
    process.stderr.write(`sipfleet apply: ${values.file === undefined ? '-f FILE' : '--token (or SIPFLEET_TOKEN)'} is required\n\n${APPLY_USAGE}`);
    return 2;
  }
  let config: NodeConfig;
  try {
    config = loadConfig(values.file);
  } catch (err) {
    process.stderr.write(`${formatConfigError(err)}\n`);
    return 2;
  }
  const api = (values.api ?? process.env.SIPFLEET_API ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
  let steps: ApplyStep[];
  try {
    steps = await applyCluster(config, api, token);
  } catch (err) {
    process.stderr.write(`sipfleet apply: cannot reach the ops API at ${api}: ${(err as Error).message}\n`);
    return 1;
  }
  let failed = 0;
  for (const s of steps) {
    const ok = s.status < 300 || (s.status === 409 && s.what.endsWith('create'));
    if (!ok) failed++;
    process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${s.what}: ${s.status}${s.message === undefined || ok ? '' : ` ${s.message}`}\n`);
  }
  return failed === 0 ? 0 : 1;
}
