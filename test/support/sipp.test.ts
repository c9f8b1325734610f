import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopAllProcesses } from './managed-process.ts';
import { requireTool } from './require-tool.ts';
import { parseSippStats, runSipp, startSipp, type BackgroundSipp } from './sipp.ts';

// The sipp helpers against sipp itself: a background UAS and a UAC run to completion, over
// loopback only.
describe('sipp helpers', () => {
  beforeAll(() => {
    requireTool('sipp', 'sip-tester');
  });
  afterAll(async () => {
    await stopAllProcesses();
  });

  it('runs 200 UDP calls at 100 cps against a background UAS and parses stats and RTTs', async () => {
    const uas: BackgroundSipp = await startSipp({ scenario: 'uas' });
    const result = await runSipp({ scenario: 'uac', target: uas.address, calls: 200, rate: 100 });

    expect(result.exitCode, result.stdout).toBe(0);
    expect(result.successful).toBe(200);
    expect(result.failed).toBe(0);
    expect(result.totalCalls).toBe(200);
    expect(result.retransmissions).toBe(0);
    expect(result.outOfCallMsgs).toBe(0);
    expect(result.killedAtDeadline).toBe(false);
    expect(result.responseTimesMs).toHaveLength(200);
    expect(result.responseTimesByRtd['1']).toHaveLength(200);
    expect(result.p50Ms).toBeGreaterThanOrEqual(0);
    expect(result.p99Ms).toBeGreaterThanOrEqual(result.p50Ms);
    expect(result.p99Ms).toBeLessThan(1000);
    expect(result.elapsedS).toBeGreaterThan(1);
    expect(result.elapsedS).toBeLessThan(30);
    expect(result.achievedCps).toBeGreaterThan(50);
    expect(result.achievedCps).toBeLessThan(150);
    expect(result.errors).toBe('');
    expect(result.workDir).toBeUndefined();

    // The embedded uas scenario ends with a 4 s pause, so its calls are not "successful" yet.
    const server = await uas.finish();
    expect(server.stats['IncomingCall(C)']).toBe('200');
    expect(server.totalCalls).toBe(200);
    expect(server.failed).toBe(0);
    // sipp handles SIGTERM itself (final stats written): 0, or 97 with calls still running.
    expect(server.signal).toBeNull();
    expect([0, 97]).toContain(server.exitCode);
    expect(uas.exitStatus()).toBeDefined();
  });

  it('runs over TCP (t1) with a service, a -key and a CPU pin', async () => {
    const uas = await startSipp({ scenario: 'uas', transport: 't1' });
    const result = await runSipp({
      scenario: 'uac',
      target: uas.address,
      transport: 't1',
      calls: 20,
      rate: 50,
      service: 'alice',
      cpu: 0,
      keys: { unused: 'x' },
    });
    expect(result.exitCode, result.stdout).toBe(0);
    expect(result.successful).toBe(20);
    expect(result.failed).toBe(0);
    expect(result.commandLine).toContain('alice');
    expect(result.commandLine[0]).toMatch(/taskset$/);
    await uas.stop();
  });

  it('reports failed calls and the error log when nobody answers', async () => {
    // Nothing listens on the UAS port once it is stopped: a UDP INVITE is retransmitted until
    // sipp gives up. -max_invite_retrans 1 keeps that to ~1.5 s.
    const uas = await startSipp({ scenario: 'uas' });
    await uas.stop();
    const result = await runSipp({
      scenario: 'uac',
      target: uas.address,
      calls: 2,
      rate: 10,
      timeoutS: 20,
      extraArgs: ['-max_invite_retrans', '1'],
    });
    expect(result.exitCode).toBe(1);
    expect(result.successful).toBe(0);
    expect(result.failed).toBe(2);
    expect(result.retransmissions).toBeGreaterThanOrEqual(2);
    expect(result.errors).toMatch(/retransmission timeout/i);
  });

  it('terminates a run at the hard deadline (timeoutS + 10 s) and still parses the final row', async () => {
    // -timeout alone only stops new calls: calls held for 60 s would keep sipp alive.
    const uas = await startSipp({ scenario: 'uas' });
    const started = Date.now();
    const result = await runSipp({ scenario: 'uac', target: uas.address, calls: 5, rate: 50, holdMs: 60_000, timeoutS: 1 });
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(result.killedAtDeadline).toBe(true);
    expect(result.exitCode).toBe(97);
    expect(result.totalCalls).toBe(5);
    expect(result.stats['CurrentCall']).toBe('5');
    await uas.stop();
  });

  it('parses the stats CSV by column name', () => {
    const csv = 'StartTime;CurrentTime;SuccessfulCall(C);FailedCall(C);\n' + 'a\tb\t10.0;a\tb\t12.5;7;1;\n' + 'a\tb\t10.0;a\tb\t13.5;9;2;\n';
    expect(parseSippStats(csv)).toEqual({
      StartTime: 'a\tb\t10.0',
      CurrentTime: 'a\tb\t13.5',
      'SuccessfulCall(C)': '9',
      'FailedCall(C)': '2',
    });
  });
});
