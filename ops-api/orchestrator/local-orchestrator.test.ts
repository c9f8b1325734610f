/**
 * LocalOrchestrator with real children (switch-sims and one dispatcher on the memory store), on
 * loopback: deploy waits for readiness, stop is graceful, a crash is recorded and restarted within
 * the policy's bounds, a child that cannot start fails with its log, drain sends SIGUSR2.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalOrchestrator, type LocalOrchestratorOptions } from './local-orchestrator.ts';
import { isOrchestratorError, type SwitchSpec } from './orchestrator.ts';

let orch: LocalOrchestrator | undefined;
let dir: string | undefined;

afterEach(async () => {
  await orch?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  orch = undefined;
  dir = undefined;
});

function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr !== null ? addr.port : 0));
    });
  });
}

function orchestrator(o: LocalOrchestratorOptions = {}): LocalOrchestrator {
  dir = mkdtempSync(join(tmpdir(), 'local-orch-test-'));
  orch = new LocalOrchestrator({ stateDir: dir, env: { LOG_LEVEL: 'warn' }, readyTimeoutMs: 15_000, ...o });
  return orch;
}

async function switchSpec(id: string, extra: Partial<SwitchSpec> = {}): Promise<SwitchSpec> {
  return { kind: 'switch', id, listen: ['udp://127.0.0.1:0'], http: `127.0.0.1:${await freePort()}`, ...extra };
}

async function status(http: string): Promise<number> {
  try {
    return (await fetch(`http://${http}/status`, { signal: AbortSignal.timeout(1_000) })).status;
  } catch {
    return 0;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('LocalOrchestrator', () => {
  it('deploys a switch-sim (ready on /status), lists it, logs to its file, and stops it gracefully', async () => {
    const o = orchestrator();
    const spec = await switchSpec('sw9', { channels: 7, cps: 3 });
    const inst = await o.deploy(spec);
    expect(inst).toMatchObject({ id: 'sw9', kind: 'switch', state: 'running', backend: 'local', restarts: 0, draining: false, logFile: join(dir!, 'sw9.log') });
    expect(inst.pid).toBeGreaterThan(0);
    expect(alive(inst.pid!)).toBe(true);
    expect(await status(spec.http)).toBe(200);
    const st = (await (await fetch(`http://${spec.http}/status`)).json()) as { id: string };
    expect(st.id).toBe('sw9');
    expect((await o.list()).map((i) => i.id)).toEqual(['sw9']);
    expect((await o.logs('sw9')).join('\n')).toMatch(/^--- .* start sw9: .*switch-sim --id sw9 --listen udp:\/\/127\.0\.0\.1:0 --http 127\.0\.0\.1:\d+ --channels 7 --cps 3/m);
    await expect(o.deploy(spec)).rejects.toSatisfy((e) => isOrchestratorError(e, 'exists'));

    const stopped = await o.stop('sw9', { graceMs: 5_000 });
    expect(stopped).toMatchObject({ state: 'stopped', exitCode: 0 });
    expect(alive(inst.pid!)).toBe(false);
    expect(await status(spec.http)).toBe(0);

    // Start again: a new process, one restart counted.
    const again = await o.start('sw9');
    expect(again).toMatchObject({ state: 'running', restarts: 1 });
    expect(again.pid).not.toBe(inst.pid);
    expect(await status(spec.http)).toBe(200);
    const restarted = await o.restart('sw9');
    expect(restarted).toMatchObject({ state: 'running', restarts: 2 });
    expect(alive(again.pid!)).toBe(false);

    await o.remove('sw9');
    expect(await o.get('sw9')).toBeUndefined();
    expect(alive(restarted.pid!)).toBe(false);
    await expect(o.start('sw9')).rejects.toSatisfy((e) => isOrchestratorError(e, 'not-found'));
  });

  it('records a crash (signal) and restarts it on failure with backoff, at most maxRestarts times in a row', async () => {
    const o = orchestrator({ restart: { mode: 'on-failure', maxRestarts: 1, backoffMs: 200, stableMs: 60_000 } });
    const spec = await switchSpec('crashy');
    const first = await o.deploy(spec);
    process.kill(first.pid!, 'SIGKILL');
    await expect.poll(async () => (await o.get('crashy'))?.signal, { timeout: 5_000 }).toBe('SIGKILL');
    expect((await o.get('crashy'))?.state).toMatch(/failed|starting|running/);
    await expect.poll(async () => (await o.get('crashy'))?.state, { timeout: 15_000, interval: 100 }).toBe('running');
    const second = (await o.get('crashy'))!;
    expect(second).toMatchObject({ restarts: 1, signal: undefined, exitCode: undefined });
    expect(second.pid).not.toBe(first.pid);
    expect(await status(spec.http)).toBe(200);

    // Second crash in a row: the policy allows one restart only; it stays failed, exit recorded.
    process.kill(second.pid!, 'SIGKILL');
    await expect.poll(async () => (await o.get('crashy'))?.state, { timeout: 5_000 }).toBe('failed');
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await o.get('crashy')).toMatchObject({ state: 'failed', signal: 'SIGKILL', restarts: 1 });
  });

  it('with the never policy, only records the exit; a stop is never restarted', async () => {
    const o = orchestrator({ restart: { mode: 'never' } });
    const a = await o.deploy(await switchSpec('a'));
    process.kill(a.pid!, 'SIGTERM');
    // switch-sim exits 0 on SIGTERM: an exit nobody asked for, clean.
    await expect.poll(async () => (await o.get('a'))?.state, { timeout: 5_000 }).toBe('exited');
    expect(await o.get('a')).toMatchObject({ exitCode: 0, restarts: 0 });
  });

  it('fails a deploy whose child exits before it is ready, with the exit code and the log tail; the instance stays, failed', async () => {
    const o = orchestrator();
    const err = await o.deploy(await switchSpec('bad', { args: ['--ring-ms', 'soon'] })).catch((e: unknown) => e);
    expect(isOrchestratorError(err, 'not-ready')).toBe(true);
    expect((err as Error).message).toMatch(/bad exited \(code 2\) before it was ready; log: .*--ring-ms/);
    expect(await o.get('bad')).toMatchObject({ state: 'failed', exitCode: 2, restarts: 0 });
    expect(readFileSync(join(dir!, 'bad.log'), 'utf8')).toContain('--ring-ms');
  });

  it('fails a deploy that is not ready in time, and kills the child', async () => {
    const o = orchestrator({ readyTimeoutMs: 1_500 });
    // Ready is checked on another port than the one it serves.
    const spec = await switchSpec('deaf');
    const real = `127.0.0.1:${await freePort()}`;
    const err = await o.deploy({ ...spec, args: ['--http', real] }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/deaf was not ready at http:\/\/127\.0\.0\.1:\d+\/status within 1500 ms/);
    const inst = await o.get('deaf');
    expect(inst?.state).toBe('failed');
    expect(alive(inst!.pid!)).toBe(false);
  });

  it('runs a dispatcher from its config text (ready on /readyz), drains it with SIGUSR2, and close() stops everything', async () => {
    const o = orchestrator();
    const http = `127.0.0.1:${await freePort()}`;
    const sip = await freePort();
    const d = await o.deploy({
      kind: 'dispatcher',
      id: 'd9',
      listen: [`udp://127.0.0.1:${sip}`],
      http,
      configText: `node: { id: d9, listen: [udp://127.0.0.1:${sip}], http: ${http} }\ncluster: { name: t }\n`,
    });
    expect(d).toMatchObject({ kind: 'dispatcher', state: 'running', draining: false });
    expect(readFileSync(join(dir!, 'd9.yaml'), 'utf8')).toContain('id: d9');
    const sw = await o.deploy(await switchSpec('sw8'));
    await expect(o.drain('sw8')).rejects.toSatisfy((e) => isOrchestratorError(e, 'unsupported'));

    expect((await o.drain('d9')).draining).toBe(true);
    await expect
      .poll(async () => {
        const res = await fetch(`http://${http}/readyz`);
        return [res.status, ((await res.json()) as { draining: boolean }).draining];
      })
      .toEqual([503, true]);
    expect((await o.get('d9'))?.state).toBe('running');

    await o.close();
    expect(alive(d.pid!)).toBe(false);
    expect(alive(sw.pid!)).toBe(false);
    expect((await o.list()).map((i) => [i.id, i.state, i.exitCode])).toEqual([
      ['d9', 'stopped', 0],
      ['sw8', 'stopped', 0],
    ]);
    await expect(o.deploy(await switchSpec('late'))).rejects.toSatisfy((e) => isOrchestratorError(e, 'closed'));
  });
});
