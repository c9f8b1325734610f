/**
 * What every transaction of one layer on one kind of transport shares: the clock, the timer
 * values, the expiry lanes, the senders and the table-removal hooks. The layer makes two (an
 * unreliable and a reliable one) and each transaction holds one reference to its env, rather
 * than six fields of its own pointing at the same objects: a finished transaction is kept for
 * 32 s (Timer J/L/M), four per call, so 40 bytes each is 20 MB more for the GC to trace at
 * 4000 calls per second (BENCHMARKS.md, Session 11).
 */
import type { Clock } from './clock.ts';
import type { ClientTransaction, RequestSender } from './client-transaction.ts';
import type { ExpiryLanes } from './expiry-lanes.ts';
import type { ResponseSender, ServerTransaction } from './server-transaction.ts';
import type { TimerValues } from './timers.ts';

export interface TransactionEnv {
  readonly clock: Clock;
  readonly timers: TimerValues;
  /** TCP, TLS, WS: no retransmissions, and the wait timers that are 0 there (RFC 3261 §17). */
  readonly reliable: boolean;
  /** Where the wait timers of finished transactions run (expiry-lanes.ts); a timer each without. */
  readonly lanes: ExpiryLanes | undefined;
  readonly sendResponse: ResponseSender;
  readonly sendRequest: RequestSender;
  /** A server transaction ended: the layer takes it out of its table. */
  serverTerminated(txn: ServerTransaction): void;
  /** A client transaction ended: the layer takes it out of its table. */
  clientTerminated(txn: ClientTransaction): void;
}

