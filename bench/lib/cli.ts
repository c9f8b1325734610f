/**
 * The command-line plumbing the benchmark runners share (bench/run.ts, bench/registrar.bench.ts):
 * option parsing and checking, the run's header (machine, wait for a quiet machine), the JSON or
 * markdown output, and stopping every process it started on exit, error or signal.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { stopAllProcesses } from '../../test/support/managed-process.ts';
import { machineInfo, waitForQuiet, type MachineInfo } from './proc-stat.ts';
import { appendSection } from './report.ts';

export const BENCHMARKS_MD = fileURLToPath(new URL('../../BENCHMARKS.md', import.meta.url));

/** The options every runner takes (besides its own). */
const COMMON_OPTIONS = {
  'max-minutes': { type: 'string' },
  'wait-quiet': { type: 'string' },
  keep: { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  write: { type: 'boolean', default: true },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

type BenchArgsConfig<O extends ParseArgsOptionsConfig> = { args: string[]; allowNegative: true; strict: true; options: O & typeof COMMON_OPTIONS };
export type BenchArgs<O extends ParseArgsOptionsConfig> = ReturnType<typeof parseArgs<BenchArgsConfig<O>>>['values'];

/**
 * Parses `argv` strictly (`--no-x` negates a boolean) against `options` and the common ones
 * (--max-minutes, --wait-quiet, --keep, --json, --no-write, -h/--help). A bad option prints the
 * message and the usage to stderr, `-h`/`--help` the usage to stdout: then the exit code is
 * returned instead.
 */
export function parseBenchArgs<const O extends ParseArgsOptionsConfig>(argv: string[], options: O, usage: string): BenchArgs<O> | number {
  let values: BenchArgs<O>;
  try {
    ({ values } = parseArgs({ args: argv, allowNegative: true, strict: true, options: { ...options, ...COMMON_OPTIONS } }));
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  if ((values as { help?: boolean }).help === true) {
    process.stdout.write(usage);
    return 0;
  }
  return values;
}

export function positiveInt(name: string, value: string | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0 || n > max) throw new Error(`--${name} must be an integer in 1..${max}, got "${value}"`);
  return n;
}

/** `--linger S`: the dispatcher's `node.limits.transactionLinger` in seconds, 5 to 32 as the config allows. */
export function lingerSeconds(value: string | undefined, fallback: number | undefined): number | undefined {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 5 || n > 32) throw new Error(`--linger must be an integer in 5..32 (seconds), got "${value}"`);
  return n;
}

export function nonNegativeInt(name: string, value: string | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > max) throw new Error(`--${name} must be an integer in 0..${max}, got "${value}"`);
  return n;
}

/** `--rates LIST`: the distinct rates, ascending, 1 to 30 of them; `fallback` when not given. */
export function parseRates(value: string | undefined, fallback: readonly number[]): number[] {
  const rates = value === undefined ? [...fallback] : value.split(',').map((r) => positiveInt('rates', r.trim(), 0, 50_000));
  const unique = [...new Set(rates)].sort((a, b) => a - b);
  if (unique.length === 0 || unique.length > 30) throw new Error('--rates must list 1 to 30 rates');
  return unique;
}

/** The command that reproduces this run: `npm run <script> -- args` under npm, else `node <file> args`. */
export function commandLine(args: string[], npmScript: string, file: string): string {
  const quoted = args.map((a) => (/^[\w.,=/:-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`));
  if (process.env.npm_lifecycle_event === npmScript) return `npm run ${npmScript}${quoted.length > 0 ? ` -- ${quoted.join(' ')}` : ''}`;
  return `node ${file}${quoted.length > 0 ? ` ${quoted.join(' ')}` : ''}`;
}

/** Progress output: stdout, or stderr when stdout carries the JSON result. */
export function progressWriter(json: boolean): (line: string) => void {
  return (line: string): void => {
    (json ? process.stderr : process.stdout).write(`${line}\n`);
  };
}

export interface RunStart {
  started: number;
  /** ISO time of the start, to the second. */
  date: string;
  machine: MachineInfo;
  before: { busyPct: number; waitedS: number; quiet: boolean };
}

/** Prints the run's header (`sipfleet <title> — date`, the machine), then waits up to `waitQuietS` for a quiet machine. */
export async function startRun(title: string, sipp: string, waitQuietS: number, say: (line: string) => void): Promise<RunStart> {
  const started = Date.now();
  const date = new Date(started).toISOString().replace(/\.\d+Z$/, 'Z');
  const machine = machineInfo(sipp);
  say(`sipfleet ${title} — ${date}`);
  say(`${machine.nproc} CPUs, ${machine.cpuModel}, node ${machine.node}, ${machine.sipp}, load average ${machine.loadAvg.map((x) => x.toFixed(2)).join(' ')}`);
  const before = await waitForQuiet(waitQuietS, 20, say);
  say(`CPU busy before the run: ${before.busyPct.toFixed(0)} %${before.quiet ? '' : ' — NOT quiet: other work shares the measured cores, results are pessimistic'}`);
  return { started, date, machine, before };
}

/** The report as JSON on stdout (non-finite numbers as null). */
export function printJson(report: unknown): void {
  process.stdout.write(`${JSON.stringify(report, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`);
}

/** Appends a markdown section to BENCHMARKS.md. */
export function writeSection(markdown: string, title: string, say: (line: string) => void): void {
  appendSection(BENCHMARKS_MD, markdown);
  say(`appended "${title}" to ${BENCHMARKS_MD}`);
}

let stopping = false;

/** Whether a signal is stopping the run (progress output is then dropped). */
export function isStopping(): boolean {
  return stopping;
}

async function shutdown(code: number, why: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`bench: ${why}: stopping every process it started\n`);
  await stopAllProcesses(3000);
  process.exit(code);
}

/**
 * Runs `main` with the command-line arguments; every process it started is stopped when it
 * returns or throws, and on SIGINT / SIGTERM / SIGHUP (then the process exits at once).
 */
export function runBench(main: (argv: string[]) => Promise<number>): void {
  process.once('SIGINT', () => void shutdown(130, 'interrupted'));
  process.once('SIGTERM', () => void shutdown(143, 'terminated'));
  process.once('SIGHUP', () => void shutdown(129, 'hang-up'));
  main(process.argv.slice(2)).then(
    async (code) => {
      await stopAllProcesses(3000);
      process.exitCode = code;
    },
    async (err: unknown) => {
      process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      await stopAllProcesses(3000);
      process.exitCode = 1;
    },
  );
}
