import { describe, expect, it } from 'vitest';
import { runSwitchSimCli } from './main.ts';
import { parseSwitchSimArgs, USAGE } from './cli-args.ts';
import type { SwitchSim } from './switch-sim.ts';

function io() {
  const out = { stdout: '', stderr: '', exitCode: undefined as number | undefined };
  return {
    out,
    io: {
      stdout: (t: string) => void (out.stdout += t),
      stderr: (t: string) => void (out.stderr += t),
      exit: (c: number) => void (out.exitCode = c),
    },
  };
}

describe('switch-sim CLI', () => {
  it('--help lists every option', async () => {
    const { out, io: cliIo } = io();
    await runSwitchSimCli(['--help'], cliIo);
    for (const opt of ['--listen', '--id', '--channels', '--cps', '--ring-ms', '--answer-ms', '--hold-ms', '--rtp', '--rtp-ports', '--http', '--log-level', '--help']) {
      expect(out.stdout).toContain(opt);
    }
    expect(out.stdout).toBe(USAGE);
    expect(out.exitCode).toBeUndefined();
  });

  it.each([
    [['--listen', 'udp://127.0.0.21:5060', '--cps', 'fast'], '--cps'],
    [['--listen', 'udp://127.0.0.21:5060', '--channels', '-1'], '--channels'],
    [['--listen', 'udp://127.0.0.21:5060', '--ring-ms', '1e3'], '--ring-ms'],
    [['--listen', 'udp://127.0.0.21:5060', '--hold-ms'], '--hold-ms'],
    [['--listen', 'http://127.0.0.21:5060'], '--listen'],
    [['--listen', 'udp://localhost:5060'], '--listen'],
    [['--listen', 'udp://127.0.0.21:70000'], '--listen'],
    [['--listen', 'udp://127.0.0.21:5060', '--http', 'nowhere'], '--http'],
    [['--listen', 'udp://127.0.0.21:5060', '--log-level', 'loud'], '--log-level'],
    [['--listen', 'udp://127.0.0.21:5060', '--id', 'a b'], '--id'],
    [['--listen', 'udp://127.0.0.21:5060', '--colour'], '--colour'],
    [['--listen', 'udp://127.0.0.21:5060', '--rtp', 'loud'], '--rtp'],
    [['--listen', 'udp://127.0.0.21:5060', '--rtp-ports', '20000'], '--rtp-ports'],
    [['--listen', 'udp://127.0.0.21:5060', '--rtp-ports', '21000-20000'], '--rtp-ports'],
    [['--listen', 'udp://127.0.0.21:5060', '--rtp-ports', '80-90'], '--rtp-ports'],
    [[], '--listen'],
  ])('%j → one line naming %s, exit 2', async (argv, option) => {
    const { out, io: cliIo } = io();
    await runSwitchSimCli(argv, cliIo);
    expect(out.exitCode).toBe(2);
    expect(out.stderr).toContain(option);
    expect(out.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(out.stderr).not.toContain('    at ');
  });

  it('maps options to SwitchSimOptions', () => {
    const parsed = parseSwitchSimArgs([
      '--listen', 'udp://127.0.0.21:5060', '--listen', 'tcp://[::1]:5070', '--id', 'sw1', '--channels', '30', '--cps', 'unlimited',
      '--ring-ms', '10', '--answer-ms', '20', '--hold-ms', '30', '--http', '127.0.0.21:8060', '--log-level', 'debug',
      '--rtp', 'echo', '--rtp-ports', '20000-20999',
    ]);
    expect(parsed).toEqual({
      help: false,
      options: {
        listen: ['udp://127.0.0.21:5060', 'tcp://[::1]:5070'],
        id: 'sw1',
        channels: 30,
        cps: null,
        ringMs: 10,
        answerMs: 20,
        holdMs: 30,
        rtp: 'echo',
        rtpPorts: '20000-20999',
        http: '127.0.0.21:8060',
        logLevel: 'debug',
      },
    });
  });

  it('starts, reports the sim and stops on abort', async () => {
    const { out, io: cliIo } = io();
    const ac = new AbortController();
    let sim: SwitchSim | undefined;
    const done = runSwitchSimCli(['--listen', 'udp://127.0.0.21:0', '--listen', 'tcp://127.0.0.21:0', '--id', 'cli1', '--channels', '3', '--log-level', 'silent'], {
      ...cliIo,
      signal: ac.signal,
      onStarted: (s) => {
        sim = s;
        ac.abort();
      },
    });
    await done;
    expect(sim?.id).toBe('cli1');
    expect(sim?.behaviour().channels).toBe(3);
    expect(sim?.listeners.every((l) => l.port > 0)).toBe(true);
    expect(out.exitCode).toBeUndefined();
  });

  it('rejects with TRANSPORT_ERR_BIND when the address cannot be bound', async () => {
    const { io: cliIo } = io();
    await expect(runSwitchSimCli(['--listen', 'udp://192.0.2.77:0', '--log-level', 'silent'], cliIo)).rejects.toMatchObject({
      code: 'TRANSPORT_ERR_BIND',
    });
  });
});
