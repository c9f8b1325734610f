/**
 * Many UDP softphones in one process, for the registrar benchmark: a handful of UDP sockets on
 * distinct ports, each standing for thousands of phones (one Contact user per phone), that
 *
 * - register every phone with digest authentication (REGISTER → 401 → REGISTER with an MD5,
 *   `qop=auth` Authorization → 200), paced at a given rate with a bounded number in flight, with
 *   RFC 3261 retransmissions (500 ms doubling, given up after 8 s); and
 * - answer every OPTIONS they receive (the registrar's NAT keep-alive) with 200 OK, counted.
 *
 * A binding's flow is the source address and port of its REGISTER as the registrar received it,
 * so the keep-alive OPTIONS of phone `u00042` come back to the socket it registered from.
 *
 * Everything is bounded: registration stops at its deadline, the sockets close with `close()`.
 * Loopback only (the caller passes the addresses).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { makeResponse, parseMessage, serializeMessage, SipRequest, SipResponse } from '../../shared/sip/index.ts';

export interface PhoneFleetOptions {
  /** Address the sockets bind (a loopback address). */
  localIp: string;
  /** Number of UDP sockets; phone i uses socket i % sockets. */
  sockets: number;
  /** The registrar: `address`, `port`. */
  target: { address: string; port: number };
  /** User names, one per phone. */
  users: readonly string[];
  /** Every phone's password. */
  password: string;
}

export interface FillResult {
  planned: number;
  registered: number;
  failed: number;
  /** Failures by reason (`timeout`, `status 403`...). */
  failures: Record<string, number>;
  /** REGISTERs sent again after no answer within the retransmission interval. */
  retransmissions: number;
  seconds: number;
  /** Registered phones / seconds. */
  achievedPerS: number;
  /** First REGISTER sent → 200 received, ms (performance.now(), sub-ms resolution). */
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  maxMs: number;
  /** The deadline stopped it before every phone was tried. */
  cutShort: boolean;
}

export interface FleetStats {
  /** OPTIONS received (retransmissions included) and answered. */
  optionsAnswered: number;
  /** Responses that matched no registration in flight (late answers to retransmissions). */
  strayResponses: number;
  /** Datagrams that did not parse, or requests other than OPTIONS. */
  ignored: number;
}

interface Pending {
  readonly index: number;
  readonly callId: string;
  readonly expires: number;
  /** 1: the unauthenticated REGISTER; 2: the one with credentials. */
  cseq: number;
  wire: Buffer;
  readonly startedAt: number;
  sentAt: number;
  retransAt: number;
  retransInterval: number;
}

const T1_MS = 500;
/** No final answer this long after the first REGISTER: the registration failed. */
const GIVE_UP_MS = 8000;
const TICK_MS = 10;

function md5(text: string): string {
  return createHash('md5').update(text, 'latin1').digest('hex');
}

/** One parameter of a `WWW-Authenticate: Digest ...` value (quoted or token). */
function authParam(value: string, name: string): string | undefined {
  const m = new RegExp(`(?:^|[\\s,])${name}\\s*=\\s*(?:"([^"]*)"|([^\\s,]+))`, 'i').exec(value);
  return m === null ? undefined : (m[1] ?? m[2]);
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length - 1e-9))) - 1];
}

export class PhoneFleet {
  readonly #o: PhoneFleetOptions;
  readonly #sockets: Socket[];
  readonly #ports: number[];
  readonly #run = randomBytes(4).toString('hex');
  readonly #pending = new Map<string, Pending>();
  readonly #stats: FleetStats = { optionsAnswered: 0, strayResponses: 0, ignored: 0 };
  /** Set while a fill runs: what it does with a final answer. */
  #onFinal: ((p: Pending, status: number) => void) | undefined;
  #retransmissions = 0;

  private constructor(o: PhoneFleetOptions, sockets: Socket[]) {
    this.#o = o;
    this.#sockets = sockets;
    this.#ports = sockets.map((s) => s.address().port);
    sockets.forEach((s, i) => s.on('message', (buf: Buffer, rinfo: RemoteInfo) => this.#onMessage(i, buf, rinfo)));
  }

  static async open(o: PhoneFleetOptions): Promise<PhoneFleet> {
    if (!(o.sockets >= 1 && o.sockets <= 1000)) throw new RangeError('PhoneFleet: sockets must be 1..1000');
    const sockets: Socket[] = [];
    try {
      for (let i = 0; i < o.sockets; i++) {
        const s = createSocket('udp4');
        sockets.push(s);
        await new Promise<void>((resolve, reject) => {
          s.once('error', reject);
          s.bind(0, o.localIp, () => {
            s.off('error', reject);
            resolve();
          });
        });
        s.on('error', () => {
          // ICMP errors on loopback (a closed port): nothing to do, the retransmission logic copes.
        });
      }
    } catch (err) {
      for (const s of sockets) s.close();
      throw err;
    }
    return new PhoneFleet(o, sockets);
  }

  /** `ip:port` of each socket. */
  get addresses(): string[] {
    return this.#ports.map((p) => `${this.#o.localIp}:${p}`);
  }

  stats(): FleetStats {
    return { ...this.#stats };
  }

  close(): void {
    this.#onFinal = undefined;
    this.#pending.clear();
    for (const s of this.#sockets) {
      try {
        s.close();
      } catch {
        // already closed
      }
    }
  }

  /**
   * Registers every phone once, starting `rate` registrations per second with at most `window` in
   * flight; resolves when all have ended (registered or failed) or at `deadlineMs` (Date.now()).
   */
  register(opts: { rate: number; window: number; deadlineMs: number; expires: number }): Promise<FillResult> {
    const users = this.#o.users;
    const planned = users.length;
    const latencies: number[] = [];
    const failures: Record<string, number> = {};
    let registered = 0;
    let failed = 0;
    let next = 0;
    const retransBefore = this.#retransmissions;
    const t0 = performance.now();
    const fail = (p: Pending, why: string): void => {
      this.#pending.delete(p.callId);
      failed++;
      failures[why] = (failures[why] ?? 0) + 1;
    };
    this.#onFinal = (p, status) => {
      if (status === 200 && p.cseq === 2) {
        this.#pending.delete(p.callId);
        registered++;
        latencies.push(performance.now() - p.startedAt);
      } else {
        fail(p, `status ${status}${p.cseq === 1 ? ' (first REGISTER)' : ''}`);
      }
    };
    return new Promise<FillResult>((resolve) => {
      const finish = (cutShort: boolean): void => {
        clearInterval(timer);
        this.#onFinal = undefined;
        if (this.#pending.size > 0) {
          failed += this.#pending.size;
          failures['unfinished'] = (failures['unfinished'] ?? 0) + this.#pending.size;
        }
        this.#pending.clear();
        const seconds = (performance.now() - t0) / 1000;
        latencies.sort((a, b) => a - b);
        let sum = 0;
        for (const l of latencies) sum += l;
        resolve({
          planned,
          registered,
          failed: failed + (planned - next),
          failures: planned > next ? { ...failures, 'not started': planned - next } : failures,
          retransmissions: this.#retransmissions - retransBefore,
          seconds,
          achievedPerS: seconds > 0 ? registered / seconds : 0,
          p50Ms: percentile(latencies, 50),
          p99Ms: percentile(latencies, 99),
          meanMs: latencies.length > 0 ? sum / latencies.length : Number.NaN,
          maxMs: latencies.length > 0 ? latencies[latencies.length - 1] : Number.NaN,
          cutShort,
        });
      };
      const timer = setInterval(() => {
        const now = performance.now();
        if (Date.now() >= opts.deadlineMs) return finish(true);
        // Retransmit or give up.
        for (const p of this.#pending.values()) {
          if (now - p.startedAt > GIVE_UP_MS) fail(p, 'timeout');
          else if (now >= p.retransAt) {
            this.#send(p.index, p.wire);
            this.#retransmissions++;
            p.retransInterval = Math.min(p.retransInterval * 2, 4000);
            p.retransAt = now + p.retransInterval;
          }
        }
        // Start the registrations due by now.
        const due = Math.min(planned, Math.floor(((now - t0) / 1000) * opts.rate) + 1);
        while (next < due && this.#pending.size < opts.window) {
          this.#start(next++, opts.expires, now);
        }
        if (next >= planned && this.#pending.size === 0) finish(false);
      }, TICK_MS);
    });
  }

  #send(index: number, wire: Buffer): void {
    const s = this.#sockets[index % this.#sockets.length];
    s.send(wire, this.#o.target.port, this.#o.target.address);
  }

  #register(index: number, callId: string, cseq: number, expires: number, authorization?: string): Buffer {
    const user = this.#o.users[index];
    const { address, port } = this.#o.target;
    const local = `${this.#o.localIp}:${this.#ports[index % this.#ports.length]}`;
    const branch = `z9hG4bK-${this.#run}-${index}-${cseq}`;
    const text =
      `REGISTER sip:${address}:${port} SIP/2.0\r\n` +
      `Via: SIP/2.0/UDP ${local};branch=${branch};rport\r\n` +
      'Max-Forwards: 70\r\n' +
      `From: <sip:${user}@${address}>;tag=${this.#run}-${index}\r\n` +
      `To: <sip:${user}@${address}>\r\n` +
      `Call-ID: ${callId}\r\n` +
      `CSeq: ${cseq} REGISTER\r\n` +
      `Contact: <sip:${user}@${local}>\r\n` +
      `Expires: ${expires}\r\n` +
      (authorization === undefined ? '' : `Authorization: ${authorization}\r\n`) +
      'User-Agent: sipfleet-bench-phone\r\n' +
      'Content-Length: 0\r\n\r\n';
    return Buffer.from(text, 'latin1');
  }

  #start(index: number, expires: number, now: number): void {
    const callId = `reg-${this.#run}-${index}`;
    const p: Pending = {
      index,
      callId,
      expires,
      cseq: 1,
      wire: this.#register(index, callId, 1, expires),
      startedAt: now,
      sentAt: now,
      retransAt: now + T1_MS,
      retransInterval: T1_MS,
    };
    this.#pending.set(callId, p);
    this.#send(index, p.wire);
  }

  #onMessage(socket: number, buf: Buffer, rinfo: RemoteInfo): void {
    let msg: SipRequest | SipResponse;
    try {
      msg = parseMessage(buf);
    } catch {
      this.#stats.ignored++;
      return;
    }
    if (msg instanceof SipRequest) {
      if (msg.method !== 'OPTIONS') {
        this.#stats.ignored++;
        return;
      }
      this.#stats.optionsAnswered++;
      this.#sockets[socket].send(serializeMessage(makeResponse(msg, 200, 'OK')), rinfo.port, rinfo.address);
      return;
    }
    const p = this.#pending.get(msg.callId);
    if (p === undefined || msg.cseq.seq !== p.cseq || this.#onFinal === undefined) {
      this.#stats.strayResponses++;
      return;
    }
    if (msg.status < 200) return;
    if (msg.status === 401 && p.cseq === 1) {
      const challenge = msg.get('www-authenticate');
      const nonce = challenge === undefined ? undefined : authParam(challenge, 'nonce');
      const realm = challenge === undefined ? undefined : authParam(challenge, 'realm');
      const algorithm = (challenge === undefined ? undefined : authParam(challenge, 'algorithm')) ?? 'MD5';
      if (nonce === undefined || realm === undefined || algorithm.toUpperCase() !== 'MD5') {
        this.#onFinal(p, 401);
        return;
      }
      const user = this.#o.users[p.index];
      const uri = `sip:${this.#o.target.address}:${this.#o.target.port}`;
      const cnonce = randomBytes(6).toString('hex');
      const nc = '00000001';
      const ha1 = md5(`${user}:${realm}:${this.#o.password}`);
      const ha2 = md5(`REGISTER:${uri}`);
      const response = md5(`${ha1}:${nonce}:${nc}:${cnonce}:auth:${ha2}`);
      const authorization =
        `Digest username="${user}", realm="${realm}", nonce="${nonce}", uri="${uri}", response="${response}", ` +
        `algorithm=MD5, qop=auth, nc=${nc}, cnonce="${cnonce}"`;
      const now = performance.now();
      p.cseq = 2;
      p.wire = this.#register(p.index, p.callId, 2, p.expires, authorization);
      p.sentAt = now;
      p.retransAt = now + T1_MS;
      p.retransInterval = T1_MS;
      this.#send(p.index, p.wire);
      return;
    }
    this.#onFinal(p, msg.status);
  }
}
