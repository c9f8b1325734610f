/**
 * Sheds new calls while the node is behind on its input: past its capacity a proxy that keeps
 * accepting every INVITE lets its UDP queue fill, every message then waits, callers retransmit
 * (more load), switches look dead for answers that sat in the queue, and nearly every call fails.
 * Answering new INVITEs at once with 503 + Retry-After (RFC 3261 §21.5.4) costs a fraction of a
 * call, so the calls already admitted, and as many new ones as the node can carry, still work.
 *
 * The signal is the receive backlog of the node's UDP sockets (transport/udp-backlog.ts), sampled
 * every `intervalMs`. Shedding starts when it is at or over `highBytes` in OVERLOAD_SUSTAIN_SAMPLES
 * samples in a row — a queue that a GC pause or a burst filled for a moment (a scavenge stops the
 * loop for 15-20 ms) drains by itself and must not cost calls — and stops once it falls under a
 * quarter of that (hysteresis, so the node does not flap at the edge). In-dialog requests,
 * responses and CANCELs are never shed: they finish work already accepted.
 */
import type { Logger } from 'pino';

/** How often the backlog is sampled (ms). */
export const OVERLOAD_SAMPLE_MS = 50;
/** Consecutive samples at or over the high mark before shedding starts (≥ 100 ms of backlog at 50 ms). */
export const OVERLOAD_SUSTAIN_SAMPLES = 3;
/** Shedding stops below this fraction of the high mark. */
export const OVERLOAD_LOW_FRACTION = 0.25;
/**
 * How long after its input was last behind (a sample at or over the low mark, or shedding) the
 * node still counts as `behind`: longer than a failover timeout, so a switch whose answer sat in
 * our own queue is not blamed for it.
 */
export const OVERLOAD_BLAME_WINDOW_MS = 5_000;

export interface OverloadGuardOptions {
  /** Bytes queued on the fullest UDP socket now. */
  readonly backlog: () => number;
  /** Backlog at which new calls are shed; 0 disables the guard. */
  readonly highBytes: number;
  readonly intervalMs?: number;
  readonly log?: Logger;
  /** Monotonic ms (default performance.now): when the backlog was last seen. */
  readonly now?: () => number;
}

export class OverloadGuard {
  readonly #o: OverloadGuardOptions;
  #shedding = false;
  /** Samples in a row at or over the high mark (while not shedding). */
  #over = 0;
  #timer: NodeJS.Timeout | undefined;
  /** Times shedding started (for the log and metrics). */
  episodes = 0;
  /** When a sample last found the input behind (at or over the low mark); -Infinity when never. */
  #behindAt = Number.NEGATIVE_INFINITY;

  constructor(o: OverloadGuardOptions) {
    this.#o = o;
  }

  /** True while new calls should be answered 503. */
  get shedding(): boolean {
    return this.#shedding;
  }

  /**
   * True while shedding, or within OVERLOAD_BLAME_WINDOW_MS of a sample that found the input
   * behind: a request to a switch that timed out then may have been answered into our own queue,
   * so it says nothing about the switch (switch-pool.ts does not mark it suspect).
   */
  get behind(): boolean {
    return this.#shedding || this.#now() - this.#behindAt <= OVERLOAD_BLAME_WINDOW_MS;
  }

  #now(): number {
    return this.#o.now?.() ?? performance.now();
  }

  start(): void {
    if (this.#o.highBytes <= 0 || this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.sample(), this.#o.intervalMs ?? OVERLOAD_SAMPLE_MS);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#shedding = false;
    this.#over = 0;
  }

  /** One sample (the timer's work; public for tests). */
  sample(): void {
    const high = this.#o.highBytes;
    if (high <= 0) return;
    const bytes = this.#o.backlog();
    if (bytes >= high * OVERLOAD_LOW_FRACTION) this.#behindAt = this.#now();
    if (!this.#shedding) {
      this.#over = bytes >= high ? this.#over + 1 : 0;
      if (this.#over < OVERLOAD_SUSTAIN_SAMPLES) return;
      this.#over = 0;
      this.#shedding = true;
      this.episodes++;
      this.#o.log?.warn({ backlogBytes: bytes, highBytes: high }, 'overloaded: shedding new calls with 503');
    } else if (bytes < high * OVERLOAD_LOW_FRACTION) {
      this.#shedding = false;
      this.#o.log?.warn({ backlogBytes: bytes }, 'overload over: accepting new calls');
    }
  }
}
