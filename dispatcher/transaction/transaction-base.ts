/**
 * Shared plumbing of the four transaction kinds: the one running timer set per state, and
 * termination. Each state arms its timers on entry; entering another state clears them, so no
 * timer outlives its state (kirm/sip.js `makeSM` enter/leave idea).
 */
import type { Clock, TimerHandle } from './clock.ts';

export abstract class TransactionBase<State extends string> {
  #state: State;
  /**
   * The current state's timers: most states run one or two. Held as a field plus an array for
   * the rest, made only when needed, rather than one array per transaction: a growable array's
   * backing store (~150 bytes) per transaction adds up over the 32 s finished ones are kept.
   */
  #timer: TimerHandle | undefined = undefined;
  #moreTimers: TimerHandle[] | undefined = undefined;
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
    this.#timer?.cancel();
    this.#timer = undefined;
    if (this.#moreTimers !== undefined) {
      for (const t of this.#moreTimers) t.cancel();
      this.#moreTimers = undefined;
    }
    this.#state = state;
    if (state === 'terminated') this.#onTerminated?.();
  }

  /** Arm a timer that belongs to the current state. */
  protected timer(ms: number, fn: () => void): void {
    const state = this.#state;
    const handle = this.clock.setTimer(ms, () => {
      if (this.#state === state) fn();
    });
    if (this.#timer === undefined) this.#timer = handle;
    else (this.#moreTimers ??= []).push(handle);
  }

  protected terminate(): void {
    this.enter('terminated' as State);
  }
}
