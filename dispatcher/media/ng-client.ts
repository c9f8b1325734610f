/**
 * A client for rtpengine's ng control protocol over UDP (rtpengine docs/ng_control_protocol.md).
 *
 * Wire format: a request is `<cookie> <bencoded dict>` with a `command` key; the reply echoes the
 * cookie and carries `result` (`ok`, `pong`, or `error` with `error-reason`; `ok` may carry a
 * `warning`). rtpengine caches its replies by cookie, so a retransmission with the same cookie
 * gets the same reply and is never applied twice: that is what makes retransmitting an `offer`
 * safe.
 *
 * Timing: the datagram is sent, then sent again (same bytes, same cookie) after `retransmitMs`,
 * then after twice that, and so on, until a reply arrives or `timeoutMs` has passed since the
 * first send (defaults 250 ms / 1000 ms: sends at 0, 250 and 750 ms, timeout at 1000 ms). Time
 * comes from an injectable `Clock`.
 *
 * Matching: each request gets a cookie unique in this process, across clients (`<random><pid>_<counter>`, base 36;
 * the random part keeps a restarted process with the same pid, e.g. pid 1 in a container, from
 * reusing cookies rtpengine still has cached). A reply is taken only from the relay's
 * address:port and only for a cookie still pending; late, duplicate and foreign datagrams are
 * ignored (counted in `stats().ignoredReplies`).
 *
 * Failures are `SipfleetError`s: `MEDIA_ERR_TIMEOUT`, `MEDIA_ERR_RELAY` (result `error`,
 * `detail.reason`), `MEDIA_ERR_PROTOCOL` (undecodable reply, missing or mistyped field),
 * `MEDIA_ERR_OVERLOAD` (`maxPending` requests in flight: refused at once, nothing sent),
 * `MEDIA_ERR_CLOSED`, `MEDIA_ERR_SEND`, `MEDIA_ERR_INVALID` (request not encodable or too large).
 */
import { randomInt } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { SipfleetError, isSipfleetError, type ErrorCode } from '../../shared/errors.ts';
import type { Logger } from '../../shared/log.ts';
import { systemClock, type Clock, type TimerHandle } from '../transaction/clock.ts';
import { bdecodeDict, bencode, isBencodeDict, type BencodeDict, type BencodeValue } from './bencode.ts';

// ---------------------------------------------------------------------------------------------
// request parameters: typed for what sipfleet uses, translated to the documented ng keys (with
// their spaces: `received from`, `transport protocol`); any other key goes verbatim in `extra`
// (a typed field wins over the same key in `extra`).

export type NgIceMode = 'remove' | 'force' | 'default' | 'force-relay' | 'optional';
export type NgTransportProtocol = 'RTP/AVP' | 'RTP/AVPF' | 'RTP/SAVP' | 'RTP/SAVPF' | 'UDP/TLS/RTP/SAVP' | 'UDP/TLS/RTP/SAVPF';
export type NgAddressFamily = 'IP4' | 'IP6';

/** `offer`: the SIP dialog identifiers, the SDP to rewrite and how to rewrite it. */
export interface NgOfferParams {
  /** SIP Call-ID (`call-id`). */
  callId: string;
  /** SIP From tag (`from-tag`). */
  fromTag: string;
  /** SIP To tag (`to-tag`), when the offer is in-dialog. */
  toTag?: string;
  /** Via branch (`via-branch`), to tell forked branches apart. */
  viaBranch?: string;
  /** The SDP body; a `Buffer` is sent byte for byte. */
  sdp: string | Buffer;
  /** `flags`, e.g. `['trust-address']`, `['SIP-source-address']`, `['strict-source']`. */
  flags?: readonly string[];
  /** `replace`, e.g. `['origin', 'session-connection']`. */
  replace?: readonly string[];
  /** `ICE`. */
  ice?: NgIceMode;
  /** `direction`: the logical interfaces [from side, to side] (`--interface=NAME/IP`). */
  direction?: readonly [string, string];
  /** `received from`: the SIP message's source, [family, address]. */
  receivedFrom?: readonly [NgAddressFamily, string];
  /** `transport protocol` to rewrite the m= lines to (`accept` only in an answer). */
  transportProtocol?: NgTransportProtocol | 'accept';
  /** `address family` of the rewritten SDP. */
  addressFamily?: NgAddressFamily;
  /** `media address`: overrides the SDP and `received from` addresses. */
  mediaAddress?: string;
  /** `label` of this call participant (shows in logs and `query`). */
  label?: string;
  /** `rtcp-mux`, e.g. `['demux']`. */
  rtcpMux?: readonly string[];
  /** `DTLS`: `off`, `passive`, `active`. */
  dtls?: string;
  /** `SDES` list, e.g. `['off']`. */
  sdes?: readonly string[];
  /** Other ng keys, verbatim. */
  extra?: BencodeDict;
}

/** `answer`: as an offer, with the To tag required. */
export interface NgAnswerParams extends Omit<NgOfferParams, 'toTag' | 'direction'> {
  toTag: string;
}

/** `delete`: the call, or one branch/participant of it. */
export interface NgDeleteParams {
  callId: string;
  fromTag?: string;
  toTag?: string;
  viaBranch?: string;
  /** `flags`, e.g. `['fatal']` to get an error (not a warning) for an unknown call. */
  flags?: readonly string[];
  /** `delete delay` in seconds; 0 deletes at once (overrides the daemon's `--delete-delay`). */
  deleteDelay?: number;
  extra?: BencodeDict;
}

/** `query`: one call. */
export interface NgQueryParams {
  callId: string;
  fromTag?: string;
  toTag?: string;
  extra?: BencodeDict;
}

function put(dict: Record<string, BencodeValue>, key: string, value: BencodeValue | undefined): void {
  if (value !== undefined) dict[key] = value;
}

function base(extra: BencodeDict | undefined): Record<string, BencodeValue> {
  const dict: Record<string, BencodeValue> = Object.create(null) as Record<string, BencodeValue>;
  for (const [key, value] of Object.entries(extra ?? {})) if (value !== undefined) dict[key] = value;
  return dict;
}

function sdpParams(p: NgOfferParams | NgAnswerParams, dict: Record<string, BencodeValue>): void {
  put(dict, 'call-id', p.callId);
  put(dict, 'from-tag', p.fromTag);
  put(dict, 'to-tag', p.toTag);
  put(dict, 'via-branch', p.viaBranch);
  put(dict, 'sdp', p.sdp);
  put(dict, 'flags', p.flags);
  put(dict, 'replace', p.replace);
  put(dict, 'ICE', p.ice);
  put(dict, 'received from', p.receivedFrom);
  put(dict, 'transport protocol', p.transportProtocol);
  put(dict, 'address family', p.addressFamily);
  put(dict, 'media address', p.mediaAddress);
  put(dict, 'label', p.label);
  put(dict, 'rtcp-mux', p.rtcpMux);
  put(dict, 'DTLS', p.dtls);
  put(dict, 'SDES', p.sdes);
}

/** The ng dictionary (without `command`) for an `offer`. */
export function offerDict(p: NgOfferParams): BencodeDict {
  const dict = base(p.extra);
  sdpParams(p, dict);
  put(dict, 'direction', p.direction);
  return dict;
}

/** The ng dictionary (without `command`) for an `answer`. */
export function answerDict(p: NgAnswerParams): BencodeDict {
  const dict = base(p.extra);
  sdpParams(p, dict);
  return dict;
}

/** The ng dictionary (without `command`) for a `delete`. */
export function deleteDict(p: NgDeleteParams): BencodeDict {
  const dict = base(p.extra);
  put(dict, 'call-id', p.callId);
  put(dict, 'from-tag', p.fromTag);
  put(dict, 'to-tag', p.toTag);
  put(dict, 'via-branch', p.viaBranch);
  put(dict, 'flags', p.flags);
  put(dict, 'delete delay', p.deleteDelay);
  return dict;
}

/** The ng dictionary (without `command`) for a `query`. */
export function queryDict(p: NgQueryParams): BencodeDict {
  const dict = base(p.extra);
  put(dict, 'call-id', p.callId);
  put(dict, 'from-tag', p.fromTag);
  put(dict, 'to-tag', p.toTag);
  return dict;
}

// ---------------------------------------------------------------------------------------------
// replies

/** Any ng reply that was not an error: `result` is `ok` or `pong`. */
export interface NgReply {
  readonly result: string;
  /** A non-fatal problem rtpengine reports with `result: ok` (e.g. deleting an unknown call). */
  readonly warning?: string;
  readonly [key: string]: BencodeValue | undefined;
}

/** `offer` / `answer` reply: the rewritten SDP, as bytes ready to be a SIP body. */
export interface NgSdpReply extends NgReply {
  readonly sdp: Buffer;
}

/** `query` reply (and the statistics part of a `delete` reply). */
export interface NgQueryReply extends NgReply {
  /** Creation time of the call, UNIX seconds. */
  readonly created: number;
  /** One entry per SIP tag known for the call; each holds `medias` with `streams` (`local port`, `endpoint`...). */
  readonly tags: BencodeDict;
  /** `{ RTP: { packets, bytes, errors }, RTCP: {...} }`. */
  readonly totals?: BencodeDict;
}

/** `statistics.currentstatistics` as rtpengine 10.5 returns it (all integers). */
export interface NgCurrentStatistics {
  /** Calls this instance runs itself. */
  readonly sessionsown: number;
  /** Calls restored from Redis that another instance owns. */
  readonly sessionsforeign: number;
  /** `sessionsown + sessionsforeign`. */
  readonly sessionstotal: number;
  readonly transcodedmedia?: number;
  readonly packetrate?: number;
  readonly byterate?: number;
  readonly errorrate?: number;
  readonly [key: string]: BencodeValue | undefined;
}

/**
 * `statistics` reply. rtpengine 10.5 returns `currentstatistics`, `totalstatistics`
 * (`managedsessions`, `rejectedsessions`, `timeoutsessions`, `uptime`...), `intervalstatistics`,
 * `mos`, `controlstatistics` (per-proxy command counts), `interfaces` (per interface:
 * `name`, `address`, `ports: { min, max, used, free, totals, last }`) and `transcoders`. Some
 * numbers come as decimal strings (`uptime`, averages). About 8.5 KB on the wire.
 */
export interface NgStatisticsReply extends NgReply {
  readonly statistics: {
    readonly currentstatistics: NgCurrentStatistics;
    readonly totalstatistics?: BencodeDict;
    readonly interfaces?: readonly BencodeValue[];
    readonly [key: string]: BencodeValue | undefined;
  };
}

// ---------------------------------------------------------------------------------------------
// client

export interface NgClientOptions {
  /** The relay's ng address: an IP literal (`--listen-ng`). */
  address: string;
  port: number;
  logger: Logger;
  /** Default `systemClock`. */
  clock?: Clock;
  /** Total time for one request, retransmissions included (default 1000 ms). */
  timeoutMs?: number;
  /** First retransmission interval, doubled after each retransmission (default 250 ms). */
  retransmitMs?: number;
  /** Requests in flight at most; one more is refused with `MEDIA_ERR_OVERLOAD` (default 10 000). */
  maxPending?: number;
  /**
   * A dgram socket to share with other clients (one per relay, say). The caller owns it: binds
   * it if it wants to, closes it after `close()`. Without it the client makes its own, of the
   * address's family, bound on first send, holding the event loop open only while requests are
   * pending.
   */
  socket?: Socket;
}

export interface NgClientStats {
  /** Requests in flight. */
  readonly pending: number;
  /** Requests sent (retransmissions not counted). */
  readonly requests: number;
  readonly retransmissions: number;
  readonly timeouts: number;
  /** Datagrams dropped unmatched: late or duplicate replies, unknown cookies, other senders, no cookie. */
  readonly ignoredReplies: number;
}

/** Largest UDP payload over IPv4. */
const MAX_DATAGRAM = 65_507;
/** A cookie longer than this is not one of ours. */
const MAX_COOKIE = 64;
/** Nesting deeper than a `query` reply needs (about 8) is refused. */
const REPLY_MAX_DEPTH = 32;

const COOKIE_PREFIX = `${randomInt(36 ** 4, 36 ** 5).toString(36)}${process.pid.toString(36)}_`;
let cookieCounter = 0;

function nextCookie(): string {
  cookieCounter = (cookieCounter + 1) % Number.MAX_SAFE_INTEGER;
  return `${COOKIE_PREFIX}${cookieCounter.toString(36)}`;
}

interface Pending {
  readonly cookie: string;
  readonly command: string;
  readonly datagram: Buffer;
  readonly deadline: number;
  nextSendAt: number;
  interval: number;
  timer: TimerHandle | undefined;
  resolve(reply: NgReply): void;
  reject(err: SipfleetError): void;
}

/** IPv4-mapped IPv6 (`::ffff:127.0.0.1`) compares equal to the IPv4 address. */
function sameAddress(a: string, b: string): boolean {
  const strip = (s: string): string => (s.toLowerCase().startsWith('::ffff:') && isIP(s.slice(7)) === 4 ? s.slice(7) : s.toLowerCase());
  return strip(a) === strip(b);
}

export class NgClient {
  readonly address: string;
  readonly port: number;
  /** `address:port` (`[v6]:port`) for messages and logs. */
  readonly #relay: string;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  readonly #retransmitMs: number;
  readonly #maxPending: number;
  readonly #socket: Socket;
  readonly #ownSocket: boolean;
  readonly #pending = new Map<string, Pending>();
  readonly #onMessage = (msg: Buffer, rinfo: RemoteInfo): void => this.#handle(msg, rinfo);
  readonly #onError = (err: Error): void => this.#socketFailed(err);
  #closed = false;
  #requests = 0;
  #retransmissions = 0;
  #timeouts = 0;
  #ignored = 0;

  /** @throws SipfleetError `CFG_ERR_INVALID` for an address that is not an IP literal or a bad port/timing. */
  constructor(options: NgClientOptions) {
    const family = isIP(options.address);
    if (family === 0) {
      throw new SipfleetError('CFG_ERR_INVALID', `rtpengine ng address must be an IP address, not ${JSON.stringify(options.address)}`, {
        detail: { field: 'address' },
      });
    }
    if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65_535) {
      throw new SipfleetError('CFG_ERR_INVALID', `rtpengine ng port ${options.port} is out of range`, { detail: { field: 'port' } });
    }
    for (const field of ['timeoutMs', 'retransmitMs', 'maxPending'] as const) {
      const v = options[field];
      if (v !== undefined && !(Number.isFinite(v) && v > 0)) {
        throw new SipfleetError('CFG_ERR_INVALID', `rtpengine ng ${field} must be > 0`, { detail: { field } });
      }
    }
    this.address = options.address;
    this.port = options.port;
    this.#relay = family === 6 ? `[${options.address}]:${options.port}` : `${options.address}:${options.port}`;
    this.#log = options.logger;
    this.#clock = options.clock ?? systemClock;
    this.#timeoutMs = options.timeoutMs ?? 1000;
    this.#retransmitMs = options.retransmitMs ?? 250;
    this.#maxPending = options.maxPending ?? 10_000;
    this.#ownSocket = options.socket === undefined;
    this.#socket = options.socket ?? createSocket(family === 6 ? 'udp6' : 'udp4');
    this.#socket.on('message', this.#onMessage);
    this.#socket.on('error', this.#onError);
    if (this.#ownSocket) this.#socket.unref();
  }

  /** `ping`: resolves when the relay answers `pong`. */
  async ping(): Promise<NgReply> {
    return this.command('ping');
  }

  /** `offer`: the relay allocates ports and returns the SDP rewritten to them. */
  async offer(params: NgOfferParams): Promise<NgSdpReply> {
    return withSdp(await this.command('offer', offerDict(params)), 'offer');
  }

  /** `answer`: completes the call; returns the answer SDP rewritten for the offerer. */
  async answer(params: NgAnswerParams): Promise<NgSdpReply> {
    return withSdp(await this.command('answer', answerDict(params)), 'answer');
  }

  /** `delete`: tears the call (or branch) down. An unknown call is `ok` with a `warning` unless `flags: ['fatal']`. */
  async delete(params: NgDeleteParams): Promise<NgReply> {
    return this.command('delete', deleteDict(params));
  }

  /** `query`: the call's tags, streams and counters. An unknown call is `MEDIA_ERR_RELAY`. */
  async query(params: NgQueryParams): Promise<NgQueryReply> {
    const reply = await this.command('query', queryDict(params));
    if (typeof reply.created !== 'number' || !isBencodeDict(reply.tags)) {
      throw protocolError('query reply without a numeric "created" and a "tags" dictionary', 'query');
    }
    return reply as NgQueryReply;
  }

  /** `statistics`: the relay's load; `statistics.currentstatistics.sessionstotal` is the call count. */
  async statistics(): Promise<NgStatisticsReply> {
    const reply = await this.command('statistics');
    const stats = reply.statistics;
    const current = isBencodeDict(stats) ? stats.currentstatistics : undefined;
    if (
      !isBencodeDict(current) ||
      typeof current.sessionsown !== 'number' ||
      typeof current.sessionsforeign !== 'number' ||
      typeof current.sessionstotal !== 'number'
    ) {
      throw protocolError('statistics reply without numeric currentstatistics.sessions{own,foreign,total}', 'statistics');
    }
    return reply as NgStatisticsReply;
  }

  /**
   * Sends any ng command (`list`, `start recording`...) with `params` as the rest of the
   * dictionary; resolves with the decoded reply when `result` is `ok` or `pong`.
   */
  command(name: string, params: BencodeDict = {}): Promise<NgReply> {
    if (this.#closed) return Promise.reject(mediaError('MEDIA_ERR_CLOSED', `ng client for ${this.#relay} is closed`, { command: name }));
    if (this.#pending.size >= this.#maxPending) {
      const message = `${this.#pending.size} ng requests already pending for ${this.#relay}`;
      return Promise.reject(mediaError('MEDIA_ERR_OVERLOAD', message, { command: name, maxPending: this.#maxPending }));
    }
    if (Object.hasOwn(params, 'command')) {
      return Promise.reject(mediaError('MEDIA_ERR_INVALID', 'ng params must not hold "command"', { command: name }));
    }
    const cookie = nextCookie();
    let datagram: Buffer;
    try {
      datagram = Buffer.concat([Buffer.from(`${cookie} `, 'latin1'), bencode({ ...params, command: name })]);
    } catch (err) {
      return Promise.reject(mediaError('MEDIA_ERR_INVALID', `ng ${name} request cannot be encoded: ${messageOf(err)}`, { command: name }, err));
    }
    if (datagram.length > MAX_DATAGRAM) {
      const message = `ng ${name} request of ${datagram.length} bytes does not fit one datagram`;
      return Promise.reject(mediaError('MEDIA_ERR_INVALID', message, { command: name, bytes: datagram.length }));
    }
    return new Promise<NgReply>((resolve, reject) => {
      const now = this.#clock.now();
      const pending: Pending = {
        cookie,
        command: name,
        datagram,
        deadline: now + this.#timeoutMs,
        nextSendAt: now + this.#retransmitMs,
        interval: this.#retransmitMs,
        timer: undefined,
        resolve,
        reject,
      };
      this.#pending.set(cookie, pending);
      if (this.#ownSocket && this.#pending.size === 1) this.#socket.ref();
      this.#requests++;
      this.#send(pending);
      if (this.#pending.get(cookie) === pending) this.#arm(pending, now);
    });
  }

  /** Counters for metrics and tests. */
  stats(): NgClientStats {
    return {
      pending: this.#pending.size,
      requests: this.#requests,
      retransmissions: this.#retransmissions,
      timeouts: this.#timeouts,
      ignoredReplies: this.#ignored,
    };
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Rejects every pending request with `MEDIA_ERR_CLOSED` and closes the socket if it is the client's own. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#failAll((p) => mediaError('MEDIA_ERR_CLOSED', `ng client for ${this.#relay} closed before the ${p.command} reply`, { command: p.command }));
    this.#socket.off('message', this.#onMessage);
    this.#socket.off('error', this.#onError);
    if (this.#ownSocket) {
      await new Promise<void>((done) => {
        try {
          this.#socket.close(() => done());
        } catch {
          done(); // already closed
        }
      });
    }
  }

  // ---- internals ----

  /** Any send failure, a retransmission's included, ends the request: the caller can try another relay at once. */
  #send(p: Pending): void {
    const failed = (err: unknown): void =>
      this.#settle(p, mediaError('MEDIA_ERR_SEND', `ng ${p.command} to ${this.#relay} not sent: ${messageOf(err)}`, { command: p.command }, err));
    try {
      this.#socket.send(p.datagram, this.port, this.address, (err) => {
        if (err) failed(err);
      });
    } catch (err) {
      failed(err);
    }
  }

  /** One timer per request: the next retransmission or the deadline, whichever comes first. */
  #arm(p: Pending, now: number): void {
    const at = Math.min(p.nextSendAt, p.deadline);
    p.timer = this.#clock.setTimer(Math.max(0, at - now), () => this.#tick(p));
  }

  #tick(p: Pending): void {
    p.timer = undefined;
    if (this.#pending.get(p.cookie) !== p) return;
    const now = this.#clock.now();
    if (now >= p.deadline) {
      this.#timeouts++;
      const message = `no reply from rtpengine ${this.#relay} to ${p.command} within ${this.#timeoutMs} ms`;
      this.#settle(p, mediaError('MEDIA_ERR_TIMEOUT', message, { command: p.command, timeoutMs: this.#timeoutMs }));
      return;
    }
    if (now >= p.nextSendAt) {
      this.#retransmissions++;
      this.#log.debug({ relay: this.#relay, command: p.command, cookie: p.cookie }, 'ng retransmission');
      p.interval *= 2;
      p.nextSendAt = now + p.interval;
      this.#send(p);
      if (this.#pending.get(p.cookie) !== p) return;
    }
    this.#arm(p, now);
  }

  /** Removes `p` from the table and settles it exactly once. */
  #settle(p: Pending, outcome: NgReply | SipfleetError): void {
    if (this.#pending.get(p.cookie) !== p) return;
    this.#pending.delete(p.cookie);
    p.timer?.cancel();
    p.timer = undefined;
    if (this.#ownSocket && this.#pending.size === 0 && !this.#closed) this.#socket.unref();
    if (isSipfleetError(outcome)) p.reject(outcome);
    else p.resolve(outcome);
  }

  #failAll(makeError: (p: Pending) => SipfleetError): void {
    for (const p of [...this.#pending.values()]) this.#settle(p, makeError(p));
  }

  #socketFailed(err: Error): void {
    this.#log.warn({ relay: this.#relay, err }, 'ng client socket error');
    this.#failAll((p) => mediaError('MEDIA_ERR_CLOSED', `ng socket failed before the ${p.command} reply: ${err.message}`, { command: p.command }, err));
  }

  #handle(msg: Buffer, rinfo: RemoteInfo): void {
    if (rinfo.port !== this.port || !sameAddress(rinfo.address, this.address)) {
      this.#ignore('ng datagram from another sender', rinfo);
      return;
    }
    const space = msg.subarray(0, MAX_COOKIE + 1).indexOf(0x20);
    if (space <= 0) {
      this.#ignore('ng reply without a cookie', rinfo);
      return;
    }
    const cookie = msg.toString('latin1', 0, space);
    const p = this.#pending.get(cookie);
    if (p === undefined) {
      this.#ignore('late, duplicate or unknown ng reply', rinfo, cookie);
      return;
    }
    let dict: BencodeDict;
    try {
      dict = bdecodeDict(msg.subarray(space + 1), { maxDepth: REPLY_MAX_DEPTH, maxLength: MAX_DATAGRAM });
    } catch (err) {
      this.#settle(p, protocolError(`undecodable ${p.command} reply: ${messageOf(err)}`, p.command, err));
      return;
    }
    const result = dict.result;
    if (typeof result !== 'string') {
      this.#settle(p, protocolError(`${p.command} reply without a "result" string`, p.command));
      return;
    }
    if (result === 'ok' || result === 'pong') {
      if (typeof dict.warning === 'string') {
        this.#log.warn({ relay: this.#relay, command: p.command, warning: dict.warning }, 'rtpengine warning');
      }
      this.#settle(p, dict as NgReply);
      return;
    }
    // `error` carries `error-reason`; `load limit` (with `supports: ['load limit']`) may carry `message`.
    const reason = [dict['error-reason'], dict.message].find((v): v is string => typeof v === 'string');
    const detail = { command: p.command, result, ...(reason === undefined ? {} : { reason }) };
    this.#settle(p, mediaError('MEDIA_ERR_RELAY', `rtpengine ${this.#relay} refused ${p.command}: ${reason ?? result}`, detail));
  }

  #ignore(why: string, rinfo: RemoteInfo, cookie?: string): void {
    this.#ignored++;
    this.#log.debug({ relay: this.#relay, from: `${rinfo.address}:${rinfo.port}`, cookie }, why);
  }
}

function mediaError(code: ErrorCode, message: string, detail: Record<string, unknown>, cause?: unknown): SipfleetError {
  return new SipfleetError(code, message, { detail, ...(cause === undefined ? {} : { cause }) });
}

function protocolError(message: string, command: string, cause?: unknown): SipfleetError {
  return mediaError('MEDIA_ERR_PROTOCOL', `rtpengine ${message}`, { command }, cause);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Checks the `sdp` of an offer/answer reply and hands it back as bytes. */
function withSdp(reply: NgReply, command: string): NgSdpReply {
  const sdp = reply.sdp;
  if (typeof sdp === 'string') return { ...reply, sdp: Buffer.from(sdp, 'utf8') };
  if (Buffer.isBuffer(sdp)) return { ...reply, sdp };
  throw protocolError(`${command} reply without an "sdp" string`, command);
}
