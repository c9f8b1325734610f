/**
 * Round-trip statistics of one switch's OPTIONS probes: an EWMA (what the latency selection
 * reads) and the p99 of the last 128 samples (for the ops API and metrics). Constant memory.
 */

/** Weight of the newest sample in the EWMA. */
export const LATENCY_ALPHA = 0.3;
/** Samples kept for the p99. */
export const LATENCY_WINDOW = 128;

export class LatencyStats {
  readonly #ring = new Float64Array(LATENCY_WINDOW);
  /** Samples stored (≤ LATENCY_WINDOW). */
  #count = 0;
  /** Next slot to write. */
  #next = 0;
  #ewma: number | undefined;
  /** Cached p99; undefined when a sample arrived since it was computed. */
  #p99: number | undefined;

  /** Add one round trip (ms); negative or non-finite values are ignored. */
  add(rttMs: number): void {
    if (!Number.isFinite(rttMs) || rttMs < 0) return;
    // The first sample seeds the average, so it is meaningful at once.
    this.#ewma = this.#ewma === undefined ? rttMs : LATENCY_ALPHA * rttMs + (1 - LATENCY_ALPHA) * this.#ewma;
    this.#ring[this.#next] = rttMs;
    this.#next = (this.#next + 1) % LATENCY_WINDOW;
    if (this.#count < LATENCY_WINDOW) this.#count++;
    this.#p99 = undefined;
  }

  get ewmaMs(): number | undefined {
    return this.#ewma;
  }

  /** Nearest-rank p99 of the kept samples: the ⌈0.99·n⌉-th smallest; undefined before any sample. */
  get p99Ms(): number | undefined {
    if (this.#count === 0) return undefined;
    if (this.#p99 === undefined) {
      const sorted = this.#ring.slice(0, this.#count).sort();
      this.#p99 = sorted[Math.ceil(0.99 * this.#count) - 1];
    }
    return this.#p99;
  }

  get samples(): number {
    return this.#count;
  }
}
