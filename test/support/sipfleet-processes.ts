/**
 * Start sipfleet's own components as real processes for end-to-end tests: a dispatcher from a
 * YAML text, a switch-sim from its CLI options. Each is a ManagedProcess (stopped by the test,
 * and never outliving the run).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startProcess, type ManagedProcess } from './managed-process.ts';

const BIN = fileURLToPath(new URL('../../bin/sipfleet.ts', import.meta.url));

async function httpOk(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(500) });
    return res.ok;
  } catch {
    return false;
  }
}

export interface DispatcherProcess extends ManagedProcess {
  readonly configPath: string;
  readonly http: string;
  metrics(): Promise<Record<string, number>>;
}

/** Where a component runs: `netns` = inside that network namespace (`ip netns exec`, root only). */
export interface SipfleetProcessOptions {
  netns?: string;
}

/**
 * `yaml` must set node.http (used to wait for readiness and to read metrics; with `netns`, it
 * must be reachable from the test's own namespace, e.g. over a veth into that namespace).
 */
export async function startDispatcherProcess(
  name: string,
  yaml: string,
  http: string,
  env: Record<string, string> = {},
  options: SipfleetProcessOptions = {},
): Promise<DispatcherProcess> {
  const dir = mkdtempSync(join(tmpdir(), `sipfleet-${name}-`));
  const configPath = join(dir, `${name}.yaml`);
  writeFileSync(configPath, yaml);
  const proc = await startProcess({
    name,
    command: process.execPath,
    args: [BIN, 'dispatcher', '--config', configPath],
    env: { LOG_LEVEL: 'warn', ...env },
    readyWhen: () => httpOk(`http://${http}/readyz`),
    readyTimeoutMs: 15_000,
    netns: options.netns,
  });
  return Object.assign(proc, {
    configPath,
    http,
    async metrics(): Promise<Record<string, number>> {
      return parseMetrics(await (await fetch(`http://${http}/metrics`)).text());
    },
  });
}

export interface SwitchSimProcess extends ManagedProcess {
  readonly http: string;
  status(): Promise<SwitchSimStatus>;
  behaviour(patch: Record<string, unknown>): Promise<void>;
}

export interface SwitchSimStatus {
  id: string;
  channels: number;
  calls: { total: number; answered: number; rejected: number; cancelled: number; failed: number };
  [key: string]: unknown;
}

export async function startSwitchSimProcess(
  name: string,
  listen: string[],
  http: string,
  extra: string[] = [],
  options: SipfleetProcessOptions = {},
): Promise<SwitchSimProcess> {
  const args = [BIN, 'switch-sim', '--id', name, ...listen.flatMap((l) => ['--listen', l]), '--http', http, ...extra];
  const proc = await startProcess({
    name,
    command: process.execPath,
    args,
    env: { LOG_LEVEL: 'warn' },
    readyWhen: () => httpOk(`http://${http}/status`),
    readyTimeoutMs: 15_000,
    netns: options.netns,
  });
  return Object.assign(proc, {
    http,
    async status(): Promise<SwitchSimStatus> {
      return (await (await fetch(`http://${http}/status`)).json()) as SwitchSimStatus;
    },
    async behaviour(patch: Record<string, unknown>): Promise<void> {
      const res = await fetch(`http://${http}/behaviour`, { method: 'POST', body: JSON.stringify(patch), headers: { 'content-type': 'application/json' } });
      if (!res.ok) throw new Error(`switch-sim ${name} refused behaviour ${JSON.stringify(patch)}: ${res.status} ${await res.text()}`);
    },
  });
}

/**
 * A dispatcher's /metrics text as `key → value`. Keys keep every label but `node`:
 * `sipfleet_dialogs`, `sipfleet_level_channels{level="cluster:main"}`.
 */
export function parseMetrics(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(\w+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m === null) continue;
    const labels = (m[2] ?? '').replace(/node="[^"]*",?/, '').replace(/,\}$/, '}');
    out[m[1] + (labels === '{}' ? '' : labels)] = Number(m[3]);
  }
  return out;
}
