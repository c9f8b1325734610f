/**
 * The sim's media side: one UDP socket per answered call, bound on the sim's SIP address to a port
 * of the `--rtp-ports` range, so a test can see RTP cross a relay (rtpengine) in both directions.
 *
 *   off   no socket; the SDP carries a port nothing listens on (the old behaviour, cheapest)
 *   echo  every datagram received is sent back to its source address and port (symmetric RTP:
 *         what a relay that latches on the first packet needs), counted both ways
 *   send  a 20 ms G.711 stream (PCMU, or PCMA when the offer has no PCMU) goes to the address
 *         and port of the peer's SDP (c=/m=); what arrives is counted, not echoed
 *
 * The mode (behaviour `rtp`) is read per packet and per tick, so switching it at run time applies to
 * calls that have a socket; calls admitted while it was `off` have none. Media flows only while the
 * call is active: from the 200 OK (the answer is out, RFC 3264 §6: the answerer must be ready to
 * receive) until the call ends, when the socket is closed. Packets arriving before are counted only.
 * Every session records where its packets came from (the relay's address), for `GET /calls`.
 * One shared 20 ms ticker drives every sending call.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { Logger } from '../shared/log.ts';
import type { MediaSection } from '../shared/sdp/media-section.ts';
import type { SessionDescription } from '../shared/sdp/session-description.ts';
import type { RtpMode } from './behaviour.ts';
import { uriHost } from './listen-uri.ts';
import { G711_FRAME_SAMPLES, RTP_PACKET_MS, buildRtpPacket, silenceFrame } from './rtp-packet.ts';
import { formatRtpPorts, type RtpPortPool } from './rtp-ports.ts';

export interface RtpEndpoint {
  address: string;
  port: number;
}

/** Where and how a call sends (read from the peer's SDP). */
export interface RtpTarget {
  /** undefined when the SDP holds no usable address (port 0, 0.0.0.0). */
  remote: RtpEndpoint | undefined;
  payloadType: number;
  /** The negotiated direction lets us send. */
  canSend: boolean;
}

export interface RtpCounters {
  packetsIn: number;
  bytesIn: number;
  packetsOut: number;
  bytesOut: number;
}

export interface RtpStatus extends RtpCounters {
  mode: RtpMode;
  /** `--rtp-ports`, e.g. `20000-29999`. */
  ports: string;
  portsFree: number;
  /** Calls holding an RTP socket now. */
  calls: number;
  /** INVITEs refused (503) because no RTP port could be bound. */
  refused: number;
  /** Source `host:port` of the last RTP packet received on any call. */
  lastRemote: string | null;
}

export interface RtpCallInfo extends RtpCounters {
  callId: string;
  /** early: bound, no 200 yet; active: media flows (200 sent); ended: socket closed. */
  state: 'early' | 'active' | 'ended';
  /** Bound `host:port`; null while binding. */
  rtpLocal: string | null;
  /** The peer's SDP `host:port` (where `send` goes). */
  rtpRemote: string | null;
  /** Source of the last packet received (the relay's address behind a relay). */
  lastSource: string | null;
  /** Distinct packet sources, first ones first (at most 4). */
  sources: string[];
}

const MAX_BIND_ATTEMPTS = 8;
/** A late ticker sends at most this many packets at once per call; an older backlog is dropped. */
const MAX_BURST = 5;
const MAX_SOURCES = 4;
const ENDED_KEPT = 256;
const LISTED_MAX = 1000;
const RETRY_CODES = new Set(['EADDRINUSE', 'EACCES']);

function endpoint(address: string, port: number): string {
  return `${uriHost(address)}:${port}`;
}

const SILENCE = new Map<number, Buffer>();
function silence(pt: number): Buffer {
  let frame = SILENCE.get(pt);
  if (frame === undefined) SILENCE.set(pt, (frame = silenceFrame(pt)));
  return frame;
}

function randomU32(): number {
  return Math.floor(Math.random() * 0x1_0000_0000) >>> 0;
}

const DIRECTIONS = ['sendrecv', 'sendonly', 'recvonly', 'inactive'];
function directionOf(sdp: SessionDescription | undefined, section: MediaSection | undefined): string {
  const own = section?.attributes().find((a) => DIRECTIONS.includes(a.name))?.name;
  return own ?? sdp?.attributes().find((a) => DIRECTIONS.includes(a.name))?.name ?? 'sendrecv';
}

/**
 * The send target from the peer's SDP section `theirs` (their offer, or their answer to our offer)
 * and our matching section `ours` (for the direction). Payload type: the first PCMU, else PCMA, of
 * their formats.
 */
export function rtpTarget(theirSdp: SessionDescription, theirs: MediaSection, ours?: { sdp: SessionDescription; section: MediaSection }): RtpTarget {
  const conn = theirSdp.connectionFor(theirs);
  const address = conn?.address.split('/')[0];
  const usable = address !== undefined && address !== '0.0.0.0' && address !== '::' && theirs.port !== 0;
  const g711 = (name: string): number | undefined => {
    for (const f of theirs.formats) {
      const map = theirs.rtpmap(f);
      const encoding = map?.encoding.toUpperCase() ?? (f === '0' ? 'PCMU' : f === '8' ? 'PCMA' : '');
      if (encoding === name && (map === undefined || map.clockRate === 8000)) return Number(f);
    }
    return undefined;
  };
  const theirDir = directionOf(theirSdp, theirs);
  const ourDir = ours === undefined ? 'sendrecv' : directionOf(ours.sdp, ours.section);
  return {
    remote: usable ? { address, port: theirs.port } : undefined,
    payloadType: g711('PCMU') ?? g711('PCMA') ?? 0,
    canSend: (ourDir === 'sendrecv' || ourDir === 'sendonly') && (theirDir === 'sendrecv' || theirDir === 'recvonly'),
  };
}

/** One call's RTP socket and counters. Made by `SimMedia.open`. */
export class RtpSession implements RtpCounters {
  readonly callId: string;
  readonly address: string;
  /** Bound port; 0 while binding or when binding failed. */
  port = 0;
  state: 'binding' | 'early' | 'active' | 'ended' = 'binding';
  target: RtpTarget = { remote: undefined, payloadType: 0, canSend: false };
  packetsIn = 0;
  bytesIn = 0;
  packetsOut = 0;
  bytesOut = 0;
  lastAddress: string | undefined;
  lastPort = 0;
  readonly sources: string[] = [];
  /** Resolves with the bound port, or undefined when no port could be bound (or the call ended first). */
  readonly bound: Promise<number | undefined>;
  socket: Socket | undefined;
  // send state
  readonly ssrc = randomU32();
  seq = randomU32() & 0x7fff;
  readonly ts0 = randomU32() & 0x7fffffff;
  /** 20 ms frames elapsed since the stream began (the timestamp clock). */
  frame = 0;
  /** performance.now() of the first frame since the stream (re)started; undefined while paused. */
  sendStart: number | undefined;
  /** Frames sent since `sendStart`. */
  sentSinceStart = 0;

  constructor(callId: string, address: string, bound: (session: RtpSession) => Promise<number | undefined>) {
    this.callId = callId;
    this.address = address;
    this.bound = bound(this);
  }

  get ended(): boolean {
    return this.state === 'ended';
  }

  info(): RtpCallInfo {
    const { callId, packetsIn, bytesIn, packetsOut, bytesOut } = this;
    const remote = this.target.remote;
    return {
      callId,
      state: this.state === 'binding' ? 'early' : this.state,
      rtpLocal: this.port === 0 ? null : endpoint(this.address, this.port),
      rtpRemote: remote === undefined ? null : endpoint(remote.address, remote.port),
      packetsIn,
      bytesIn,
      packetsOut,
      bytesOut,
      lastSource: this.lastAddress === undefined ? null : endpoint(this.lastAddress, this.lastPort),
      sources: [...this.sources],
    };
  }
}

export interface SimMediaOptions {
  pool: RtpPortPool;
  /** The current mode (behaviour `rtp`), read per packet and per tick. */
  mode: () => RtpMode;
  log: Logger;
}

export class SimMedia {
  readonly #pool: RtpPortPool;
  readonly #mode: () => RtpMode;
  readonly #log: Logger;
  readonly #live = new Set<RtpSession>();
  readonly #ended: RtpCallInfo[] = [];
  readonly #senders = new Set<RtpSession>();
  readonly #closing = new Set<Promise<void>>();
  readonly #totals: RtpCounters = { packetsIn: 0, bytesIn: 0, packetsOut: 0, bytesOut: 0 };
  #refused = 0;
  #lastRemote: string | null = null;
  #ticker: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(options: SimMediaOptions) {
    this.#pool = options.pool;
    this.#mode = options.mode;
    this.#log = options.log;
  }

  /**
   * A session for a new call, binding on `address` (watch `bound`); undefined when every port of
   * the range is leased (counted as refused: the caller answers 503).
   */
  open(callId: string, address: string): RtpSession | undefined {
    const first = this.#closed ? undefined : this.#pool.acquire();
    if (first === undefined) {
      this.#refused++;
      return undefined;
    }
    const session = new RtpSession(callId, address, (s) => this.#bind(s, first));
    this.#live.add(session);
    return session;
  }

  /** Bind failed after `open` returned a session: count the call as refused. */
  noteRefused(): void {
    this.#refused++;
  }

  /** The 200 OK is out: media may flow. */
  activate(session: RtpSession): void {
    if (session.state !== 'early') return;
    session.state = 'active';
    this.#updateSender(session);
  }

  /** The peer's SDP changed where (or whether) we send. */
  setTarget(session: RtpSession, target: RtpTarget): void {
    if (session.ended) return;
    const old = session.target.remote;
    session.target = target;
    const moved = old?.address !== target.remote?.address || old?.port !== target.remote?.port;
    if (moved) session.sendStart = undefined;
    this.#updateSender(session);
  }

  /** The call ended: close the socket (the port goes back to the pool once it is closed). */
  close(session: RtpSession): void {
    if (session.ended) return;
    const wasBinding = session.state === 'binding';
    session.state = 'ended';
    this.#live.delete(session);
    this.#senders.delete(session);
    this.#stopTickerIfIdle();
    this.#ended.push(session.info());
    if (this.#ended.length > ENDED_KEPT) this.#ended.shift();
    if (wasBinding) return; // #bind sees the state and closes what it bound
    const socket = session.socket;
    session.socket = undefined;
    if (socket !== undefined) this.#closeSocket(socket, session.port);
  }

  status(): RtpStatus {
    return {
      mode: this.#mode(),
      ports: formatRtpPorts(this.#pool.range),
      portsFree: this.#pool.free,
      calls: this.#live.size,
      refused: this.#refused,
      ...this.#totals,
      lastRemote: this.#lastRemote,
    };
  }

  /** Live calls (oldest first) then recently ended ones (newest first); bounded. */
  calls(callId?: string): RtpCallInfo[] {
    const out: RtpCallInfo[] = [];
    for (const s of this.#live) {
      if (out.length >= LISTED_MAX) return out;
      if (callId === undefined || s.callId === callId) out.push(s.info());
    }
    for (let i = this.#ended.length - 1; i >= 0 && out.length < LISTED_MAX; i--) {
      if (callId === undefined || this.#ended[i].callId === callId) out.push(this.#ended[i]);
    }
    return out;
  }

  /** Close every socket and stop the ticker; resolves once the sockets are closed. */
  async closeAll(): Promise<void> {
    this.#closed = true;
    // Sessions still binding close their socket when the bind completes.
    const binding = [...this.#live].map((s) => s.bound);
    for (const s of [...this.#live]) this.close(s);
    this.#stopTicker();
    await Promise.all(binding);
    await Promise.all([...this.#closing]);
  }

  // ---- sockets ----

  async #bind(s: RtpSession, first: number): Promise<number | undefined> {
    let port: number | undefined = first;
    let lastError = 'no free port';
    for (let attempt = 0; port !== undefined && attempt < MAX_BIND_ATTEMPTS; attempt++) {
      const socket = createSocket({ type: isIPv6(s.address) ? 'udp6' : 'udp4' });
      const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
        socket.once('error', resolve);
        socket.bind(port, s.address, () => {
          socket.off('error', resolve);
          resolve(undefined);
        });
      });
      if (err === undefined) {
        if (s.ended || this.#closed) {
          this.#closeSocket(socket, port);
          return undefined;
        }
        this.#attach(s, socket, port);
        return port;
      }
      socket.close();
      this.#pool.release(port);
      lastError = `${err.code ?? err.message} on ${endpoint(s.address, port)}`;
      if (s.ended || this.#closed || !RETRY_CODES.has(err.code ?? '')) break;
      port = this.#pool.acquire();
    }
    if (port === undefined) lastError = 'no free port';
    if (!s.ended) this.#log.warn({ callId: s.callId, err: lastError }, 'cannot bind an RTP port');
    return undefined;
  }

  #attach(s: RtpSession, socket: Socket, port: number): void {
    s.socket = socket;
    s.port = port;
    s.state = 'early';
    socket.on('error', (err) => this.#log.debug({ err: err.message, callId: s.callId }, 'rtp socket error'));
    socket.on('message', (data: Buffer, rinfo: RemoteInfo) => this.#onPacket(s, socket, data, rinfo));
  }

  #closeSocket(socket: Socket, port: number): void {
    const done = new Promise<void>((resolve) => {
      try {
        socket.close(() => resolve());
      } catch {
        resolve(); // already closed
      }
    }).then(() => {
      this.#pool.release(port);
      this.#closing.delete(done);
    });
    this.#closing.add(done);
  }

  #onPacket(s: RtpSession, socket: Socket, data: Buffer, rinfo: RemoteInfo): void {
    s.packetsIn++;
    s.bytesIn += data.length;
    this.#totals.packetsIn++;
    this.#totals.bytesIn += data.length;
    if (s.lastAddress !== rinfo.address || s.lastPort !== rinfo.port) {
      s.lastAddress = rinfo.address;
      s.lastPort = rinfo.port;
      const from = endpoint(rinfo.address, rinfo.port);
      if (s.sources.length < MAX_SOURCES && !s.sources.includes(from)) s.sources.push(from);
      this.#lastRemote = from;
    }
    if (s.state === 'active' && this.#mode() === 'echo') this.#send(s, socket, data, rinfo.address, rinfo.port);
  }

  #send(s: RtpSession, socket: Socket, data: Buffer, address: string, port: number): void {
    s.packetsOut++;
    s.bytesOut += data.length;
    this.#totals.packetsOut++;
    this.#totals.bytesOut += data.length;
    socket.send(data, port, address, this.#onSent);
  }

  readonly #onSent = (err: Error | null): void => {
    if (err) this.#log.debug({ err: err.message }, 'rtp send failed');
  };

  // ---- the send stream ----

  #updateSender(s: RtpSession): void {
    if (s.state === 'active' && s.target.remote !== undefined && s.target.canSend) {
      this.#senders.add(s);
      this.#ticker ??= setInterval(this.#tick, RTP_PACKET_MS);
    } else {
      this.#senders.delete(s);
      s.sendStart = undefined;
      this.#stopTickerIfIdle();
    }
  }

  readonly #tick = (): void => {
    const sending = this.#mode() === 'send';
    const now = performance.now();
    for (const s of this.#senders) {
      if (!sending) s.sendStart = undefined;
      else this.#sendDue(s, now);
    }
  };

  /** Send the frames due since the stream (re)started: ~50 packets/s whatever the ticker's jitter. */
  #sendDue(s: RtpSession, now: number): void {
    const socket = s.socket;
    const remote = s.target.remote;
    if (socket === undefined || remote === undefined) return;
    let marker = false;
    if (s.sendStart === undefined) {
      s.sendStart = now;
      s.sentSinceStart = 0;
      marker = true; // RFC 3551 §4.1: first packet of a talkspurt
    }
    const due = Math.floor((now - s.sendStart) / RTP_PACKET_MS) + 1;
    if (due - s.sentSinceStart > MAX_BURST) {
      s.frame += due - MAX_BURST - s.sentSinceStart; // the clock moved on; those frames are lost
      s.sentSinceStart = due - MAX_BURST;
    }
    const payload = silence(s.target.payloadType);
    while (s.sentSinceStart < due) {
      const packet = buildRtpPacket(
        { marker, payloadType: s.target.payloadType, sequence: s.seq, timestamp: s.ts0 + G711_FRAME_SAMPLES * s.frame, ssrc: s.ssrc },
        payload,
      );
      marker = false;
      s.seq = (s.seq + 1) & 0xffff;
      s.frame++;
      s.sentSinceStart++;
      this.#send(s, socket, packet, remote.address, remote.port);
    }
  }

  #stopTickerIfIdle(): void {
    if (this.#senders.size === 0) this.#stopTicker();
  }

  #stopTicker(): void {
    if (this.#ticker === undefined) return;
    clearInterval(this.#ticker);
    this.#ticker = undefined;
  }
}
