/**
 * Injectable time source for every RFC timer, so tests can drive transactions with fake time
 * (vitest's `vi.useFakeTimers()` works with the system clock; a hand-driven clock works too).
 */
export interface TimerHandle {
  /** Cancels the timer; safe to call twice. */
  cancel(): void;
}

export interface Clock {
  now(): number;
  setTimer(ms: number, fn: () => void): TimerHandle;
  /**
   * Milliseconds from an arbitrary origin that never jump (the wall clock can: NTP steps, a
   * resumed VM). For measuring delays (expiry-lanes.ts); `now()` when absent (a hand-driven
   * clock does not jump).
   */
  monotonic?(): number;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  // The global, looked up per call: fake timers that replace `performance` replace it here too.
  monotonic: () => globalThis.performance.now(),
  setTimer(ms, fn) {
    const t = setTimeout(fn, ms);
    // Timers must never keep a closing process alive.
    t.unref?.();
    return { cancel: () => clearTimeout(t) };
  },
};

/** The clock's monotonic time, or its `now()` when it has none (see `Clock.monotonic`). */
export function monotonicNow(clock: Clock): number {
  return clock.monotonic?.() ?? clock.now();
}
