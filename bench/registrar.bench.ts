/**
 * Registrar benchmark (`npm run bench:registrar`): REGISTER/s with digest authentication
 * through one dispatcher core, and N registered contacts on one node with their keep-alives
 * (memory per binding, CPU of the pings).
 *
 *   npm run bench:registrar
 *   npm run bench:registrar -- --rates 200,500 --seconds 3 --users 500 --contacts 2000 --window 10 --settle 5 --interval 5 --no-write
 *   npm run bench:registrar -- --json --no-write > result.json
 *
 * Starts a redis-server and the dispatcher on loopback (dispatcher pinned to one CPU, everything
 * else to the other), runs the two measurements of bench/lib/registrar-bench.ts, prints one line
 * per step and the markdown tables, and appends a `## Registrar (one dispatcher core, Redis
 * store)` section to BENCHMARKS.md. Every process it starts is stopped on exit, error or Ctrl-C.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { requireTool } from '../test/support/require-tool.ts';
import { startRedis, type RedisServer } from '../test/support/redis-server.ts';
import { commandLine, isStopping, nonNegativeInt, parseBenchArgs, parseRates, positiveInt, printJson, progressWriter, runBench, startRun, writeSection } from './lib/cli.ts';
import { pinProcess, runContacts, runRegisterSweep, type ContactsOptions, type ContactsResult, type RegistrarBenchConfig, type SweepOptions, type SweepResult } from './lib/registrar-bench.ts';
import { contactsTables, markdownSection, sectionTitle, stepLine, summaryLines, sweepTable, type RegistrarReport } from './lib/registrar-report.ts';
import { tickResolutionMs } from './lib/sipp-stats.ts';

const D = {
  rates: [500, 1000, 1500, 2000, 2500, 3000, 3500, 4000, 5000],
  seconds: 10,
  users: 10_000,
  contacts: 50_000,
  sockets: 20,
  fillRate: 1500,
  fillWindow: 1000,
  intervalS: 30,
  settleS: 40,
  windowS: 60,
  dispatcherCpu: 1,
  loadCpu: 0,
};

const USAGE = `Usage: npm run bench:registrar -- [options]

Registrar benchmark, UDP on loopback, Redis store (a local redis-server), dispatcher on CPU ${D.dispatcherCpu},
SIPp / redis-server / the phone fleet / this runner on CPU ${D.loadCpu}:
 1. REGISTER/s with digest auth (MD5): SIPp REGISTER → 401 → REGISTER → 200, swept over offered rates;
 2. N contacts registered on one node, then keep-alives alone: memory per binding, CPU of the pings.

Options:
  --rates LIST         offered registrations/s, comma-separated (default ${D.rates.join(',')})
  --seconds N          duration of each sweep step (default ${D.seconds})
  --users N            users in the SIPp injection CSV and the dispatcher config for the sweep (default ${D.users})
  --contacts N         contacts (and users) for part 2 (default ${D.contacts})
  --sockets N          UDP sockets the phones of part 2 share (default ${D.sockets})
  --fill-rate N        registrations/s of part 2's phones (default ${D.fillRate})
  --interval N         keep-alive interval of part 2, seconds (default ${D.intervalS})
  --settle N           seconds between the end of the fill and the window (default ${D.settleS})
  --window N           seconds of keep-alives measured (default ${D.windowS})
  --only PART          run one part only: sweep (1) or contacts (2)
  --cpu-prof DIR       run the dispatcher with --cpu-prof, profiles into DIR (one per dispatcher run)
  --max-minutes N      time budget of the sweep; no step starts past it (default 12)
  --wait-quiet N       before starting, wait up to N s for the machine to be under 20 % CPU (default 120; 0: don't wait)
  --keep               keep each step's SIPp files and print their paths
  --json               print the result as JSON on stdout only (progress goes to stderr)
  --no-write           do not append to BENCHMARKS.md
  -h, --help           show this help
`;

function redisVersion(redisServer: string): string {
  try {
    return /v=(\S+)/.exec(execFileSync(redisServer, ['--version'], { encoding: 'utf8', timeout: 5000 }))?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

async function main(argv: string[]): Promise<number> {
  const values = parseBenchArgs(
    argv,
    {
      rates: { type: 'string' },
      seconds: { type: 'string' },
      users: { type: 'string' },
      contacts: { type: 'string' },
      sockets: { type: 'string' },
      'fill-rate': { type: 'string' },
      interval: { type: 'string' },
      settle: { type: 'string' },
      window: { type: 'string' },
      only: { type: 'string' },
      'cpu-prof': { type: 'string' },
    },
    USAGE,
  );
  if (typeof values === 'number') return values;
  const json = values.json === true;
  const say = progressWriter(json);

  let sweepOptions: SweepOptions | undefined;
  let contactsOptions: ContactsOptions | undefined;
  let budgetS: number;
  let waitQuietS: number;
  try {
    waitQuietS = nonNegativeInt('wait-quiet', values['wait-quiet'], 120, 1800);
    budgetS = positiveInt('max-minutes', values['max-minutes'], 12, 240) * 60;
    const only = values.only;
    if (only !== undefined && only !== 'sweep' && only !== 'contacts') throw new Error('--only must be sweep or contacts');
    if (only !== 'contacts') {
      const unique = parseRates(values.rates, D.rates);
      const seconds = positiveInt('seconds', values.seconds, D.seconds, 600);
      for (const r of unique) if (r * seconds > 1_000_000) throw new Error(`${r}/s × ${seconds} s is more than 1 000 000 registrations in one step`);
      sweepOptions = {
        rates: unique,
        seconds,
        users: positiveInt('users', values.users, D.users, 99_999),
        uacIp: '127.0.0.1',
        recvTimeoutMs: 8000,
        drainMaxS: 40,
        keepFiles: values.keep === true,
      };
    }
    if (only !== 'sweep') {
      const intervalS = positiveInt('interval', values.interval, D.intervalS, 3600);
      contactsOptions = {
        contacts: positiveInt('contacts', values.contacts, D.contacts, 99_999),
        sockets: positiveInt('sockets', values.sockets, D.sockets, 1000),
        fleetIp: '127.0.0.31',
        fillRate: positiveInt('fill-rate', values['fill-rate'], D.fillRate, 50_000),
        fillWindow: D.fillWindow,
        intervalMs: intervalS * 1000,
        settleS: positiveInt('settle', values.settle, D.settleS, 3600),
        windowS: positiveInt('window', values.window, D.windowS, 3600),
      };
    }
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n`);
    return 2;
  }

  const sipp = requireTool('sipp', 'sip-tester');
  const redisServer = requireTool('redis-server', 'redis-server');
  requireTool('taskset', 'util-linux');
  if (!pinProcess(process.pid, D.loadCpu)) say(`warning: could not pin the bench runner to CPU ${D.loadCpu}`);
  const cpuProfDir = values['cpu-prof'];
  if (cpuProfDir !== undefined) mkdirSync(cpuProfDir, { recursive: true });

  const { started, date, machine, before: quiet } = await startRun('registrar benchmark', sipp, waitQuietS, say);
  const deadline = Date.now() + budgetS * 1000;

  let redis: RedisServer | undefined;
  let sweep: SweepResult | undefined;
  let contacts: ContactsResult | undefined;
  try {
    redis = await startRedis();
    if (!pinProcess(redis.process.pid, D.loadCpu)) say(`warning: could not pin redis-server to CPU ${D.loadCpu}`);
    say(`redis-server ${redis.url} (pid ${redis.process.pid}) on CPU ${D.loadCpu}`);
    const cfg: RegistrarBenchConfig = {
      dispatcherIp: '127.0.0.12',
      dispatcherSipPort: 5060,
      dispatcherHttpPort: 9061,
      dispatcherCpu: D.dispatcherCpu,
      loadCpu: D.loadCpu,
      redisUrl: redis.url,
      redisPid: redis.process.pid,
      cpuProfDir,
      log: say,
    };
    if (sweepOptions !== undefined) {
      say(`\n== REGISTER/s: rates ${sweepOptions.rates.join(',')} × ${sweepOptions.seconds} s, ${sweepOptions.users} users ==`);
      sweep = await runRegisterSweep(cfg, sweepOptions, deadline, (s) => {
        if (isStopping()) return;
        say(stepLine(s));
        if (s.workDir !== undefined) say(`  files: ${s.workDir}`);
        if (!s.ok && s.sippErrors !== '') say(`  sipp errors: ${s.sippErrors.split('\n')[0]}`);
      });
      say(`stopped: ${sweep.stopReason}`);
      if (sweep.dispatcherOutputTail !== undefined) say(`dispatcher output (last 2 KB):\n${sweep.dispatcherOutputTail}`);
    }
    if (contactsOptions !== undefined && !isStopping()) {
      say(`\n== ${contactsOptions.contacts} contacts, keep-alive every ${contactsOptions.intervalMs / 1000} s ==`);
      contacts = await runContacts(cfg, contactsOptions, say);
      if (contacts.dispatcherOutputTail !== undefined) say(`dispatcher output (last 2 KB):\n${contacts.dispatcherOutputTail}`);
    }
  } finally {
    await redis?.stop();
  }

  const report: RegistrarReport = {
    date,
    command: commandLine(argv, 'bench:registrar', 'bench/registrar.bench.ts'),
    machine,
    redisVersion: redisVersion(redisServer),
    before: quiet,
    loadAvgAtStart: machine.loadAvg,
    dispatcherCpu: D.dispatcherCpu,
    loadCpu: D.loadCpu,
    dispatcher: '127.0.0.12:5060',
    sweepOptions,
    sweep,
    contactsOptions,
    contacts,
    rttResolutionMs: tickResolutionMs((sweep?.steps ?? []).map((s) => s.rttResolutionMs).filter((x): x is number => x !== undefined)),
    totalSeconds: (Date.now() - started) / 1000,
  };
  if (json) {
    printJson(report);
  } else {
    say('');
    if (sweep !== undefined) say(`REGISTER/s:\n\n${sweepTable(sweep)}\n`);
    if (contacts !== undefined) say(`Contacts:\n\n${contactsTables(contacts)}\n`);
    for (const l of summaryLines(report)) say(l);
  }
  if (values.write === true) {
    writeSection(markdownSection(report), sectionTitle(report), say);
  }
  return 0;
}

runBench(main);
