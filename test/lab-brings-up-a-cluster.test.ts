/**
 * The README's first command runs `sipfleet lab`: Redis, the ops API, two dispatchers and two
 * switch-sims on loopback. SIPp's uac against the printed dispatcher completes 1,000 calls, the
 * printed token lists 2 dispatchers and 2 switches with live counts, and SIGINT stops everything.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { startProcess, type ManagedProcess } from './support/managed-process.ts';
import { freePort } from './support/ports.ts';
import { requireTool } from './support/require-tool.ts';
import { runSipp } from './support/sipp.ts';

const BIN = fileURLToPath(new URL('../bin/sipfleet.ts', import.meta.url));
let lab: ManagedProcess | undefined;

afterAll(async () => {
  await lab?.stop('SIGINT', 10_000);
});

describe('sipfleet lab', () => {
  it('brings up a cluster that carries calls and answers the ops API, and stops cleanly', async () => {
    requireTool('redis-server', 'redis-server');
    requireTool('sipp', 'sip-tester');
    const sipPort = await freePort('127.0.0.11');
    const apiPort = await freePort('127.0.0.1');
    lab = await startProcess({
      name: 'lab',
      command: process.execPath,
      args: [BIN, 'lab', '--sip-port', String(sipPort), '--api', `127.0.0.1:${apiPort}`],
      readyWhen: /Ctrl-C stops everything/,
      readyTimeoutMs: 60_000,
    });
    const out = lab.output();
    const token = /API token\s+([0-9a-f]+)/.exec(out)?.[1];
    expect(token, out.slice(-2_000)).toBeDefined();
    const sipp = /sipp -sn uac (\S+) /.exec(out)?.[1];
    expect(sipp).toBe(`127.0.0.11:${sipPort}`);

    const r = await runSipp({ scenario: 'uac', target: sipp!, rate: 100, calls: 1_000 });
    expect(r.failed, r.errors.slice(0, 1_000)).toBe(0);
    expect(r.successful).toBe(1_000);

    const res = await fetch(`http://127.0.0.1:${apiPort}/v1/servers`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    const { servers } = (await res.json()) as { servers: Array<{ id: string; type: string; channels: { inUse: number } }> };
    expect(servers.filter((s) => s.type === 'dispatcher').map((s) => s.id)).toEqual(['d1', 'd2']);
    expect(servers.filter((s) => s.type === 'switch').map((s) => s.id)).toEqual(['sw1', 'sw2']);
    for (const s of servers) expect(typeof s.channels.inUse).toBe('number');
    expect((await fetch(`http://127.0.0.1:${apiPort}/v1/servers`)).status).toBe(401);

    const exit = await lab.stop('SIGINT', 15_000);
    expect(exit.code).toBe(0);
    lab = undefined;
    // Everything it started is gone: the dispatchers' SIP port is free again.
    await expect(fetch('http://127.0.0.11:9060/healthz', { signal: AbortSignal.timeout(500) })).rejects.toThrow();
  });
});
