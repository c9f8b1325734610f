/**
 * Shared plumbing of the four transaction kinds: the one running timer set per state, and
 * termination. Each state arms its timers on entry; entering another state clears them, so no
 * timer outlives its state (kirm/sip.js `makeSM` enter/leave idea).
 */
import type { Clock, TimerHandle } from './clock.ts';

export abstract class TransactionBase<State extends string> {
  #state: State;
  #timers: TimerHandle[] = [];
  protected readonly clock: Clock;
  #onTerminated: (() => void) | undefined;

  constructor(initial: State, clock: Clock) {
    this.#state = initial;
    this.clock = clock;
  }

  get state(): State {
    return this.#state;
  }

  get terminated(): boolean {
    return this.#state === 'terminated';
  }

  /** Register the table-removal hook (set by the transaction layer). */
  set onTerminated(fn: () => void) {
    this.#onTerminated = fn;
  }

  protected enter(state: State): void {
    if (this.#state === 'terminated') return;
    for (const t of this.#timers) t.cancel();
    this.#timers.length = 0;
    this.#state = state;
    if (state === 'terminated') this.#onTerminated?.();
  }

  /** Arm a timer that belongs to the current state. */
  protected timer(ms: number, fn: () => void): void {
    const state = this.#state;
    this.#timers.push(
      this.clock.setTimer(ms, () => {
        if (this.#state === state) fn();
      }),
    );
  }

  protected terminate(): void {
    this.enter('terminated' as State);
  }
}
