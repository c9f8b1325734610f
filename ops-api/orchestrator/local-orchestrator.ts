/**
 * The embedded orchestrator: servers run as child processes of the ops API on this host.
 *
 * - Each server is `node bin/sipfleet.ts switch-sim ...` or `node bin/sipfleet.ts dispatcher
 *   --config <stateDir>/<id>.yaml`; its stdout and stderr are appended to `<stateDir>/<id>.log`
 *   (a header line per start), the file the child writes directly (nothing passes through the API).
 * - Ready when its HTTP endpoint answers 200: the switch-sim's `GET /status`, the dispatcher's
 *   `GET /readyz` (node.http). Not ready within `readyTimeoutMs`, or exited first: the start fails,
 *   the process is killed and the server is `failed` (its log says why).
 * - Stop: SIGTERM, SIGKILL after the grace. Drain (dispatchers): SIGUSR2.
 * - An exit nobody asked for is recorded (code or signal). With the `on-failure` policy (default) a
 *   failed server is started again after a backoff (500 ms, doubling, at most 10 s), at most
 *   `maxRestarts` times in a row; a run that lasted `stableMs` resets the count.
 * - On Linux the children run under `setpriv --pdeathsig SIGTERM`: if the ops API dies, so do they
 *   (the state lives in this process; nothing could adopt them again).
 * - Every action on one server is serialised; `stop` also interrupts a start in progress.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, mkdirSync, mkdtempSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../shared/log.ts';
import { OrchestratorError, type Orchestrator, type ServerInstance, type ServerSpec, type StopOptions } from './orchestrator.ts';

const BIN = fileURLToPath(new URL('../../bin/sipfleet.ts', import.meta.url));

export interface RestartPolicy {
  /** `on-failure`: start again after an exit with a non-zero code or a signal; `never`: only record it. */
  mode: 'never' | 'on-failure';
  /** Automatic restarts in a row before giving up (the server then stays `failed`). */
  maxRestarts: number;
  /** First delay; doubles with each restart in a row, up to `maxBackoffMs`. */
  backoffMs: number;
  maxBackoffMs: number;
  /** A run at least this long resets the count. */
  stableMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = { mode: 'on-failure', maxRestarts: 5, backoffMs: 500, maxBackoffMs: 10_000, stableMs: 30_000 };

export interface LocalOrchestratorOptions {
  /** Logs and generated configs; created on first use. Default: a fresh temp dir (`sipfleet-servers-*`). */
  stateDir?: string;
  /** Environment added for the children (`LOG_LEVEL`...); `undefined` removes a variable. */
  env?: Record<string, string | undefined>;
  /** Default 20 000 ms. */
  readyTimeoutMs?: number;
  /** Readiness poll period, default 100 ms. */
  readyPollMs?: number;
  restart?: Partial<RestartPolicy>;
  logger?: Logger;
  /** Children die with the ops API (`setpriv --pdeathsig`, Linux). Default true when setpriv exists. */
  dieWithParent?: boolean;
  /** Default `process.execPath` and `<repo>/bin/sipfleet.ts` (tests may run something else). */
  execPath?: string;
  bin?: string;
}

interface Run {
  proc: ChildProcess;
  startedAtMs: number;
  done: boolean;
  exited: Promise<void>;
}

interface Managed {
  spec: ServerSpec;
  state: ServerInstance['state'];
  pid: number | undefined;
  startedAt: string | undefined;
  exitCode: number | undefined;
  signal: string | undefined;
  restarts: number;
  draining: boolean;
  logFile: string;
  started: boolean;
  run: Run | undefined;
  /** A stop (or remove) was asked: the next exit is expected, nothing restarts it. */
  stopRequested: boolean;
  removed: boolean;
  /** Automatic restarts in a row. */
  failures: number;
  timer: NodeJS.Timeout | undefined;
  chain: Promise<unknown>;
}

/** `SIPFLEET_*` variables a deployed server does not inherit (its node section is generated). */
export const CHILD_DROPS = /^SIPFLEET_(NODE__|OPS__|CONFIG$|OPS_TOKEN$)/;

/**
 * `SIPFLEET_*` variables that must not reach a child: its config is the generated file, not the
 * ops API's (`SIPFLEET_CLUSTER__*` and `SIPFLEET_STORE` overrides do pass: same cluster, same store).
 */
function childEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) {
    if (CHILD_DROPS.test(key)) delete env[key];
  }
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

function findSetpriv(): string | undefined {
  if (process.platform !== 'linux') return undefined;
  for (const candidate of ['/usr/bin/setpriv', '/bin/setpriv']) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  return undefined;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class LocalOrchestrator implements Orchestrator {
  readonly backend = 'local';
  readonly #servers = new Map<string, Managed>();
  readonly #o: Required<Omit<LocalOrchestratorOptions, 'stateDir' | 'logger' | 'restart'>> & { logger: Logger | undefined };
  readonly #policy: RestartPolicy;
  readonly #setpriv: string | undefined;
  #stateDir: string | undefined;
  #closed = false;

  constructor(opts: LocalOrchestratorOptions = {}) {
    this.#stateDir = opts.stateDir;
    this.#policy = { ...DEFAULT_RESTART_POLICY, ...opts.restart };
    this.#o = {
      env: opts.env ?? {},
      readyTimeoutMs: opts.readyTimeoutMs ?? 20_000,
      readyPollMs: opts.readyPollMs ?? 100,
      dieWithParent: opts.dieWithParent ?? true,
      execPath: opts.execPath ?? process.execPath,
      bin: opts.bin ?? BIN,
      logger: opts.logger,
    };
    this.#setpriv = this.#o.dieWithParent ? findSetpriv() : undefined;
  }

  /** The state dir (created on first use). */
  get stateDir(): string {
    if (this.#stateDir === undefined) this.#stateDir = mkdtempSync(join(tmpdir(), 'sipfleet-servers-'));
    else mkdirSync(this.#stateDir, { recursive: true, mode: 0o700 });
    return this.#stateDir;
  }

  async deploy(spec: ServerSpec): Promise<ServerInstance> {
    if (this.#closed) throw new OrchestratorError('closed', 'the orchestrator is closed');
    if (this.#servers.has(spec.id)) throw new OrchestratorError('exists', `server ${spec.id} already exists`);
    const dir = this.stateDir;
    const m: Managed = {
      spec: { ...spec, listen: [...spec.listen] },
      state: 'starting',
      pid: undefined,
      startedAt: undefined,
      exitCode: undefined,
      signal: undefined,
      restarts: 0,
      draining: false,
      logFile: join(dir, `${spec.id}.log`),
      started: false,
      run: undefined,
      stopRequested: false,
      removed: false,
      failures: 0,
      timer: undefined,
      chain: Promise.resolve(),
    };
    this.#servers.set(spec.id, m);
    return this.#serial(m, () => this.#launch(m));
  }

  async start(id: string): Promise<ServerInstance> {
    const m = this.#get(id);
    return this.#serial(m, async () => {
      if (this.#alive(m) && (m.state === 'running' || m.state === 'starting')) return this.#snapshot(m);
      m.stopRequested = false;
      m.failures = 0;
      return this.#launch(m);
    });
  }

  async stop(id: string, options: StopOptions = {}): Promise<ServerInstance> {
    const m = this.#get(id);
    this.#interrupt(m);
    return this.#serial(m, async () => {
      await this.#stopNow(m, options.graceMs);
      return this.#snapshot(m);
    });
  }

  async restart(id: string, options: StopOptions = {}): Promise<ServerInstance> {
    const m = this.#get(id);
    this.#interrupt(m);
    return this.#serial(m, async () => {
      await this.#stopNow(m, options.graceMs);
      m.stopRequested = false;
      m.failures = 0;
      return this.#launch(m);
    });
  }

  async drain(id: string): Promise<ServerInstance> {
    const m = this.#get(id);
    if (m.spec.kind !== 'dispatcher') throw new OrchestratorError('unsupported', `${id} is a switch: drain it through the registry`);
    if (!this.#alive(m) || m.state !== 'running') throw new OrchestratorError('not-ready', `${id} is not running (${m.state})`);
    m.run?.proc.kill('SIGUSR2');
    m.draining = true;
    this.#o.logger?.info({ server: id, pid: m.pid }, 'drain: SIGUSR2 sent');
    return this.#snapshot(m);
  }

  async remove(id: string): Promise<void> {
    const m = this.#get(id);
    this.#interrupt(m);
    await this.#serial(m, async () => {
      await this.#stopNow(m, undefined);
      m.removed = true;
      this.#servers.delete(id);
    });
  }

  async get(id: string): Promise<ServerInstance | undefined> {
    const m = this.#servers.get(id);
    return m === undefined ? undefined : this.#snapshot(m);
  }

  async list(): Promise<ServerInstance[]> {
    return [...this.#servers.values()].map((m) => this.#snapshot(m)).sort((a, b) => a.id.localeCompare(b.id));
  }

  async logs(id: string, lines = 100): Promise<string[]> {
    const m = this.#get(id);
    let file;
    try {
      file = await open(m.logFile, 'r');
    } catch {
      return [];
    }
    try {
      const { size } = await file.stat();
      const length = Math.min(size, 256 * 1024);
      const buf = Buffer.alloc(length);
      await file.read(buf, 0, length, size - length);
      const all = buf.toString('utf8').split('\n');
      if (all.at(-1) === '') all.pop();
      // The first line may be cut in the middle when the tail starts inside it.
      if (length < size) all.shift();
      return all.slice(-lines);
    } finally {
      await file.close();
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#servers.values()].map((m) => this.stop(m.spec.id, { graceMs: 5_000 }).catch(() => undefined)));
  }

  // ---- internals ----

  #get(id: string): Managed {
    const m = this.#servers.get(id);
    if (m === undefined) throw new OrchestratorError('not-found', `no server ${id} in this orchestrator`);
    return m;
  }

  #alive(m: Managed): boolean {
    return m.run !== undefined && !m.run.done;
  }

  #serial<T>(m: Managed, fn: () => Promise<T>): Promise<T> {
    const next = m.chain.then(fn, fn);
    m.chain = next.catch(() => undefined);
    return next;
  }

  /** A stop is coming: no automatic restart, and a start in progress ends now. */
  #interrupt(m: Managed): void {
    m.stopRequested = true;
    clearTimeout(m.timer);
    m.timer = undefined;
    if (m.state === 'starting' && this.#alive(m)) m.run?.proc.kill('SIGTERM');
  }

  #snapshot(m: Managed): ServerInstance {
    return {
      id: m.spec.id,
      kind: m.spec.kind,
      state: m.state,
      backend: this.backend,
      pid: m.pid,
      startedAt: m.startedAt,
      exitCode: m.exitCode,
      signal: m.signal,
      restarts: m.restarts,
      draining: m.draining,
      logFile: m.logFile,
      listen: [...m.spec.listen],
      http: m.spec.http,
    };
  }

  #argv(m: Managed): string[] {
    const spec = m.spec;
    if (spec.kind === 'dispatcher') {
      const file = join(this.stateDir, `${spec.id}.yaml`);
      // It may hold the store password: readable by this user only.
      writeFileSync(file, spec.configText, { mode: 0o600 });
      return [this.#o.bin, 'dispatcher', '--config', file];
    }
    return [
      this.#o.bin,
      'switch-sim',
      '--id',
      spec.id,
      ...spec.listen.flatMap((l) => ['--listen', l]),
      '--http',
      spec.http,
      ...(spec.channels === undefined ? [] : ['--channels', String(spec.channels)]),
      ...(spec.cps === undefined ? [] : ['--cps', String(Math.floor(spec.cps))]),
      ...(spec.args ?? []),
    ];
  }

  /** Starts a process for `m` and waits until it is ready (serialised by the caller). */
  async #launch(m: Managed): Promise<ServerInstance> {
    if (this.#closed) throw new OrchestratorError('closed', 'the orchestrator is closed');
    const id = m.spec.id;
    const argv = this.#argv(m);
    const [command, args] = this.#setpriv === undefined ? [this.#o.execPath, argv] : [this.#setpriv, ['--pdeathsig', 'SIGTERM', '--', this.#o.execPath, ...argv]];
    const fd = openSync(m.logFile, 'a', 0o600);
    let proc: ChildProcess;
    try {
      writeSync(fd, `--- ${new Date().toISOString()} start ${id}: ${[this.#o.execPath, ...argv].join(' ')}\n`);
      proc = spawn(command, args, { cwd: this.stateDir, stdio: ['ignore', fd, fd], env: childEnv(this.#o.env) });
    } finally {
      closeSync(fd);
    }
    if (m.started) m.restarts++;
    m.started = true;
    m.state = 'starting';
    m.pid = proc.pid;
    m.startedAt = new Date().toISOString();
    m.exitCode = undefined;
    m.signal = undefined;
    m.draining = false;
    let exited!: () => void;
    const run: Run = { proc, startedAtMs: Date.now(), done: false, exited: new Promise<void>((resolve) => (exited = resolve)) };
    m.run = run;
    proc.once('exit', (code, signal) => {
      run.done = true;
      if (m.run === run) {
        m.exitCode = code ?? undefined;
        m.signal = signal ?? undefined;
      }
      exited();
      this.#onExit(m, run);
    });
    proc.once('error', (err) => {
      // A spawn failure emits no 'exit'.
      if (proc.pid !== undefined || run.done) return;
      run.done = true;
      try {
        writeFileSync(m.logFile, `cannot start: ${err.message}\n`, { flag: 'a' });
      } catch {
        // the log is best effort
      }
      exited();
    });
    this.#o.logger?.info({ server: id, kind: m.spec.kind, pid: proc.pid, logFile: m.logFile }, 'server starting');
    try {
      await this.#waitReady(m, run);
    } catch (err) {
      if (!run.done) {
        proc.kill('SIGKILL');
        await run.exited;
      }
      m.state = m.stopRequested ? 'stopped' : 'failed';
      const tail = (await this.logs(id, 5).catch(() => [])).join(' | ');
      throw new OrchestratorError('not-ready', `${id} ${(err as Error).message}${tail === '' ? '' : `; log: ${tail}`}`, { cause: err });
    }
    m.state = 'running';
    this.#o.logger?.info({ server: id, pid: proc.pid }, 'server ready');
    return this.#snapshot(m);
  }

  async #waitReady(m: Managed, run: Run): Promise<void> {
    const url = `http://${m.spec.http}${m.spec.kind === 'switch' ? '/status' : '/readyz'}`;
    const deadline = Date.now() + this.#o.readyTimeoutMs;
    for (;;) {
      if (run.done) {
        if (m.stopRequested) throw new Error('was stopped before it was ready');
        throw new Error(`exited (${m.signal ?? `code ${m.exitCode ?? 'unknown'}`}) before it was ready`);
      }
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
        await res.body?.cancel();
        if (res.ok && !run.done) return;
      } catch {
        // not listening yet
      }
      if (Date.now() >= deadline) throw new Error(`was not ready at ${url} within ${this.#o.readyTimeoutMs} ms`);
      await Promise.race([sleep(this.#o.readyPollMs), run.exited]);
    }
  }

  /** SIGTERM, then SIGKILL after the grace; the server is `stopped` afterwards. */
  async #stopNow(m: Managed, graceMs = 10_000): Promise<void> {
    m.stopRequested = true;
    clearTimeout(m.timer);
    m.timer = undefined;
    const run = m.run;
    if (run !== undefined && !run.done) {
      m.state = 'stopping';
      run.proc.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const killed = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          if (!run.done) run.proc.kill('SIGKILL');
          resolve();
        }, graceMs);
      });
      await Promise.race([run.exited, killed]);
      await run.exited;
      clearTimeout(timer);
      m.state = 'stopped';
      this.#o.logger?.info({ server: m.spec.id, exitCode: m.exitCode, signal: m.signal }, 'server stopped');
    } else if (m.state !== 'failed' && m.state !== 'exited') {
      m.state = 'stopped';
    }
  }

  /** An exit: expected (stop), part of a failed start (handled there), or unexpected (recorded, maybe restarted). */
  #onExit(m: Managed, run: Run): void {
    if (m.run !== run || m.stopRequested || m.removed || m.state !== 'running') return;
    const clean = m.exitCode === 0;
    m.state = clean ? 'exited' : 'failed';
    const log = this.#o.logger;
    log?.warn({ server: m.spec.id, exitCode: m.exitCode, signal: m.signal, logFile: m.logFile }, 'server exited unexpectedly');
    if (!clean) this.#scheduleRestart(m, Date.now() - run.startedAtMs);
  }

  #scheduleRestart(m: Managed, ranMs: number): void {
    const p = this.#policy;
    if (p.mode !== 'on-failure' || this.#closed || m.stopRequested) return;
    if (ranMs >= p.stableMs) m.failures = 0;
    if (m.failures >= p.maxRestarts) {
      this.#o.logger?.error({ server: m.spec.id, restarts: m.failures }, 'server keeps failing: not restarted again');
      return;
    }
    const delay = Math.min(p.maxBackoffMs, p.backoffMs * 2 ** m.failures);
    m.failures++;
    m.timer = setTimeout(() => {
      m.timer = undefined;
      void this.#serial(m, async () => {
        if (m.stopRequested || m.removed || this.#closed || this.#alive(m)) return;
        try {
          await this.#launch(m);
        } catch (err) {
          this.#o.logger?.warn({ err, server: m.spec.id }, 'automatic restart failed');
          this.#scheduleRestart(m, 0);
        }
      });
    }, delay);
    m.timer.unref();
  }
}
