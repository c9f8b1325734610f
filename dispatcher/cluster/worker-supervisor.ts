/**
 * The parent of a node's workers (`node.workers` > 1, docs/workers.md): starts them, restarts
 * one that dies, passes signals on, stops them all.
 *
 * - Start: all workers at once; `start()` resolves when each has reported it is listening, and
 *   rejects (stopping the others) when one exits before that: a bind or config problem is the
 *   same for every worker and retrying it would only loop.
 * - A worker that dies later is started again after WORKER_RESTART_MIN_MS, doubling per failed
 *   try up to WORKER_RESTART_MAX_MS; a worker that ran WORKER_STABLE_MS resets the delay. Its
 *   calls are the cluster's business meanwhile: it is a node of its own, so the store reaps it
 *   (channels released, phones handed over) when its lease expires, as for any dead node.
 * - `signal` passes SIGUSR2 (drain) to every worker; `stop()` sends SIGTERM and waits, then
 *   SIGKILL after WORKER_STOP_TIMEOUT_MS.
 */
import type { Logger } from '../../shared/log.ts';
import type { Clock, TimerHandle } from '../transaction/clock.ts';

export const WORKER_RESTART_MIN_MS = 1_000;
export const WORKER_RESTART_MAX_MS = 30_000;
export const WORKER_STABLE_MS = 60_000;
export const WORKER_STOP_TIMEOUT_MS = 15_000;

/** One running worker process, as the supervisor drives it. */
export interface WorkerProcess {
  readonly pid: number | undefined;
  kill(signal: NodeJS.Signals): void;
  /** Once, when it reports it is listening (over the IPC channel). */
  onStarted(fn: () => void): void;
  /** Once, when it has exited. */
  onExit(fn: (code: number | null, signal: NodeJS.Signals | null) => void): void;
}

export type SpawnWorker = (index: number) => WorkerProcess;

export interface WorkerSupervisorOptions {
  count: number;
  spawn: SpawnWorker;
  clock: Clock;
  logger: Logger;
}

export interface WorkerState {
  readonly index: number;
  readonly pid: number | undefined;
  readonly state: 'starting' | 'running' | 'waiting' | 'stopped';
  /** Times it was started again after dying. */
  readonly restarts: number;
}

interface Slot {
  index: number;
  proc: WorkerProcess | undefined;
  state: WorkerState['state'];
  startedAt: number;
  restarts: number;
  delayMs: number;
  timer: TimerHandle | undefined;
  exited: Promise<void>;
}

export class WorkerSupervisor {
  readonly #o: WorkerSupervisorOptions;
  readonly #slots: Slot[];
  #stopping = false;

  constructor(o: WorkerSupervisorOptions) {
    if (!Number.isInteger(o.count) || o.count < 1) throw new RangeError(`worker count must be a positive integer (got ${o.count})`);
    this.#o = o;
    this.#slots = Array.from({ length: o.count }, (_, index) => ({
      index,
      proc: undefined,
      state: 'stopped' as const,
      startedAt: 0,
      restarts: 0,
      delayMs: WORKER_RESTART_MIN_MS,
      timer: undefined,
      exited: Promise.resolve(),
    }));
  }

  workers(): WorkerState[] {
    return this.#slots.map((s) => ({ index: s.index, pid: s.proc?.pid, state: s.state, restarts: s.restarts }));
  }

  /** Starts every worker; resolves once all listen, rejects (all stopped) if one exits first. */
  async start(): Promise<void> {
    const started = this.#slots.map(
      (slot) =>
        new Promise<void>((resolve, reject) => {
          this.#launch(slot, resolve, (code, signal) => reject(new Error(`worker ${slot.index} exited before it was listening (${describeExit(code, signal)})`)));
        }),
    );
    try {
      await Promise.all(started);
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** Passes a signal (SIGUSR2: drain) to every live worker. */
  signal(sig: NodeJS.Signals): void {
    for (const s of this.#slots) if (s.proc !== undefined) s.proc.kill(sig);
  }

  /** SIGTERM to every worker; resolves when all have exited (SIGKILL after WORKER_STOP_TIMEOUT_MS). */
  async stop(): Promise<void> {
    this.#stopping = true;
    for (const s of this.#slots) {
      s.timer?.cancel();
      s.timer = undefined;
      if (s.proc === undefined) s.state = 'stopped';
    }
    const live = this.#slots.filter((s) => s.proc !== undefined);
    for (const s of live) s.proc!.kill('SIGTERM');
    const kill = this.#o.clock.setTimer(WORKER_STOP_TIMEOUT_MS, () => {
      for (const s of live) {
        if (s.proc === undefined) continue;
        this.#o.logger.warn({ worker: s.index, pid: s.proc.pid }, 'worker did not stop in time: killed');
        s.proc.kill('SIGKILL');
      }
    });
    await Promise.all(live.map((s) => s.exited));
    kill.cancel();
  }

  /**
   * Spawns the slot's worker. `onUp` hears it listening; `onEarlyExit` hears it exit before that
   * (the first start fails then; a restart just waits longer).
   */
  #launch(slot: Slot, onUp?: () => void, onEarlyExit?: (code: number | null, signal: NodeJS.Signals | null) => void): void {
    slot.timer = undefined;
    slot.state = 'starting';
    let up = false;
    let proc: WorkerProcess;
    try {
      proc = this.#o.spawn(slot.index);
    } catch (err) {
      this.#o.logger.error({ err, worker: slot.index }, 'worker not spawned');
      slot.state = 'stopped';
      if (onEarlyExit !== undefined) onEarlyExit(null, null);
      else this.#retry(slot, false);
      return;
    }
    slot.proc = proc;
    slot.startedAt = this.#o.clock.now();
    slot.exited = new Promise<void>((resolveExit) => {
      proc.onExit((code, signal) => {
        slot.proc = undefined;
        slot.state = 'stopped';
        resolveExit();
        if (this.#stopping) return;
        if (!up && onEarlyExit !== undefined) return onEarlyExit(code, signal);
        this.#o.logger.error({ worker: slot.index, pid: proc.pid, exit: describeExit(code, signal) }, 'worker died');
        this.#retry(slot, up && this.#o.clock.now() - slot.startedAt >= WORKER_STABLE_MS);
      });
    });
    proc.onStarted(() => {
      up = true;
      slot.state = 'running';
      this.#o.logger.info({ worker: slot.index, pid: proc.pid, restarts: slot.restarts }, 'worker listening');
      onUp?.();
    });
  }

  /** Starts a dead worker again after its back-off delay (reset first when it had been stable). */
  #retry(slot: Slot, wasStable: boolean): void {
    if (wasStable) slot.delayMs = WORKER_RESTART_MIN_MS;
    const delay = slot.delayMs;
    slot.delayMs = Math.min(delay * 2, WORKER_RESTART_MAX_MS);
    slot.state = 'waiting';
    this.#o.logger.warn({ worker: slot.index, inMs: delay }, 'worker restarts');
    slot.timer = this.#o.clock.setTimer(delay, () => {
      if (this.#stopping) return;
      slot.restarts++;
      this.#launch(slot);
    });
  }
}

function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal !== null ? `signal ${signal}` : `code ${code ?? 'unknown'}`;
}
