/**
 * `sipfleet switch-sim ...` (and `node switch-sim/main.ts ...`): parse the options, start the sim,
 * run until SIGINT/SIGTERM (or `io.signal`), then close every socket. Bad options print one line
 * naming the option and exit 2; a listener that cannot bind rejects with TRANSPORT_ERR_BIND.
 */
import { CliUsageError, USAGE, parseSwitchSimArgs } from './cli-args.ts';
import { startSwitchSim, type SwitchSim } from './switch-sim.ts';

export interface SwitchSimCliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Exit with a usage error (default: process.exit). */
  exit(code: number): void;
  /** Stop the sim when aborted (default: on SIGINT/SIGTERM). */
  signal?: AbortSignal;
  /** Called once the sim is listening. */
  onStarted?(sim: SwitchSim): void;
}

const PROCESS_IO: SwitchSimCliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  exit: (code) => process.exit(code),
};

function untilStopped(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal !== undefined) {
      if (signal.aborted) return resolve();
      signal.addEventListener('abort', () => resolve(), { once: true });
      return;
    }
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

export async function runSwitchSimCli(argv: string[], io: Partial<SwitchSimCliIo> = {}): Promise<void> {
  const out: SwitchSimCliIo = { ...PROCESS_IO, ...io };
  let parsed;
  try {
    parsed = parseSwitchSimArgs(argv);
  } catch (err) {
    if (!(err instanceof CliUsageError)) throw err;
    out.stderr(`switch-sim: ${err.message}\n`);
    out.exit(2);
    return;
  }
  if (parsed.help) {
    out.stdout(USAGE);
    return;
  }
  const sim = await startSwitchSim(parsed.options);
  out.onStarted?.(sim);
  await untilStopped(out.signal);
  await sim.close();
}

if (import.meta.main) {
  runSwitchSimCli(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`switch-sim: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
