/**
 * The sim's SIP core: a UAS (RFC 3261 §8.2, §12.1.1, §13.3, §17.2) that answers INVITEs with
 * 100/180/200 + SDP, absorbs retransmissions, handles ACK, BYE, CANCEL, OPTIONS and in-dialog
 * requests, enforces the channel and CPS caps with 503, and can hang up first (its own BYE as a
 * UAC, §15.1.1). Transport-agnostic: `handle` takes raw bytes and a `Source` to reply through.
 */
import { isIP } from 'node:net';
import { ERROR_CODES, SipParseError, isSipfleetError } from '../shared/errors.ts';
import type { Logger } from '../shared/log.ts';
import { acceptedMedia, makeSdpAnswer, newSessionId } from '../shared/sdp/make-sdp-answer.ts';
import { makeSdpOffer } from '../shared/sdp/make-sdp-offer.ts';
import type { MediaSection } from '../shared/sdp/media-section.ts';
import { parseSdp } from '../shared/sdp/parse-sdp.ts';
import { serializeSdp } from '../shared/sdp/serialize-sdp.ts';
import type { SessionDescription } from '../shared/sdp/session-description.ts';
import { headerKey } from '../shared/sip/header-names.ts';
import { generateBranch, generateTag } from '../shared/sip/ids.ts';
import { makeResponse, type ResponseOptions } from '../shared/sip/make-response.ts';
import { SipRequest, SipResponse, type HeaderField } from '../shared/sip/message.ts';
import { parseMessage } from '../shared/sip/parse.ts';
import { serializeMessage } from '../shared/sip/serialize.ts';
import { bareHost, isSipUri } from '../shared/sip/uri.ts';
import { applyBehaviour, type SimBehaviour } from './behaviour.ts';
import { uriHost, type SimTransportName } from './listen-uri.ts';
import { nextHop } from './next-hop.ts';
import { parseErrorResponse } from './parse-error-response.ts';
import { RateWindow } from './rate-window.ts';
import { retransmit } from './retransmit.ts';
import { SimMedia, rtpTarget, type RtpSession } from './rtp-media.ts';
import { RtpPortPool, type RtpPortRange } from './rtp-ports.ts';
import { SimCall, dialogKey, type InviteTxn } from './sim-call.ts';
import { isWildcard, type SimListener, type Source } from './sim-listener.ts';
import { TimerSet } from './timer-set.ts';
import { txnKey } from './txn-key.ts';

/** RFC 3261 §17.1.1.1 timer values, in ms (shortened in tests). */
export interface SimTimerConfig {
  t1: number;
  t2: number;
  t4: number;
}

export const DEFAULT_TIMERS: Readonly<SimTimerConfig> = Object.freeze({ t1: 500, t2: 4000, t4: 5000 });

export interface CallCounters {
  /** New INVITEs (retransmissions not counted). */
  total: number;
  /** 200 OK sent. */
  answered: number;
  /** Final non-2xx sent: caps, 503/486 behaviour, 488. */
  rejected: number;
  /** 487 after a CANCEL (or a BYE on the early dialog). */
  cancelled: number;
  /** 200 OK never ACKed within 64*T1. */
  failed: number;
  /** Ignored in `drop` mode. */
  dropped: number;
  /** Established calls ended by a BYE from either side. */
  completed: number;
}

export const ALLOW = 'INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE';
/** Methods that only make sense inside a dialog: out of one they get 481 (not 501). */
const DIALOG_ONLY = new Set(['BYE', 'INFO', 'UPDATE', 'PRACK']);
const RETRY_AFTER: [string, string][] = [['Retry-After', '1']];
/** With `rtp: off` the SDP carries one of these ports, and nothing listens on it (the old behaviour). */
const RTP_PORT_BASE = 20000;
const RTP_PORT_PAIRS = 5000;
const NO_RTP_PORT = 'RTP Ports Exhausted';

/** Our SDP for a 200 (answer or offer), before it is serialized: the RTP port may still change. */
interface SdpPlan {
  ours: SessionDescription;
  /** Our accepted (or offered) audio section. */
  section: MediaSection;
  /** The peer's offer and its section matching `section`; undefined when we made the offer. */
  offer: { sdp: SessionDescription; section: MediaSection } | undefined;
}

export interface SimUasOptions {
  id: string;
  log: Logger;
  timers: SimTimerConfig;
  behaviour: SimBehaviour;
  /** Every listener, for sending a request on a transport other than the dialog's. */
  listeners: () => readonly SimListener[];
  /** Ports for the per-call RTP sockets (rtp echo/send). */
  rtpPorts: RtpPortRange;
}

function isBlank(data: Buffer): boolean {
  for (const b of data) if (b !== 0x0d && b !== 0x0a && b !== 0x20 && b !== 0x09) return false;
  return true;
}

function isSdp(contentType: string | undefined): boolean {
  return contentType !== undefined && contentType.split(';')[0].trim().toLowerCase() === 'application/sdp';
}

export class SimUas {
  readonly counters: CallCounters = { total: 0, answered: 0, rejected: 0, cancelled: 0, failed: 0, dropped: 0, completed: 0 };
  /** Per-call RTP sockets and their counters. */
  readonly media: SimMedia;
  readonly #id: string;
  readonly #log: Logger;
  readonly #t: SimTimerConfig;
  readonly #timers: TimerSet;
  readonly #listeners: () => readonly SimListener[];
  readonly #server: string;
  #behaviour: SimBehaviour;
  /** INVITE server transactions by txnKey. */
  readonly #inviteTxns = new Map<string, InviteTxn>();
  /** Dialogs (early and confirmed) by dialogKey. */
  readonly #dialogs = new Map<string, SimCall>();
  /** Final responses of non-INVITE server transactions, resent on retransmissions (Timer J, §17.2.2). */
  readonly #responseCache = new Map<string, Buffer>();
  /** Our BYE client transactions by branch. */
  readonly #clientTxns = new Map<string, (res: SipResponse) => void>();
  readonly #rate = new RateWindow(1000);
  #live = 0;
  #rtpCounter = 0;
  #closed = false;

  constructor(options: SimUasOptions) {
    this.#id = options.id;
    this.#log = options.log;
    this.#t = options.timers;
    this.#behaviour = options.behaviour;
    this.#listeners = options.listeners;
    this.#server = `sipfleet-switch-sim (${options.id})`;
    this.#timers = new TimerSet((err) => this.#log.error({ err }, 'switch-sim timer callback failed'));
    this.media = new SimMedia({ pool: new RtpPortPool(options.rtpPorts), mode: () => this.#behaviour.rtp, log: this.#log });
  }

  get behaviour(): SimBehaviour {
    return { ...this.#behaviour };
  }

  /** Apply a validated partial update; throws CFG_ERR_INVALID naming the field. */
  setBehaviour(patch: unknown): SimBehaviour {
    this.#behaviour = applyBehaviour(this.#behaviour, patch);
    return this.behaviour;
  }

  /** Live channels: admitted calls (ringing, answered or established) not yet ended. */
  get channels(): number {
    return this.#live;
  }

  /** New calls admitted in the last second. */
  get cps(): number {
    return this.#rate.count();
  }

  /** Entry point for every message from every transport. Never throws. */
  handle = (data: Buffer, source: Source): void => {
    if (isBlank(data)) return; // CRLF keep-alives on UDP
    let msg: SipRequest | SipResponse;
    try {
      msg = parseMessage(data);
    } catch (err) {
      const out = parseErrorResponse(data, err, [`Server: ${this.#server}`]);
      if (out !== undefined) source.reply(out);
      this.#log.debug({ err: (err as Error).message, from: `${source.address}:${source.port}`, answered: out !== undefined }, 'unparseable message');
      return;
    }
    try {
      if (msg instanceof SipResponse) this.#onResponse(msg);
      else this.#onRequest(msg, source);
    } catch (err) {
      this.#log.debug({ err: (err as Error).message, callId: msg.get('call-id') }, 'request failed');
      if (!(msg instanceof SipRequest) || msg.method === 'ACK') return;
      const parseErr = err instanceof SipParseError;
      try {
        source.reply(serializeMessage(this.#response(msg, parseErr ? err.status : 500, parseErr ? err.reason : 'Server Internal Error')));
      } catch {
        // The request is too broken to answer.
      }
    }
  };

  /** Send BYE for every established call; returns how many. */
  hangupAll(): number {
    let n = 0;
    for (const call of [...this.#dialogs.values()]) {
      if (call.state !== 'established') continue;
      this.counters.completed++;
      this.#sendBye(call, 'hangup-all');
      n++;
    }
    return n;
  }

  /** Cancel every timer, close every RTP socket and forget all state (the listeners are closed by the owner). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#timers.clearAll();
    this.#inviteTxns.clear();
    this.#dialogs.clear();
    this.#responseCache.clear();
    this.#clientTxns.clear();
    await this.media.closeAll();
  }

  // ---- dispatch ----

  #onRequest(req: SipRequest, src: Source): void {
    if (req.method === 'INVITE') return req.toTag === undefined ? this.#onInvite(req, src) : this.#onReinvite(req, src);
    if (req.method === 'ACK') return this.#onAck(req);
    const key = txnKey(req, req.method);
    const cached = this.#responseCache.get(key);
    if (cached !== undefined) return src.reply(cached);
    if (req.method === 'CANCEL') return this.#onCancel(req, src, key);
    const res = this.#nonInvite(req);
    if (res !== undefined) this.#replyNonInvite(key, src, res);
  }

  #nonInvite(req: SipRequest): SipResponse | undefined {
    if (req.method === 'OPTIONS') return this.#onOptions(req);
    if (req.method === 'BYE') return this.#onBye(req);
    if (req.toTag !== undefined) return this.#onOtherInDialog(req);
    if (DIALOG_ONLY.has(req.method)) return this.#response(req, 481, 'Call/Transaction Does Not Exist');
    return this.#response(req, 501, 'Not Implemented', { headers: [['Allow', ALLOW]] });
  }

  /** Send a non-INVITE final response; on UDP keep it for retransmissions for 64*T1 (Timer J). */
  #replyNonInvite(key: string, src: Source, res: SipResponse): void {
    const buf = serializeMessage(res);
    src.reply(buf);
    if (src.transport !== 'udp') return;
    this.#responseCache.set(key, buf);
    this.#timers.after(64 * this.#t.t1, () => this.#responseCache.delete(key));
  }

  #onResponse(res: SipResponse): void {
    const branch = res.via.branch;
    if (branch !== undefined) this.#clientTxns.get(branch)?.(res);
  }

  // ---- OPTIONS ----

  #onOptions(req: SipRequest): SipResponse | undefined {
    const b = this.#behaviour;
    if (b.options === 'ignore') return undefined;
    const channels: [string, string][] = [
      ['X-Channels', String(this.#live)],
      ['X-Channels-Max', b.channels === null ? 'unlimited' : String(b.channels)],
    ];
    if (b.options === '503') return this.#response(req, 503, 'Service Unavailable', { headers: [...RETRY_AFTER, ...channels] });
    return this.#response(req, 200, 'OK', { headers: [['Allow', ALLOW], ['Accept', 'application/sdp'], ...channels] });
  }

  // ---- INVITE (dialog-creating) ----

  #onInvite(req: SipRequest, src: Source): void {
    const key = txnKey(req, 'INVITE');
    const existing = this.#inviteTxns.get(key);
    if (existing !== undefined) {
      // §17.2.1: a retransmission; resend the last response (nothing yet while `slow`).
      if (existing.last !== undefined) src.reply(existing.last);
      return;
    }
    // Parse what the dialog needs first: a bad header is a 400 before any state exists.
    const contacts = req.contacts();
    req.recordRoutes();
    this.counters.total++;
    const b = this.#behaviour;
    if (b.invite === 'drop') {
      this.counters.dropped++;
      this.#outcome(req, 'dropped');
      return;
    }
    const txn: InviteTxn = {
      key,
      request: req,
      source: src,
      toTag: generateTag(),
      last: undefined,
      finalStatus: undefined,
      stopRetransmit: undefined,
      call: undefined,
    };
    this.#inviteTxns.set(key, txn);
    const now = Date.now();
    if (b.channels !== null && this.#live >= b.channels) return this.#reject(txn, 503, 'Channel Limit', RETRY_AFTER);
    if (b.cps !== null && this.#rate.count(now) >= b.cps) return this.#reject(txn, 503, 'CPS Limit', RETRY_AFTER);
    if (b.invite === '503') return this.#reject(txn, 503, 'Service Unavailable');
    if (b.invite === '486') return this.#reject(txn, 486, 'Busy Here');

    const localAddress = this.#localAddress(src, req);
    const sessionId = newSessionId();
    const plan = this.#sdpFor(req, localAddress, RTP_PORT_BASE + 2 * (this.#rtpCounter++ % RTP_PORT_PAIRS), sessionId, sessionId);
    if (plan === undefined) return this.#reject(txn, 488, 'Not Acceptable Here');
    let media: RtpSession | undefined;
    if (b.rtp !== 'off') {
      // The SDP gets the bound port once the socket is bound (see #whenBound).
      media = this.media.open(req.callId, localAddress);
      if (media === undefined) return this.#reject(txn, 503, NO_RTP_PORT, RETRY_AFTER);
    }

    this.#live++;
    this.#rate.add(now);
    const remoteTarget = contacts !== '*' && contacts.length > 0 ? contacts[0].uri : `sip:${uriHost(src.address)}:${src.port}`;
    const call = new SimCall({
      invite: req,
      txn,
      timings: { ringMs: b.ringMs, answerMs: b.answerMs, holdMs: b.holdMs },
      localAddress,
      rtpPort: plan.section.port,
      sessionId,
      routeSet: req.values('record-route'),
      remoteTarget,
      answerSdp: media === undefined ? sdpBytes(plan) : undefined,
      media,
    });
    txn.call = call;
    this.#dialogs.set(call.key, call);
    if (media !== undefined) {
      this.#retarget(call, plan);
      this.#whenBound(call, media, plan);
    }
    if (b.invite === 'slow') call.timer = this.#timers.after(b.slowMs, () => this.#proceed(call));
    else this.#proceed(call);
  }

  /** 100 now, 180 after ringMs, 200 answerMs after the 180. */
  #proceed(call: SimCall): void {
    call.timer = undefined;
    if (call.state !== 'early') return;
    this.#sendInviteResponse(call, 100, 'Trying');
    const ring = (): void => {
      call.timer = undefined;
      if (call.state !== 'early') return;
      this.#sendInviteResponse(call, 180, 'Ringing');
      if (call.timings.answerMs > 0) call.timer = this.#timers.after(call.timings.answerMs, () => this.#answer(call));
      else this.#answer(call);
    };
    if (call.timings.ringMs > 0) call.timer = this.#timers.after(call.timings.ringMs, ring);
    else ring();
  }

  #sendInviteResponse(call: SimCall, status: number, reason: string): void {
    const buf = serializeMessage(this.#dialogResponse(call.invite, call, status, reason));
    call.txn.last = buf;
    call.txn.source.reply(buf);
  }

  /** Once the RTP socket is bound, put its port in the SDP (and send the 200 if it was due); no port → 503. */
  #whenBound(call: SimCall, media: RtpSession, plan: SdpPlan): void {
    media.bound
      .then((port) => {
        if (this.#closed || call.state !== 'early') return;
        if (port === undefined) {
          this.media.noteRefused();
          this.#endCall(call, 'rejected (no RTP port could be bound)');
          this.#reject(call.txn, 503, NO_RTP_PORT, RETRY_AFTER);
          return;
        }
        plan.section.setPort(port);
        call.rtpPort = port;
        call.answerSdp = sdpBytes(plan);
        if (call.answerWhenBound) this.#answer(call);
      })
      .catch((err: unknown) => this.#log.error({ err, callId: call.callId }, 'switch-sim RTP bind callback failed'));
  }

  #answer(call: SimCall): void {
    call.timer = undefined;
    if (call.state !== 'early') return;
    if (call.answerSdp === undefined) {
      call.answerWhenBound = true;
      return;
    }
    call.state = 'answered';
    this.counters.answered++;
    const txn = call.txn;
    const buf = serializeMessage(this.#dialogResponse(call.invite, call, 200, 'OK', call.answerSdp));
    txn.last = buf;
    txn.finalStatus = 200;
    txn.source.reply(buf);
    // The answer is out: media flows from now on (see rtp-media.ts).
    if (call.media !== undefined) this.media.activate(call.media);
    this.#retransmit2xx(call, call.invite.cseq.seq, buf, txn.source);
    // RFC 6026 §7.1 (Accepted): keep absorbing INVITE retransmissions for 64*T1.
    this.#forgetTxnAfter(txn, 64 * this.#t.t1);
  }

  /** §13.3.1.4: the UAS core resends a 2xx (T1 doubling to T2) until the ACK, for 64*T1. */
  #retransmit2xx(call: SimCall, cseq: number, buf: Buffer, src: Source): void {
    const stop = retransmit(this.#timers, () => src.reply(buf), {
      t1: this.#t.t1,
      t2: this.#t.t2,
      resend: true,
      onGiveUp: () => {
        call.pending2xx = undefined;
        if (call.state !== 'answered') return; // a re-INVITE's 2xx: the dialog goes on
        // No ACK: the call failed. §13.3.1.4: terminate the session with a BYE.
        this.counters.failed++;
        this.#log.debug({ callId: call.callId, outcome: 'failed', reason: 'no ACK for 200' }, 'call outcome');
        this.#sendBye(call, 'no ACK');
      },
    });
    call.pending2xx = { cseq, stop };
  }

  /** A non-2xx final response for an INVITE, counted as a rejected call. */
  #reject(txn: InviteTxn, status: number, reason: string, headers: [string, string][] = []): void {
    this.counters.rejected++;
    this.#outcome(txn.request, 'rejected', status, reason);
    this.#finalNon2xx(txn, status, reason, headers);
  }

  /** §17.2.1: send a non-2xx final; Timer G resends it (UDP) until the ACK; Timer H forgets it. */
  #finalNon2xx(txn: InviteTxn, status: number, reason: string, headers: [string, string][] = []): void {
    const buf = serializeMessage(this.#response(txn.request, status, reason, { toTag: txn.toTag, headers }));
    txn.last = buf;
    txn.finalStatus = status;
    txn.source.reply(buf);
    txn.stopRetransmit = retransmit(this.#timers, () => txn.source.reply(buf), {
      t1: this.#t.t1,
      t2: this.#t.t2,
      resend: txn.source.transport === 'udp',
      onGiveUp: () => {
        txn.stopRetransmit = undefined;
        this.#forgetTxnAfter(txn, 0);
      },
    });
  }

  #forgetTxnAfter(txn: InviteTxn, ms: number): void {
    const forget = (): void => {
      if (this.#inviteTxns.get(txn.key) === txn) this.#inviteTxns.delete(txn.key);
    };
    if (ms <= 0) forget();
    else this.#timers.after(ms, forget);
  }

  // ---- ACK, CANCEL, BYE ----

  #onAck(req: SipRequest): void {
    const txn = this.#inviteTxns.get(txnKey(req, 'INVITE'));
    if (txn !== undefined && txn.finalStatus !== undefined && txn.finalStatus >= 300) {
      // §17.2.1 Confirmed: stop Timer G; absorb ACK retransmissions for T4 (0 on TCP).
      txn.stopRetransmit?.();
      txn.stopRetransmit = undefined;
      this.#forgetTxnAfter(txn, txn.source.transport === 'udp' ? this.#t.t4 : 0);
      return;
    }
    const call = this.#dialogFor(req);
    if (call === undefined || call.pending2xx === undefined || call.pending2xx.cseq !== req.cseq.seq) return;
    call.pending2xx.stop();
    call.pending2xx = undefined;
    // An answer to the offer we put in the 2xx (the INVITE had none): where our stream goes.
    if (call.media !== undefined && req.body.length > 0 && isSdp(req.contentType)) this.#retargetFromAnswer(call, req);
    if (call.state !== 'answered') return;
    call.state = 'established';
    // The caller got our 1xx long ago and stopped resending the INVITE (§17.1.1.2): the Accepted
    // state need not last the full 64*T1; T4 keeps memory flat under sustained load.
    this.#forgetTxnAfter(call.txn, this.#t.t4);
    if (call.timings.holdMs > 0) {
      call.timer = this.#timers.after(call.timings.holdMs, () => {
        call.timer = undefined;
        if (call.state !== 'established') return;
        this.counters.completed++;
        this.#sendBye(call, 'hold time');
      });
    }
  }

  #onCancel(req: SipRequest, src: Source, key: string): void {
    const txn = this.#inviteTxns.get(txnKey(req, 'INVITE'));
    if (txn === undefined) return this.#replyNonInvite(key, src, this.#response(req, 481, 'Call/Transaction Does Not Exist'));
    // §9.2: the CANCEL's own response carries the To-tag of the INVITE's responses.
    this.#replyNonInvite(key, src, this.#response(req, 200, 'OK', { toTag: txn.toTag }));
    if (txn.finalStatus !== undefined) return; // too late: no effect on the INVITE
    this.counters.cancelled++;
    if (txn.call !== undefined) this.#endCall(txn.call, 'cancelled');
    this.#finalNon2xx(txn, 487, 'Request Terminated');
  }

  #onBye(req: SipRequest): SipResponse {
    const call = this.#dialogFor(req);
    if (call === undefined) return this.#response(req, 481, 'Call/Transaction Does Not Exist');
    if (req.cseq.seq < call.remoteCseq) return this.#response(req, 500, 'Server Internal Error (CSeq out of order)');
    call.remoteCseq = req.cseq.seq;
    if (call.state === 'early') {
      // §15.1.2: a BYE on an early dialog terminates the INVITE with 487.
      this.counters.cancelled++;
      this.#endCall(call, 'cancelled (BYE on early dialog)');
      this.#finalNon2xx(call.txn, 487, 'Request Terminated');
    } else if (call.state === 'terminating') {
      this.#endCall(call, 'completed (BYE glare)');
    } else {
      this.counters.completed++;
      this.#endCall(call, 'completed');
    }
    return this.#response(req, 200, 'OK');
  }

  // ---- in-dialog requests ----

  /** re-INVITE (§14.2): 200 with a new SDP answer, 491 while another offer is pending. */
  #onReinvite(req: SipRequest, src: Source): void {
    const key = txnKey(req, 'INVITE');
    const existing = this.#inviteTxns.get(key);
    if (existing !== undefined) {
      if (existing.last !== undefined) src.reply(existing.last);
      return;
    }
    const call = this.#dialogFor(req);
    const txn: InviteTxn = {
      key,
      request: req,
      source: src,
      toTag: req.toTag ?? generateTag(),
      last: undefined,
      finalStatus: undefined,
      stopRetransmit: undefined,
      call,
    };
    this.#inviteTxns.set(key, txn);
    if (call === undefined) return this.#finalNon2xx(txn, 481, 'Call/Transaction Does Not Exist');
    if (req.cseq.seq < call.remoteCseq) return this.#finalNon2xx(txn, 500, 'Server Internal Error (CSeq out of order)');
    call.remoteCseq = req.cseq.seq;
    if (call.state !== 'established' || call.pending2xx !== undefined) return this.#finalNon2xx(txn, 491, 'Request Pending');
    const plan = this.#sdpFor(req, call.localAddress, call.rtpPort, call.sessionId, String(call.sdpVersion + 1));
    if (plan === undefined) return this.#finalNon2xx(txn, 488, 'Not Acceptable Here');
    const sdp = sdpBytes(plan);
    this.#retarget(call, plan);
    call.sdpVersion++;
    this.#refreshTarget(call, req);
    const buf = serializeMessage(this.#dialogResponse(req, call, 200, 'OK', sdp));
    txn.last = buf;
    txn.finalStatus = 200;
    src.reply(buf);
    this.#retransmit2xx(call, req.cseq.seq, buf, src);
    this.#forgetTxnAfter(txn, 64 * this.#t.t1);
  }

  /** UPDATE (RFC 3311, with an SDP answer when it carries an offer), INFO and the rest: 200. */
  #onOtherInDialog(req: SipRequest): SipResponse {
    const call = this.#dialogFor(req);
    if (call === undefined) return this.#response(req, 481, 'Call/Transaction Does Not Exist');
    if (req.cseq.seq < call.remoteCseq) return this.#response(req, 500, 'Server Internal Error (CSeq out of order)');
    call.remoteCseq = req.cseq.seq;
    if (req.method === 'UPDATE') {
      let sdp: Buffer | undefined;
      if (req.body.length > 0 && isSdp(req.contentType)) {
        const plan = this.#sdpFor(req, call.localAddress, call.rtpPort, call.sessionId, String(call.sdpVersion + 1));
        if (plan === undefined) return this.#response(req, 488, 'Not Acceptable Here');
        sdp = sdpBytes(plan);
        this.#retarget(call, plan);
        call.sdpVersion++;
      }
      this.#refreshTarget(call, req);
      return this.#dialogResponse(req, call, 200, 'OK', sdp);
    }
    return this.#response(req, 200, 'OK');
  }

  /** Target refresh (§12.2.2): a Contact in re-INVITE/UPDATE replaces the remote target. */
  #refreshTarget(call: SimCall, req: SipRequest): void {
    const contacts = req.contacts();
    if (contacts !== '*' && contacts.length > 0) call.remoteTarget = contacts[0].uri;
  }

  #dialogFor(req: SipRequest): SimCall | undefined {
    const toTag = req.toTag;
    if (toTag === undefined) return undefined;
    return this.#dialogs.get(dialogKey(req.callId, toTag, req.fromTag ?? ''));
  }

  // ---- the sim hangs up: BYE as a UAC (§15.1.1, §12.2.1.1) ----

  #sendBye(call: SimCall, why: string): void {
    if (call.state !== 'established' && call.state !== 'answered') return;
    this.#timers.clear(call.timer);
    call.timer = undefined;
    call.pending2xx?.stop();
    call.pending2xx = undefined;
    this.#release(call);
    call.state = 'terminating';
    const hop = nextHop(call.routeSet, call.remoteTarget, call.transport);
    if (hop === undefined) {
      this.#endCall(call, `ended (${why}; no usable route for BYE)`);
      return;
    }
    const listener = this.#listenerFor(hop.transport, call.txn.source.listener);
    const branch = generateBranch();
    const headers: [string, string][] = [
      ['Via', `SIP/2.0/${listener.transport.toUpperCase()} ${uriHost(call.localAddress)}:${listener.port};branch=${branch};rport`],
      ['Max-Forwards', '70'],
      ...hop.routes.map((r): [string, string] => ['Route', r]),
      ['From', `${call.invite.get('to')};tag=${call.localTag}`],
      ['To', call.invite.get('from') ?? ''],
      ['Call-ID', call.callId],
      ['CSeq', `${++call.localCseq} BYE`],
      ['User-Agent', this.#server],
    ];
    const fields: HeaderField[] = headers.map(([name, value]) => ({ name, key: headerKey(name), value, raw: undefined }));
    const buf = serializeMessage(new SipRequest('BYE', hop.requestUri, fields, Buffer.alloc(0)));
    const send = (): void => listener.send(hop.host, hop.port, buf);
    const finish = (result: string): void => {
      this.#clientTxns.delete(branch);
      this.#endCall(call, `completed (sim BYE: ${why}; ${result})`);
    };
    const stop = retransmit(this.#timers, send, {
      t1: this.#t.t1,
      t2: this.#t.t2,
      resend: listener.transport === 'udp',
      onGiveUp: () => finish('no response, Timer F'),
    });
    this.#clientTxns.set(branch, (res) => {
      if (res.status < 200 || res.get('cseq') === undefined || res.cseq.method !== 'BYE') return;
      stop();
      finish(`${res.status}`);
    });
    send();
  }

  #listenerFor(transport: SimTransportName, preferred: SimListener): SimListener {
    if (preferred.transport === transport) return preferred;
    return this.#listeners().find((l) => l.transport === transport) ?? preferred;
  }

  // ---- helpers ----

  #endCall(call: SimCall, outcome: string): void {
    if (call.state === 'ended') return;
    this.#timers.clear(call.timer);
    call.timer = undefined;
    call.pending2xx?.stop();
    call.pending2xx = undefined;
    this.#release(call);
    call.state = 'ended';
    this.#dialogs.delete(call.key);
    this.#log.debug({ callId: call.callId, outcome, ms: Date.now() - call.startedAt }, 'call outcome');
  }

  /** The call stops: its RTP socket closes, its channel is freed. */
  #release(call: SimCall): void {
    if (call.media !== undefined) this.media.close(call.media);
    if (!call.holdsChannel) return;
    call.holdsChannel = false;
    this.#live--;
  }

  #outcome(req: SipRequest, outcome: string, status?: number, reason?: string): void {
    this.#log.debug({ callId: req.callId, outcome, status, reason }, 'call outcome');
  }

  /** The SDP for a 200: an answer to the request's offer, or our offer when it has none. Undefined → 488. */
  #sdpFor(req: SipRequest, address: string, port: number, sessionId: string, sessionVersion: string): SdpPlan | undefined {
    const options = { address, port, sessionId, sessionVersion, username: this.#id };
    if (req.body.length === 0 || !isSdp(req.contentType)) {
      const ours = makeSdpOffer(options);
      return { ours, section: ours.media[0], offer: undefined };
    }
    try {
      const offer = parseSdp(req.body);
      const answer = makeSdpAnswer(offer, options);
      const section = acceptedMedia(answer);
      if (section === undefined) return undefined;
      return { ours: answer, section, offer: { sdp: offer, section: offer.media[answer.media.indexOf(section)] } };
    } catch (err) {
      if (isSipfleetError(err) && err.code === ERROR_CODES.SDP_ERR_PARSE) {
        this.#log.debug({ callId: req.callId, err: err.message }, 'bad SDP offer');
        return undefined;
      }
      throw err;
    }
  }

  /** The peer's offer says where our RTP goes. */
  #retarget(call: SimCall, plan: SdpPlan): void {
    if (call.media === undefined || plan.offer === undefined) return;
    this.media.setTarget(call.media, rtpTarget(plan.offer.sdp, plan.offer.section, { sdp: plan.ours, section: plan.section }));
  }

  /** The peer's answer (in an ACK) to our offer: its first audio stream with a port. */
  #retargetFromAnswer(call: SimCall, req: SipRequest): void {
    try {
      const answer = parseSdp(req.body);
      const section = answer.media.find((m) => m.type === 'audio' && m.port !== 0);
      if (section !== undefined && call.media !== undefined) this.media.setTarget(call.media, rtpTarget(answer, section));
    } catch (err) {
      this.#log.debug({ callId: call.callId, err: (err as Error).message }, 'bad SDP answer in ACK');
    }
  }

  /** Our address as seen by the caller; a wildcard listener falls back to the Request-URI host. */
  #localAddress(src: Source, req: SipRequest): string {
    let address = src.localAddress;
    if (address.startsWith('::ffff:') && isIP(address.slice(7)) === 4) address = address.slice(7);
    if (!isWildcard(address)) return address;
    const uri = req.requestUri;
    const host = isSipUri(uri) ? bareHost(uri.host) : '';
    return isIP(host) !== 0 ? host : '127.0.0.1';
  }

  #contact(call: SimCall): string {
    const port = call.txn.source.listener.port;
    return `<sip:${this.#id}@${uriHost(call.localAddress)}:${port}${call.transport === 'tcp' ? ';transport=tcp' : ''}>`;
  }

  /** A response in a dialog: To-tag, Contact and (dialog-creating 1xx/2xx, §12.1.1) Record-Route. */
  #dialogResponse(req: SipRequest, call: SimCall, status: number, reason: string, sdp?: Buffer): SipResponse {
    const headers: [string, string][] = [];
    if (status > 100 && status < 300) {
      if (req === call.invite) for (const rr of req.getAll('record-route')) headers.push(['Record-Route', rr]);
      headers.push(['Contact', this.#contact(call)]);
    }
    if (status >= 200 && status < 300) headers.push(['Allow', ALLOW]);
    return this.#response(req, status, reason, { toTag: call.localTag, headers, body: sdp, contentType: 'application/sdp' });
  }

  #response(req: SipRequest, status: number, reason: string, options: ResponseOptions = {}): SipResponse {
    return makeResponse(req, status, reason, {
      ...options,
      toTag: options.toTag ?? generateTag(),
      headers: [...(options.headers ?? []), ['Server', this.#server]],
    });
  }
}

function sdpBytes(plan: SdpPlan): Buffer {
  return Buffer.from(serializeSdp(plan.ours));
}
