/**
 * The `onSwitchesChanged` listeners of one store. A listener that throws (or returns a promise
 * that rejects) is handed to `onError` (the store logs it) and skipped: it never breaks the store
 * or the other listeners.
 */
export class ChangeListeners {
  readonly #listeners = new Set<() => void>();
  readonly #onError: (err: unknown, why: string) => void;

  constructor(onError: (err: unknown, why: string) => void) {
    this.#onError = onError;
  }

  get size(): number {
    return this.#listeners.size;
  }

  /** Adds a listener; returns its unsubscribe function (idempotent). Adding the same function twice adds it once. */
  add(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Calls every listener now, in subscription order. */
  notify(why: string): void {
    for (const listener of [...this.#listeners]) {
      try {
        const result: unknown = listener();
        if (result instanceof Promise) result.catch((err: unknown) => this.#onError(err, why));
      } catch (err) {
        this.#onError(err, why);
      }
    }
  }

  clear(): void {
    this.#listeners.clear();
  }
}
