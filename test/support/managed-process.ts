import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { requireTool } from './require-tool.ts';

/** How a managed process ended: exactly one of `code` / `signal` is set. */
export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface StartProcessOptions {
  /** Short label used in error messages (`redis`, `sipp-uas`). */
  name: string;
  /** Executable, ideally an absolute path from `requireTool`. */
  command: string;
  args?: string[];
  /** Added on top of `process.env`; a value of `undefined` removes the variable. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /**
   * When the process counts as started: a pattern its stdout/stderr must print, or a probe
   * polled every 50 ms until it resolves `true` (it gets the process, e.g. for its pid; a
   * throw counts as `false`). Without it, `startProcess` returns right after spawning.
   */
  readyWhen?: RegExp | ((proc: ManagedProcess) => Promise<boolean>);
  /** Default 15 000 ms. On timeout the process is killed and the error carries its output. */
  readyTimeoutMs?: number;
  /**
   * SIGKILL the process when the test worker dies, however it dies (default true). Runs it
   * under `setpriv --pdeathsig SIGKILL` (util-linux), which execs it: same pid, same argv.
   */
  dieWithParent?: boolean;
  /**
   * Run the process inside this network namespace (`ip netns exec <netns> <command>`; iproute2
   * execs the command, so the pid is the command's). Needs root. `readyWhen` probes run in the
   * test's own namespace: probe over a route into the namespace, or by pid (`isPortListening`).
   */
  netns?: string;
}

/** A child process owned by a test: output captured, stoppable, never outliving the run. */
export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  /** Resolves once the process has exited and its output has been drained. Never rejects. */
  readonly exited: Promise<ProcessExit>;
  /** The exit status once known, else `undefined`. */
  exitStatus(): ProcessExit | undefined;
  /** stdout and stderr interleaved as received; only the last ~2 MB are kept. */
  output(): string;
  /**
   * Resolves with the first match of `re` in the output (already printed or still to come).
   * Rejects on timeout (default 10 000 ms) or when the process exits first; the error carries
   * the tail of the output.
   */
  waitForOutput(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /**
   * Sends `signal` (default SIGTERM), waits `graceMs` (default 3000) then SIGKILLs. Resolves
   * with the exit status; immediate if the process has already exited.
   */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<ProcessExit>;
  /** Sends a signal without waiting (SIGUSR1 to sipp, SIGSTOP to simulate a hang...). */
  kill(signal?: NodeJS.Signals): void;
}

const OUTPUT_CAP = 2 * 1024 * 1024;
/** Overlap re-scanned when a chunk arrives, so that a match split across chunks is found. */
const SCAN_OVERLAP = 8 * 1024;
const ERROR_TAIL = 2 * 1024;
/** After 'exit', how long to wait for 'close' (a grandchild may hold the pipes open). */
const CLOSE_WAIT_MS = 500;

const running = new Set<ManagedHandle>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: SIGKILL whatever is left, no waiting.
  process.on('exit', () => {
    for (const handle of running) {
      if (handle.exitStatus() !== undefined) continue;
      try {
        process.kill(handle.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

/**
 * setpriv, if present. Vitest ends its worker processes without running `process.on('exit')`
 * handlers, so the exit hook alone would leave children behind; a parent-death signal set by the
 * kernel cannot be skipped. It fires when the spawning thread ends (the test worker).
 */
let setprivPath: string | null | undefined;
function findSetpriv(): string | null {
  if (setprivPath !== undefined) return setprivPath;
  setprivPath = null;
  if (process.platform === 'linux') {
    for (const candidate of ['/usr/bin/setpriv', '/bin/setpriv']) {
      try {
        accessSync(candidate, constants.X_OK);
        setprivPath = candidate;
        break;
      } catch {
        // try the next one
      }
    }
  }
  return setprivPath;
}

function isRunnable(command: string, cwd: string | undefined, pathVar: string | undefined): boolean {
  const candidates = command.includes('/')
    ? [resolve(cwd ?? process.cwd(), command)]
    : (pathVar ?? '').split(delimiter).filter((d) => d !== '').map((d) => join(d, command));
  return candidates.some((candidate) => {
    try {
      accessSync(candidate, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function tail(text: string, max = ERROR_TAIL): string {
  return text.length <= max ? text : `...${text.slice(-max)}`;
}

interface Waiter {
  re: RegExp;
  scannedTo: number;
  resolve: (m: RegExpMatchArray) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

class ManagedHandle implements ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly exited: Promise<ProcessExit>;
  #child: ChildProcess;
  #buffer = '';
  /** Characters dropped from the front of #buffer to respect the cap. */
  #dropped = 0;
  #status: ProcessExit | undefined;
  #waiters = new Set<Waiter>();

  constructor(name: string, child: ChildProcess) {
    if (child.pid === undefined) throw new Error(`${name}: no pid`);
    this.name = name;
    this.pid = child.pid;
    this.#child = child;
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => this.#append(chunk));
    child.stderr?.on('data', (chunk: string) => this.#append(chunk));
    this.exited = new Promise<ProcessExit>((resolve) => {
      let closeTimer: NodeJS.Timeout | undefined;
      const finish = (): void => {
        if (closeTimer !== undefined) clearTimeout(closeTimer);
        const status = this.#status ?? { code: child.exitCode, signal: child.signalCode };
        this.#status = status;
        running.delete(this);
        for (const w of this.#waiters) {
          clearTimeout(w.timer);
          w.reject(this.#error(`exited (${describeExit(status)}) before printing ${String(w.re)}`));
        }
        this.#waiters.clear();
        resolve(status);
      };
      child.once('exit', (code, signal) => {
        this.#status = { code, signal };
        closeTimer = setTimeout(finish, CLOSE_WAIT_MS);
      });
      child.once('close', finish);
    });
    running.add(this);
  }

  exitStatus(): ProcessExit | undefined {
    return this.#status;
  }

  output(): string {
    return this.#buffer;
  }

  waitForOutput(re: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
    const pattern = new RegExp(re.source, re.flags.replace('g', ''));
    const now = pattern.exec(this.#buffer);
    if (now) return Promise.resolve(now);
    if (this.#status !== undefined && !running.has(this)) {
      return Promise.reject(this.#error(`exited (${describeExit(this.#status)}) before printing ${String(re)}`));
    }
    return new Promise<RegExpMatchArray>((resolve, reject) => {
      const waiter: Waiter = {
        re: pattern,
        scannedTo: this.#dropped + this.#buffer.length,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters.delete(waiter);
          reject(this.#error(`did not print ${String(re)} within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.#waiters.add(waiter);
    });
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 3000): Promise<ProcessExit> {
    if (!running.has(this)) return this.exited;
    this.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'grace-over'>((resolve) => {
      timer = setTimeout(() => resolve('grace-over'), graceMs);
    });
    const first = await Promise.race([this.exited, graceOver]);
    clearTimeout(timer);
    if (first === 'grace-over') this.kill('SIGKILL');
    return this.exited;
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    try {
      process.kill(this.pid, signal);
    } catch {
      // exited in between
    }
  }

  #append(chunk: string): void {
    this.#buffer += chunk;
    if (this.#buffer.length > OUTPUT_CAP) {
      const cut = this.#buffer.length - OUTPUT_CAP;
      this.#buffer = this.#buffer.slice(cut);
      this.#dropped += cut;
    }
    for (const w of this.#waiters) {
      const from = Math.max(this.#dropped, w.scannedTo - SCAN_OVERLAP) - this.#dropped;
      const m = w.re.exec(this.#buffer.slice(from));
      w.scannedTo = this.#dropped + this.#buffer.length;
      if (m) {
        clearTimeout(w.timer);
        this.#waiters.delete(w);
        w.resolve(m);
      }
    }
  }

  #error(what: string): Error {
    return new Error(`${this.name} (pid ${this.pid}) ${what}; last output:\n${tail(this.#buffer)}`);
  }
}

function describeExit(status: ProcessExit): string {
  return status.signal !== null ? `signal ${status.signal}` : `code ${String(status.code)}`;
}

/**
 * Spawns a process owned by the test run and waits until it is ready.
 *
 * stdin is /dev/null; stdout and stderr are captured together. Every started process is
 * registered: `stopAllProcesses()` stops them (use it in `afterAll`); a `process.on('exit')`
 * hook SIGKILLs any still running when the worker exits normally, and a parent-death signal
 * (see `dieWithParent`) kills them when the worker is killed.
 *
 * @throws Error when the executable cannot be spawned, exits before being ready, or is not
 *   ready in time (the process is then killed); the message carries the last 2 KB of output.
 */
export async function startProcess(options: StartProcessOptions): Promise<ManagedProcess> {
  installExitHook();
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [key, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  const setpriv = options.dieWithParent === false ? null : findSetpriv();
  // Under setpriv (or ip netns exec) a missing executable would only show as exit 127: fail the
  // same way as spawn.
  if ((setpriv !== null || options.netns !== undefined) && !isRunnable(options.command, options.cwd, env.PATH)) {
    throw new Error(`${options.name}: cannot start ${options.command}: spawn ${options.command} ENOENT`);
  }
  let [command, args] = [options.command, options.args ?? []];
  if (options.netns !== undefined) [command, args] = [requireTool('ip', 'iproute2'), ['netns', 'exec', options.netns, command, ...args]];
  if (setpriv !== null) [command, args] = [setpriv, ['--pdeathsig', 'SIGKILL', '--', command, ...args]];
  const child = spawn(command, args, {
    cwd: options.cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) {
    const err = await new Promise<Error>((resolve) => child.once('error', resolve));
    throw new Error(`${options.name}: cannot start ${options.command}: ${err.message}`, { cause: err });
  }
  child.on('error', () => {
    // Signal delivery failures after spawn are reported through kill(); nothing to do here.
  });
  const proc = new ManagedHandle(options.name, child);
  const readyWhen = options.readyWhen;
  if (readyWhen === undefined) return proc;

  const timeoutMs = options.readyTimeoutMs ?? 15_000;
  try {
    if (readyWhen instanceof RegExp) {
      await proc.waitForOutput(readyWhen, timeoutMs);
    } else {
      await pollReady(proc, readyWhen, timeoutMs);
    }
  } catch (err) {
    await proc.stop('SIGKILL', 1000);
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(
      `${options.name} not ready: ${message.includes('last output:') ? message : `${message}; last output:\n${tail(proc.output())}`}`,
      { cause: err },
    );
  }
  return proc;
}

async function pollReady(proc: ManagedProcess, probe: (proc: ManagedProcess) => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = proc.exitStatus();
    if (status !== undefined) throw new Error(`exited (${describeExit(status)}) before it was ready`);
    let ok = false;
    try {
      ok = await probe(proc);
    } catch {
      ok = false;
    }
    if (ok) return;
    if (Date.now() >= deadline) throw new Error(`readiness probe still failing after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Stops every process started with `startProcess` that is still running (SIGTERM, then SIGKILL). */
export async function stopAllProcesses(graceMs = 3000): Promise<void> {
  await Promise.all([...running].map((p) => p.stop('SIGTERM', graceMs)));
}
