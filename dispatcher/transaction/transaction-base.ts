/**
 * Shared plumbing of the four transaction kinds: the one running timer set per state, and
 * termination. Each state arms its timers on entry; entering another state clears them, so no
 * timer outlives its state (kirm/sip.js `makeSM` enter/leave idea).
 */
import type { Clock, TimerHandle } from './clock.ts';
import type { Expirable, ExpiryHandle, ExpiryLanes } from './expiry-lanes.ts';

export abstract class TransactionBase<State extends string> implements Expirable {
  #state: State;
  /** Bumped on every state change: an expiry lane entry of an earlier state is stale (expiry-lanes.ts). */
  #token = 0;
  readonly #lanes: ExpiryLanes | undefined;
  /** The lane holding this transaction's current entry, told when the entry is done with. */
  #laneEntry: ExpiryHandle | undefined;
  /**
   * The current state's timers: most states run one or two. Held as a field plus an array for
   * the rest, made only when needed, rather than one array per transaction: a growable array's
   * backing store (~150 bytes) per transaction adds up over the 32 s finished ones are kept.
   */
  #timer: TimerHandle | undefined = undefined;
  #moreTimers: TimerHandle[] | undefined = undefined;
  protected readonly clock: Clock;
  #onTerminated: ((txn: this) => void) | undefined;

  constructor(initial: State, clock: Clock, lanes?: ExpiryLanes) {
    this.#state = initial;
    this.clock = clock;
    this.#lanes = lanes;
  }

  get state(): State {
    return this.#state;
  }

  get terminated(): boolean {
    return this.#state === 'terminated';
  }

  /**
   * Register the table-removal hook (set by the transaction layer): one function for every
   * transaction, told which one ended, rather than a closure kept per transaction.
   */
  set onTerminated(fn: (txn: this) => void) {
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
    this.#token++;
    if (this.#laneEntry !== undefined) {
      this.#laneEntry.drop();
      this.#laneEntry = undefined;
    }
    if (state === 'terminated') this.#onTerminated?.(this);
  }

  /**
   * Terminate after `ms` unless the state changes first: the wait timers of a finished
   * transaction (Timer D, I, J, K, L, M). On an expiry lane when the layer has them, else a timer.
   */
  protected terminateAfter(ms: number): void {
    if (this.#lanes === undefined) this.timer(ms, () => this.terminate());
    else this.#laneEntry = this.#lanes.add(ms, this, this.#token);
  }

  /** An expiry lane's entry is due (see `terminateAfter`). */
  expire(token: number): void {
    if (token === this.#token) this.terminate();
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
