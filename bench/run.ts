/**
 * Proxy CPS benchmark (`npm run bench`): how many calls per second one dispatcher core carries.
 *
 *   npm run bench -- --seconds 10
 *   npm run bench -- --rates 200,1000,2000 --seconds 5 --no-ceiling --no-write
 *   npm run bench -- --json --no-write > result.json
 *
 * Sweeps the offered rate with SIPp (uac → dispatcher → 2 × uas, then uac → uas as the
 * ceiling), prints one line per step, then the markdown tables, and appends a
 * `## Proxy CPS (one dispatcher core)` section to BENCHMARKS.md. See bench/lib/proxy-sweep.ts.
 * Loopback only; every process it starts is stopped on exit, error or Ctrl-C.
 */
import { execFileSync } from 'node:child_process';
import { requireTool } from '../test/support/require-tool.ts';
import { startRedis, type RedisServer } from '../test/support/redis-server.ts';
import { commandLine, isStopping, lingerSeconds, nonNegativeInt, parseBenchArgs, parseRates, positiveInt, printJson, progressWriter, runBench, startRun, writeSection } from './lib/cli.ts';
import { DEFAULTS, runCeilingSweep, runProxySweep, type StepResult, type SweepConfig, type SweepResult } from './lib/proxy-sweep.ts';
import { markdownSection, progressLine, SECTION_TITLE, summaryLine, sweepTable, type BenchReport } from './lib/report.ts';
import { tickResolutionMs } from './lib/sipp-stats.ts';
import { ensureSocketBufferLimits } from './lib/step-support.ts';

const USAGE = `Usage: npm run bench -- [options]

Proxy CPS benchmark: SIPp uac → dispatcher (CPU ${DEFAULTS.dispatcherCpu}) → 2 SIPp uas (CPU ${DEFAULTS.sippCpu}), UDP on loopback,
swept over offered call rates; then the same with no proxy (uac → uas) as the ceiling.

Options:
  --rates LIST         offered rates, calls/s, comma-separated (default ${DEFAULTS.rates.join(',')})
  --seconds N          duration of each step; calls per step = rate × N (default ${DEFAULTS.seconds})
  --no-ceiling         skip the no-proxy ceiling sweep
  --no-proxy           skip the sweep through the dispatcher
  --store KIND         memory (default) or redis: admission through a local redis-server (pinned to the SIPp CPU)
  --transactions N     dispatcher node.limits.transactions (default ${DEFAULTS.transactions}, the dispatcher's own default too)
  --linger S           dispatcher node.limits.transactionLinger, seconds (5-32; default: the dispatcher's, 32)
  --drain N            max seconds to wait between proxy steps for the dispatcher's tables to empty (default ${DEFAULTS.drainMaxS})
  --recv-timeout MS    SIPp -recv_timeout per call (default ${DEFAULTS.recvTimeoutMs})
  --max-minutes N      time budget for the whole run; no step starts past it (default 12)
  --wait-quiet N       before starting, wait up to N s for the machine to be under 20 % CPU (default 120; 0: don't wait)
  --sipp-cpu N         CPU for the SIPps (default ${DEFAULTS.sippCpu})
  --dispatcher-cpu N   CPU for the dispatcher (default ${DEFAULTS.dispatcherCpu}); a list such as 0,1 spreads its workers
  --workers N          dispatcher node.workers (default 1; more needs --store redis); CPU then counts the workers too
  --cpu-prof DIR       run the dispatcher under \`node --cpu-prof\`, its .cpuprofile written into DIR on exit
  --node-flags=FLAGS   extra flags for the dispatcher's node, space-separated (e.g. --node-flags="--single-threaded-gc")
  --keep               keep each step's SIPp files (stats CSV, rtt, errors) and print their paths
  --json               print the result as JSON on stdout only (progress goes to stderr)
  --no-write           do not append to BENCHMARKS.md
  -h, --help           show this help
`;

/** `--node-flags`: node/V8 options only (each starts with `--`), so nothing else reaches the command line. */
function nodeFlags(text: string): string[] {
  const flags = text.split(/\s+/).filter((f) => f !== '');
  const bad = flags.find((f) => !/^--[a-z0-9][a-z0-9-]*(=[^\s]*)?$/i.test(f));
  if (bad !== undefined) throw new Error(`--node-flags: ${JSON.stringify(bad)} is not a --flag or --flag=value`);
  return flags;
}

async function main(argv: string[]): Promise<number> {
  const values = parseBenchArgs(
    argv,
    {
      rates: { type: 'string' },
      seconds: { type: 'string' },
      ceiling: { type: 'boolean', default: true },
      proxy: { type: 'boolean', default: true },
      transactions: { type: 'string' },
      linger: { type: 'string' },
      store: { type: 'string' },
      drain: { type: 'string' },
      'recv-timeout': { type: 'string' },
      'sipp-cpu': { type: 'string' },
      'dispatcher-cpu': { type: 'string' },
      'cpu-prof': { type: 'string' },
      'node-flags': { type: 'string' },
      workers: { type: 'string' },
    },
    USAGE,
  );
  if (typeof values === 'number') return values;
  const json = values.json === true;
  const say = progressWriter(json);

  let cfg: SweepConfig;
  let budgetS: number;
  let waitQuietS: number;
  try {
    waitQuietS = nonNegativeInt('wait-quiet', values['wait-quiet'], 120, 1800);
    const uniqueRates = parseRates(values.rates, DEFAULTS.rates);
    const seconds = positiveInt('seconds', values.seconds, DEFAULTS.seconds, 600);
    for (const r of uniqueRates) if (r * seconds > 2_000_000) throw new Error(`${r} cps × ${seconds} s is more than 2 000 000 calls in one step`);
    budgetS = positiveInt('max-minutes', values['max-minutes'], 12, 240) * 60;
    const sippCpu = nonNegativeInt('sipp-cpu', values['sipp-cpu'], DEFAULTS.sippCpu, 1023);
    const cpuText = values['dispatcher-cpu'];
    const cpuList = cpuText !== undefined && /^\d+(,\d+)+$/.test(cpuText) ? cpuText : undefined;
    const dispatcherCpu = cpuList === undefined ? nonNegativeInt('dispatcher-cpu', cpuText, DEFAULTS.dispatcherCpu, 1023) : Number(cpuList.split(',')[0]);
    const workers = positiveInt('workers', values.workers, 1, 64);
    if (workers > 1 && values.store !== 'redis') throw new Error('--workers above 1 needs --store redis (workers share admission through it)');
    cfg = {
      ...DEFAULTS,
      rates: uniqueRates,
      seconds,
      switchIps: [...DEFAULTS.switchIps],
      sippCpu,
      dispatcherCpu,
      transactions: positiveInt('transactions', values.transactions, DEFAULTS.transactions, 10_000_000),
      ...(values.linger === undefined ? {} : { lingerS: lingerSeconds(values.linger, undefined) }),
      drainMaxS: nonNegativeInt('drain', values.drain, DEFAULTS.drainMaxS, 120),
      recvTimeoutMs: positiveInt('recv-timeout', values['recv-timeout'], DEFAULTS.recvTimeoutMs, 60_000),
      keepFiles: values.keep === true,
      log: say,
      ...(values['cpu-prof'] === undefined ? {} : { cpuProfDir: values['cpu-prof'] }),
      ...(values['node-flags'] === undefined ? {} : { nodeFlags: nodeFlags(values['node-flags']) }),
      workers,
      ...(cpuList === undefined ? {} : { dispatcherCpuList: cpuList }),
    };
    if (values.proxy !== true && values.ceiling !== true) throw new Error('--no-proxy and --no-ceiling together leave nothing to run');
    if (values.store !== undefined && values.store !== 'memory' && values.store !== 'redis') throw new Error('--store must be memory or redis');
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n`);
    return 2;
  }

  const sipp = requireTool('sipp', 'sip-tester');
  const taskset = requireTool('taskset', 'util-linux');
  // This runner (sampling, HTTP polls, its GC) must not share the dispatcher's core: pin every
  // thread of it to the SIPp CPU.
  try {
    execFileSync(taskset, ['-a', '-p', '-c', String(cfg.sippCpu), String(process.pid)], { stdio: 'ignore' });
  } catch {
    say(`warning: could not pin the bench runner to CPU ${cfg.sippCpu}`);
  }
  const { started, date, machine, before: quiet } = await startRun('proxy CPS benchmark', sipp, waitQuietS, say);
  const bufferLimits = ensureSocketBufferLimits(say);
  // The budget counts from here: waiting for a quiet machine does not eat into the sweep.
  const sweepStart = Date.now();
  const deadline = sweepStart + budgetS * 1000;
  say(`rates ${cfg.rates.join(',')} cps × ${cfg.seconds} s; budget ${budgetS / 60} min`);
  const onStep = (s: StepResult): void => {
    if (isStopping()) return;
    say(progressLine(s));
    if (s.workDir !== undefined) say(`  files: ${s.workDir}`);
    if (!s.ok && s.sippErrors !== '') say(`  sipp errors: ${s.sippErrors.split('\n')[0]}`);
  };

  let proxy: SweepResult | undefined;
  let ceiling: SweepResult | undefined;
  let redis: RedisServer | undefined;
  if (values.store === 'redis') {
    requireTool('redis-server', 'redis-server');
    redis = await startRedis();
    try {
      execFileSync(taskset, ['-a', '-p', '-c', String(cfg.sippCpu), String(redis.process.pid)], { stdio: 'ignore' });
    } catch {
      say(`warning: could not pin redis-server to CPU ${cfg.sippCpu}`);
    }
    cfg.store = redis.url;
    say(`redis-server ${redis.url} (pid ${redis.process.pid}) on CPU ${cfg.sippCpu}`);
  }
  if (values.proxy === true) {
    say('\n== through the dispatcher ==');
    // Leave the ceiling sweep ~30 % of the budget.
    const proxyDeadline = values.ceiling === true ? sweepStart + budgetS * 700 : deadline;
    proxy = await runProxySweep(cfg, proxyDeadline, onStep);
    say(`stopped: ${proxy.stopReason}`);
    if (proxy.dispatcherExit !== undefined) say(`DISPATCHER EXITED (${proxy.dispatcherExit}); its last output:\n${proxy.dispatcherOutputTail ?? ''}`);
    else if (proxy.dispatcherOutputTail !== undefined) say(`dispatcher warnings (last 2 KB):\n${proxy.dispatcherOutputTail}`);
  }
  await redis?.stop();
  if (redis !== undefined) cfg.store = 'redis';
  if (values.ceiling === true) {
    say('\n== ceiling: no proxy ==');
    ceiling = await runCeilingSweep(cfg, deadline, onStep);
    say(`stopped: ${ceiling.stopReason}`);
  }

  const stepResolutions = [...(proxy?.steps ?? []), ...(ceiling?.steps ?? [])].map((s) => s.rttResolutionMs).filter((x): x is number => x !== undefined);
  const { log: _log, ...config } = cfg;
  const report: BenchReport = {
    date,
    command: commandLine(argv, 'bench', 'bench/run.ts'),
    machine,
    before: quiet,
    config,
    proxy,
    ceiling,
    summary: summaryLine(proxy, ceiling),
    rttResolutionMs: tickResolutionMs(stepResolutions),
    totalSeconds: (Date.now() - started) / 1000,
    socketBuffers: bufferLimits,
  };

  if (json) {
    printJson(report);
  } else {
    say('');
    if (proxy !== undefined) say(`Through the dispatcher:\n\n${sweepTable(proxy)}\n`);
    if (ceiling !== undefined) say(`Ceiling (no proxy):\n\n${sweepTable(ceiling)}\n`);
    say(report.summary);
  }
  if (values.write === true) {
    writeSection(markdownSection(report), SECTION_TITLE, say);
  }
  return 0;
}

runBench(main);
