/**
 * A softphone for end-to-end tests, over UDP, built on shared/sip only like any outside peer:
 * it REGISTERs with digest credentials (RFC 7616 with qop=auth, MD5 or SHA-256, computed here
 * with node:crypto), answers the registrar's NAT keep-alive OPTIONS with 200 (or, once told to
 * stop, not at all), counts those OPTIONS per source `address:port`, and collects everything else
 * it receives for the test to wait on.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import {
  generateBranch,
  generateCallId,
  generateTag,
  makeResponse,
  parseAuthParams,
  parseMessage,
  serializeMessage,
  type SipRequest,
  type SipResponse,
} from '../../shared/sip/index.ts';

export type DigestAlgorithmName = 'MD5' | 'SHA-256';

export interface ReceivedMessage {
  msg: SipRequest | SipResponse;
  /** `address:port` it came from. */
  from: string;
  at: number;
}

export interface DigestAnswer {
  /** The `WWW-Authenticate` / `Proxy-Authenticate` value answered. */
  challenge: string;
  method: string;
  /** digest-uri, normally the Request-URI. */
  uri: string;
  username: string;
  password: string;
  /** Default 1. */
  nc?: number;
  cnonce?: string;
}

function hashOf(algorithm: string): 'md5' | 'sha256' {
  const a = algorithm.toUpperCase();
  if (a === 'MD5') return 'md5';
  if (a === 'SHA-256') return 'sha256';
  throw new Error(`unsupported digest algorithm ${algorithm}`);
}

function h(hash: 'md5' | 'sha256', text: string): string {
  return createHash(hash).update(text, 'latin1').digest('hex');
}

/** The algorithm of a challenge (`MD5` when absent, RFC 7616 §3.3). */
export function challengeAlgorithm(challenge: string): string {
  return (parseAuthParams(challenge).params.get('algorithm') ?? 'MD5').toUpperCase();
}

/**
 * An `Authorization` / `Proxy-Authorization` value answering `challenge` (RFC 7616 §3.4.1,
 * qop=auth): response = H(H(user:realm:password):nonce:nc:cnonce:auth:H(method:uri)).
 */
export function digestAuthorization(a: DigestAnswer): string {
  const params = parseAuthParams(a.challenge).params;
  const realm = params.get('realm') ?? '';
  const nonce = params.get('nonce') ?? '';
  const algorithm = (params.get('algorithm') ?? 'MD5').toUpperCase();
  const hash = hashOf(algorithm);
  const nc = (a.nc ?? 1).toString(16).padStart(8, '0');
  const cnonce = a.cnonce ?? randomBytes(8).toString('hex');
  const ha1 = h(hash, `${a.username}:${realm}:${a.password}`);
  const ha2 = h(hash, `${a.method}:${a.uri}`);
  const response = h(hash, `${ha1}:${nonce}:${nc}:${cnonce}:auth:${ha2}`);
  const opaque = params.get('opaque');
  return (
    `Digest username="${a.username}", realm="${realm}", nonce="${nonce}", uri="${a.uri}", response="${response}", ` +
    `algorithm=${algorithm}, cnonce="${cnonce}", qop=auth, nc=${nc}${opaque === undefined ? '' : `, opaque="${opaque}"`}`
  );
}

export interface RegisterOptions {
  /** The registrar (a dispatcher's UDP listener). */
  host: string;
  port: number;
  username: string;
  password: string;
  /** Seconds asked for; default 300. */
  expires?: number;
  /** The challenge to answer when several are offered; default the first one offered. */
  algorithm?: DigestAlgorithmName;
  userAgent?: string;
  /** Per response; default 3000 ms. */
  timeoutMs?: number;
  /** Extra header lines for both REGISTERs. */
  extraHeaders?: string[];
}

export interface RegisterResult {
  /** The final response to the (authenticated) REGISTER. */
  response: SipResponse;
  /** The 401 answered, if there was one. */
  challenge: SipResponse | undefined;
}

/** A UDP softphone bound to one local address. */
export class UdpPhone {
  readonly #socket: Socket;
  readonly host: string;
  port = 0;
  /** Answer keep-alive OPTIONS with 200 (true) or ignore them (false). */
  answerOptions = true;
  /** Keep-alive OPTIONS received (answered or not), in order. */
  readonly options: ReceivedMessage[] = [];
  /** Every other message received. */
  readonly received: ReceivedMessage[] = [];
  readonly #callId: string;
  #cseq = 0;
  readonly #fromTag = generateTag();
  #waiters: Array<{ match: (m: ReceivedMessage) => boolean; resolve: (m: ReceivedMessage) => void }> = [];

  private constructor(socket: Socket, host: string) {
    this.#socket = socket;
    this.host = host;
    this.#callId = generateCallId(host);
    socket.on('message', (data, rinfo) => this.#deliver(data, rinfo));
  }

  static async open(host: string, port = 0): Promise<UdpPhone> {
    const socket = createSocket('udp4');
    const phone = new UdpPhone(socket, host);
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, host, () => resolve());
    });
    socket.on('error', () => {});
    phone.port = socket.address().port;
    return phone;
  }

  /** OPTIONS received per source `address:port`. */
  optionsBySource(since = 0): Map<string, number> {
    const out = new Map<string, number>();
    for (const o of this.options) if (o.at >= since) out.set(o.from, (out.get(o.from) ?? 0) + 1);
    return out;
  }

  #deliver(data: Buffer, rinfo: RemoteInfo): void {
    let msg: SipRequest | SipResponse;
    try {
      msg = parseMessage(data);
    } catch {
      return;
    }
    const m: ReceivedMessage = { msg, from: `${rinfo.address}:${rinfo.port}`, at: Date.now() };
    if (msg.kind === 'request' && msg.method === 'OPTIONS') {
      this.options.push(m);
      if (this.answerOptions) void this.send(serializeMessage(makeResponse(msg, 200, 'OK')), rinfo.address, rinfo.port).catch(() => {});
    } else {
      this.received.push(m);
    }
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.match(m)) return true;
      w.resolve(m);
      return false;
    });
  }

  /** The first message (already received or to come) that matches; rejects after `timeoutMs`. */
  expect(match: (m: ReceivedMessage) => boolean, timeoutMs = 3_000, what = 'a matching SIP message'): Promise<ReceivedMessage> {
    const seen = [...this.received, ...this.options].find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const done = (m: ReceivedMessage): void => {
        clearTimeout(timer);
        resolve(m);
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w.resolve !== done);
        reject(new Error(`${this.host}:${this.port} timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.#waiters.push({ match, resolve: done });
    });
  }

  /** The final (or any, with `provisional`) response to the request with this Call-ID and CSeq number. */
  response(callId: string, cseq: number, timeoutMs = 3_000, provisional = false): Promise<SipResponse> {
    return this.expect(
      (m) => m.msg.kind === 'response' && m.msg.callId === callId && m.msg.cseq.seq === cseq && (provisional || m.msg.status >= 200),
      timeoutMs,
      `the response to CSeq ${cseq} of ${callId}`,
    ).then((m) => m.msg as SipResponse);
  }

  send(data: Buffer | string, host: string, port: number): Promise<void> {
    const buf = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    return new Promise((resolve, reject) => this.#socket.send(buf, port, host, (err) => (err ? reject(err) : resolve())));
  }

  /** A REGISTER of this phone's AOR with its Contact (the same Call-ID for every one, CSeq + 1 each). */
  registerRequest(o: RegisterOptions, authorization?: string, callId = this.#callId, cseq = ++this.#cseq): string {
    const uri = `sip:${o.host}:${o.port}`;
    return [
      `REGISTER ${uri} SIP/2.0`,
      `Via: SIP/2.0/UDP ${this.host}:${this.port};branch=${generateBranch()};rport`,
      'Max-Forwards: 70',
      `From: <sip:${o.username}@${o.host}>;tag=${this.#fromTag}`,
      `To: <sip:${o.username}@${o.host}>`,
      `Call-ID: ${callId}`,
      `CSeq: ${cseq} REGISTER`,
      `Contact: <sip:${o.username}@${this.host}:${this.port}>`,
      `Expires: ${o.expires ?? 300}`,
      `User-Agent: ${o.userAgent ?? 'sipfleet-test-phone'}`,
      ...(authorization === undefined ? [] : [`Authorization: ${authorization}`]),
      ...(o.extraHeaders ?? []),
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
  }

  /**
   * REGISTER, answer a 401 with digest credentials (the offered `algorithm`, else the first
   * challenge), and resolve with the final response. Rejects when a response does not come.
   */
  async register(o: RegisterOptions): Promise<RegisterResult> {
    const timeoutMs = o.timeoutMs ?? 3_000;
    const first = ++this.#cseq;
    await this.send(this.registerRequest(o, undefined, this.#callId, first), o.host, o.port);
    const r1 = await this.response(this.#callId, first, timeoutMs);
    if (r1.status !== 401) return { response: r1, challenge: undefined };
    const challenges = r1.getAll('www-authenticate');
    const challenge = challenges.find((c) => o.algorithm === undefined || challengeAlgorithm(c) === o.algorithm);
    if (challenge === undefined) throw new Error(`no ${o.algorithm} challenge in ${JSON.stringify(challenges)}`);
    const second = ++this.#cseq;
    const authorization = digestAuthorization({ challenge, method: 'REGISTER', uri: `sip:${o.host}:${o.port}`, username: o.username, password: o.password });
    await this.send(this.registerRequest(o, authorization, this.#callId, second), o.host, o.port);
    return { response: await this.response(this.#callId, second, timeoutMs), challenge: r1 };
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      try {
        this.#socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }
}
