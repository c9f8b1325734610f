/**
 * Admission times (µs) of one level over the last second, for `cpsNow` in the memory store:
 * a sorted deque, trimmed on every write and bounded to ADMISSION_LOG_MAX entries (the redis
 * adapter keeps the same log as a zset in `level:admits:<level>`).
 */
import { ADMISSION_LOG_MAX, CPS_WINDOW_US } from './store-limits.ts';

export class AdmissionLog {
  #times: number[] = [];
  #head = 0;

  get size(): number {
    return this.#times.length - this.#head;
  }

  /** Records an admission at `nowUs` (not earlier than the last one) and forgets the old ones. */
  add(nowUs: number): void {
    this.#times.push(nowUs);
    this.trim(nowUs);
    if (this.size > ADMISSION_LOG_MAX) this.#head = this.#times.length - ADMISSION_LOG_MAX;
    this.#compact();
  }

  /** Forgets admissions at or before `nowUs` − 1 s. */
  trim(nowUs: number): void {
    const cutoff = nowUs - CPS_WINDOW_US;
    while (this.#head < this.#times.length && this.#times[this.#head] <= cutoff) this.#head++;
    this.#compact();
  }

  /** Admissions in (nowUs − 1 s, nowUs], plus any later ones (if the clock stepped back). */
  count(nowUs: number): number {
    const cutoff = nowUs - CPS_WINDOW_US;
    let n = 0;
    for (let i = this.#times.length - 1; i >= this.#head && this.#times[i] > cutoff; i--) n++;
    return n;
  }

  /** The oldest admission in (nowUs − 1 s, nowUs], or undefined. */
  oldest(nowUs: number): number | undefined {
    const cutoff = nowUs - CPS_WINDOW_US;
    for (let i = this.#head; i < this.#times.length; i++) if (this.#times[i] > cutoff) return this.#times[i];
    return undefined;
  }

  #compact(): void {
    if (this.#head > 1024 && this.#head * 2 > this.#times.length) {
      this.#times = this.#times.slice(this.#head);
      this.#head = 0;
    }
  }
}
