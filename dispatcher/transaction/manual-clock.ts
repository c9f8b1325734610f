/**
 * A hand-driven `Clock` for tests: time stands still until `advance(ms)`, which fires every due
 * timer in order (earliest due time first, then the order they were set), including timers set
 * by those callbacks when they fall inside the advanced window. Each callback sees `now()` equal
 * to its own due time, so RFC timer tests are exact and instant.
 *
 * Pending timers sit in a binary heap (due, then set order), so a clock holding the timers of
 * tens of thousands of transactions (bench/proxy-memory.bench.ts) advances in O(log n) per timer.
 * A cancelled timer drops its callback at once, as `clearTimeout` lets go of a Node timer's: a
 * cancelled timer must not keep the transaction its closure names alive until time moves on.
 */
import type { Clock, TimerHandle } from './clock.ts';

interface Pending {
  readonly due: number;
  readonly seq: number;
  fn: (() => void) | undefined;
}

function before(a: Pending, b: Pending): boolean {
  return a.due < b.due || (a.due === b.due && a.seq < b.seq);
}

export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  /** Min-heap by (due, seq); cancelled entries stay (with no callback) until they reach the top. */
  #heap: Pending[] = [];
  #active = 0;

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    if (!Number.isFinite(ms)) throw new RangeError(`ManualClock.setTimer: invalid delay ${ms}`);
    const timer: Pending = { due: this.#now + Math.max(0, ms), seq: this.#seq++, fn };
    this.#push(timer);
    this.#active++;
    return {
      cancel: () => {
        if (timer.fn === undefined) return;
        timer.fn = undefined;
        this.#active--;
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
      this.#pop();
      const fn = next.fn as () => void;
      next.fn = undefined;
      this.#active--;
      this.#now = next.due;
      fn();
    }
    this.#now = end;
  }

  /** Advance to an absolute time (must not be in the past). */
  advanceTo(time: number): void {
    this.advance(time - this.#now);
  }

  /** Timers set and neither fired nor cancelled. */
  get pending(): number {
    return this.#active;
  }

  /** Due time of the earliest pending timer, or undefined when none. */
  nextTimerAt(): number | undefined {
    return this.#nextDue(Infinity)?.due;
  }

  /** The earliest live timer if it is due by `limit` (cancelled ones on top are discarded). */
  #nextDue(limit: number): Pending | undefined {
    const heap = this.#heap;
    while (heap.length > 0 && heap[0].fn === undefined) this.#pop();
    const top = heap[0];
    return top !== undefined && top.due <= limit ? top : undefined;
  }

  #push(t: Pending): void {
    const heap = this.#heap;
    let i = heap.length;
    heap.push(t);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(t, heap[p])) break;
      heap[i] = heap[p];
      i = p;
    }
    heap[i] = t;
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop() as Pending;
    const n = heap.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && before(heap[r], heap[l]) ? r : l;
      if (!before(heap[c], last)) break;
      heap[i] = heap[c];
      i = c;
    }
    heap[i] = last;
  }
}
