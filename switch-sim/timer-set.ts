/**
 * Every timer the sim arms goes through one TimerSet, so `close()` can cancel them all at once and
 * an exception in a callback is logged instead of crashing the process.
 */
export type TimerHandle = ReturnType<typeof setTimeout>;

export class TimerSet {
  readonly #handles = new Set<TimerHandle>();
  readonly #onError: (err: unknown) => void;

  constructor(onError: (err: unknown) => void) {
    this.#onError = onError;
  }

  /** Run `fn` once after `ms`. */
  after(ms: number, fn: () => void): TimerHandle {
    const handle = setTimeout(() => {
      this.#handles.delete(handle);
      try {
        fn();
      } catch (err) {
        this.#onError(err);
      }
    }, ms);
    this.#handles.add(handle);
    return handle;
  }

  clear(handle: TimerHandle | undefined): void {
    if (handle === undefined) return;
    clearTimeout(handle);
    this.#handles.delete(handle);
  }

  clearAll(): void {
    for (const handle of this.#handles) clearTimeout(handle);
    this.#handles.clear();
  }

  get size(): number {
    return this.#handles.size;
  }
}
