/**
 * Shared plumbing of the four transaction kinds: the one running timer set per state, and
 * termination. Each state arms its timers on entry; entering another state clears them, so no
 * timer outlives its state (kirm/sip.js `makeSM` enter/leave idea).
 */
import type { TimerHandle } from './clock.ts';
import type { Expirable, ExpiryHandle } from './expiry-lanes.ts';
import type { TransactionEnv } from './transaction-env.ts';

export abstract class TransactionBase<State extends string> implements Expirable {
  #state: State;
  /** Bumped on every state change: an expiry lane entry of an earlier state is stale (expiry-lanes.ts). */
  #token = 0;
  /** The lane holding this transaction's current entry, told when the entry is done with. */
  #laneEntry: ExpiryHandle | undefined;
  /**
   * The current state's timers: most states run one or two. One handle, or an array once there
   * are more, rather than an array per transaction: a growable array's backing store (~150 bytes)
   * per transaction adds up over the 32 s finished ones are kept.
   */
  #timers: TimerHandle | TimerHandle[] | undefined = undefined;
  /** Shared by every transaction of the layer on this kind of transport (transaction-env.ts). */
  protected readonly env: TransactionEnv;

  constructor(initial: State, env: TransactionEnv) {
    this.#state = initial;
    this.env = env;
  }

  get state(): State {
    return this.#state;
  }

  get terminated(): boolean {
    return this.#state === 'terminated';
  }

  /** Tell the layer this transaction ended (it takes it out of its table). */
  protected abstract ended(): void;

  protected enter(state: State): void {
    if (this.#state === 'terminated') return;
    const timers = this.#timers;
    if (timers !== undefined) {
      this.#timers = undefined;
      if (Array.isArray(timers)) for (const t of timers) t.cancel();
      else timers.cancel();
    }
    this.#state = state;
    this.#token++;
    if (this.#laneEntry !== undefined) {
      this.#laneEntry.drop();
      this.#laneEntry = undefined;
    }
    if (state === 'terminated') this.ended();
  }

  /**
   * Terminate after `ms` unless the state changes first: the wait timers of a finished
   * transaction (Timer D, I, J, K, L, M). On an expiry lane when the layer has them, else a timer.
   */
  protected terminateAfter(ms: number): void {
    const lanes = this.env.lanes;
    if (lanes === undefined) this.timer(ms, () => this.terminate());
    else this.#laneEntry = lanes.add(ms, this, this.#token);
  }

  /** An expiry lane's entry is due (see `terminateAfter`). */
  expire(token: number): void {
    if (token === this.#token) this.terminate();
  }

  /** Arm a timer that belongs to the current state. */
  protected timer(ms: number, fn: () => void): void {
    const state = this.#state;
    const handle = this.env.clock.setTimer(ms, () => {
      if (this.#state === state) fn();
    });
    const timers = this.#timers;
    if (timers === undefined) this.#timers = handle;
    else if (Array.isArray(timers)) timers.push(handle);
    else this.#timers = [timers, handle];
  }

  protected terminate(): void {
    this.enter('terminated' as State);
  }
}
