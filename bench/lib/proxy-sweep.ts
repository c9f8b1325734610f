/**
 * The proxy CPS sweep: SIPp `uac` → dispatcher → two SIPp `uas` switches, over UDP on loopback,
 * at a series of offered call rates; and the same sweep with no proxy (uac → one uas) as the
 * load generator's ceiling.
 *
 * Processes (all stopped on return, error or signal — see `runBench` in cli.ts):
 *   dispatcher   udp://DISPATCHER_IP:5060, http :9060   taskset -c dispatcherCpu (1)
 *   sipp uas ×2  SWITCH_IPS[i]:5060                     taskset -c sippCpu (0)
 *   sipp uac     uacIp:<fresh port each step>           taskset -c sippCpu (0), one per step
 *
 * One step = one `sipp -sn uac` run of rate × seconds calls with zero hold time, bounded by
 * `-m`, `-l rate×2`, `-recv_timeout`, `-timeout` and a hard SIGTERM deadline (runSipp). Each step
 * uses a fresh local port (runSipp picks a free one, never the previous one). Between proxy steps
 * the dispatcher's transaction and dialog tables are left to drain (RFC 6026 Timer L/M and
 * Timer J keep a finished call's transactions for 32 s), so every step starts from an empty
 * table.
 *
 * A step is sustainable when ≥ 99.9 % of its calls succeed and the achieved rate is within 5 %
 * of the offered rate (`judgeStep`). A failing step is retried once, even one that falls clearly
 * short (bench/lib/rate-step.ts); the sweep stops at a rate that fails twice in a row, when the
 * dispatcher or a switch exits, or when the time budget would be exceeded.
 *
 * `-max_socket` is not passed: it only matters with one socket per call (`-t un`/`tn`); these
 * runs use SIPp's default single UDP socket (`-t u1`).
 */
import { rm, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startProcess, type ManagedProcess } from '../../test/support/managed-process.ts';
import { requireTool } from '../../test/support/require-tool.ts';
import { runSipp, startSipp, type BackgroundSipp, type SippResult } from '../../test/support/sipp.ts';
import { cpuPercent, mainThreadPercent, otherCpuPercent, reapedChildrenTicks, readUdpCounters, readUdpSocketDrops, sampleProcess, processTreeCpuTicks, processTreePids, CLK_TCK } from './proc-stat.ts';
import { rateStep, type RateRunner } from './rate-step.ts';
import { DEFAULT_CRITERION, judgeStep, summarizeStep, type Criterion, type StepStats } from './sipp-stats.ts';
import { head, httpOk, readRttText, readStepCounters, sleep, SOCKET_BUFFER_BYTES, StepSampler, tempDirs, waitForFree } from './step-support.ts';

const BIN = fileURLToPath(new URL('../../bin/sipfleet.ts', import.meta.url));

export type Phase = 'proxy' | 'ceiling' | 'sipfleet' | 'kamailio';

export interface SweepConfig {
  rates: number[];
  seconds: number;
  sippCpu: number;
  dispatcherCpu: number;
  dispatcherIp: string;
  dispatcherSipPort: number;
  dispatcherHttpPort: number;
  switchIps: string[];
  switchPort: number;
  uacIp: string;
  /** The dispatcher's `node.limits.transactions` (set, not left to the default, so that a step never fills it). */
  transactions: number;
  /**
   * The dispatcher's `node.limits.transactionLinger`, s; undefined leaves its default (the RFCs'
   * 32 s). The side-by-side run sets Kamailio's 5 s (tm `wt_timer`) so both hold finished calls alike.
   */
  lingerS?: number;
  /** The dispatcher's `store:`: `memory`, or a `redis://` URL (admission through Redis). */
  store: string;
  /** SIPp `-recv_timeout`: a call waiting longer than this for a response fails. */
  recvTimeoutMs: number;
  /** Longest wait, between proxy steps, for the dispatcher's tables to empty. */
  drainMaxS: number;
  criterion: Criterion;
  /** Keep each step's SIPp work dir (stats CSV, rtt, error log) and print its path. */
  keepFiles: boolean;
  /** Progress output (one line per step, plus notes). */
  log: (line: string) => void;
  /** When set, the dispatcher runs with `node --cpu-prof` and writes its profile here on exit. */
  cpuProfDir?: string;
  /** Extra flags for the dispatcher's `node` (V8 GC flags for an A/B, e.g. `--single-threaded-gc`). */
  nodeFlags?: readonly string[];
  /** The dispatcher's `node.workers` (needs a redis store); its CPU is then the whole process tree. */
  workers?: number;
  /** `taskset -c` list for the dispatcher instead of `dispatcherCpu` (e.g. `0,1` for workers on both cores). */
  dispatcherCpuList?: string;
}

export interface DispatcherSample {
  /** CPU time used during the step by all its threads, % of one core (from /proc/<pid>/stat utime+stime). */
  cpuPct: number;
  /** % of the step's wall time its main thread (the event loop) ran, and was runnable but waiting for the CPU. */
  mainRunPct: number;
  mainWaitPct: number;
  rssStartMb: number;
  rssPeakMb: number;
  rssEndMb: number;
  /** Live server + client transactions right after the step (≈ the step's peak: they live 32 s). */
  transactionsAtEnd: number;
  dialogsAtEnd: number;
  /** `sipfleet_retransmissions_absorbed_total` after the step (cumulative over the run). */
  retransmissionsAbsorbed: number;
  /** Seconds waited after the step for the tables to drain, and what was left. */
  drainS: number;
  leftAfterDrain: number;
}

export interface StepResult extends StepStats {
  phase: Phase;
  seconds: number;
  /** 1, or 2 for the retry of a failed rate. */
  attempt: number;
  ok: boolean;
  reasons: string[];
  sippExit: string;
  killedAtDeadline: boolean;
  /** CPU of the SIPps during the step (uac + uas, all pinned to the SIPp CPU), % of one core. */
  sippCpuPct: number;
  /** CPU of every other process on the machine during the step, % of one core (processes are rescanned every 500 ms; one living less than that is missed). */
  otherCpuPct: number;
  /** UDP datagrams dropped for a full receive buffer during the step (system-wide /proc/net/snmp RcvbufErrors). */
  udpRcvbufDrops: number;
  /** The same, per long-lived socket (/proc/net/udp `drops`): `dispatcher`, `uas 127.0.0.21:5060`...; the uac's is the rest. */
  udpDropsBySocket: Record<string, number>;
  dispatcher?: DispatcherSample;
  /** CPU time of the proxy under test (every process and thread of it) per successful call, µs; undefined without a proxy. */
  proxyCpuUsPerCall?: number;
  /** The same as % of one core over the step's wall time. */
  proxyCpuPct?: number;
  /** First lines of SIPp's -trace_err log, if any. */
  sippErrors: string;
  workDir?: string;
}

export interface SweepResult {
  phase: Phase;
  target: string;
  steps: StepResult[];
  /** The highest rate with a sustainable attempt. */
  best: StepResult | undefined;
  /** Whether the best rate is the last rate of the list (so the limit is higher than measured). */
  bestIsTopOfList: boolean;
  stopReason: string;
  /** How the dispatcher ended (proxy phase). */
  dispatcherExit?: string;
  dispatcherOutputTail?: string;
}

const mb = (bytes: number): number => Math.round((bytes / (1024 * 1024)) * 10) / 10;

/** The dispatcher's /metrics as `name → value` (labels other than node dropped, first sample wins). */
async function fetchMetrics(http: string): Promise<Record<string, number> | undefined> {
  try {
    const res = await fetch(`http://${http}/metrics`, { signal: AbortSignal.timeout(2000) });
    if (!res.ok) return undefined;
    const out: Record<string, number> = {};
    for (const line of (await res.text()).split('\n')) {
      const m = /^(\w+)(\{[^}]*\})? (\S+)$/.exec(line);
      if (m !== null && out[m[1]] === undefined) out[m[1]] = Number(m[3]);
    }
    return out;
  } catch {
    return undefined;
  }
}

function liveEntries(m: Record<string, number> | undefined): number {
  if (m === undefined) return Number.NaN;
  return (m['sipfleet_server_transactions'] ?? 0) + (m['sipfleet_client_transactions'] ?? 0) + (m['sipfleet_dialogs'] ?? 0);
}

export function dispatcherYaml(cfg: SweepConfig, probe = '{ interval: 1h, timeout: 2s, fall: 3, rise: 1 }'): string {
  const switches = cfg.switchIps
    .map((ip, i) => `    - { id: sw${i + 1}, address: ${ip}:${cfg.switchPort}, transport: udp, cps: 100000, channels: 10000000 }`)
    .join('\n');
  return `# written by bench/lib/proxy-sweep.ts
node:
  id: d1
  listen: [udp://${cfg.dispatcherIp}:${cfg.dispatcherSipPort}]
  http: ${cfg.dispatcherIp}:${cfg.dispatcherHttpPort}${(cfg.workers ?? 1) > 1 ? `\n  workers: ${cfg.workers}` : ''}
  limits:
    transactions: ${cfg.transactions}${cfg.lingerS === undefined ? '' : `\n    transactionLinger: ${cfg.lingerS}s`}
store: ${cfg.store}
cluster:
  name: bench
  # Caps far above any offered rate: every call is checked and counted at the cluster, carrier
  # and switch levels (the admission work is measured) without a refusal.
  limits: { cps: 100000, channels: 10000000 }
  # SIPp's built-in uas never answers OPTIONS: with the default probing the switches would be
  # marked down mid-run; there, one probe an hour keeps the prober's code path without tripping
  # it. The side-by-side run's uas (bench/scenarios/uas-rr.xml with -aa) answers them.
  probe: ${probe}
  carriers:
    - { id: bench, sources: [127.0.0.0/8], cps: 100000, channels: 10000000 }
  switches:
${switches}
`;
}

export interface StepContext {
  cfg: SweepConfig;
  phase: Phase;
  target: string;
  /** The uac: SIPp's built-in `uac` (the default) or a scenario file such as bench/scenarios/uac-rr.xml. */
  scenario?: string;
  /** CPU used so far by the proxy under test, clock ticks (a process tree for Kamailio). */
  cpuTicks?: () => number;
  /** Processes of the proxy under test besides `dispatcher` (Kamailio's), left out of "other CPU". */
  ownPids?: () => number[];
  dispatcher?: ManagedProcess;
  http?: string;
  /** The long-running SIPp uas processes. */
  uasPids: number[];
  /** Long-lived UDP sockets to watch for drops: label → local `ip:port`. */
  sockets: Record<string, string>;
}

export async function runStep(ctx: StepContext, rate: number, attempt: number): Promise<StepResult> {
  const { cfg } = ctx;
  const planned = Math.round(rate * cfg.seconds);
  const timeoutS = cfg.seconds + Math.ceil(cfg.recvTimeoutMs / 1000) + 5;
  const pid = ctx.dispatcher?.pid;
  const ours = new Set([...(pid === undefined ? [] : [pid]), ...ctx.uasPids, ...(ctx.ownPids?.() ?? [])]);
  const before = readStepCounters();
  const uasA = ctx.uasPids.map((p) => sampleProcess(p));
  const t0 = performance.now();
  const dA = pid === undefined ? undefined : sampleProcess(pid);
  // Every process's latest CPU ticks go into otherCpuPct.
  const sampler = new StepSampler(pid, dA?.rssBytes ?? 0, before.all);
  const ticksA = ctx.cpuTicks?.();
  let r: SippResult;
  try {
    r = await runSipp({
      scenario: ctx.scenario ?? 'uac',
      target: ctx.target,
      localIp: cfg.uacIp,
      rate,
      calls: planned,
      maxConcurrent: Math.max(100, rate * 2),
      timeoutS,
      cpu: cfg.sippCpu,
      keepWorkDir: true,
      extraArgs: ['-recv_timeout', String(cfg.recvTimeoutMs), '-buff_size', String(SOCKET_BUFFER_BYTES)],
    });
  } finally {
    sampler.stop();
  }
  const dB = pid === undefined ? undefined : sampleProcess(pid);
  const ticksB = ctx.cpuTicks?.();
  const wallS = (performance.now() - t0) / 1000;
  sampler.rescan();
  const udpB = readUdpCounters();
  const sockB = readUdpSocketDrops();
  const udpDropsBySocket: Record<string, number> = {};
  for (const [label, addr] of Object.entries(ctx.sockets)) udpDropsBySocket[label] = (sockB.get(addr) ?? Number.NaN) - (before.sockets.get(addr) ?? 0);
  // The uac has exited and been reaped: its whole CPU time is now in our children's ticks.
  let sippTicks = reapedChildrenTicks() - before.children;
  ctx.uasPids.forEach((p, i) => {
    const a = uasA[i];
    const b = sampleProcess(p);
    if (a !== undefined && b !== undefined) sippTicks += b.cpuTicks - a.cpuTicks;
  });
  const metrics = ctx.http === undefined ? undefined : await fetchMetrics(ctx.http);

  const workDir = r.workDir as string;
  const rttText = await readRttText(workDir, cfg.keepFiles);
  const stats = summarizeStep({ rate, plannedCalls: planned, statCsv: r.csv, rttText });
  const verdict = judgeStep(stats, cfg.criterion);
  const result: StepResult = {
    ...stats,
    phase: ctx.phase,
    seconds: cfg.seconds,
    attempt,
    ok: verdict.ok,
    reasons: verdict.reasons,
    sippExit: r.signal !== null ? `signal ${r.signal}` : `code ${String(r.exitCode)}`,
    killedAtDeadline: r.killedAtDeadline,
    sippCpuPct: wallS > 0 ? (sippTicks / CLK_TCK / wallS) * 100 : Number.NaN,
    otherCpuPct: otherCpuPercent(before.all, sampler.allLatest, ours, wallS),
    udpRcvbufDrops: (udpB['RcvbufErrors'] ?? Number.NaN) - (before.udp['RcvbufErrors'] ?? Number.NaN),
    udpDropsBySocket,
    sippErrors: head(r.errors, 5),
    ...(cfg.keepFiles ? { workDir } : {}),
  };
  if (r.killedAtDeadline) result.reasons.push('sipp killed at its hard deadline');
  if (ticksA !== undefined && ticksB !== undefined && Number.isFinite(ticksA) && Number.isFinite(ticksB)) {
    const cpuS = (ticksB - ticksA) / CLK_TCK;
    const ok = stats.plannedCalls - stats.failed;
    result.proxyCpuPct = wallS > 0 ? (cpuS / wallS) * 100 : Number.NaN;
    result.proxyCpuUsPerCall = ok > 0 ? (cpuS / ok) * 1e6 : Number.NaN;
  }
  if (dA !== undefined && dB !== undefined) {
    const main = mainThreadPercent(dA, dB);
    result.dispatcher = {
      cpuPct: cpuPercent(dA, dB),
      mainRunPct: main.run,
      mainWaitPct: main.wait,
      rssStartMb: mb(dA.rssBytes),
      rssPeakMb: mb(Math.max(sampler.rssPeak, dB.rssBytes)),
      rssEndMb: mb(dB.rssBytes),
      transactionsAtEnd: (metrics?.['sipfleet_server_transactions'] ?? Number.NaN) + (metrics?.['sipfleet_client_transactions'] ?? Number.NaN),
      dialogsAtEnd: metrics?.['sipfleet_dialogs'] ?? Number.NaN,
      retransmissionsAbsorbed: metrics?.['sipfleet_retransmissions_absorbed_total'] ?? Number.NaN,
      drainS: 0,
      leftAfterDrain: Number.NaN,
    };
  }
  return result;
}

/** Waits (bounded) until the dispatcher's transactions and dialogs are gone; 5 s pause without a proxy. */
export async function drain(ctx: StepContext, step: StepResult, deadlineMs: number): Promise<void> {
  if (ctx.http === undefined || step.dispatcher === undefined) {
    // No proxy: let the uas finish the 4 s pause that ends its built-in scenario.
    await sleep(Math.min(5000, Math.max(0, deadlineMs - Date.now())));
    return;
  }
  const start = Date.now();
  const until = Math.min(start + ctx.cfg.drainMaxS * 1000, deadlineMs);
  let left = liveEntries(await fetchMetrics(ctx.http));
  while (left > 0 && Date.now() < until && ctx.dispatcher?.exitStatus() === undefined) {
    await sleep(1000);
    left = liveEntries(await fetchMetrics(ctx.http));
  }
  step.dispatcher.drainS = Math.round((Date.now() - start) / 100) / 10;
  step.dispatcher.leftAfterDrain = left;
}

async function sweep(
  ctx: StepContext,
  deadlineMs: number,
  alive: () => string | undefined,
  onStep: (s: StepResult) => void,
): Promise<Omit<SweepResult, 'phase' | 'target'>> {
  const { cfg } = ctx;
  const top = cfg.rates[cfg.rates.length - 1];
  const r: RateRunner = {
    sweep: { target: ctx.phase, steps: [], best: undefined, stopReason: 'all rates done' },
    cfg,
    run: (rate, attempt) => runStep(ctx, rate, attempt),
    alive,
    // Nothing runs after the last step: no need to wait for the table to empty.
    settle: (step, deadline, stopping) => (stopping || (step.ok && step.rate === top) ? Promise.resolve() : drain(ctx, step, deadline)),
    done: false,
  };
  for (const rate of cfg.rates) {
    await rateStep(r, rate, deadlineMs, onStep, 'climb');
    if (r.done) break;
  }
  const { steps, best, stopReason } = r.sweep;
  return { steps, best, bestIsTopOfList: best !== undefined && best.rate === top, stopReason };
}

/**
 * The dispatcher under test: pinned to the dispatcher CPU, `LOG_LEVEL=warn`, ready once its
 * /readyz answers (optionally under `node --cpu-prof`).
 */
export function startBenchDispatcher(cfg: SweepConfig, configPath: string): Promise<ManagedProcess> {
  const taskset = requireTool('taskset', 'util-linux');
  const profile = cfg.cpuProfDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${cfg.cpuProfDir}`];
  return startProcess({
    name: 'dispatcher',
    command: taskset,
    args: ['-c', cfg.dispatcherCpuList ?? String(cfg.dispatcherCpu), process.execPath, ...(cfg.nodeFlags ?? []), ...profile, BIN, 'dispatcher', '--config', configPath],
    env: { LOG_LEVEL: 'warn' },
    readyWhen: () => httpOk(`http://${cfg.dispatcherIp}:${cfg.dispatcherHttpPort}/readyz`),
    readyTimeoutMs: 20_000,
  });
}

/** Total calls of a sweep if every rate ran twice: the bound passed to the long-running uas. */
function maxCalls(cfg: SweepConfig): number {
  return cfg.rates.reduce((sum, r) => sum + 2 * Math.round(r * cfg.seconds), 0) + 1000;
}

/**
 * Proxy phase: two uas switches, the dispatcher, then the sweep through it. Every process it
 * starts is stopped before it returns (or throws).
 */
export async function runProxySweep(cfg: SweepConfig, deadlineMs: number, onStep: (s: StepResult) => void): Promise<SweepResult> {
  requireTool('taskset', 'util-linux');
  const httpAddr = `${cfg.dispatcherIp}:${cfg.dispatcherHttpPort}`;
  const target = `${cfg.dispatcherIp}:${cfg.dispatcherSipPort}`;
  await waitForFree('dispatcher SIP', cfg.dispatcherIp, cfg.dispatcherSipPort, 'udp', 20_000);
  await waitForFree('dispatcher HTTP', cfg.dispatcherIp, cfg.dispatcherHttpPort, 'tcp', 20_000);
  for (const ip of cfg.switchIps) await waitForFree('switch', ip, cfg.switchPort, 'udp', 20_000);

  const dir = await mkdtemp(join(tmpdir(), 'sipfleet-bench-'));
  tempDirs.add(dir);
  const configPath = join(dir, 'd1.yaml');
  await writeFile(configPath, dispatcherYaml(cfg));
  const switches: BackgroundSipp[] = [];
  let dispatcher: ManagedProcess | undefined;
  const uasTimeoutS = Math.ceil((deadlineMs - Date.now()) / 1000) + 60;
  try {
    for (const ip of cfg.switchIps) {
      switches.push(
        await startSipp({ scenario: 'uas', localIp: ip, localPort: cfg.switchPort, cpu: cfg.sippCpu, calls: maxCalls(cfg), timeoutS: uasTimeoutS, extraArgs: ['-buff_size', String(SOCKET_BUFFER_BYTES)] }),
      );
    }
    dispatcher = await startBenchDispatcher(cfg, configPath);
    const d = dispatcher;
    cfg.log(`dispatcher pid ${d.pid} on CPU ${cfg.dispatcherCpu} (${target}, config ${configPath}); switches ${switches.map((s) => s.address).join(', ')} on CPU ${cfg.sippCpu}`);
    const alive = (): string | undefined => {
      const st = d.exitStatus();
      if (st !== undefined) return `dispatcher exited (${st.signal ?? `code ${String(st.code)}`})`;
      const dead = switches.find((s) => s.exitStatus() !== undefined);
      return dead === undefined ? undefined : `switch ${dead.address} exited`;
    };
    // The dispatcher's CPU is its process tree: with workers, the supervisor's children do the work.
    const tree = { cpuTicks: () => processTreeCpuTicks(d.pid), ownPids: () => processTreePids(d.pid) };
    const res = await sweep({ cfg, phase: 'proxy', target, dispatcher: d, http: httpAddr, ...tree, uasPids: switches.map((s) => s.pid), sockets: { dispatcher: target, ...Object.fromEntries(switches.map((s) => [`uas ${s.address}`, s.address])) } }, deadlineMs, alive, onStep);
    const st = d.exitStatus();
    const out: SweepResult = { phase: 'proxy', target, ...res };
    if (st !== undefined) {
      out.dispatcherExit = st.signal ?? `code ${String(st.code)}`;
      out.dispatcherOutputTail = d.output().slice(-2000);
    } else {
      const warnings = d.output().trim();
      if (warnings !== '') out.dispatcherOutputTail = warnings.slice(-2000);
    }
    return out;
  } finally {
    await dispatcher?.stop('SIGTERM', 5000);
    await Promise.all(switches.map((s) => s.stop('SIGTERM', 3000)));
    await rm(dir, { recursive: true, force: true });
    tempDirs.delete(dir);
  }
}

/** Ceiling phase: SIPp uac → one SIPp uas, both on the SIPp CPU, no proxy. */
export async function runCeilingSweep(cfg: SweepConfig, deadlineMs: number, onStep: (s: StepResult) => void): Promise<SweepResult> {
  const ip = cfg.switchIps[0];
  await waitForFree('ceiling uas', ip, cfg.switchPort, 'udp', 20_000);
  const uasTimeoutS = Math.ceil((deadlineMs - Date.now()) / 1000) + 60;
  const uas = await startSipp({ scenario: 'uas', localIp: ip, localPort: cfg.switchPort, cpu: cfg.sippCpu, calls: maxCalls(cfg), timeoutS: uasTimeoutS, extraArgs: ['-buff_size', String(SOCKET_BUFFER_BYTES)] });
  try {
    const alive = (): string | undefined => (uas.exitStatus() === undefined ? undefined : `uas ${uas.address} exited`);
    const res = await sweep({ cfg, phase: 'ceiling', target: uas.address, uasPids: [uas.pid], sockets: { [`uas ${uas.address}`]: uas.address } }, deadlineMs, alive, onStep);
    return { phase: 'ceiling', target: uas.address, ...res };
  } finally {
    await uas.stop('SIGTERM', 3000);
  }
}

export const DEFAULTS = {
  rates: [200, 500, 1000, 1500, 2000, 2500, 3000, 4000, 5000, 6000],
  seconds: 10,
  sippCpu: 0,
  dispatcherCpu: 1,
  dispatcherIp: '127.0.0.11',
  dispatcherSipPort: 5060,
  dispatcherHttpPort: 9060,
  switchIps: ['127.0.0.21', '127.0.0.22'],
  switchPort: 5060,
  uacIp: '127.0.0.1',
  transactions: 1_000_000,
  store: 'memory',
  recvTimeoutMs: 8000,
  drainMaxS: 40,
  criterion: DEFAULT_CRITERION,
} as const;
