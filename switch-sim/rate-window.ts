/**
 * Events in the last `windowMs` (a sliding window): the CPS cap counts new calls admitted in the
 * past second. Timestamps sit in an array used as a queue; the consumed head is compacted away
 * from time to time.
 */
export class RateWindow {
  readonly #windowMs: number;
  #times: number[] = [];
  #head = 0;

  constructor(windowMs = 1000) {
    this.#windowMs = windowMs;
  }

  count(now = Date.now()): number {
    this.#prune(now);
    return this.#times.length - this.#head;
  }

  add(now = Date.now()): void {
    this.#prune(now);
    this.#times.push(now);
  }

  #prune(now: number): void {
    const cutoff = now - this.#windowMs;
    while (this.#head < this.#times.length && this.#times[this.#head] <= cutoff) this.#head++;
    if (this.#head > 1024 && this.#head * 2 > this.#times.length) {
      this.#times = this.#times.slice(this.#head);
      this.#head = 0;
    }
  }
}
