/**
 * Client transactions (RFC 3261 §17.1): INVITE (with RFC 6026's Accepted state) and non-INVITE.
 * They retransmit over UDP (Timer A/E), time out (Timer B/F → the TU treats it as 408), ACK
 * non-2xx finals hop by hop (§17.1.1.3) and absorb retransmitted finals.
 */
import type { SipRequest, SipResponse } from '../../shared/sip/index.ts';
import { SipRequest as Request, serializeMessage, splitCommaValues } from '../../shared/sip/index.ts';
import type { HeaderField } from '../../shared/sip/index.ts';
import type { Target } from '../transport/transport.ts';
import type { Clock } from './clock.ts';
import { TransactionBase } from './transaction-base.ts';
import type { ClientTransactionUser } from './transaction-user.ts';
import { nextInterval, type TimerValues } from './timers.ts';

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
  /** Stop retransmitting and forget (the TU gave up on this branch). */
  abort(): void;
}

interface ClientDeps {
  key: string;
  request: SipRequest;
  target: Target;
  clock: Clock;
  timers: TimerValues;
  send: RequestSender;
  reliable: boolean;
  user: ClientTransactionUser;
}

type InviteState = 'calling' | 'proceeding' | 'accepted' | 'completed' | 'terminated';
type NonInviteState = 'trying' | 'proceeding' | 'completed' | 'terminated';

export class InviteClientTransaction extends TransactionBase<InviteState> implements ClientTransaction {
  readonly key: string;
  readonly request: SipRequest;
  readonly target: Target;
  lastStatus = 0;
  readonly #deps: ClientDeps;
  readonly #bytes: Buffer;
  #ackBytes: Buffer | undefined;

  constructor(deps: ClientDeps) {
    super('calling', deps.clock);
    this.key = deps.key;
    this.request = deps.request;
    this.target = deps.target;
    this.#deps = deps;
    this.#bytes = serializeMessage(deps.request);
  }

  start(): void {
    this.#transmit(this.#bytes);
    if (!this.#deps.reliable) this.#retransmit(this.#deps.timers.A);
    this.timer(this.#deps.timers.B, () => {
      this.terminate();
      this.#deps.user.onTimeout();
    });
  }

  #retransmit(interval: number): void {
    // Timer A doubles without the T2 cap (RFC 3261 §17.1.1.2).
    this.timer(interval, () => {
      this.#transmit(this.#bytes);
      this.#retransmit(interval * 2);
    });
  }

  #transmit(data: Buffer): void {
    this.#deps.send(data, this.target).catch((err: Error) => {
      if (this.terminated) return;
      this.terminate();
      this.#deps.user.onTransportError(err);
    });
  }

  receiveResponse(res: SipResponse): void {
    const status = res.status;
    switch (this.state) {
      case 'calling':
      case 'proceeding':
        if (status > this.lastStatus) this.lastStatus = status;
        if (status < 200) {
          if (this.state === 'calling') this.enter('proceeding');
          this.#deps.user.onResponse(res);
        } else if (status < 300) {
          this.enter('accepted');
          this.timer(this.#deps.timers.M, () => this.terminate());
          this.#deps.user.onResponse(res);
        } else {
          this.enter('completed');
          this.#ackBytes = serializeMessage(buildAckForFinal(this.request, res));
          this.#transmit(this.#ackBytes);
          this.timer(this.#deps.timers.D, () => this.terminate());
          this.#deps.user.onResponse(res);
        }
        return;
      case 'accepted':
        // RFC 6026 §8.4: 2xx retransmissions (and 2xx from other forks) go up to the TU.
        if (status >= 200 && status < 300) this.#deps.user.onResponse(res);
        return;
      case 'completed':
        if (status >= 300 && this.#ackBytes !== undefined) this.#transmit(this.#ackBytes);
        return;
      default:
        return;
    }
  }

  abort(): void {
    this.terminate();
  }
}

export class NonInviteClientTransaction extends TransactionBase<NonInviteState> implements ClientTransaction {
  readonly key: string;
  readonly request: SipRequest;
  readonly target: Target;
  lastStatus = 0;
  readonly #deps: ClientDeps;
  readonly #bytes: Buffer;
  #deadline = 0;

  constructor(deps: ClientDeps) {
    super('trying', deps.clock);
    this.key = deps.key;
    this.request = deps.request;
    this.target = deps.target;
    this.#deps = deps;
    this.#bytes = serializeMessage(deps.request);
  }

  start(): void {
    this.#deadline = this.clock.now() + this.#deps.timers.F;
    this.#transmit();
    this.#armTimers(this.#deps.timers.E);
  }

  #armTimers(interval: number): void {
    if (!this.#deps.reliable) this.#retransmit(interval);
    this.timer(Math.max(0, this.#deadline - this.clock.now()), () => {
      this.terminate();
      this.#deps.user.onTimeout();
    });
  }

  #retransmit(interval: number): void {
    this.timer(interval, () => {
      this.#transmit();
      // In Proceeding the interval is T2 (RFC 3261 §17.1.2.2).
      this.#retransmit(this.state === 'proceeding' ? this.#deps.timers.T2 : nextInterval(interval, this.#deps.timers.T2));
    });
  }

  #transmit(): void {
    this.#deps.send(this.#bytes, this.target).catch((err: Error) => {
      if (this.terminated) return;
      this.terminate();
      this.#deps.user.onTransportError(err);
    });
  }

  receiveResponse(res: SipResponse): void {
    if (this.state === 'completed' || this.state === 'terminated') return;
    if (res.status > this.lastStatus) this.lastStatus = res.status;
    if (res.status < 200) {
      if (this.state === 'trying') {
        this.enter('proceeding');
        this.#armTimers(this.#deps.timers.T2);
      }
      this.#deps.user.onResponse(res);
      return;
    }
    this.enter('completed');
    this.timer(this.#deps.timers.K, () => this.terminate());
    this.#deps.user.onResponse(res);
  }

  abort(): void {
    this.terminate();
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
