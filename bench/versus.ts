/**
 * Side-by-side benchmark (`npm run bench`): sipfleet against Kamailio's dispatcher, one core
 * each, the same SIPp load, in one run.
 *
 *   npm run bench
 *   npm run bench -- --rates 1000,2000,3000 --seconds 8 --no-ceiling --no-write
 *
 * Sweeps the offered rate for both proxies in turn (bench/lib/versus-sweep.ts), measures both
 * again at 25/50/75 % of Kamailio's maximum, then the load generator alone; prints the tables,
 * appends a `## sipfleet vs Kamailio (one core each)` section to BENCHMARKS.md and writes its
 * chart to bench/results/. Loopback only; every process it starts is stopped on exit, error or
 * Ctrl-C. The proxy-only sweep with SIPp's built-in uac is `npm run bench:proxy`.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { requireTool } from '../test/support/require-tool.ts';
import { startRedis, type RedisServer } from '../test/support/redis-server.ts';
import { commandLine, isStopping, lingerSeconds, nonNegativeInt, parseBenchArgs, parseRates, positiveInt, printJson, progressWriter, runBench, startRun, writeSection } from './lib/cli.ts';
import { DEFAULTS, type StepResult } from './lib/proxy-sweep.ts';
import { versusChart, versusProgressLine, versusSection, versusSummary, VERSUS_TITLE, type VersusReport } from './lib/versus-report.ts';
import { ensureSocketBufferLimits } from './lib/step-support.ts';
import { runVersus, type VersusConfig } from './lib/versus-sweep.ts';

const RATES = [1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000, 11000, 12000];
/** Refinement stops at this gap between a passing and a failing rate, cps (the rates are 1000 apart). */
const REFINE_GRAIN = 250;
/** Kamailio tm's `wt_timer` (its default, which bench/kamailio/kamailio.cfg keeps), s. */
const KAMAILIO_WT_TIMER_S = 5;
const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));

const USAGE = `Usage: npm run bench -- [options]

sipfleet (Redis-backed admission) vs Kamailio's dispatcher, each pinned to CPU ${DEFAULTS.dispatcherCpu}, loaded in turn by
SIPp (uac-rr.xml → proxy → 2 × uas-rr.xml, all SIPps and redis-server on CPU ${DEFAULTS.sippCpu}), UDP on loopback.

Options:
  --rates LIST         offered rates, calls/s, comma-separated (default ${RATES.join(',')})
  --seconds N          duration of each step (default 10)
  --children N         Kamailio UDP children (default 4)
  --linger S           sipfleet's node.limits.transactionLinger, seconds (5-32; default ${KAMAILIO_WT_TIMER_S}, Kamailio tm's
                       wt_timer, so that both keep a finished transaction as long; 32 is the RFCs' and sipfleet's default)
  --refine N           after the climb, bisect each maximum N times between its best and failing rates (default 2: from 1000 cps apart to 250)
  --no-ceiling         skip the load generator's own ceiling (uac-rr → uas-rr)
  --max-minutes N      time budget for the whole run; no step starts past it (default 30)
  --wait-quiet N       before starting, wait up to N s for the machine to be under 20 % CPU (default 120; 0: don't wait)
  --cpu-prof DIR       run sipfleet under \`node --cpu-prof\`, its .cpuprofile written into DIR on exit
  --json               print the result as JSON on stdout only (progress goes to stderr)
  --no-write           do not append to BENCHMARKS.md nor write the chart
  -h, --help           show this help
`;

async function main(argv: string[]): Promise<number> {
  const values = parseBenchArgs(
    argv,
    {
      rates: { type: 'string' },
      seconds: { type: 'string' },
      children: { type: 'string' },
      linger: { type: 'string' },
      refine: { type: 'string' },
      ceiling: { type: 'boolean', default: true },
      'cpu-prof': { type: 'string' },
    },
    USAGE,
  );
  if (typeof values === 'number') return values;
  const json = values.json === true;
  const say = progressWriter(json);
  let cfg: VersusConfig;
  let budgetS: number;
  let waitQuietS: number;
  try {
    waitQuietS = nonNegativeInt('wait-quiet', values['wait-quiet'], 120, 1800);
    const rates = parseRates(values.rates, RATES);
    const seconds = positiveInt('seconds', values.seconds, 10, 600);
    for (const r of rates) if (r * seconds > 2_000_000) throw new Error(`${r} cps × ${seconds} s is more than 2 000 000 calls in one step`);
    budgetS = positiveInt('max-minutes', values['max-minutes'], 30, 240) * 60;
    cfg = {
      ...DEFAULTS,
      rates,
      seconds,
      switchIps: [...DEFAULTS.switchIps],
      store: 'redis',
      keepFiles: false,
      log: say,
      kamailioIp: '127.0.0.12',
      kamailioPort: 5060,
      kamailioChildren: positiveInt('children', values.children, 4, 64),
      lingerS: lingerSeconds(values.linger, KAMAILIO_WT_TIMER_S),
      fractions: [0.25, 0.5, 0.75],
      ceiling: values.ceiling === true,
      refineSteps: nonNegativeInt('refine', values.refine, 2, 6),
      refineGrain: REFINE_GRAIN,
      ...(values['cpu-prof'] === undefined ? {} : { cpuProfDir: values['cpu-prof'] }),
    };
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n`);
    return 2;
  }
  const sipp = requireTool('sipp', 'sip-tester');
  const kamailio = requireTool('kamailio', 'kamailio');
  const taskset = requireTool('taskset', 'util-linux');
  requireTool('redis-server', 'redis-server');
  try {
    execFileSync(taskset, ['-a', '-p', '-c', String(cfg.sippCpu), String(process.pid)], { stdio: 'ignore' });
  } catch {
    say(`warning: could not pin the bench runner to CPU ${cfg.sippCpu}`);
  }
  const kamailioVersion = /version: (kamailio \S+)/.exec(execFileSync(kamailio, ['-v'], { encoding: 'utf8' }))?.[1] ?? 'kamailio (version unknown)';
  const { started, date, machine, before } = await startRun('sipfleet vs Kamailio benchmark', sipp, waitQuietS, say);
  const socketBuffers = ensureSocketBufferLimits(say);
  const deadline = Date.now() + budgetS * 1000;
  say(`rates ${cfg.rates.join(',')} cps × ${cfg.seconds} s; ${kamailioVersion}; budget ${budgetS / 60} min`);
  const onStep = (s: StepResult): void => {
    if (!isStopping()) say(versusProgressLine(s));
  };

  let redis: RedisServer | undefined;
  let result;
  try {
    redis = await startRedis();
    try {
      execFileSync(taskset, ['-a', '-p', '-c', String(cfg.sippCpu), String(redis.process.pid)], { stdio: 'ignore' });
    } catch {
      say(`warning: could not pin redis-server to CPU ${cfg.sippCpu}`);
    }
    cfg.store = redis.url;
    say(`redis-server ${redis.url} (pid ${redis.process.pid}) on CPU ${cfg.sippCpu}`);
    result = await runVersus(cfg, deadline, onStep);
  } finally {
    await redis?.stop();
  }
  cfg.store = 'redis';
  for (const t of [result.sipfleet, result.kamailio]) {
    say(`${t.target}: stopped: ${t.stopReason}`);
    if (t.exit !== undefined) say(`${t.target} EXITED (${t.exit}); its last output:\n${t.outputTail ?? ''}`);
    else if (t.outputTail !== undefined) say(`${t.target} warnings (last 2 KB):\n${t.outputTail}`);
  }
  const stamp = date.replace(/[-:]/g, '').replace(/T(\d{4}).*/, '-$1');
  const chart = values.write === true ? `bench/results/versus-${stamp}.svg` : undefined;
  const { log: _log, ...config } = cfg;
  const report: VersusReport = {
    date,
    command: commandLine(argv, 'bench', 'bench/versus.ts'),
    machine,
    before,
    config,
    kamailioVersion,
    result,
    chart,
    totalSeconds: (Date.now() - started) / 1000,
    socketBuffers,
  };
  if (json) printJson(report);
  else say(`\n${versusSummary(result)}`);
  if (values.write === true && chart !== undefined) {
    mkdirSync(RESULTS_DIR, { recursive: true });
    const caption = `${date}, ${machine.cpuModel}: max sustainable on one core: sipfleet ${result.sipfleet.best?.rate ?? '–'} cps, Kamailio ${result.kamailio.best?.rate ?? '–'} cps`;
    writeFileSync(new URL(`../${chart}`, import.meta.url), versusChart(result, caption));
    // The data behind the section and the chart, to redraw or compare runs.
    writeFileSync(new URL(`../${chart.replace(/\.svg$/, '.json')}`, import.meta.url), `${JSON.stringify(report, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`);
    writeSection(versusSection(report), VERSUS_TITLE, say);
    say(`chart: ${chart}`);
  }
  return 0;
}

runBench(main);
