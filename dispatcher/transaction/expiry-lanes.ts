/**
 * Expiry lanes: the "wait" timers of finished transactions without a timer each.
 *
 * After its final response a transaction only waits: RFC 6026 Timer L and M (32 s), Timer J
 * (32 s), K and I (5 s), D (32 s), then it terminates. At thousands of calls per second that is
 * hundreds of thousands of pending timers, each a Node `Timeout` plus the closures and handle
 * that name it, all kept alive (and traced by the GC) for 32 s. These timers all have one of a
 * few fixed durations, so entries of one duration expire in the order they were added: one FIFO
 * lane per duration, driven by a single clock timer armed for the lane's head, does the same job
 * with three array slots per entry and no allocation (Kamailio's tm keeps its wait timers in
 * per-duration lists the same way).
 *
 * An entry carries a token: the owner bumps its token whenever it leaves the state that added
 * the entry, so a stale entry is skipped when it reaches the head (no search). The owner also
 * tells the lane (`drop`) when its entry is done with, expired or stale, so the lane knows how
 * many entries are live: with none left it stops its timer and forgets the stale ones, and a
 * stopped layer leaves no timer behind.
 */
import { monotonicNow, type Clock, type TimerHandle } from './clock.ts';

/** What a lane expires: told its token back when its time is up. */
export interface Expirable {
  expire(token: number): void;
}

/** What `add` gives back: `drop()` once, when the entry is expired or stale (see above). */
export interface ExpiryHandle {
  drop(): void;
}

/** Slots per entry in the lane's flat queue: item, token, due time. */
const STRIDE = 3;
/**
 * Due times are whole ms since the lane's epoch, so they are small integers (V8 Smis, stored in
 * the queue's slot) rather than doubles (a 16-byte heap number each, kept as long as the entry:
 * 32 s). Past this many ms (12 days) the lane moves its epoch up and its entries down with it,
 * before they leave the Smi range (2^31 on 64-bit).
 */
const REBASE_AT = 2 ** 30;
/** Compact the queue once this many dead slots lead it (and they are at least half of it). */
const COMPACT_AT = 3 * 4096;

class ExpiryLane implements ExpiryHandle {
  readonly #clock: Clock;
  readonly #delayMs: number;
  /** The monotonic time due times count from (see REBASE_AT). */
  #epoch: number;
  /** Flat queue of [item, token, due] from `#head` on; due times never decrease. */
  #q: Array<Expirable | number | undefined> = [];
  #head = 0;
  /** Entries added and not yet dropped. */
  #live = 0;
  #timer: TimerHandle | undefined;
  readonly #fire = (): void => this.#run();

  constructor(clock: Clock, delayMs: number) {
    this.#clock = clock;
    this.#delayMs = delayMs;
    this.#epoch = monotonicNow(clock);
  }

  /**
   * ms since the epoch on the clock's monotonic time: due times must not move when the wall
   * clock is stepped.
   */
  #now(): number {
    return monotonicNow(this.#clock) - this.#epoch;
  }

  get size(): number {
    return this.#live;
  }

  add(item: Expirable, token: number): void {
    // Rounded up: an entry never expires early, at most 1 ms late.
    let due = Math.ceil(this.#now()) + this.#delayMs;
    if (due > REBASE_AT) {
      this.#rebase();
      due = Math.ceil(this.#now()) + this.#delayMs;
    }
    this.#q.push(item, token, due);
    this.#live++;
    if (this.#timer === undefined) this.#arm();
  }

  drop(): void {
    if (this.#live === 0) return;
    this.#live--;
    // Only stale entries left (their owners moved on): nothing to wait for.
    if (this.#live === 0) this.clear();
  }

  clear(): void {
    this.#live = 0;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#q = [];
    this.#head = 0;
    this.#epoch = monotonicNow(this.#clock);
  }

  /** Move the epoch to now, and the queued due times down by as much (overdue ones go negative). */
  #rebase(): void {
    const shift = Math.floor(this.#now());
    this.#epoch += shift;
    const q = this.#q;
    for (let i = this.#head + 2; i < q.length; i += STRIDE) q[i] = (q[i] as number) - shift;
  }

  #arm(): void {
    const due = this.#q[this.#head + 2] as number;
    this.#timer = this.#clock.setTimer(Math.max(0, Math.ceil(due - this.#now())), this.#fire);
  }

  #run(): void {
    this.#timer = undefined;
    const q = this.#q;
    try {
      const now = this.#now();
      // Entries added by the callbacks below are due later (or are left for the next run).
      const end = q.length;
      // `this.#q !== q`: a callback dropped the last live entry, and the lane cleared itself.
      while (this.#q === q && this.#head < end && (q[this.#head + 2] as number) <= now) {
        const item = q[this.#head] as Expirable;
        const token = q[this.#head + 1] as number;
        q[this.#head] = undefined;
        this.#head += STRIDE;
        item.expire(token);
      }
    } finally {
      // Also after a callback threw: the entries behind it still get their timer.
      if (this.#q === q) this.#settle();
    }
  }

  /** After a run: free the spent slots and arm the timer for the next entry, if any. */
  #settle(): void {
    const q = this.#q;
    if (this.#head === q.length) {
      q.length = 0;
      this.#head = 0;
    } else if (this.#head >= COMPACT_AT && this.#head * 2 >= q.length) {
      this.#q = q.slice(this.#head);
      this.#head = 0;
    }
    if (this.#head < this.#q.length && this.#timer === undefined) this.#arm();
  }
}

/** One lane per duration, made on first use (a transaction layer sees a handful of durations). */
export class ExpiryLanes {
  readonly #clock: Clock;
  readonly #lanes = new Map<number, ExpiryLane>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /**
   * `item.expire(token)` runs `delayMs` from now (not earlier; later by at most the clock's
   * lateness). The owner calls `drop()` on the handle once the entry is expired or stale.
   */
  add(delayMs: number, item: Expirable, token: number): ExpiryHandle {
    let lane = this.#lanes.get(delayMs);
    if (lane === undefined) {
      lane = new ExpiryLane(this.#clock, delayMs);
      this.#lanes.set(delayMs, lane);
    }
    lane.add(item, token);
    return lane;
  }

  /** Live entries (added, not yet dropped). */
  get size(): number {
    let n = 0;
    for (const lane of this.#lanes.values()) n += lane.size;
    return n;
  }

  /** Drop every entry and stop the lanes' timers (shutdown). */
  clear(): void {
    for (const lane of this.#lanes.values()) lane.clear();
  }
}
