/**
 * Server transactions (RFC 3261 §17.2): the INVITE one with RFC 6026's Accepted state, and the
 * non-INVITE one. They absorb request retransmissions by re-sending the latest response, and
 * retransmit INVITE final responses over UDP until the ACK comes (Timer G/H).
 */
import type { SipRequest, SipResponse } from '../../shared/sip/index.ts';
import { serializeMessage, generateTag } from '../../shared/sip/index.ts';
import type { Flow } from '../transport/transport.ts';
import type { Clock } from './clock.ts';
import { TransactionBase } from './transaction-base.ts';
import { nextInterval, type TimerValues } from './timers.ts';

/** How a server transaction puts bytes on the wire: back along the request's flow. */
export type ResponseSender = (data: Buffer, flow: Flow) => void;

export interface ServerTransaction {
  readonly key: string;
  readonly request: SipRequest;
  readonly flow: Flow;
  readonly isInvite: boolean;
  /** To-tag for responses this node makes itself (one per transaction, RFC 3261 §8.2.6.2). */
  readonly localTag: string;
  readonly state: string;
  readonly terminated: boolean;
  readonly lastResponse: SipResponse | undefined;
  /** True once a final response was sent. */
  readonly finalSent: boolean;
  /** Send a response (provisional or final) upstream. */
  respond(res: SipResponse): void;
  /** Called by the layer for a retransmitted request. */
  receiveRetransmission(): void;
  /** End without any response (a silently dropped request, or shutdown). */
  abort(): void;
  /** Arbitrary per-transaction data for the TU (e.g. its response context). */
  context: unknown;
}

type InviteState = 'proceeding' | 'accepted' | 'completed' | 'confirmed' | 'terminated';
type NonInviteState = 'trying' | 'proceeding' | 'completed' | 'terminated';

interface ServerDeps {
  key: string;
  request: SipRequest;
  flow: Flow;
  clock: Clock;
  timers: TimerValues;
  send: ResponseSender;
  reliable: boolean;
}

export class InviteServerTransaction extends TransactionBase<InviteState> implements ServerTransaction {
  readonly key: string;
  readonly request: SipRequest;
  readonly flow: Flow;
  readonly isInvite = true;
  readonly localTag = generateTag();
  context: unknown;
  #lastResponse: SipResponse | undefined;
  #lastBytes: Buffer | undefined;
  readonly #deps: ServerDeps;
  /** Called when Timer H fires: no ACK for a final response (RFC 3261 §17.2.1). */
  onAckTimeout: (() => void) | undefined;

  constructor(deps: ServerDeps) {
    super('proceeding', deps.clock);
    this.key = deps.key;
    this.request = deps.request;
    this.flow = deps.flow;
    this.#deps = deps;
  }

  get lastResponse(): SipResponse | undefined {
    return this.#lastResponse;
  }

  get finalSent(): boolean {
    return this.#lastResponse !== undefined && this.#lastResponse.status >= 200;
  }

  respond(res: SipResponse): void {
    const state = this.state;
    if (state === 'terminated' || state === 'completed' || state === 'confirmed') return;
    // RFC 6026 §8.5: in Accepted, only further 2xx responses are passed on.
    if (state === 'accepted' && (res.status < 200 || res.status >= 300)) return;
    this.#lastResponse = res;
    this.#lastBytes = serializeMessage(res);
    this.#deps.send(this.#lastBytes, this.flow);
    if (res.status < 200) return;
    if (res.status < 300) {
      if (state !== 'accepted') {
        this.enter('accepted');
        this.timer(this.#deps.timers.L, () => this.terminate());
      }
      return;
    }
    this.enter('completed');
    if (!this.#deps.reliable) this.#retransmitFinal(this.#deps.timers.G);
    this.timer(this.#deps.timers.H, () => {
      this.onAckTimeout?.();
      this.terminate();
    });
  }

  #retransmitFinal(interval: number): void {
    this.timer(interval, () => {
      if (this.#lastBytes !== undefined) this.#deps.send(this.#lastBytes, this.flow);
      this.#retransmitFinal(nextInterval(interval, this.#deps.timers.T2));
    });
  }

  receiveRetransmission(): void {
    // Proceeding: resend the latest provisional; Completed: resend the final; Accepted/Confirmed: absorb.
    if ((this.state === 'proceeding' || this.state === 'completed') && this.#lastBytes !== undefined) {
      this.#deps.send(this.#lastBytes, this.flow);
    }
  }

  /** The ACK for a non-2xx final (hop-by-hop, RFC 3261 §17.2.1). */
  receiveAck(): void {
    if (this.state !== 'completed') return;
    this.enter('confirmed');
    this.timer(this.#deps.timers.I, () => this.terminate());
  }

  /** Give up without a response (layer shutdown). */
  abort(): void {
    this.terminate();
  }
}

export class NonInviteServerTransaction extends TransactionBase<NonInviteState> implements ServerTransaction {
  readonly key: string;
  readonly request: SipRequest;
  readonly flow: Flow;
  readonly isInvite = false;
  readonly localTag = generateTag();
  context: unknown;
  #lastResponse: SipResponse | undefined;
  #lastBytes: Buffer | undefined;
  readonly #deps: ServerDeps;

  constructor(deps: ServerDeps) {
    super('trying', deps.clock);
    this.key = deps.key;
    this.request = deps.request;
    this.flow = deps.flow;
    this.#deps = deps;
  }

  get lastResponse(): SipResponse | undefined {
    return this.#lastResponse;
  }

  get finalSent(): boolean {
    return this.#lastResponse !== undefined && this.#lastResponse.status >= 200;
  }

  respond(res: SipResponse): void {
    if (this.state === 'completed' || this.state === 'terminated') return;
    this.#lastResponse = res;
    this.#lastBytes = serializeMessage(res);
    this.#deps.send(this.#lastBytes, this.flow);
    if (res.status < 200) {
      this.enter('proceeding');
      return;
    }
    this.enter('completed');
    this.timer(this.#deps.timers.J, () => this.terminate());
  }

  receiveRetransmission(): void {
    if (this.state !== 'trying' && this.#lastBytes !== undefined) this.#deps.send(this.#lastBytes, this.flow);
  }

  abort(): void {
    this.terminate();
  }
}
