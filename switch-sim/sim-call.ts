/**
 * One call on the sim: the INVITE server transaction that created it and, once the sim picked a
 * To-tag, the dialog (RFC 3261 §12.1.1, UAS side). Plain state; `SimUas` drives it.
 *
 *   early ──200──▶ answered ──ACK──▶ established ──BYE (either side)──▶ ended
 *     │                │ no ACK in 64*T1 → ended (failed)       └─ sim BYE → terminating → ended
 *     └─ CANCEL / BYE on the early dialog → ended (487)
 */
import type { SipRequest } from '../shared/sip/message.ts';
import type { SimBehaviour } from './behaviour.ts';
import type { SimTransportName } from './listen-uri.ts';
import type { RtpSession } from './rtp-media.ts';
import type { Source } from './sim-listener.ts';
import type { TimerHandle } from './timer-set.ts';

export type CallState = 'early' | 'answered' | 'established' | 'terminating' | 'ended';

/**
 * An INVITE server transaction (§17.2.1), keyed by branch and sent-by (§17.2.3). Kept after its
 * final response to absorb retransmitted INVITEs (resend `last`) and to match the ACK of a non-2xx.
 */
export interface InviteTxn {
  readonly key: string;
  readonly request: SipRequest;
  readonly source: Source;
  readonly toTag: string;
  /** The last response sent, resent on a retransmitted INVITE. */
  last: Buffer | undefined;
  /** Final status sent, or undefined while proceeding. */
  finalStatus: number | undefined;
  /** Stops Timer G/H for a non-2xx final response. */
  stopRetransmit: (() => void) | undefined;
  /** The call it created (dialog-creating INVITEs that were admitted). */
  call: SimCall | undefined;
}

export type CallTimings = Pick<SimBehaviour, 'ringMs' | 'answerMs' | 'holdMs'>;

export class SimCall {
  readonly key: string;
  readonly callId: string;
  readonly localTag: string;
  readonly remoteTag: string;
  readonly invite: SipRequest;
  readonly txn: InviteTxn;
  readonly timings: CallTimings;
  readonly transport: SimTransportName;
  /** Our address as the caller reached it: used in Contact, Via and the SDP. */
  readonly localAddress: string;
  /** The m= port of our SDP: the bound RTP port, or (rtp off) one nothing listens on. */
  rtpPort: number;
  readonly sessionId: string;
  /** SDP body of the 200 OK; undefined while the RTP socket is binding. */
  answerSdp: Buffer | undefined;
  /** The call's RTP socket and counters (rtp echo/send); closed when the call ends. */
  readonly media: RtpSession | undefined;
  /** The 200 was due while the RTP socket was still binding: send it once bound. */
  answerWhenBound = false;
  readonly startedAt = Date.now();
  state: CallState = 'early';
  /** Record-Route values of the INVITE, in order (§12.1.1: the UAS route set). */
  routeSet: string[];
  /** The caller's Contact URI (§12.1.1 remote target; updated by target refresh requests). */
  remoteTarget: string;
  /** Our CSeq for requests we send in the dialog; empty until the first one (§12.1.1). */
  localCseq = 0;
  remoteCseq: number;
  sdpVersion: number;
  /** Ring / answer / hold timer: one step at a time. */
  timer: TimerHandle | undefined;
  /** A 2xx being retransmitted until its ACK (§13.3.1.4). */
  pending2xx: { cseq: number; stop: () => void } | undefined;
  /** True while the call holds a channel. */
  holdsChannel = true;

  constructor(init: {
    invite: SipRequest;
    txn: InviteTxn;
    timings: CallTimings;
    localAddress: string;
    rtpPort: number;
    sessionId: string;
    routeSet: string[];
    remoteTarget: string;
    answerSdp: Buffer | undefined;
    media: RtpSession | undefined;
  }) {
    this.invite = init.invite;
    this.txn = init.txn;
    this.callId = init.invite.callId;
    this.localTag = init.txn.toTag;
    this.remoteTag = init.invite.fromTag ?? '';
    this.key = dialogKey(this.callId, this.localTag, this.remoteTag);
    this.timings = init.timings;
    this.transport = init.txn.source.transport;
    this.localAddress = init.localAddress;
    this.rtpPort = init.rtpPort;
    this.sessionId = init.sessionId;
    this.sdpVersion = Number(init.sessionId);
    this.routeSet = init.routeSet;
    this.remoteTarget = init.remoteTarget;
    this.answerSdp = init.answerSdp;
    this.media = init.media;
    this.remoteCseq = init.invite.cseq.seq;
  }
}

/** Dialog ID (§12): Call-ID, local tag, remote tag. */
export function dialogKey(callId: string, localTag: string, remoteTag: string): string {
  return `${callId}\n${localTag}\n${remoteTag}`;
}
