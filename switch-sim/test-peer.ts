/**
 * Test helper (not a test): a raw SIP peer on UDP or TCP for the switch-sim unit tests. Sends
 * messages built as text, collects what comes back and waits for a match. Also builds the
 * requests the tests need (INVITE with SDP, ACK, BYE, CANCEL...).
 */
import { createSocket, type Socket } from 'node:dgram';
import { connect, type Socket as TcpSocket } from 'node:net';
import { parseMessage } from '../shared/sip/parse.ts';
import type { SipRequest, SipResponse } from '../shared/sip/message.ts';
import { StreamFramer } from '../shared/sip/stream-framer.ts';

export type Received = SipRequest | SipResponse;

export class TestPeer {
  readonly received: Received[] = [];
  readonly raw: Buffer[] = [];
  readonly transport: 'UDP' | 'TCP';
  host = '127.0.0.1';
  port = 0;
  #udp: Socket | undefined;
  #tcp: TcpSocket | undefined;
  #target: { host: string; port: number };

  private constructor(transport: 'UDP' | 'TCP', target: { host: string; port: number }) {
    this.transport = transport;
    this.#target = target;
  }

  static async udp(target: { host: string; port: number }, host = '127.0.0.1'): Promise<TestPeer> {
    const peer = new TestPeer('UDP', target);
    const socket = createSocket('udp4');
    peer.#udp = socket;
    socket.on('message', (data) => peer.#deliver(data));
    await new Promise<void>((resolve) => socket.bind(0, host, resolve));
    peer.host = host;
    peer.port = socket.address().port;
    return peer;
  }

  static async tcp(target: { host: string; port: number }): Promise<TestPeer> {
    const peer = new TestPeer('TCP', target);
    const socket = connect({ host: target.host, port: target.port, localAddress: '127.0.0.1' });
    peer.#tcp = socket;
    const framer = new StreamFramer({ onMessage: (frame) => peer.#deliver(Buffer.from(frame)), onPing: () => {} });
    socket.on('data', (chunk) => {
      peer.raw.push(chunk);
      framer.push(chunk);
    });
    socket.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    peer.host = socket.localAddress ?? '127.0.0.1';
    peer.port = socket.localPort ?? 0;
    return peer;
  }

  /** Send text or bytes to the target (or `to`, UDP only). */
  send(data: string | Buffer, to = this.#target): void {
    const buf = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    if (this.#udp !== undefined) this.#udp.send(buf, to.port, to.host);
    else this.#tcp?.write(buf);
  }

  #deliver(data: Buffer): void {
    if (this.#udp !== undefined) this.raw.push(data);
    let msg: Received;
    try {
      msg = parseMessage(data);
    } catch {
      return;
    }
    this.received.push(msg);
  }

  /** The first message (already received or future) that matches. */
  async expect(match: (m: Received) => boolean, timeoutMs = 3000, what = 'a matching message'): Promise<Received> {
    let found: Received | undefined;
    await this.waitFor(() => (found = this.received.find(match)) !== undefined, timeoutMs, what);
    return found!;
  }

  /** Poll `condition` every 5 ms (it may look at `raw` as well as `received`). */
  async waitFor(condition: () => boolean, timeoutMs = 3000, what = 'a condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; received: [${this.summary().join(', ')}]`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  response(status: number, method: string, timeoutMs = 3000): Promise<SipResponse> {
    return this.expect((m) => m.kind === 'response' && m.status === status && m.cseq.method === method, timeoutMs, `${status} ${method}`) as Promise<SipResponse>;
  }

  request(method: string, timeoutMs = 3000): Promise<SipRequest> {
    return this.expect((m) => m.kind === 'request' && m.method === method, timeoutMs, method) as Promise<SipRequest>;
  }

  responses(method?: string, status?: number): SipResponse[] {
    return this.received.filter(
      (m): m is SipResponse => m.kind === 'response' && (method === undefined || m.cseq.method === method) && (status === undefined || m.status === status),
    );
  }

  requests(method?: string): SipRequest[] {
    return this.received.filter((m): m is SipRequest => m.kind === 'request' && (method === undefined || m.method === method));
  }

  summary(): string[] {
    return this.received.map((m) => (m.kind === 'response' ? `${m.status} ${m.cseq.method}` : m.method));
  }

  clear(): void {
    this.received.length = 0;
    this.raw.length = 0;
  }

  async close(): Promise<void> {
    if (this.#udp !== undefined) await new Promise<void>((resolve) => this.#udp!.close(() => resolve()));
    if (this.#tcp !== undefined) {
      const socket = this.#tcp;
      await new Promise<void>((resolve) => {
        if (socket.destroyed) return resolve();
        socket.once('close', () => resolve());
        socket.destroy();
      });
    }
  }
}

export const OFFER =
  'v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n';

export interface CallIdentity {
  /** Sim `host:port`. */
  target: string;
  peer: TestPeer;
  callId: string;
  fromTag: string;
}

let counter = 0;

export function newCall(peer: TestPeer, target: { host: string; port: number }): CallIdentity {
  counter++;
  return { target: `${target.host}:${target.port}`, peer, callId: `call-${counter}-${process.pid}@test`, fromTag: `ft${counter}` };
}

export function branch(): string {
  return `z9hG4bKtest${++counter}`;
}

export interface RequestOptions {
  branch: string;
  cseq: number;
  toTag?: string;
  body?: string;
  contentType?: string;
  headers?: string[];
  requestUri?: string;
  contact?: boolean;
}

/** A request from the peer in the call's identity. */
export function request(method: string, call: CallIdentity, o: RequestOptions): string {
  const p = call.peer;
  const body = o.body ?? '';
  return [
    `${method} ${o.requestUri ?? `sip:+15551234@${call.target}`} SIP/2.0`,
    `Via: SIP/2.0/${p.transport} ${p.host}:${p.port};branch=${o.branch};rport`,
    'Max-Forwards: 70',
    `From: "Caller" <sip:+15550001@${p.host}>;tag=${call.fromTag}`,
    `To: <sip:+15551234@${call.target}>${o.toTag === undefined ? '' : `;tag=${o.toTag}`}`,
    `Call-ID: ${call.callId}`,
    `CSeq: ${o.cseq} ${method}`,
    ...(o.contact === false ? [] : [`Contact: <sip:caller@${p.host}:${p.port}${p.transport === 'TCP' ? ';transport=tcp' : ''}>`]),
    ...(o.headers ?? []),
    ...(body.length > 0 ? [`Content-Type: ${o.contentType ?? 'application/sdp'}`] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}

export function invite(call: CallIdentity, o: Partial<RequestOptions> & { branch: string }): string {
  return request('INVITE', call, { cseq: 1, body: OFFER, ...o });
}

/** A 200 OK for a request the sim sent (its BYE). */
export function okFor(req: SipRequest): string {
  const copy = (key: string, name: string): string[] => req.getAll(key).map((v) => `${name}: ${v}`);
  return [
    'SIP/2.0 200 OK',
    ...copy('via', 'Via'),
    ...copy('from', 'From'),
    ...copy('to', 'To'),
    ...copy('call-id', 'Call-ID'),
    ...copy('cseq', 'CSeq'),
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}
