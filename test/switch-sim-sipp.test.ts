/**
 * switch-sim against real SIPp (Debian sip-tester 3.6.x): the sim runs as its own process through
 * the `sipfleet switch-sim` CLI on 127.0.0.21, SIPp's embedded `uac` scenario calls it
 * (INVITE → 100/180/200 → ACK → BYE → 200) over UDP and over TCP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './support/ports.ts';
import { runSipp, type SippResult } from './support/sipp.ts';
import { startSwitchSimProcess, type SwitchSimProcess } from './support/sipfleet-processes.ts';
import { requireTool } from './support/require-tool.ts';

const HOST = '127.0.0.21';

describe('switch-sim with SIPp', () => {
  let sim: SwitchSimProcess;
  let port: number;

  function explain(r: SippResult): string {
    return [
      `sipp exit ${r.exitCode}, ${r.successful} ok, ${r.failed} failed`,
      `sipp errors:\n${r.errors.slice(0, 2000)}`,
      `sipp screen:\n${r.stdout.slice(-3000)}`,
      `switch-sim ${JSON.stringify(sim.exitStatus())}:\n${sim.output().slice(-3000)}`,
    ].join('\n');
  }

  beforeAll(async () => {
    requireTool('sipp', 'sip-tester');
    port = await freePort(HOST, ['udp', 'tcp']);
    const httpPort = await freePort(HOST, ['tcp']);
    sim = await startSwitchSimProcess('sw1', [`udp://${HOST}:${port}`, `tcp://${HOST}:${port}`], `${HOST}:${httpPort}`);
  });

  afterAll(async () => {
    await sim?.stop('SIGTERM', 3000);
  });

  it('completes 1000 calls over UDP at 100 cps with no failure', async () => {
    const r = await runSipp({ scenario: 'uac', target: `${HOST}:${port}`, transport: 'u1', calls: 1000, rate: 100, timeoutS: 60 });
    expect(r.exitCode, explain(r)).toBe(0);
    expect(r.successful, explain(r)).toBe(1000);
    expect(r.failed, explain(r)).toBe(0);
    expect(r.killedAtDeadline).toBe(false);
    const status = await sim.status();
    expect(status.channels).toBe(0);
    expect(status.calls).toMatchObject({ total: 1000, answered: 1000, rejected: 0, cancelled: 0, failed: 0 });
  });

  it('completes 200 calls over TCP (one connection) with no failure', async () => {
    const before = await sim.status();
    const r = await runSipp({ scenario: 'uac', target: `${HOST}:${port}`, transport: 't1', calls: 200, rate: 100, timeoutS: 60 });
    expect(r.exitCode, explain(r)).toBe(0);
    expect(r.successful, explain(r)).toBe(200);
    expect(r.failed, explain(r)).toBe(0);
    const status = await sim.status();
    expect(status.channels).toBe(0);
    expect(status.calls.answered - before.calls.answered).toBe(200);
    expect(status.calls.failed).toBe(0);
  });

  it('answers 503 past the channel cap (SIPp counts those calls as failed)', async () => {
    await sim.behaviour({ channels: 0 });
    try {
      const r = await runSipp({ scenario: 'uac', target: `${HOST}:${port}`, transport: 'u1', calls: 5, rate: 50, timeoutS: 20 });
      expect(r.successful).toBe(0);
      expect(r.failed).toBe(5);
      const status = await sim.status();
      expect(status.calls.rejected).toBe(5);
      expect(status.channels).toBe(0);
    } finally {
      await sim.behaviour({ channels: null });
    }
  });

  it('stops cleanly on SIGTERM', async () => {
    const exit = await sim.stop('SIGTERM', 5000);
    expect(exit).toEqual({ code: 0, signal: null });
  });
});
