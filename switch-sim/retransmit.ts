/**
 * The retransmission pattern RFC 3261 uses in several places: resend after T1, doubling up to T2,
 * until stopped, and give up after 64*T1. Timer G/H for a non-2xx INVITE final response
 * (§17.2.1), the UAS core's 2xx retransmission (§13.3.1.4), Timer E/F for a non-INVITE client
 * transaction (§17.1.2.2). On a reliable transport only the give-up timer runs.
 */
import type { TimerSet, TimerHandle } from './timer-set.ts';

export interface RetransmitOptions {
  t1: number;
  t2: number;
  /** False on TCP: no resends, only the give-up timer. */
  resend: boolean;
  /** Called once, after 64*T1 without `stop()`. */
  onGiveUp: () => void;
}

/** Start resending; returns `stop`. The first send is the caller's job. */
export function retransmit(timers: TimerSet, send: () => void, options: RetransmitOptions): () => void {
  let interval = options.t1;
  let resendTimer: TimerHandle | undefined;
  const tick = (): void => {
    send();
    interval = Math.min(interval * 2, options.t2);
    resendTimer = timers.after(interval, tick);
  };
  if (options.resend) resendTimer = timers.after(interval, tick);
  const giveUpTimer = timers.after(64 * options.t1, () => {
    timers.clear(resendTimer);
    options.onGiveUp();
  });
  return () => {
    timers.clear(resendTimer);
    timers.clear(giveUpTimer);
  };
}
