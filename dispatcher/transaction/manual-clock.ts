/**
 * A hand-driven `Clock` for tests: time stands still until `advance(ms)`, which fires every due
 * timer in order (earliest due time first, then the order they were set), including timers set
 * by those callbacks when they fall inside the advanced window. Each callback sees `now()` equal
 * to its own due time, so RFC timer tests are exact and instant.
 */
import type { Clock, TimerHandle } from './clock.ts';

interface Pending {
  readonly due: number;
  readonly seq: number;
  readonly fn: () => void;
  active: boolean;
}

export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  #timers: Pending[] = [];

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    if (!Number.isFinite(ms)) throw new RangeError(`ManualClock.setTimer: invalid delay ${ms}`);
    const timer: Pending = { due: this.#now + Math.max(0, ms), seq: this.#seq++, fn, active: true };
    this.#timers.push(timer);
    return {
      cancel: () => {
        timer.active = false;
      },
    };
  }

  /** Move time forward by `ms`, firing every timer due on the way (a 0 ms timer fires on `advance(0)`). */
  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`ManualClock.advance: invalid step ${ms}`);
    const end = this.#now + ms;
    for (;;) {
      const next = this.#nextDue(end);
      if (next === undefined) break;
      next.active = false;
      this.#now = next.due;
      next.fn();
    }
    this.#now = end;
    this.#timers = this.#timers.filter((t) => t.active);
  }

  /** Advance to an absolute time (must not be in the past). */
  advanceTo(time: number): void {
    this.advance(time - this.#now);
  }

  /** Timers set and neither fired nor cancelled. */
  get pending(): number {
    return this.#timers.filter((t) => t.active).length;
  }

  /** Due time of the earliest pending timer, or undefined when none. */
  nextTimerAt(): number | undefined {
    return this.#nextDue(Infinity)?.due;
  }

  #nextDue(limit: number): Pending | undefined {
    let best: Pending | undefined;
    for (const t of this.#timers) {
      if (!t.active || t.due > limit) continue;
      if (best === undefined || t.due < best.due || (t.due === best.due && t.seq < best.seq)) best = t;
    }
    return best;
  }
}
