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
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(ms, fn) {
    const t = setTimeout(fn, ms);
    // Timers must never keep a closing process alive.
    t.unref?.();
    return { cancel: () => clearTimeout(t) };
  },
};
