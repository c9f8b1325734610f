/**
 * The registrar benchmark's two measurements (bench/registrar.bench.ts runs them):
 *
 * 1. `runRegisterSweep`: REGISTER/s with digest authentication through one dispatcher core. A
 *    SIPp client (bench/scenarios/register-auth.xml: REGISTER → 401 → REGISTER with MD5
 *    credentials → 200; users from an injection CSV) is swept over offered registration rates.
 *    A step is sustainable when ≥ 99.9 % of its registrations succeed and the achieved rate is
 *    within 5 % of the offered one (sipp-stats `judgeStep`, the proxy sweep's criterion); a
 *    failing rate is retried once. Between steps the dispatcher's transaction table is left to
 *    drain (a REGISTER's server transaction lives on for Timer J, 32 s over UDP), and the CPU the
 *    dispatcher spent during step + drain, less its idle rate, gives the CPU per registration
 *    with the expiry work included.
 *
 * 2. `runContacts`: N contacts registered through one dispatcher (which then owns and pings
 *    them) by a PhoneFleet (bench/lib/phone-fleet.ts: a few UDP sockets answering the keep-alive
 *    OPTIONS), then, once every binding is in its steady ping cycle, one window of keep-alives
 *    alone: the dispatcher's CPU, pings sent and answered (its /metrics), and its memory and
 *    Redis's before and after (a full GC through the inspector before each heap reading).
 *
 * Processes: the dispatcher (pinned to `dispatcherCpu` with taskset, `LOG_LEVEL=warn`, a redis
 * store) and, in the sweep, one SIPp per step (pinned to `loadCpu`); the caller starts the
 * redis-server (pinned to `loadCpu`). Every process started here is stopped before the function
 * returns or throws.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { startProcess, type ManagedProcess } from '../../test/support/managed-process.ts';
import { requireTool } from '../../test/support/require-tool.ts';
import { runSipp, type SippResult } from '../../test/support/sipp.ts';
import { collectGarbage, inspectorUrl } from './inspector-gc.ts';
import { PhoneFleet, type FillResult } from './phone-fleet.ts';
import { mainThreadPercent, otherCpuPercent, readUdpCounters, readUdpSocketDrops, reapedChildrenTicks, sampleProcess, snapshotAllProcesses, CLK_TCK, type ProcSample } from './proc-stat.ts';
import { DEFAULT_CRITERION, judgeStep, summarizeStep, type StepStats } from './sipp-stats.ts';
import { clearlyShort, head, httpOk, readRttText, readStepCounters, sleep, SOCKET_BUFFER_BYTES, StepSampler, tempDirs, waitForFree } from './step-support.ts';

const BIN = fileURLToPath(new URL('../../bin/sipfleet.ts', import.meta.url));
export const SCENARIO = fileURLToPath(new URL('../scenarios/register-auth.xml', import.meta.url));

export const PASSWORD = 'bench-secret-1';
export const CLUSTER = 'bench';

export interface RegistrarBenchConfig {
  dispatcherIp: string;
  dispatcherSipPort: number;
  dispatcherHttpPort: number;
  dispatcherCpu: number;
  /** CPU of SIPp, redis-server, the phone fleet and this runner. */
  loadCpu: number;
  /** The redis-server both phases use (`redis://host:port`). */
  redisUrl: string;
  redisPid: number;
  /** Pass `--cpu-prof --cpu-prof-dir=<dir>` to the dispatcher (a .cpuprofile per dispatcher run). */
  cpuProfDir: string | undefined;
  log: (line: string) => void;
}

export interface SweepOptions {
  rates: number[];
  seconds: number;
  users: number;
  /** The uac's source address. */
  uacIp: string;
  recvTimeoutMs: number;
  drainMaxS: number;
  /** Keep each step's SIPp files. */
  keepFiles: boolean;
}

export interface ContactsOptions {
  contacts: number;
  sockets: number;
  fleetIp: string;
  fillRate: number;
  fillWindow: number;
  /** Keep-alive interval, ms. */
  intervalMs: number;
  /** Wait after the fill before the window (every binding's first ping and the REGISTER transactions' Timer J behind). */
  settleS: number;
  windowS: number;
}

// ---------------------------------------------------------------------------------------------
// Shared pieces

export function userName(i: number): string {
  return `u${String(i + 1).padStart(5, '0')}`;
}

export function userNames(n: number): string[] {
  return Array.from({ length: n }, (_, i) => userName(i));
}

function dispatcherYaml(cfg: RegistrarBenchConfig, users: number, keepaliveInterval: string): string {
  const lines = [
    '# written by bench/lib/registrar-bench.ts',
    'node:',
    '  id: d1',
    `  listen: [udp://${cfg.dispatcherIp}:${cfg.dispatcherSipPort}]`,
    `  http: ${cfg.dispatcherIp}:${cfg.dispatcherHttpPort}`,
    '  limits:',
    // A REGISTER's two server transactions live on for Timer J (32 s): 3000 registrations/s hold
    // ~200 000; the default (1 000 000) is set here all the same, so that CPU is what is measured.
    '    transactions: 1000000',
    `store: ${cfg.redisUrl}`,
    'cluster:',
    `  name: ${CLUSTER}`,
    '  switches: []',
    '  registrar:',
    // SIPp 3.6 computes MD5 digests only; the default offers SHA-256 first, then MD5.
    '    algorithms: [MD5]',
    `    keepalive: { enabled: true, interval: ${keepaliveInterval} }`,
    // Every phone comes from one or two loopback addresses: no failure is expected, but one
    // must not ban the load generator mid-run.
    '    abuse: { threshold: 1000000 }',
    '  users:',
  ];
  for (let i = 0; i < users; i++) lines.push(`    - { username: ${userName(i)}, password: ${PASSWORD} }`);
  return `${lines.join('\n')}\n`;
}

/** The dispatcher's /metrics: `name` (its `node` label dropped) or `name{labels}` → value. */
export async function fetchMetrics(http: string): Promise<Record<string, number>> {
  const res = await fetch(`http://${http}/metrics`, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`GET /metrics: HTTP ${res.status}`);
  const out: Record<string, number> = {};
  for (const line of (await res.text()).split('\n')) {
    const m = /^(\w+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m === null) continue;
    const labels = (m[2] ?? '').replace(/node="[^"]*",?/, '').replace(/,\}$/, '}');
    out[m[1] + (labels === '{}' ? '' : labels)] = Number(m[3]);
  }
  return out;
}

interface Dispatcher {
  proc: ManagedProcess;
  http: string;
  target: string;
  /** Seconds from spawn to /readyz (config load, users seeded into Redis). */
  readyS: number;
  inspector: string | undefined;
  dir: string;
}

async function startDispatcher(cfg: RegistrarBenchConfig, users: number, keepaliveInterval: string, inspect: boolean): Promise<Dispatcher> {
  const taskset = requireTool('taskset', 'util-linux');
  await waitForFree('dispatcher SIP', cfg.dispatcherIp, cfg.dispatcherSipPort, 'udp', 20_000);
  await waitForFree('dispatcher HTTP', cfg.dispatcherIp, cfg.dispatcherHttpPort, 'tcp', 20_000);
  const dir = await mkdtemp(join(tmpdir(), 'sipfleet-regbench-'));
  tempDirs.add(dir);
  const configPath = join(dir, 'd1.yaml');
  await writeFile(configPath, dispatcherYaml(cfg, users, keepaliveInterval));
  const http = `${cfg.dispatcherIp}:${cfg.dispatcherHttpPort}`;
  const nodeArgs = [
    ...(inspect ? ['--inspect=127.0.0.1:0'] : []),
    ...(cfg.cpuProfDir !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${cfg.cpuProfDir}`] : []),
  ];
  const t0 = performance.now();
  const proc = await startProcess({
    name: 'dispatcher',
    command: taskset,
    args: ['-c', String(cfg.dispatcherCpu), process.execPath, ...nodeArgs, BIN, 'dispatcher', '--config', configPath],
    env: { LOG_LEVEL: 'warn' },
    readyWhen: () => httpOk(`http://${http}/readyz`),
    readyTimeoutMs: 60_000,
  });
  const readyS = (performance.now() - t0) / 1000;
  return { proc, http, target: `${cfg.dispatcherIp}:${cfg.dispatcherSipPort}`, readyS, inspector: inspect ? inspectorUrl(proc.output()) : undefined, dir };
}

/** The dispatcher's output without the inspector's own lines (`Debugger listening on ...`). */
function dispatcherWarnings(proc: ManagedProcess): string {
  return proc
    .output()
    .split('\n')
    .filter((l) => !/^(Debugger (listening|attached|ending)|For help, see|Waiting for the debugger)/.test(l))
    .join('\n')
    .trim();
}

/** Log lines of the dispatcher reporting a Redis command that timed out on the client side (250 ms). */
function storeTimeouts(proc: ManagedProcess): number {
  return proc.output().split('\n').filter((l) => l.includes('timed out') && l.includes('registrar store')).length;
}

async function stopDispatcher(d: Dispatcher | undefined): Promise<void> {
  if (d === undefined) return;
  // Long enough for a --cpu-prof profile to be written.
  await d.proc.stop('SIGTERM', 15_000);
  await rm(d.dir, { recursive: true, force: true });
  tempDirs.delete(d.dir);
}

/** `INFO memory` fields of a redis-server (bytes). */
export async function redisMemory(url: string): Promise<{ usedMemory: number; usedMemoryRss: number }> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2000, commandTimeout: 5000 });
  try {
    await r.connect();
    const text = await r.info('memory');
    const field = (name: string): number => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(text)?.[1] ?? Number.NaN);
    return { usedMemory: field('used_memory'), usedMemoryRss: field('used_memory_rss') };
  } finally {
    r.disconnect();
  }
}

export async function redisFlushAll(url: string): Promise<void> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2000, commandTimeout: 20_000 });
  try {
    await r.connect();
    await r.flushall();
  } finally {
    r.disconnect();
  }
}

function cpuPctBetween(a: ProcSample | undefined, b: ProcSample | undefined): number {
  if (a === undefined || b === undefined) return Number.NaN;
  const wallS = (b.atMs - a.atMs) / 1000;
  return wallS > 0 ? ((b.cpuTicks - a.cpuTicks) / CLK_TCK / wallS) * 100 : Number.NaN;
}

function ticksToUs(ticks: number): number {
  return (ticks / CLK_TCK) * 1e6;
}

// ---------------------------------------------------------------------------------------------
// 1. REGISTER/s sweep

export interface RegisterStep extends StepStats {
  seconds: number;
  attempt: number;
  ok: boolean;
  reasons: string[];
  /** Dispatcher CPU during the step, % of one core (all threads). */
  dispCpuPct: number;
  mainRunPct: number;
  mainWaitPct: number;
  /** Dispatcher CPU time during the step / registrations that succeeded. */
  dispUsPerReg: number;
  /** The same over step + drain (Timer J expiry included), less the idle rate. */
  dispUsPerRegWithDrain: number;
  drainS: number;
  redisCpuPct: number;
  redisUsPerReg: number;
  sippCpuPct: number;
  otherCpuPct: number;
  rssPeakMb: number;
  /** Live server + client transactions right after the step. */
  transactionsAtEnd: number;
  udpDrops: number;
  udpDropsDispatcher: number;
  /** The dispatcher's registrar counters during the step (REGISTERs, 200s, 401 challenges, failures...). */
  registrar: Record<string, number>;
  sippErrors: string;
  workDir?: string;
}

export interface SweepResult {
  users: number;
  target: string;
  dispatcherReadyS: number;
  /** The dispatcher's idle CPU (% of a core) before the first step. */
  idleCpuPct: number;
  steps: RegisterStep[];
  best: RegisterStep | undefined;
  bestIsTopOfList: boolean;
  stopReason: string;
  /** Dispatcher log lines about a registrar-store command that timed out (→ 503), whole sweep. */
  storeTimeouts: number;
  dispatcherExit?: string;
  dispatcherOutputTail?: string;
}

function registrarCounters(m: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(m)) {
    const r = /^sipfleet_registers_total\{outcome="(\w+)"\}$/.exec(k);
    if (r !== null) out[r[1]] = v;
  }
  return out;
}

function liveTransactions(m: Record<string, number>): number {
  return (m['sipfleet_server_transactions'] ?? 0) + (m['sipfleet_client_transactions'] ?? 0);
}

async function writeUsersCsv(dir: string, users: number): Promise<string> {
  const path = join(dir, 'users.csv');
  // field1 is a whole [authentication] keyword: SIPp 3.6 expands a keyword found in an injected
  // field, but not an injected field nested inside [authentication ...].
  const lines = ['SEQUENTIAL'];
  for (let i = 0; i < users; i++) lines.push(`${userName(i)};[authentication username=${userName(i)} password=${PASSWORD}]`);
  await writeFile(path, `${lines.join('\n')}\n`);
  return path;
}

async function registerStep(
  cfg: RegistrarBenchConfig,
  opts: SweepOptions,
  d: Dispatcher,
  csv: string,
  rate: number,
  attempt: number,
  idleCpuPct: number,
  deadlineMs: number,
): Promise<RegisterStep> {
  const planned = Math.round(rate * opts.seconds);
  const timeoutS = opts.seconds + Math.ceil(opts.recvTimeoutMs / 1000) + 5;
  const pid = d.proc.pid;
  const ours = new Set([pid, cfg.redisPid]);
  const m0 = await fetchMetrics(d.http);
  const before = readStepCounters();
  const redisA = sampleProcess(cfg.redisPid);
  const dA = sampleProcess(pid);
  const sampler = new StepSampler(pid, dA?.rssBytes ?? 0, before.all);
  let r: SippResult;
  try {
    r = await runSipp({
      scenario: SCENARIO,
      target: d.target,
      localIp: opts.uacIp,
      rate,
      calls: planned,
      maxConcurrent: Math.max(100, rate * 2),
      timeoutS,
      cpu: cfg.loadCpu,
      keepWorkDir: true,
      // -nd: no BYE for a call aborted on an unexpected message (there is no dialog to end).
      // -buff_size: SIPp's own default socket buffers are 64 KB, smaller than the kernel's
      // default: from ~2000/s its socket, not the dispatcher's, dropped the answers.
      extraArgs: ['-inf', csv, '-recv_timeout', String(opts.recvTimeoutMs), '-nd', '-buff_size', String(SOCKET_BUFFER_BYTES)],
    });
  } finally {
    sampler.stop();
  }
  const dB = sampleProcess(pid);
  const redisB = sampleProcess(cfg.redisPid);
  const wallS = dA !== undefined && dB !== undefined ? (dB.atMs - dA.atMs) / 1000 : Number.NaN;
  sampler.rescan();
  const udpB = readUdpCounters();
  const sockB = readUdpSocketDrops();
  const sippTicks = reapedChildrenTicks() - before.children;
  const m1 = await fetchMetrics(d.http);

  const workDir = r.workDir as string;
  const rttText = await readRttText(workDir, opts.keepFiles);
  const stats = summarizeStep({ rate, plannedCalls: planned, statCsv: r.csv, rttText });
  const verdict = judgeStep(stats, DEFAULT_CRITERION);
  if (r.killedAtDeadline) verdict.reasons.push('sipp killed at its hard deadline');

  // Drain: until the REGISTER transactions have expired (Timer J), counting the CPU it takes.
  const drainStart = Date.now();
  const drainUntil = Math.min(drainStart + opts.drainMaxS * 1000, deadlineMs);
  let live = liveTransactions(m1);
  while (live > 0 && Date.now() < drainUntil && d.proc.exitStatus() === undefined) {
    await sleep(1000);
    live = liveTransactions(await fetchMetrics(d.http).catch(() => ({}) as Record<string, number>));
  }
  const dC = sampleProcess(pid);
  const drainS = (Date.now() - drainStart) / 1000;

  const registrar: Record<string, number> = {};
  const c0 = registrarCounters(m0);
  for (const [k, v] of Object.entries(registrarCounters(m1))) registrar[k] = v - (c0[k] ?? 0);
  const ok = stats.successful;
  const dTicks = dA !== undefined && dB !== undefined ? dB.cpuTicks - dA.cpuTicks : Number.NaN;
  const allTicks = dA !== undefined && dC !== undefined ? dC.cpuTicks - dA.cpuTicks : Number.NaN;
  const allWallS = dA !== undefined && dC !== undefined ? (dC.atMs - dA.atMs) / 1000 : Number.NaN;
  const idleTicks = (idleCpuPct / 100) * CLK_TCK * allWallS;
  const main = dA !== undefined && dB !== undefined ? mainThreadPercent(dA, dB) : { run: Number.NaN, wait: Number.NaN };
  const redisTicks = redisA !== undefined && redisB !== undefined ? redisB.cpuTicks - redisA.cpuTicks : Number.NaN;
  const dispSock = d.target;
  return {
    ...stats,
    seconds: opts.seconds,
    attempt,
    ok: verdict.ok && !r.killedAtDeadline,
    reasons: verdict.reasons,
    dispCpuPct: cpuPctBetween(dA, dB),
    mainRunPct: main.run,
    mainWaitPct: main.wait,
    dispUsPerReg: ok > 0 ? ticksToUs(dTicks) / ok : Number.NaN,
    dispUsPerRegWithDrain: ok > 0 ? ticksToUs(allTicks - idleTicks) / ok : Number.NaN,
    drainS,
    redisCpuPct: wallS > 0 ? (redisTicks / CLK_TCK / wallS) * 100 : Number.NaN,
    redisUsPerReg: ok > 0 ? ticksToUs(redisTicks) / ok : Number.NaN,
    sippCpuPct: wallS > 0 ? (sippTicks / CLK_TCK / wallS) * 100 : Number.NaN,
    otherCpuPct: otherCpuPercent(before.all, sampler.allLatest, ours, wallS),
    rssPeakMb: Math.round((Math.max(sampler.rssPeak, dB?.rssBytes ?? 0) / 1048576) * 10) / 10,
    transactionsAtEnd: liveTransactions(m1),
    udpDrops: (udpB['RcvbufErrors'] ?? Number.NaN) - (before.udp['RcvbufErrors'] ?? Number.NaN),
    udpDropsDispatcher: (sockB.get(dispSock) ?? Number.NaN) - (before.sockets.get(dispSock) ?? 0),
    registrar,
    sippErrors: head(r.errors, 3),
    ...(opts.keepFiles ? { workDir } : {}),
  };
}

export async function runRegisterSweep(cfg: RegistrarBenchConfig, opts: SweepOptions, deadlineMs: number, onStep: (s: RegisterStep) => void): Promise<SweepResult> {
  requireTool('sipp', 'sip-tester');
  const dir = await mkdtemp(join(tmpdir(), 'sipfleet-regbench-csv-'));
  tempDirs.add(dir);
  let d: Dispatcher | undefined;
  try {
    const csv = await writeUsersCsv(dir, opts.users);
    d = await startDispatcher(cfg, opts.users, '1h', false);
    const disp = d;
    cfg.log(`dispatcher pid ${disp.proc.pid} on CPU ${cfg.dispatcherCpu} (${disp.target}), ready in ${disp.readyS.toFixed(1)} s with ${opts.users} users in its config; keep-alive every 1 h`);
    // Its idle rate (lease refresh, expiry sweep), subtracted from the step + drain CPU.
    const i0 = sampleProcess(disp.proc.pid);
    await sleep(5000);
    const idleCpuPct = cpuPctBetween(i0, sampleProcess(disp.proc.pid));
    cfg.log(`dispatcher idle: ${idleCpuPct.toFixed(1)} % of a core`);

    const steps: RegisterStep[] = [];
    let best: RegisterStep | undefined;
    let stopReason = 'all rates done';
    const stepCostMs = (opts.seconds + 10) * 1000;
    outer: for (const rate of opts.rates) {
      for (let attempt = 1; attempt <= 2; attempt++) {
        if (Date.now() + stepCostMs > deadlineMs) {
          stopReason = `time budget reached before ${rate}/s`;
          break outer;
        }
        const step = await registerStep(cfg, opts, disp, csv, rate, attempt, idleCpuPct, deadlineMs);
        steps.push(step);
        const st = disp.proc.exitStatus();
        if (st !== undefined) {
          step.ok = false;
          step.reasons.push('dispatcher exited');
          onStep(step);
          stopReason = `the dispatcher exited during the ${rate}/s step`;
          break outer;
        }
        onStep(step);
        if (step.ok) {
          if (best === undefined || rate > best.rate) best = step;
          break;
        }
        if (clearlyShort(step)) {
          stopReason = `${rate}/s fell clearly short (${step.reasons.join('; ')})`;
          break outer;
        }
        if (attempt === 2) {
          stopReason = `${rate}/s failed twice in a row (${step.reasons.join('; ')})`;
          break outer;
        }
        cfg.log(`  ${rate}/s failed (${step.reasons.join('; ')}): retrying once`);
      }
    }
    const st = disp.proc.exitStatus();
    const warnings = dispatcherWarnings(disp.proc);
    return {
      users: opts.users,
      target: disp.target,
      dispatcherReadyS: disp.readyS,
      idleCpuPct,
      steps,
      best,
      bestIsTopOfList: best !== undefined && best.rate === opts.rates[opts.rates.length - 1],
      stopReason,
      storeTimeouts: storeTimeouts(disp.proc),
      ...(st !== undefined ? { dispatcherExit: st.signal ?? `code ${String(st.code)}` } : {}),
      ...(warnings !== '' ? { dispatcherOutputTail: warnings.slice(-2000) } : {}),
    };
  } finally {
    await stopDispatcher(d);
    await rm(dir, { recursive: true, force: true });
    tempDirs.delete(dir);
  }
}

// ---------------------------------------------------------------------------------------------
// 2. N contacts with keep-alives

export interface MemoryReading {
  /** After a full GC (through the inspector), unless `gc` is false. */
  gc: boolean;
  heapUsed: number;
  heapTotal: number;
  external: number;
  /** /proc/<pid>/stat RSS. */
  rss: number;
}

export interface ContactsResult {
  contacts: number;
  sockets: number;
  intervalMs: number;
  dispatcherReadyS: number;
  fill: FillResult;
  /** Dispatcher CPU during the fill, % of a core, and per registration. */
  fillDispCpuPct: number;
  fillDispUsPerReg: number;
  fillRedisUsPerReg: number;
  fillRedisCpuPct: number;
  fillOtherCpuPct: number;
  /** Dispatcher log lines about a registrar-store command that timed out during the fill (→ 503). */
  fillStoreTimeouts: number;
  /** Bindings the dispatcher pings (its sipfleet_keepalive_bindings) at the window's start and end. */
  trackedAtStart: number;
  trackedAtEnd: number;
  memBefore: MemoryReading;
  memAfterFill: MemoryReading;
  memAfterWindow: MemoryReading;
  redisEmpty: number;
  redisWithUsers: number;
  redisWithBindings: number;
  redisAfterWindow: number;
  /** Bindings in Redis (all owners) after the fill. */
  redisBindings: number;
  settleS: number;
  window: {
    seconds: number;
    dispCpuPct: number;
    mainRunPct: number;
    mainWaitPct: number;
    /** Dispatcher CPU per ping sent, µs. */
    dispUsPerPing: number;
    redisCpuPct: number;
    /** This process (the phone fleet answering OPTIONS, plus the bench's sampling), % of a core. */
    fleetCpuPct: number;
    otherCpuPct: number;
    pingsSent: number;
    pongs: number;
    misses: number;
    removed: number;
    optionsAnswered: number;
    udpDrops: number;
    udpDropsDispatcher: number;
    /** Heap used sampled every 5 s through /metrics (no GC): min and max. */
    heapUsedMin: number;
    heapUsedMax: number;
  };
  dispatcherExit?: string;
  dispatcherOutputTail?: string;
  notes: string[];
}

async function readMemory(d: Dispatcher, notes: string[]): Promise<MemoryReading> {
  let gc = false;
  if (d.inspector !== undefined) {
    try {
      await collectGarbage(d.inspector, 2);
      gc = true;
    } catch (err) {
      notes.push(`a GC through the inspector failed (${(err as Error).message}); that heap reading is without GC`);
    }
  }
  const m = await fetchMetrics(d.http);
  return {
    gc,
    heapUsed: m['nodejs_heap_size_used_bytes'] ?? Number.NaN,
    heapTotal: m['nodejs_heap_size_total_bytes'] ?? Number.NaN,
    external: m['nodejs_external_memory_bytes'] ?? Number.NaN,
    rss: sampleProcess(d.proc.pid)?.rssBytes ?? Number.NaN,
  };
}

async function countBindingsInRedis(url: string): Promise<number> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2000, commandTimeout: 5000 });
  try {
    await r.connect();
    // The expiry index: one member per binding, all owners (registrar-keys.ts).
    return await r.zcard(`sf:{${CLUSTER}}:reg:expiry`);
  } finally {
    r.disconnect();
  }
}

export async function runContacts(cfg: RegistrarBenchConfig, opts: ContactsOptions, onProgress: (line: string) => void): Promise<ContactsResult> {
  const notes: string[] = [];
  await redisFlushAll(cfg.redisUrl);
  const redisEmpty = (await redisMemory(cfg.redisUrl)).usedMemory;
  let d: Dispatcher | undefined;
  let fleet: PhoneFleet | undefined;
  try {
    const intervalS = Math.round(opts.intervalMs / 1000);
    d = await startDispatcher(cfg, opts.contacts, `${intervalS}s`, true);
    const disp = d;
    cfg.log(`dispatcher pid ${disp.proc.pid} on CPU ${cfg.dispatcherCpu} (${disp.target}), ready in ${disp.readyS.toFixed(1)} s with ${opts.contacts} users in its config; keep-alive every ${intervalS} s`);
    if (disp.inspector === undefined) notes.push('the dispatcher printed no inspector URL: heap readings are without a forced GC');
    await sleep(3000);
    const redisWithUsers = (await redisMemory(cfg.redisUrl)).usedMemory;
    const memBefore = await readMemory(disp, notes);

    const users = userNames(opts.contacts);
    fleet = await PhoneFleet.open({
      localIp: opts.fleetIp,
      sockets: opts.sockets,
      target: { address: cfg.dispatcherIp, port: cfg.dispatcherSipPort },
      users,
      password: PASSWORD,
    });
    cfg.log(`phone fleet: ${opts.contacts} phones on ${opts.sockets} sockets (${fleet.addresses[0]} …); registering at ${opts.fillRate}/s, ≤ ${opts.fillWindow} in flight`);
    const fA = sampleProcess(disp.proc.pid);
    const rA = sampleProcess(cfg.redisPid);
    const fillAllA = snapshotAllProcesses();
    const fillAllLatest = new Map(fillAllA);
    const fillScan = setInterval(() => {
      for (const [p, v] of snapshotAllProcesses()) fillAllLatest.set(p, v);
    }, 500);
    const timeoutsBefore = storeTimeouts(disp.proc);
    const fill = await fleet.register({ rate: opts.fillRate, window: opts.fillWindow, deadlineMs: Date.now() + Math.max(60_000, (opts.contacts / opts.fillRate) * 3000), expires: 3600 });
    clearInterval(fillScan);
    const fB = sampleProcess(disp.proc.pid);
    const rB = sampleProcess(cfg.redisPid);
    for (const [p, v] of snapshotAllProcesses()) fillAllLatest.set(p, v);
    const fillWallS = fA !== undefined && fB !== undefined ? (fB.atMs - fA.atMs) / 1000 : Number.NaN;
    const fillStoreTimeouts = storeTimeouts(disp.proc) - timeoutsBefore;
    onProgress(
      `fill: ${fill.registered}/${fill.planned} registered in ${fill.seconds.toFixed(1)} s (${fill.achievedPerS.toFixed(0)}/s), failed ${fill.failed}` +
        `${fill.failed > 0 ? ` ${JSON.stringify(fill.failures)}` : ''}, retrans ${fill.retransmissions}, p50 ${fill.p50Ms.toFixed(1)} ms, p99 ${fill.p99Ms.toFixed(1)} ms`,
    );
    const fillTicks = fA !== undefined && fB !== undefined ? fB.cpuTicks - fA.cpuTicks : Number.NaN;
    const fillRedisTicks = rA !== undefined && rB !== undefined ? rB.cpuTicks - rA.cpuTicks : Number.NaN;

    // Every binding pings first at a random offset within one interval of its registration;
    // after settleS (> interval + Timer J) the schedule is steady and the REGISTER transactions gone.
    onProgress(`settling ${opts.settleS} s (first pings, Timer J)`);
    await sleep(opts.settleS * 1000);
    const memAfterFill = await readMemory(disp, notes);
    const redisWithBindings = (await redisMemory(cfg.redisUrl)).usedMemory;
    const redisBindings = await countBindingsInRedis(cfg.redisUrl);
    // Let the process settle after the GC and the inspector session before measuring CPU.
    await sleep(2000);

    onProgress(`window: ${opts.windowS} s of keep-alives only`);
    const m0 = await fetchMetrics(disp.http);
    const fleet0 = fleet.stats();
    const allA = snapshotAllProcesses();
    const udpA = readUdpCounters();
    const sockA = readUdpSocketDrops();
    const cpuA = process.cpuUsage();
    const dA = sampleProcess(disp.proc.pid);
    const redA = sampleProcess(cfg.redisPid);
    const allLatest = new Map(allA);
    let heapMin = Number.POSITIVE_INFINITY;
    let heapMax = 0;
    const windowEnd = Date.now() + opts.windowS * 1000;
    for (let i = 0; Date.now() < windowEnd && i < 100_000; i++) {
      await sleep(Math.min(5000, Math.max(0, windowEnd - Date.now())));
      for (const [p, v] of snapshotAllProcesses()) allLatest.set(p, v);
      if (Date.now() < windowEnd - 500) {
        const h = (await fetchMetrics(disp.http))['nodejs_heap_size_used_bytes'];
        if (h !== undefined) {
          heapMin = Math.min(heapMin, h);
          heapMax = Math.max(heapMax, h);
        }
      }
      if (disp.proc.exitStatus() !== undefined) break;
    }
    const dB = sampleProcess(disp.proc.pid);
    const redB = sampleProcess(cfg.redisPid);
    const cpuB = process.cpuUsage(cpuA);
    for (const [p, v] of snapshotAllProcesses()) allLatest.set(p, v);
    const udpB = readUdpCounters();
    const sockB = readUdpSocketDrops();
    const m1 = await fetchMetrics(disp.http);
    const fleet1 = fleet.stats();
    const wallS = dA !== undefined && dB !== undefined ? (dB.atMs - dA.atMs) / 1000 : Number.NaN;
    const main = dA !== undefined && dB !== undefined ? mainThreadPercent(dA, dB) : { run: Number.NaN, wait: Number.NaN };
    const delta = (name: string): number => (m1[name] ?? Number.NaN) - (m0[name] ?? Number.NaN);
    const pingsSent = delta('sipfleet_keepalive_pings_total');
    const dTicks = dA !== undefined && dB !== undefined ? dB.cpuTicks - dA.cpuTicks : Number.NaN;
    const redTicks = redA !== undefined && redB !== undefined ? redB.cpuTicks - redA.cpuTicks : Number.NaN;

    const memAfterWindow = await readMemory(disp, notes);
    const redisAfterWindow = (await redisMemory(cfg.redisUrl)).usedMemory;
    const st = disp.proc.exitStatus();
    const warnings = dispatcherWarnings(disp.proc);
    return {
      contacts: opts.contacts,
      sockets: opts.sockets,
      intervalMs: opts.intervalMs,
      dispatcherReadyS: disp.readyS,
      fill,
      fillDispCpuPct: cpuPctBetween(fA, fB),
      fillDispUsPerReg: fill.registered > 0 ? ticksToUs(fillTicks) / fill.registered : Number.NaN,
      fillRedisUsPerReg: fill.registered > 0 ? ticksToUs(fillRedisTicks) / fill.registered : Number.NaN,
      fillRedisCpuPct: fillWallS > 0 ? (fillRedisTicks / CLK_TCK / fillWallS) * 100 : Number.NaN,
      fillOtherCpuPct: otherCpuPercent(fillAllA, fillAllLatest, new Set([disp.proc.pid, cfg.redisPid]), fillWallS),
      fillStoreTimeouts,
      trackedAtStart: m0['sipfleet_keepalive_bindings'] ?? Number.NaN,
      trackedAtEnd: m1['sipfleet_keepalive_bindings'] ?? Number.NaN,
      memBefore,
      memAfterFill,
      memAfterWindow,
      redisEmpty,
      redisWithUsers,
      redisWithBindings,
      redisAfterWindow,
      redisBindings,
      settleS: opts.settleS,
      window: {
        seconds: wallS,
        dispCpuPct: cpuPctBetween(dA, dB),
        mainRunPct: main.run,
        mainWaitPct: main.wait,
        dispUsPerPing: pingsSent > 0 ? ticksToUs(dTicks) / pingsSent : Number.NaN,
        redisCpuPct: wallS > 0 ? (redTicks / CLK_TCK / wallS) * 100 : Number.NaN,
        fleetCpuPct: wallS > 0 ? ((cpuB.user + cpuB.system) / 1e6 / wallS) * 100 : Number.NaN,
        otherCpuPct: otherCpuPercent(allA, allLatest, new Set([disp.proc.pid, cfg.redisPid]), wallS),
        pingsSent,
        pongs: delta('sipfleet_keepalive_pongs_total'),
        misses: delta('sipfleet_keepalive_misses_total'),
        removed: delta('sipfleet_keepalive_removed_total'),
        optionsAnswered: fleet1.optionsAnswered - fleet0.optionsAnswered,
        udpDrops: (udpB['RcvbufErrors'] ?? Number.NaN) - (udpA['RcvbufErrors'] ?? Number.NaN),
        udpDropsDispatcher: (sockB.get(disp.target) ?? Number.NaN) - (sockA.get(disp.target) ?? 0),
        heapUsedMin: Number.isFinite(heapMin) ? heapMin : Number.NaN,
        heapUsedMax: heapMax > 0 ? heapMax : Number.NaN,
      },
      ...(st !== undefined ? { dispatcherExit: st.signal ?? `code ${String(st.code)}` } : {}),
      ...(warnings !== '' ? { dispatcherOutputTail: warnings.slice(-2000) } : {}),
      notes,
    };
  } finally {
    fleet?.close();
    await stopDispatcher(d);
  }
}

/** Pins a running process (every thread) to one CPU; false when taskset failed. */
export function pinProcess(pid: number, cpu: number): boolean {
  try {
    execFileSync(requireTool('taskset', 'util-linux'), ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
