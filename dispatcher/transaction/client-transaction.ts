/**
 * Client transactions (RFC 3261 §17.1): INVITE (with RFC 6026's Accepted state) and non-INVITE.
 * They retransmit over UDP (Timer A/E), time out (Timer B/F → the TU treats it as 408), ACK
 * non-2xx finals hop by hop (§17.1.1.3) and absorb retransmitted finals.
 */
import type { SipRequest, SipResponse } from '../../shared/sip/index.ts';
import { SipRequest as Request, serializeMessage, splitCommaValues } from '../../shared/sip/index.ts';
import type { HeaderField } from '../../shared/sip/index.ts';
import { SENT, type Target } from '../transport/transport.ts';
import { monotonicNow } from './clock.ts';
import { TransactionBase } from './transaction-base.ts';
import type { TransactionEnv } from './transaction-env.ts';
import { ownBytes } from './own-copy.ts';
import type { ClientTransactionUser } from './transaction-user.ts';
import { nextInterval } from './timers.ts';

export type RequestSender = (data: Buffer, target: Target) => Promise<void>;

export interface ClientTransaction {
  readonly key: string;
  readonly request: SipRequest;
  readonly target: Target;
  readonly state: string;
  readonly terminated: boolean;
  /** Highest status received so far (0 when none). */
  readonly lastStatus: number;
  receiveResponse(res: SipResponse): void;
  /**
   * From now on tell `user` instead: a TU that needs far less once the request is answered
   * (the 2xx relay of an INVITE's RFC 6026 Accepted state, response-context.ts).
   */
  setUser(user: ClientTransactionUser): void;
  /** Stop retransmitting and forget (the TU gave up on this branch). */
  abort(): void;
}


type InviteState = 'calling' | 'proceeding' | 'accepted' | 'completed' | 'terminated';
type NonInviteState = 'trying' | 'proceeding' | 'completed' | 'terminated';

/*
 * Memory: a finished client transaction stays in the table for 32 s (Timer M over UDP; Timer K
 * 5 s, Timer D 32 s), so what it keeps matters at thousands of calls per second. The request
 * (parsed fields of the original plus ours) and its serialized bytes are needed only while the
 * request may be retransmitted (Calling/Proceeding, Trying/Proceeding) or an ACK built from it
 * (the first non-2xx final). Afterwards:
 *   - INVITE Accepted (RFC 6026 §8.4) only passes 2xx up to the TU: it needs the TU;
 *   - INVITE Completed re-sends the ACK for each retransmitted final: the ACK's bytes;
 *   - non-INVITE Completed absorbs retransmitted finals: nothing.
 * So the request, its bytes and the deps object that carried them are dropped on leaving the
 * sending states; reading `request` then throws.
 */

/** Thrown by `request` once the transaction dropped it. */
function released(): never {
  throw new Error('client transaction: the request is released once a final response arrived');
}

/**
 * What both client transactions keep: the key and target, the request and its bytes until they
 * are released (see the note above), and the user (the TU) while it is to be told anything.
 */
abstract class ClientTransactionCore<State extends string> extends TransactionBase<State> implements ClientTransaction {
  readonly key: string;
  readonly target: Target;
  lastStatus = 0;
  protected req: SipRequest | undefined;
  protected bytes: Buffer | undefined;
  protected user: ClientTransactionUser | undefined;

  constructor(initial: State, key: string, request: SipRequest, target: Target, user: ClientTransactionUser, env: TransactionEnv) {
    super(initial, env);
    this.key = key;
    this.req = request;
    this.target = target;
    this.user = user;
    this.bytes = serializeMessage(request);
  }

  protected ended(): void {
    this.env.clientTerminated(this);
  }

  /** A transaction that dropped its user (non-INVITE Completed) reports nothing more, and keeps none. */
  setUser(user: ClientTransactionUser): void {
    if (this.user !== undefined) this.user = user;
  }

  get request(): SipRequest {
    return this.req ?? released();
  }

  abstract start(): void;
  abstract receiveResponse(res: SipResponse): void;

  abort(): void {
    this.terminate();
  }
}

export class InviteClientTransaction extends ClientTransactionCore<InviteState> {
  #ackBytes: Buffer | undefined;

  constructor(key: string, request: SipRequest, target: Target, user: ClientTransactionUser, env: TransactionEnv) {
    super('calling', key, request, target, user, env);
  }

  start(): void {
    if (this.bytes !== undefined) this.#transmit(this.bytes);
    if (!this.env.reliable) this.#retransmit(this.env.timers.A);
    this.timer(this.env.timers.B, () => {
      this.terminate();
      this.user?.onTimeout();
    });
  }

  #retransmit(interval: number): void {
    // Timer A doubles without the T2 cap (RFC 3261 §17.1.1.2).
    this.timer(interval, () => {
      if (this.bytes !== undefined) this.#transmit(this.bytes);
      this.#retransmit(interval * 2);
    });
  }

  #transmit(data: Buffer): void {
    const sent = this.env.sendRequest(data, this.target);
    if (sent === SENT) return;
    sent.catch((err: Error) => {
      if (this.terminated) return;
      this.terminate();
      this.user?.onTransportError(err);
    });
  }

  /** Leaving Calling/Proceeding: nothing will be retransmitted or built from the request again. */
  #release(): void {
    this.req = undefined;
    this.bytes = undefined;
  }

  receiveResponse(res: SipResponse): void {
    const status = res.status;
    switch (this.state) {
      case 'calling':
      case 'proceeding':
        if (status > this.lastStatus) this.lastStatus = status;
        if (status < 200) {
          if (this.state === 'calling') this.enter('proceeding');
          this.user?.onResponse(res);
        } else if (status < 300) {
          this.enter('accepted');
          this.#release();
          this.terminateAfter(this.env.timers.M);
          this.user?.onResponse(res);
        } else {
          this.enter('completed');
          this.#ackBytes = ownBytes(serializeMessage(buildAckForFinal(this.request, res)));
          this.#release();
          this.#transmit(this.#ackBytes);
          this.terminateAfter(this.env.timers.D);
          this.user?.onResponse(res);
        }
        return;
      case 'accepted':
        // RFC 6026 §8.4: 2xx retransmissions (and 2xx from other forks) go up to the TU.
        if (status >= 200 && status < 300) this.user?.onResponse(res);
        return;
      case 'completed':
        if (status >= 300 && this.#ackBytes !== undefined) this.#transmit(this.#ackBytes);
        return;
      default:
        return;
    }
  }
}

export class NonInviteClientTransaction extends ClientTransactionCore<NonInviteState> {
  /**
   * Timer F's due time on the clock's monotonic time, in whole ms: a small integer, where a
   * fractional or wall-clock time would be a boxed double kept with the transaction.
   */
  #deadline = 0;

  constructor(key: string, request: SipRequest, target: Target, user: ClientTransactionUser, env: TransactionEnv) {
    super('trying', key, request, target, user, env);
  }

  start(): void {
    this.#deadline = Math.ceil(monotonicNow(this.env.clock)) + this.env.timers.F;
    this.#transmit();
    this.#armTimers(this.env.timers.E);
  }

  #armTimers(interval: number): void {
    if (!this.env.reliable) this.#retransmit(interval);
    this.timer(Math.max(0, this.#deadline - monotonicNow(this.env.clock)), () => {
      this.terminate();
      this.user?.onTimeout();
    });
  }

  #retransmit(interval: number): void {
    this.timer(interval, () => {
      this.#transmit();
      // In Proceeding the interval is T2 (RFC 3261 §17.1.2.2).
      this.#retransmit(this.state === 'proceeding' ? this.env.timers.T2 : nextInterval(interval, this.env.timers.T2));
    });
  }

  #transmit(): void {
    if (this.bytes === undefined) return;
    const sent = this.env.sendRequest(this.bytes, this.target);
    if (sent === SENT) return;
    sent.catch((err: Error) => {
      if (this.terminated) return;
      this.terminate();
      this.user?.onTransportError(err);
    });
  }

  receiveResponse(res: SipResponse): void {
    if (this.state === 'completed' || this.state === 'terminated') return;
    if (res.status > this.lastStatus) this.lastStatus = res.status;
    if (res.status < 200) {
      if (this.state === 'trying') {
        this.enter('proceeding');
        this.#armTimers(this.env.timers.T2);
      }
      this.user?.onResponse(res);
      return;
    }
    this.enter('completed');
    this.terminateAfter(this.env.timers.K);
    const user = this.user;
    // Completed only absorbs retransmitted finals (RFC 3261 §17.1.2.2): nothing to send or report.
    this.req = undefined;
    this.bytes = undefined;
    this.user = undefined;
    user?.onResponse(res);
  }
}

/**
 * The hop-by-hop ACK for a non-2xx final response (RFC 3261 §17.1.1.3): same Request-URI,
 * Call-ID, From, CSeq number and top Via as the INVITE, the To of the response, and the INVITE's
 * Route headers.
 */
export function buildAckForFinal(invite: SipRequest, res: SipResponse): SipRequest {
  const headers: HeaderField[] = [];
  let viaDone = false;
  for (const h of invite.headers) {
    switch (h.key) {
      case 'via':
        if (!viaDone) {
          const top = h.value.indexOf(',') < 0 ? h.value : splitCommaValues(h.value, 'Via')[0];
          headers.push({ name: 'Via', key: 'via', value: top, raw: undefined });
          viaDone = true;
        }
        break;
      case 'from':
      case 'call-id':
      case 'route':
      case 'max-forwards':
        headers.push(h);
        break;
      case 'to':
        headers.push({ name: 'To', key: 'to', value: res.get('to') ?? h.value, raw: undefined });
        break;
      case 'cseq':
        headers.push({ name: 'CSeq', key: 'cseq', value: `${invite.cseq.seq} ACK`, raw: undefined });
        break;
      default:
        break;
    }
  }
  return new Request('ACK', invite.uri, headers, Buffer.alloc(0));
}
