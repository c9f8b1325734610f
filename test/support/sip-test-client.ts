/**
 * A raw SIP endpoint for end-to-end tests that need exact control over bytes: send crafted
 * messages (or torture files) over UDP or TCP, collect what comes back, wait for a match.
 * Built on shared/sip only, like any outside peer would be.
 */
import { createSocket, type Socket } from 'node:dgram';
import { connect, type Socket as TcpSocket } from 'node:net';
import { parseMessage, StreamFramer, type SipRequest, type SipResponse } from '../../shared/sip/index.ts';

export type Received = SipRequest | SipResponse;

abstract class Collector {
  readonly received: Received[] = [];
  readonly raw: Buffer[] = [];
  #waiters: Array<{ match: (m: Received) => boolean; resolve: (m: Received) => void }> = [];

  protected deliver(data: Buffer): void {
    this.raw.push(data);
    let msg: Received;
    try {
      msg = parseMessage(data);
    } catch {
      return;
    }
    this.received.push(msg);
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.match(msg)) return true;
      w.resolve(msg);
      return false;
    });
  }

  /** Resolve with the first message (already received or future) that matches. */
  expect(match: (m: Received) => boolean, timeoutMs = 5_000, what = 'a matching SIP message'): Promise<Received> {
    const seen = this.received.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w.resolve !== done);
        const got = this.received.map((m) => (m.kind === 'response' ? `${m.status} ${m.cseq.method}` : m.method)).join(', ');
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; received: [${got}]`));
      }, timeoutMs);
      const done = (m: Received) => {
        clearTimeout(timer);
        resolve(m);
      };
      this.#waiters.push({ match, resolve: done });
    });
  }

  expectResponse(status: number, method: string, timeoutMs = 5_000): Promise<SipResponse> {
    return this.expect((m) => m.kind === 'response' && m.status === status && m.cseq.method === method, timeoutMs, `${status} for ${method}`) as Promise<SipResponse>;
  }

  responses(method?: string): SipResponse[] {
    return this.received.filter((m): m is SipResponse => m.kind === 'response' && (method === undefined || m.cseq.method === method));
  }

  requests(method?: string): SipRequest[] {
    return this.received.filter((m): m is SipRequest => m.kind === 'request' && (method === undefined || m.method === method));
  }
}

export class UdpSipClient extends Collector {
  readonly #socket: Socket;
  readonly host: string;
  port = 0;

  private constructor(socket: Socket, host: string) {
    super();
    this.#socket = socket;
    this.host = host;
    socket.on('message', (data) => this.deliver(data));
  }

  static async open(host = '127.0.0.1', port = 0): Promise<UdpSipClient> {
    const socket = createSocket('udp4');
    const client = new UdpSipClient(socket, host);
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, host, () => resolve());
    });
    client.port = socket.address().port;
    return client;
  }

  send(data: Buffer | string, host: string, port: number): Promise<void> {
    const buf = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    return new Promise((resolve, reject) => this.#socket.send(buf, port, host, (err) => (err ? reject(err) : resolve())));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#socket.close(() => resolve()));
  }
}

export class TcpSipClient extends Collector {
  readonly #socket: TcpSocket;
  readonly closed: Promise<void>;
  localPort = 0;

  private constructor(socket: TcpSocket) {
    super();
    this.#socket = socket;
    const framer = new StreamFramer({ onMessage: (f) => this.deliver(Buffer.from(f)), onPing: () => {} });
    socket.on('data', (d) => {
      try {
        framer.push(d);
      } catch {
        socket.destroy();
      }
    });
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => {});
  }

  static async connect(host: string, port: number, localAddress = '127.0.0.1'): Promise<TcpSipClient> {
    const socket = connect({ host, port, localAddress });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    const client = new TcpSipClient(socket);
    client.localPort = socket.localPort ?? 0;
    return client;
  }

  get isClosed(): boolean {
    return this.#socket.destroyed || this.#socket.readyState === 'closed';
  }

  send(data: Buffer | string): Promise<void> {
    const buf = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    return new Promise((resolve, reject) => this.#socket.write(buf, (err) => (err ? reject(err) : resolve())));
  }

  close(): void {
    this.#socket.destroy();
  }
}

export interface InviteOptions {
  target: string;
  localHost: string;
  localPort: number;
  transport?: 'UDP' | 'TCP';
  callId: string;
  branch: string;
  fromTag?: string;
  cseq?: number;
  maxForwards?: number;
  extraHeaders?: string[];
}

const SDP =
  'v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n';

/** A carrier-style INVITE with SDP. */
export function buildInvite(o: InviteOptions): string {
  const t = o.transport ?? 'UDP';
  return [
    `INVITE sip:+15551234@${o.target} SIP/2.0`,
    `Via: SIP/2.0/${t} ${o.localHost}:${o.localPort};branch=${o.branch};rport`,
    `Max-Forwards: ${o.maxForwards ?? 70}`,
    `From: "Carrier" <sip:+15550001@${o.localHost}>;tag=${o.fromTag ?? 'ft-' + o.callId}`,
    `To: <sip:+15551234@${o.target}>`,
    `Call-ID: ${o.callId}`,
    `CSeq: ${o.cseq ?? 1} INVITE`,
    `Contact: <sip:carrier@${o.localHost}:${o.localPort}${t === 'TCP' ? ';transport=tcp' : ''}>`,
    'X-Unknown-Header: ;;keep,,me;;',
    ...(o.extraHeaders ?? []),
    'Content-Type: application/sdp',
    `Content-Length: ${SDP.length}`,
    '',
    SDP,
  ].join('\r\n');
}

/** An in-dialog or hop-by-hop request built from the INVITE's identity. */
export function buildRequest(
  method: string,
  o: InviteOptions & { toTag?: string; routes?: string[]; requestUri?: string },
): string {
  const t = o.transport ?? 'UDP';
  const cseqMethod = method;
  return [
    `${method} ${o.requestUri ?? `sip:+15551234@${o.target}`} SIP/2.0`,
    `Via: SIP/2.0/${t} ${o.localHost}:${o.localPort};branch=${o.branch};rport`,
    `Max-Forwards: ${o.maxForwards ?? 70}`,
    ...(o.routes ?? []).map((r) => `Route: ${r}`),
    `From: "Carrier" <sip:+15550001@${o.localHost}>;tag=${o.fromTag ?? 'ft-' + o.callId}`,
    `To: <sip:+15551234@${o.target}>${o.toTag === undefined ? '' : `;tag=${o.toTag}`}`,
    `Call-ID: ${o.callId}`,
    `CSeq: ${o.cseq ?? 1} ${cseqMethod}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}
