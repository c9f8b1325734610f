/**
 * RFC 3261 §17 timer values (Table 4, Appendix A) and RFC 6026 Timers L and M, in milliseconds.
 * Values for reliable transports are 0 where the RFC says so; `timersFor` applies that rule.
 */

/** RTT estimate. */
export const T1 = 500;
/** Maximum retransmit interval for non-INVITE requests and INVITE responses. */
export const T2 = 4_000;
/** Maximum duration a message will remain in the network. */
export const T4 = 5_000;

export interface TimerValues {
  /** T2: cap of the Timer E and Timer G doubling (and Timer E in Proceeding). */
  T2: number;
  /** INVITE request retransmit interval (initial), UDP only. */
  A: number;
  /** INVITE transaction timeout. */
  B: number;
  /** Proxy INVITE transaction timeout (> 3 min, RFC 3261 §16.6 step 11). */
  C: number;
  /** Wait time for response retransmits (INVITE client, after a non-2xx). */
  D: number;
  /** Non-INVITE request retransmit interval (initial), UDP only. */
  E: number;
  /** Non-INVITE transaction timeout. */
  F: number;
  /** INVITE response retransmit interval (initial), UDP only. */
  G: number;
  /** Wait time for ACK receipt. */
  H: number;
  /** Wait time for ACK retransmits. */
  I: number;
  /** Wait time for non-INVITE request retransmits. */
  J: number;
  /** Wait time for response retransmits (non-INVITE client). */
  K: number;
  /** RFC 6026: INVITE server transaction stays Accepted to absorb INVITE retransmits after a 2xx. */
  L: number;
  /** RFC 6026: INVITE client transaction stays Accepted to pass on 2xx retransmits. */
  M: number;
}

export const TIMER_C = 180_000 + 1_000;

/**
 * Timer values for a transport; `reliable` means TCP/TLS/WS (RFC 3261 §17.1.1.2 etc.).
 *
 * `linger`, when given, is how long a finished transaction stays to absorb retransmissions: it
 * replaces Timers D, J (0 on reliable transports either way), L and M, the ones the RFCs set to
 * 32 s (`node.limits.transactionLinger`, like Kamailio tm's `wt_timer`). Timers I and K are T4
 * already. What a shorter linger gives up is written in docs/config.md.
 */
export function timersFor(reliable: boolean, t1 = T1, t2 = T2, t4 = T4, timerC = TIMER_C, linger?: number): TimerValues {
  const wait = linger ?? 64 * t1;
  return {
    T2: t2,
    A: t1,
    B: 64 * t1,
    C: timerC,
    D: reliable ? 0 : (linger ?? Math.max(32_000, 64 * t1)),
    E: t1,
    F: 64 * t1,
    G: t1,
    H: 64 * t1,
    I: reliable ? 0 : t4,
    J: reliable ? 0 : wait,
    K: reliable ? 0 : t4,
    L: wait,
    M: wait,
  };
}

/** Retransmit interval doubling capped at T2 (RFC 3261 §17.1.2.2 Timer E, §17.2.1 Timer G). */
export function nextInterval(current: number, t2 = T2): number {
  return Math.min(current * 2, t2);
}
