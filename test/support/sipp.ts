import { rmSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startProcess, type ManagedProcess, type ProcessExit } from './managed-process.ts';
import { freePort, isPortListening } from './ports.ts';
import { parseMessage, type SipRequest, type SipResponse } from '../../shared/sip/index.ts';
import { requireTool } from './require-tool.ts';

/**
 * SIPp (Debian's `sip-tester`, 3.6.x: UDP/TCP/SCTP, no TLS) as a child process.
 *
 * Each run happens in a fresh temp dir with `-nostdin` (no TTY needed: sipp then prints only
 * its final screens on stdout), `-trace_stat -stf stats.csv -fd 1` (one `;`-separated stats row
 * per second plus a final row at exit), `-trace_rtt -rtt_freq 1` (every response time; with the
 * default frequency of 200 the last partial batch is never written) and `-trace_err`.
 *
 * Two sipp 3.6.1 facts drive the timeouts: `-timeout` only stops *new* calls (running calls,
 * UDP retransmissions included, still play out) and SIGUSR1 is an equally soft quit. So a hard
 * deadline SIGTERMs sipp `timeoutS + 10` s after the start: on SIGTERM sipp still writes its
 * final stats row and exits with 97.
 */

export type SippTransport = 'u1' | 'un' | 't1' | 'tn';

/** Scenarios embedded in the sipp binary (`-sn`); anything else is an XML file path (`-sf`). */
const BUILTIN_SCENARIOS = new Set(['uac', 'uas', 'regexp', 'branchc', 'branchs', '3pcc-C-A', '3pcc-C-B', '3pcc-A', '3pcc-B']);

export interface SippOptions {
  /** Embedded scenario (`uac`, `uas`, `regexp`, `branchc`, `branchs`...) or an XML file path. */
  scenario: 'uac' | 'uas' | (string & {});
  /** Remote `host:port`; required for client scenarios. */
  target?: string;
  /** `-t`; default `u1`. */
  transport?: SippTransport;
  /** `-i` (also bound with `-bind_local`, so it is the source address); default 127.0.0.1. */
  localIp?: string;
  /** `-p`; default a free port (sipp's own default, `-p 0`, means 5060). */
  localPort?: number;
  /** `-r` calls per rate period; sipp's default is 10. */
  rate?: number;
  /** `-rp` in milliseconds; default 1000. */
  ratePeriodMs?: number;
  /** `-m`; default 1 for `runSipp` and 1 000 000 for `startSipp`: sipp never runs unbounded. */
  calls?: number;
  /** `-l` maximum simultaneous calls. */
  maxConcurrent?: number;
  /** `-d` call hold (the duration of `pause` steps without their own duration), milliseconds. */
  holdMs?: number;
  /**
   * `-timeout` in seconds, plus the hard deadline (timeoutS + 10 s, then SIGTERM). Default for
   * `runSipp`: 30 s + twice the time the calls take at the given rate + holdMs, at most 150 s;
   * for `startSipp`: 600 s.
   */
  timeoutS?: number;
  /** Appended last. Paths in them are relative to the temp dir: pass absolute ones. */
  extraArgs?: string[];
  /** Pin sipp to one CPU with `taskset -c`. */
  cpu?: number;
  /** `-s` user part of the request URI. */
  service?: string;
  /** `-key name value` pairs, for `[name]` in scenarios. */
  keys?: Record<string, string>;
  /** Keep the temp dir (its path is in the result) instead of deleting it. */
  keepWorkDir?: boolean;
  /**
   * Run sipp inside this network namespace (`ip netns exec`, root only). Ports cannot be probed
   * from here then: `localPort` is required and the control port is `controlPort` (default
   * `localPort + 1`).
   */
  netns?: string;
  /** `-cp`, sipp's UDP control port; default a free port (with `netns`: `localPort + 1`). */
  controlPort?: number;
}

export interface SippResult {
  /** sipp's exit code: 0 all calls ok, 1 some failed, 97 internal/SIGTERM exit, 99 no calls, 255 fatal. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** The hard deadline was hit and sipp was terminated. */
  killedAtDeadline: boolean;
  successful: number;
  failed: number;
  totalCalls: number;
  retransmissions: number;
  outOfCallMsgs: number;
  deadCallMsgs: number;
  /** Wall time between sipp's first and last stats rows (`CurrentTime - StartTime`). */
  elapsedS: number;
  /** sipp's `CallRate(C)`: calls created per second over the run. */
  achievedCps: number;
  /** Every response time from the rtt file, all RTDs, in file order. Resolution: 1 ms. */
  responseTimesMs: number[];
  /** The same, split by RTD number (`1` is the first `rtd` of the scenario). */
  responseTimesByRtd: Record<string, number[]>;
  /** Nearest-rank percentiles of `responseTimesMs`; NaN when there is none. */
  p50Ms: number;
  p99Ms: number;
  /** Contents of the `-trace_err` log (first 64 KB). Empty when nothing unexpected happened. */
  errors: string;
  /** sipp's stdout and stderr: the final screens (last 256 KB). */
  stdout: string;
  /** The raw stats CSV. */
  csv: string;
  /** The final stats row, keyed by column name (`SuccessfulCall(C)`, `FailedMaxUDPRetrans(C)`...). */
  stats: Record<string, string>;
  /** The command line that ran. */
  commandLine: string[];
  /** The temp dir, only when `keepWorkDir` was set. */
  workDir: string | undefined;
}

/** A sipp running in the background (`startSipp`), e.g. a UAS standing in for a switch. */
export interface BackgroundSipp extends ManagedProcess {
  readonly host: string;
  readonly port: number;
  /** `host:port` to point traffic at. */
  readonly address: string;
  readonly workDir: string;
  /** SIGTERM (sipp writes its final stats), wait for exit, parse the results, clean up. */
  finish(graceMs?: number): Promise<SippResult>;
}

const STATS_FILE = 'stats.csv';
const ERROR_FILE = 'errors.log';
const ERRORS_CAP = 64 * 1024;
const STDOUT_CAP = 256 * 1024;
const HARD_DEADLINE_SLACK_MS = 10_000;

/** Temp dirs of background sipps not yet cleaned up (stopped via stopAllProcesses, say). */
const pendingWorkDirs = new Set<string>();
process.on('exit', () => {
  for (const dir of pendingWorkDirs) rmSync(dir, { recursive: true, force: true });
});

interface PreparedRun {
  command: string;
  netns: string | undefined;
  args: string[];
  workDir: string;
  localIp: string;
  localPort: number;
  timeoutS: number;
}

function defaultRunTimeoutS(opts: SippOptions): number {
  const calls = opts.calls ?? 1;
  const perSecond = ((opts.rate ?? 10) * 1000) / (opts.ratePeriodMs ?? 1000);
  const spreadS = perSecond > 0 ? calls / perSecond : 0;
  return Math.min(150, Math.ceil(30 + 2 * spreadS + (opts.holdMs ?? 0) / 1000));
}

async function prepare(opts: SippOptions, defaults: { calls: number; timeoutS: number }): Promise<PreparedRun> {
  const sipp = requireTool('sipp', 'sip-tester');
  const localIp = opts.localIp ?? '127.0.0.1';
  if (opts.netns !== undefined && opts.localPort === undefined) throw new Error(`sipp in netns ${opts.netns}: localPort is required`);
  const localPort = opts.localPort ?? (await freePort(localIp));
  const controlPort = opts.controlPort ?? (opts.netns !== undefined ? localPort + 1 : await freePort(localIp, ['udp']));
  const timeoutS = opts.timeoutS ?? defaults.timeoutS;
  const workDir = await mkdtemp(join(tmpdir(), 'sipfleet-sipp-'));

  const args: string[] = [];
  if (opts.target !== undefined) args.push(opts.target);
  if (BUILTIN_SCENARIOS.has(opts.scenario)) args.push('-sn', opts.scenario);
  else args.push('-sf', resolve(opts.scenario));
  args.push('-t', opts.transport ?? 'u1');
  args.push('-i', localIp, '-p', String(localPort), '-bind_local');
  args.push('-ci', localIp, '-cp', String(controlPort));
  args.push('-nostdin');
  args.push('-m', String(opts.calls ?? defaults.calls));
  if (opts.rate !== undefined) args.push('-r', String(opts.rate));
  if (opts.ratePeriodMs !== undefined) args.push('-rp', String(opts.ratePeriodMs));
  if (opts.maxConcurrent !== undefined) args.push('-l', String(opts.maxConcurrent));
  if (opts.holdMs !== undefined) args.push('-d', String(opts.holdMs));
  args.push('-timeout', String(timeoutS));
  if (opts.service !== undefined) args.push('-s', opts.service);
  for (const [key, value] of Object.entries(opts.keys ?? {})) args.push('-key', key, value);
  args.push('-trace_stat', '-stf', STATS_FILE, '-fd', '1');
  args.push('-trace_rtt', '-rtt_freq', '1');
  args.push('-trace_err', '-error_file', ERROR_FILE);
  args.push(...(opts.extraArgs ?? []));

  if (opts.cpu !== undefined) {
    const taskset = requireTool('taskset', 'util-linux');
    return { command: taskset, args: ['-c', String(opts.cpu), sipp, ...args], netns: opts.netns, workDir, localIp, localPort, timeoutS };
  }
  return { command: sipp, args, netns: opts.netns, workDir, localIp, localPort, timeoutS };
}

/**
 * Runs sipp to completion and returns its parsed results.
 *
 * ```ts
 * const r = await runSipp({ scenario: 'uac', target: `127.0.0.1:${port}`, calls: 200, rate: 100 });
 * expect(r.failed).toBe(0);
 * ```
 */
export async function runSipp(opts: SippOptions): Promise<SippResult> {
  const run = await prepare(opts, { calls: 1, timeoutS: defaultRunTimeoutS(opts) });
  try {
    const proc = await startProcess({ name: `sipp-${scenarioLabel(opts.scenario)}`, command: run.command, args: run.args, cwd: run.workDir, netns: run.netns });
    let killedAtDeadline = false;
    const deadline = setTimeout(() => {
      killedAtDeadline = true;
      void proc.stop('SIGTERM', 3000);
    }, run.timeoutS * 1000 + HARD_DEADLINE_SLACK_MS);
    const exit = await proc.exited;
    clearTimeout(deadline);
    return await collectSippResult(run, exit, proc.output(), killedAtDeadline, opts.keepWorkDir === true);
  } finally {
    if (opts.keepWorkDir !== true) await rm(run.workDir, { recursive: true, force: true });
  }
}

/**
 * Starts a long-running sipp (a `uas`, or a `uac` with many calls) in the background; resolves
 * once its SIP port is bound. Stop it with `finish()` for results, or `stop()` / the module's
 * `stopAllProcesses()` without. It is still bounded: 1 000 000 calls, 600 s by default.
 */
export async function startSipp(opts: SippOptions): Promise<BackgroundSipp> {
  const run = await prepare(opts, { calls: 1_000_000, timeoutS: 600 });
  const kind = (opts.transport ?? 'u1').startsWith('t') ? 'tcp' : 'udp';
  let proc: ManagedProcess;
  try {
    proc = await startProcess({
      name: `sipp-${scenarioLabel(opts.scenario)}`,
      command: run.command,
      args: run.args,
      cwd: run.workDir,
      netns: run.netns,
      // taskset (and ip netns exec) exec sipp, so the pid is sipp's either way.
      readyWhen: (p) => isPortListening(run.localPort, kind, { host: run.localIp, pid: p.pid }),
      readyTimeoutMs: 10_000,
    });
  } catch (err) {
    await rm(run.workDir, { recursive: true, force: true });
    throw err;
  }
  let killedAtDeadline = false;
  const deadline = setTimeout(() => {
    killedAtDeadline = true;
    void proc.stop('SIGTERM', 3000);
  }, run.timeoutS * 1000 + HARD_DEADLINE_SLACK_MS);
  deadline.unref();
  void proc.exited.then(() => clearTimeout(deadline));

  const keep = opts.keepWorkDir === true;
  if (!keep) pendingWorkDirs.add(run.workDir);
  const cleanUp = async (): Promise<void> => {
    if (keep) return;
    pendingWorkDirs.delete(run.workDir);
    await rm(run.workDir, { recursive: true, force: true });
  };
  return {
    name: proc.name,
    pid: proc.pid,
    exited: proc.exited,
    host: run.localIp,
    port: run.localPort,
    address: `${run.localIp}:${run.localPort}`,
    workDir: run.workDir,
    exitStatus: () => proc.exitStatus(),
    output: () => proc.output(),
    waitForOutput: (re, timeoutMs) => proc.waitForOutput(re, timeoutMs),
    stop: async (signal, graceMs) => {
      const exit = await proc.stop(signal, graceMs);
      await cleanUp();
      return exit;
    },
    kill: (signal) => proc.kill(signal),
    finish: async (graceMs = 5000) => {
      const exit = await proc.stop('SIGTERM', graceMs);
      try {
        return await collectSippResult(run, exit, proc.output(), killedAtDeadline, keep);
      } finally {
        await cleanUp();
      }
    },
  };
}

function scenarioLabel(scenario: string): string {
  return BUILTIN_SCENARIOS.has(scenario) ? scenario : (scenario.split('/').pop() ?? 'xml').replace(/\.xml$/, '');
}

async function readIfExists(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return '';
  }
}

async function collectSippResult(
  run: PreparedRun,
  exit: ProcessExit,
  output: string,
  killedAtDeadline: boolean,
  keepWorkDir: boolean,
): Promise<SippResult> {
  const csv = await readIfExists(join(run.workDir, STATS_FILE));
  const stats = parseSippStats(csv);
  const num = (column: string): number => {
    const value = Number.parseFloat(stats[column] ?? '');
    return Number.isFinite(value) ? value : 0;
  };

  const files = await readdir(run.workDir);
  const responseTimesMs: number[] = [];
  const responseTimesByRtd: Record<string, number[]> = {};
  for (const file of files.filter((f) => f.endsWith('_rtt.csv')).sort()) {
    for (const row of parseSippRtt(await readIfExists(join(run.workDir, file)))) {
      responseTimesMs.push(row.ms);
      (responseTimesByRtd[row.rtd] ??= []).push(row.ms);
    }
  }
  const sorted = [...responseTimesMs].sort((a, b) => a - b);

  let errors = await readIfExists(join(run.workDir, ERROR_FILE));
  if (errors.length > ERRORS_CAP) errors = `${errors.slice(0, ERRORS_CAP)}\n...[${errors.length - ERRORS_CAP} more characters]`;

  const totalCalls = stats['TotalCallCreated'] !== undefined ? num('TotalCallCreated') : num('OutgoingCall(C)') + num('IncomingCall(C)');
  const elapsedS = sippElapsedS(stats);
  const rate = Number.parseFloat(stats['CallRate(C)'] ?? '');
  return {
    exitCode: exit.code,
    signal: exit.signal,
    killedAtDeadline,
    successful: num('SuccessfulCall(C)'),
    failed: num('FailedCall(C)'),
    totalCalls,
    retransmissions: num('Retransmissions(C)'),
    outOfCallMsgs: num('OutOfCallMsgs(C)'),
    deadCallMsgs: num('DeadCallMsgs(C)'),
    elapsedS,
    achievedCps: Number.isFinite(rate) ? rate : elapsedS > 0 ? totalCalls / elapsedS : 0,
    responseTimesMs,
    responseTimesByRtd,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    errors,
    stdout: output.length > STDOUT_CAP ? output.slice(-STDOUT_CAP) : output,
    csv,
    stats,
    commandLine: [run.command, ...run.args],
    workDir: keepWorkDir ? run.workDir : undefined,
  };
}

/**
 * The last row of a sipp `-trace_stat` CSV keyed by the header's column names. Fields are
 * `;`-separated; time columns hold `date<TAB>time<TAB>epoch` and durations `HH:MM:SS[:usec]`.
 */
export function parseSippStats(csv: string): Record<string, string> {
  const lines = csv.split(/\r?\n/).filter((line) => line.trim() !== '');
  if (lines.length < 2) return {};
  const header = lines[0].split(';');
  const last = lines[lines.length - 1].split(';');
  const row: Record<string, string> = {};
  header.forEach((name, i) => {
    if (name !== '') row[name] = (last[i] ?? '').trim();
  });
  return row;
}

/** Rows of a sipp `-trace_rtt` file: `Date_ms;response_time_ms;rtd_no`. */
export function parseSippRtt(text: string): Array<{ atMs: number; ms: number; rtd: string }> {
  const rows: Array<{ atMs: number; ms: number; rtd: string }> = [];
  for (const line of text.split(/\r?\n/)) {
    const [at, ms, rtd] = line.split(';');
    const value = Number.parseFloat(ms ?? '');
    if (rtd === undefined || !Number.isFinite(value)) continue; // header, blank or partial line
    rows.push({ atMs: Number.parseFloat(at), ms: value, rtd: rtd.trim() });
  }
  return rows;
}

function epochOf(field: string | undefined): number {
  const parts = (field ?? '').split('\t');
  return Number.parseFloat(parts[parts.length - 1] ?? '');
}

function sippElapsedS(stats: Record<string, string>): number {
  const span = epochOf(stats['CurrentTime']) - epochOf(stats['StartTime']);
  if (Number.isFinite(span)) return span;
  const [h, m, s, us] = (stats['ElapsedTime(C)'] ?? '').split(':').map((p) => Number.parseFloat(p));
  const total = (h ?? 0) * 3600 + (m ?? 0) * 60 + (s ?? 0) + (us ?? 0) / 1e6;
  return Number.isFinite(total) ? total : 0;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1];
}

/**
 * The SIP messages of a sipp `-trace_msg` file (`-message_file`), sent and received, in order.
 * sipp writes each as a block headed `UDP message received [n] bytes :` (or `sent`) between
 * dashed lines, line ends as they were (normalised to CRLF here).
 */
export function parseSippMessageTrace(text: string): Array<{ direction: 'sent' | 'received'; message: SipRequest | SipResponse }> {
  const out: Array<{ direction: 'sent' | 'received'; message: SipRequest | SipResponse }> = [];
  for (const block of text.split(/^-{20,}.*$/m)) {
    const m = /^(?:UDP|TCP|TLS) message (sent|received)[^\n]*\n\n([\s\S]*)$/.exec(block.trim() + '\n');
    if (m === null) continue;
    try {
      out.push({ direction: m[1] as 'sent' | 'received', message: parseMessage(Buffer.from(m[2].replace(/\r?\n/g, '\r\n'), 'latin1')) });
    } catch {
      // a partial block
    }
  }
  return out;
}
