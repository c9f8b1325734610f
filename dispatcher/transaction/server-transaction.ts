/**
 * Server transactions (RFC 3261 §17.2): the INVITE one with RFC 6026's Accepted state, and the
 * non-INVITE one. They absorb request retransmissions by re-sending the latest response, and
 * retransmit INVITE final responses over UDP until the ACK comes (Timer G/H).
 */
import type { SipRequest, SipResponse } from '../../shared/sip/index.ts';
import { serializeMessage, generateTag } from '../../shared/sip/index.ts';
import type { Flow } from '../transport/transport.ts';
import { TransactionBase } from './transaction-base.ts';
import type { TransactionEnv } from './transaction-env.ts';
import { nextInterval } from './timers.ts';
import { keepBytes, sendable } from './own-copy.ts';

/** How a server transaction puts bytes on the wire: back along the request's flow. */
export type ResponseSender = (data: Buffer, flow: Flow) => void;

/**
 * A previous hop that responses may skip: while `active()`, a response whose top Via is that hop's
 * (branch `hopBranch`) loses that Via and goes to `flow` instead of back to the hop. Decided per
 * response, so retransmissions go where their bytes were made for.
 *
 * The drain hand-off uses it (proxy-core.ts): the draining node is the previous hop, `flow` is the
 * caller as seen from the floating IP, and `active` is "this node holds the floating IP". Once the
 * address has moved here, the draining node can no longer answer the caller from it, and a caller
 * that got its 100 Trying does not retransmit (RFC 3261 §17.1.1.2), so the answer must leave from here.
 */
export interface HopBypass {
  readonly flow: Flow;
  readonly hopBranch: string;
  active(): boolean;
}

export interface ServerTransaction {
  readonly key: string;
  /**
   * The request, until the final response is sent: from then on no state needs it (see the
   * memory note below), so the transaction lets go of it and reading it throws.
   */
  readonly request: SipRequest;
  readonly flow: Flow;
  readonly isInvite: boolean;
  /** To-tag for responses this node makes itself (one per transaction, RFC 3261 §8.2.6.2). */
  readonly localTag: string;
  readonly state: string;
  readonly terminated: boolean;
  /** The latest response sent while it may still be needed: cleared with `request` once the final is sent. */
  readonly lastResponse: SipResponse | undefined;
  /** Status of the latest response sent (0 when none). */
  readonly lastStatus: number;
  /** True once a final response was sent. */
  readonly finalSent: boolean;
  /** Send a response (provisional or final) upstream. */
  respond(res: SipResponse): void;
  /** Called by the layer for a retransmitted request. */
  receiveRetransmission(): void;
  /** End without any response (a silently dropped request, or shutdown). */
  abort(): void;
  /**
   * Arbitrary per-transaction data for the TU (e.g. its response context), until the final response
   * is sent: then it is let go with the request (what the TU still needs for 2xx retransmissions it
   * keeps through its client transaction's user).
   */
  context: unknown;
}

type InviteState = 'proceeding' | 'accepted' | 'completed' | 'confirmed' | 'terminated';
type NonInviteState = 'trying' | 'proceeding' | 'completed' | 'terminated';

/*
 * Memory: a finished transaction stays in the table for 32 s (Timer L, Timer J over UDP), so at a
 * few thousand calls per second what each one keeps adds up to hundreds of MB. Once the final
 * response is sent, no state of either kind needs the request or the response object again:
 *   - INVITE Accepted (RFC 6026 §8.5) absorbs INVITE retransmissions without answering and
 *     sends further 2xx the TU passes down (serialized then): it needs the flow and `send`;
 *   - INVITE Completed re-sends the final on a retransmitted INVITE and on Timer G: the final's
 *     bytes only; Confirmed absorbs ACKs: nothing;
 *   - non-INVITE Completed re-sends the final on a retransmitted request: its bytes only.
 * So the transaction drops the parsed request (with it the received datagram and its decoded
 * text, which every header value is sliced from), the response object, the TU's context (a
 * non-INVITE's response context and branch would otherwise be kept for Timer J). What every
 * transaction of the layer shares (clock, timers, sender) is one reference (transaction-env.ts). The key
 * is a flat string of its own (transaction-key.ts), not pieces of the request's decoded text.
 */

/** Thrown by `request` after the final response: nothing may build a response from it then. */
function released(): never {
  throw new Error('server transaction: the request is released once the final response is sent');
}

export class InviteServerTransaction extends TransactionBase<InviteState> implements ServerTransaction {
  readonly key: string;
  readonly flow: Flow;
  #localTag: string | undefined;
  context: unknown;
  #request: SipRequest | undefined;
  #lastResponse: SipResponse | undefined;
  /** The latest response's bytes: a Buffer while proceeding, kept as text once final (`keepBytes`). */
  #lastBytes: Buffer | string | undefined;
  lastStatus = 0;
  /** Where `#lastBytes` were sent (the request's flow, or the bypass's). */
  #lastFlow: Flow;
  /** See HopBypass; set by the TU on a request a draining peer handed over. */
  bypass: HopBypass | undefined;
  /** Called when Timer H fires: no ACK for a final response (RFC 3261 §17.2.1). */
  onAckTimeout: (() => void) | undefined;

  constructor(key: string, request: SipRequest, flow: Flow, env: TransactionEnv) {
    super('proceeding', env);
    this.key = key;
    this.#request = request;
    this.flow = flow;
    this.#lastFlow = flow;
  }

  get isInvite(): boolean {
    return true;
  }

  protected ended(): void {
    this.env.serverTerminated(this);
  }

  /** Where `res` goes: back along the request's flow, or past the bypassed hop (its Via removed). */
  #upstream(res: SipResponse): Flow {
    const b = this.bypass;
    if (b === undefined || !b.active()) return this.flow;
    if (res.via.branch === b.hopBranch) {
      // Nothing past the hop to answer (the TU only sets a bypass on requests with two Vias).
      if (res.values('via').length < 2) return this.flow;
      res.removeFirstValue('via');
    }
    return b.flow;
  }

  get request(): SipRequest {
    return this.#request ?? released();
  }

  /** Made on first use: most transactions are proxied and never answer with a tag of ours. */
  get localTag(): string {
    return (this.#localTag ??= generateTag());
  }

  get lastResponse(): SipResponse | undefined {
    return this.#lastResponse;
  }

  get finalSent(): boolean {
    return this.lastStatus >= 200;
  }

  respond(res: SipResponse): void {
    const state = this.state;
    if (state === 'terminated' || state === 'completed' || state === 'confirmed') return;
    // RFC 6026 §8.5: in Accepted, only further 2xx responses are passed on.
    if (state === 'accepted' && (res.status < 200 || res.status >= 300)) return;
    const flow = this.bypass === undefined ? this.flow : this.#upstream(res);
    const bytes = serializeMessage(res);
    this.lastStatus = res.status;
    this.env.sendResponse(bytes, flow);
    this.#lastFlow = flow;
    if (res.status < 200) {
      // Proceeding re-sends the latest provisional on a retransmitted INVITE.
      this.#lastResponse = res;
      this.#lastBytes = bytes;
      return;
    }
    // Final: the request, the response object and the TU's context are no longer needed (see the note above).
    this.#request = undefined;
    this.#lastResponse = undefined;
    this.context = undefined;
    if (res.status < 300) {
      // Accepted never re-sends: a further 2xx comes down from the TU with its own bytes.
      this.#lastBytes = undefined;
      if (state !== 'accepted') {
        this.enter('accepted');
        this.terminateAfter(this.env.timers.L);
      }
      return;
    }
    this.#lastBytes = keepBytes(bytes);
    this.enter('completed');
    if (!this.env.reliable) this.#retransmitFinal(this.env.timers.G);
    this.timer(this.env.timers.H, () => {
      this.onAckTimeout?.();
      this.terminate();
    });
  }

  #retransmitFinal(interval: number): void {
    this.timer(interval, () => {
      if (this.#lastBytes !== undefined) this.env.sendResponse(sendable(this.#lastBytes), this.#lastFlow);
      this.#retransmitFinal(nextInterval(interval, this.env.timers.T2));
    });
  }

  receiveRetransmission(): void {
    // Proceeding: resend the latest provisional; Completed: resend the final; Accepted/Confirmed: absorb.
    if ((this.state === 'proceeding' || this.state === 'completed') && this.#lastBytes !== undefined) {
      // A provisional sent to a hop that is bypassed now goes out again past it (its object is kept).
      const last = this.#lastResponse;
      if (last !== undefined && this.bypass !== undefined && this.#lastFlow !== this.bypass.flow && this.bypass.active()) {
        this.#lastFlow = this.#upstream(last);
        this.#lastBytes = serializeMessage(last);
      }
      this.env.sendResponse(sendable(this.#lastBytes), this.#lastFlow);
    }
  }

  /** The ACK for a non-2xx final (hop-by-hop, RFC 3261 §17.2.1). */
  receiveAck(): void {
    if (this.state !== 'completed') return;
    this.enter('confirmed');
    // Confirmed only absorbs ACKs: the final's bytes are not sent again.
    this.#lastBytes = undefined;
    this.terminateAfter(this.env.timers.I);
  }

  /** Give up without a response (layer shutdown). */
  abort(): void {
    this.terminate();
  }
}

export class NonInviteServerTransaction extends TransactionBase<NonInviteState> implements ServerTransaction {
  readonly key: string;
  readonly flow: Flow;
  #localTag: string | undefined;
  context: unknown;
  #request: SipRequest | undefined;
  #lastResponse: SipResponse | undefined;
  /** The latest response's bytes: a Buffer while proceeding, kept as text once final (`keepBytes`). */
  #lastBytes: Buffer | string | undefined;
  lastStatus = 0;

  constructor(key: string, request: SipRequest, flow: Flow, env: TransactionEnv) {
    super('trying', env);
    this.key = key;
    this.#request = request;
    this.flow = flow;
  }

  get isInvite(): boolean {
    return false;
  }

  protected ended(): void {
    this.env.serverTerminated(this);
  }

  get request(): SipRequest {
    return this.#request ?? released();
  }

  /** Made on first use: most transactions are proxied and never answer with a tag of ours. */
  get localTag(): string {
    return (this.#localTag ??= generateTag());
  }

  get lastResponse(): SipResponse | undefined {
    return this.#lastResponse;
  }

  get finalSent(): boolean {
    return this.lastStatus >= 200;
  }

  respond(res: SipResponse): void {
    if (this.state === 'completed' || this.state === 'terminated') return;
    const bytes = serializeMessage(res);
    this.#lastBytes = bytes;
    this.lastStatus = res.status;
    this.env.sendResponse(bytes, this.flow);
    if (res.status < 200) {
      this.#lastResponse = res;
      this.enter('proceeding');
      return;
    }
    // Completed re-sends the final's bytes on a retransmitted request; nothing else is needed.
    this.#request = undefined;
    this.#lastResponse = undefined;
    this.context = undefined;
    this.#lastBytes = keepBytes(bytes);
    this.enter('completed');
    this.terminateAfter(this.env.timers.J);
  }

  receiveRetransmission(): void {
    if (this.state !== 'trying' && this.#lastBytes !== undefined) this.env.sendResponse(sendable(this.#lastBytes), this.flow);
  }

  abort(): void {
    this.terminate();
  }
}
