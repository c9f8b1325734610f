import { describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/log.ts';
import { ManualClock } from '../transaction/manual-clock.ts';
import { WORKER_RESTART_MAX_MS, WORKER_STABLE_MS, WORKER_STOP_TIMEOUT_MS, WorkerSupervisor, type WorkerProcess } from './worker-supervisor.ts';

/** A worker process driven by the test: `up()` reports it listening, `exit()` ends it. */
class FakeWorker implements WorkerProcess {
  static nextPid = 100;
  readonly pid = FakeWorker.nextPid++;
  readonly signals: NodeJS.Signals[] = [];
  #started: (() => void) | undefined;
  #exit: ((code: number | null, signal: NodeJS.Signals | null) => void) | undefined;
  exited = false;
  readonly index: number;
  readonly onKill: ((w: FakeWorker, s: NodeJS.Signals) => void) | undefined;
  constructor(index: number, onKill?: (w: FakeWorker, s: NodeJS.Signals) => void) {
    this.index = index;
    this.onKill = onKill;
  }
  kill(signal: NodeJS.Signals): void {
    this.signals.push(signal);
    this.onKill?.(this, signal);
  }
  onStarted(fn: () => void): void {
    this.#started = fn;
  }
  onExit(fn: (code: number | null, signal: NodeJS.Signals | null) => void): void {
    this.#exit = fn;
  }
  up(): void {
    this.#started?.();
  }
  exit(code: number | null, signal: NodeJS.Signals | null = null): void {
    if (this.exited) return;
    this.exited = true;
    this.#exit?.(code, signal);
  }
}

function harness(count: number, onKill?: (w: FakeWorker, s: NodeJS.Signals) => void) {
  const clock = new ManualClock();
  const spawned: FakeWorker[] = [];
  const supervisor = new WorkerSupervisor({
    count,
    clock,
    logger: createLogger({}, { level: 'silent' }),
    spawn: (index) => {
      const w = new FakeWorker(index, onKill);
      spawned.push(w);
      return w;
    },
  });
  const latest = (index: number) => spawned.filter((w) => w.index === index).at(-1)!;
  return { clock, spawned, supervisor, latest };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('WorkerSupervisor', () => {
  it('starts every worker and resolves once all listen', async () => {
    const h = harness(3);
    let done = false;
    const started = h.supervisor.start().then(() => (done = true));
    expect(h.spawned.map((w) => w.index)).toEqual([0, 1, 2]);
    h.spawned[0].up();
    h.spawned[2].up();
    await tick();
    expect(done).toBe(false);
    h.spawned[1].up();
    await started;
    expect(h.supervisor.workers().map((w) => w.state)).toEqual(['running', 'running', 'running']);
  });

  it('fails the start when a worker exits before listening, and stops the others', async () => {
    const h = harness(2, (w, s) => s === 'SIGTERM' && w.exit(0));
    const started = h.supervisor.start();
    h.spawned[0].up();
    h.spawned[1].exit(1);
    await expect(started).rejects.toThrow(/worker 1 exited before it was listening \(code 1\)/);
    expect(h.spawned[0].signals).toEqual(['SIGTERM']);
    expect(h.spawned).toHaveLength(2);
  });

  it('restarts a worker that dies, with a delay doubling per failure up to the maximum, reset after a stable run', async () => {
    const h = harness(2);
    const started = h.supervisor.start();
    for (const w of h.spawned) w.up();
    await started;
    const delays: number[] = [];
    // Dies at once after each restart: 1 s, 2 s, 4 s ... up to 30 s.
    for (let i = 0; i < 7; i++) {
      const before = h.spawned.length;
      h.latest(1).exit(null, 'SIGKILL');
      expect(h.supervisor.workers()[1].state).toBe('waiting');
      let waited = 0;
      while (h.spawned.length === before) {
        h.clock.advance(500);
        waited += 500;
      }
      delays.push(waited);
      h.latest(1).up();
    }
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16000, WORKER_RESTART_MAX_MS, WORKER_RESTART_MAX_MS]);
    expect(h.supervisor.workers()[1]).toMatchObject({ state: 'running', restarts: 7 });
    // Worker 0 was never touched.
    expect(h.spawned.filter((w) => w.index === 0)).toHaveLength(1);
    // A worker that ran long enough starts again after the shortest delay.
    h.clock.advance(WORKER_STABLE_MS);
    const before = h.spawned.length;
    h.latest(1).exit(1);
    h.clock.advance(999);
    expect(h.spawned.length).toBe(before);
    h.clock.advance(1);
    expect(h.spawned.length).toBe(before + 1);
  });

  it('passes signals to every worker; stop sends SIGTERM, then SIGKILL to a worker that does not exit', async () => {
    const h = harness(2, (w, s) => {
      if (s === 'SIGKILL' || (s === 'SIGTERM' && w.index === 0)) w.exit(null, s);
    });
    const started = h.supervisor.start();
    for (const w of h.spawned) w.up();
    await started;
    h.supervisor.signal('SIGUSR2');
    expect(h.spawned.map((w) => w.signals)).toEqual([['SIGUSR2'], ['SIGUSR2']]);
    let stopped = false;
    const stopping = h.supervisor.stop().then(() => (stopped = true));
    await tick();
    expect(stopped).toBe(false);
    h.clock.advance(WORKER_STOP_TIMEOUT_MS);
    await stopping;
    expect(h.spawned[1].signals).toEqual(['SIGUSR2', 'SIGTERM', 'SIGKILL']);
    expect(h.spawned[0].signals).toEqual(['SIGUSR2', 'SIGTERM']);
    // No restart after a stop.
    h.clock.advance(WORKER_RESTART_MAX_MS * 2);
    expect(h.spawned).toHaveLength(2);
    expect(h.supervisor.workers().map((w) => w.state)).toEqual(['stopped', 'stopped']);
  });

  it('refuses a count that is not a positive integer', () => {
    expect(() => harness(0)).toThrow(/positive integer/);
  });
});
