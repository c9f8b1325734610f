/**
 * Items ordered by expiry for the memory stores' sweeps (calls by maximum age, media sessions,
 * registrar bindings): a binary min-heap with lazy deletion. An entry is live while
 * `source.isLive(item, expiresAtMs)` holds (the record is still the one, with the expiry, the entry
 * was pushed for); dead entries are dropped when they surface, and the heap is rebuilt from
 * `source.live()` when dead ones outnumber the live, so it stays O(live items).
 */
export interface ExpiryEntry<T> {
  readonly expiresAtMs: number;
  readonly item: T;
}

export interface ExpirySource<T> {
  /** `expiresAtMs` is the expiry the entry was pushed with (a refreshed item has a newer one). */
  isLive(item: T, expiresAtMs: number): boolean;
  /** Every live item with its expiry, to rebuild from. */
  live(): Iterable<ExpiryEntry<T>>;
  liveCount(): number;
}

export class ExpiryQueue<T> {
  #heap: ExpiryEntry<T>[] = [];
  readonly #source: ExpirySource<T>;

  constructor(source: ExpirySource<T>) {
    this.#source = source;
  }

  get size(): number {
    return this.#heap.length;
  }

  push(expiresAtMs: number, item: T): void {
    this.#heap.push({ expiresAtMs, item });
    this.#up(this.#heap.length - 1);
    if (this.#heap.length > 2 * this.#source.liveCount() + 1024) {
      this.#heap = [...this.#source.live()];
      for (let i = (this.#heap.length >> 1) - 1; i >= 0; i--) this.#down(i);
    }
  }

  /**
   * Removes and returns up to `max` live items whose expiry is before `nowMs` (or at it too, with
   * `inclusive`).
   */
  popExpired(nowMs: number, max: number, inclusive = false): T[] {
    const out: T[] = [];
    while (out.length < max && this.#heap.length > 0) {
      const at = this.#heap[0].expiresAtMs;
      if (at > nowMs || (at === nowMs && !inclusive)) break;
      const top = this.#pop();
      if (this.#source.isLive(top.item, top.expiresAtMs)) out.push(top.item);
    }
    return out;
  }

  #pop(): ExpiryEntry<T> {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop() as ExpiryEntry<T>;
    if (heap.length > 0) {
      heap[0] = last;
      this.#down(0);
    }
    return top;
  }

  #up(i: number): void {
    const heap = this.#heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent].expiresAtMs <= heap[i].expiresAtMs) break;
      [heap[parent], heap[i]] = [heap[i], heap[parent]];
      i = parent;
    }
  }

  #down(i: number): void {
    const heap = this.#heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && heap[l].expiresAtMs < heap[m].expiresAtMs) m = l;
      if (r < heap.length && heap[r].expiresAtMs < heap[m].expiresAtMs) m = r;
      if (m === i) return;
      [heap[m], heap[i]] = [heap[i], heap[m]];
      i = m;
    }
  }
}
