/**
 * A small SIP UAC with real RTP for the media relay e2e tests: places calls over UDP with an SDP
 * offer naming its own RTP socket, follows the dialog (ACK for 2xx with the route set, BYE,
 * re-INVITE, CANCEL, ACK for a failure), and sends G.711 RTP to whatever address the answer SDP
 * names (the relay's), counting what comes back (the switch-sim echoes). Built on shared/sip and
 * node:dgram only, like an outside peer.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { parseNameAddr } from '../../shared/sip/name-addr.ts';
import type { SipRequest, SipResponse } from '../../shared/sip/index.ts';
import { UdpSipClient, type Received } from './sip-test-client.ts';

export interface SdpFacts {
  /** o= address. */
  origin: string;
  /** Session or first media c= address. */
  connection: string;
  port: number;
  proto: string;
}

/** The addresses an SDP names (IPv4, one audio stream). */
export function sdpFacts(sdp: string): SdpFacts {
  const origin = /^o=\S+ \S+ \S+ IN IP4 (\S+)\r?$/m.exec(sdp)?.[1];
  const connection = /^c=IN IP4 (\S+)\r?$/m.exec(sdp)?.[1];
  const media = /^m=audio (\d+) (\S+) /m.exec(sdp);
  if (origin === undefined || connection === undefined || media === null) throw new Error(`unexpected SDP:\n${sdp}`);
  return { origin, connection, port: Number(media[1]), proto: media[2] };
}

const tag = (): string => randomBytes(6).toString('hex');

export interface UacCallOptions {
  /** The dispatcher's SIP address. */
  proxy: { host: string; port: number };
  /** Default a fresh one. */
  callId?: string;
  /** Request-URI user (default +15551234). */
  user?: string;
}

/** One call of the UAC: its dialog state and its RTP socket. */
export class UacCall {
  readonly callId: string;
  readonly fromTag = tag();
  readonly branch = `z9hG4bK-${tag()}`;
  readonly #uac: MediaUac;
  readonly #o: UacCallOptions;
  readonly #rtp: Socket;
  readonly rtpPort: number;
  toTag: string | undefined;
  /** The 2xx of the INVITE, once answered. */
  answer: SipResponse | undefined;
  /** Where RTP goes: from the latest answer SDP. */
  remote: { address: string; port: number } | undefined;
  /** RTP packets received, and from where (`host:port`). */
  received = 0;
  readonly sources = new Set<string>();
  sent = 0;
  #cseq = 1;
  #routes: string[] = [];
  #target = '';
  #sdpVersion = 1;
  #seq = 0;
  #ts = 0;
  readonly #ssrc = randomBytes(4).readUInt32BE(0);

  constructor(uac: MediaUac, rtp: Socket, o: UacCallOptions) {
    this.#uac = uac;
    this.#rtp = rtp;
    this.#o = o;
    this.callId = o.callId ?? `${tag()}@${uac.host}`;
    this.rtpPort = rtp.address().port;
    this.#target = `sip:${o.user ?? '+15551234'}@${o.proxy.host}:${o.proxy.port}`;
    rtp.on('message', (_msg: Buffer, from: RemoteInfo) => {
      this.received++;
      this.sources.add(`${from.address}:${from.port}`);
    });
  }

  /** The SDP offer naming this call's RTP socket. */
  offerSdp(): string {
    const h = this.#uac.host;
    return [
      'v=0',
      `o=uac ${this.#ssrc} ${this.#sdpVersion++} IN IP4 ${h}`,
      's=-',
      `c=IN IP4 ${h}`,
      't=0 0',
      `m=audio ${this.rtpPort} RTP/AVP 0 101`,
      'a=rtpmap:0 PCMU/8000',
      'a=rtpmap:101 telephone-event/8000',
      'a=sendrecv',
      '',
    ].join('\r\n');
  }

  #request(method: string, opts: { cseq: number; branch?: string; body?: string; inDialog: boolean }): string {
    const u = this.#uac;
    const body = opts.body ?? '';
    const lines = [
      `${method} ${opts.inDialog ? this.#target : `sip:${this.#o.user ?? '+15551234'}@${this.#o.proxy.host}:${this.#o.proxy.port}`} SIP/2.0`,
      `Via: SIP/2.0/UDP ${u.host}:${u.sip.port};branch=${opts.branch ?? `z9hG4bK-${tag()}`};rport`,
      'Max-Forwards: 70',
      ...(opts.inDialog ? this.#routes.map((r) => `Route: ${r}`) : []),
      `From: "Carrier" <sip:+15550001@${u.host}>;tag=${this.fromTag}`,
      `To: <sip:${this.#o.user ?? '+15551234'}@${this.#o.proxy.host}>${this.toTag === undefined ? '' : `;tag=${this.toTag}`}`,
      `Call-ID: ${this.callId}`,
      `CSeq: ${opts.cseq} ${method}`,
      `Contact: <sip:carrier@${u.host}:${u.sip.port}>`,
      ...(body.length > 0 ? ['Content-Type: application/sdp'] : []),
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ];
    return lines.join('\r\n');
  }

  #send(text: string): Promise<void> {
    return this.#uac.sip.send(text, this.#o.proxy.host, this.#o.proxy.port);
  }

  #is(status: (s: number) => boolean, method: string, cseq: number): (m: Received) => boolean {
    return (m) => m.kind === 'response' && m.callId === this.callId && m.cseq.method === method && m.cseq.seq === cseq && status(m.status);
  }

  /** Sends the INVITE with an SDP offer; resolves with the first response above 100 that `until` accepts (default: final). */
  async invite(until: (status: number) => boolean = (s) => s >= 200, timeoutMs = 10_000): Promise<SipResponse> {
    await this.#send(this.#request('INVITE', { cseq: 1, branch: this.branch, body: this.offerSdp(), inDialog: false }));
    const res = (await this.#uac.sip.expect(this.#is((s) => s > 100 && until(s), 'INVITE', 1), timeoutMs, `a response to INVITE ${this.callId}`)) as SipResponse;
    if (res.status >= 200) await this.#onFinal(res);
    return res;
  }

  /** Waits for the INVITE's final response (after a provisional). */
  async final(timeoutMs = 10_000): Promise<SipResponse> {
    const res = (await this.#uac.sip.expect(this.#is((s) => s >= 200, 'INVITE', 1), timeoutMs, `the final response to INVITE ${this.callId}`)) as SipResponse;
    await this.#onFinal(res);
    return res;
  }

  async #onFinal(res: SipResponse): Promise<void> {
    this.toTag = res.toTag;
    if (res.status >= 300) {
      // Hop-by-hop ACK on the INVITE's branch (RFC 3261 §17.1.1.3).
      await this.#send(this.#request('ACK', { cseq: 1, branch: this.branch, inDialog: false }));
      return;
    }
    this.answer = res;
    // The route set: the Record-Route values in reverse order (§12.1.2); the remote target: the Contact.
    this.#routes = res
      .recordRoutes()
      .map((r) => `<${r.uri}>`)
      .reverse();
    const contact = res.get('contact');
    if (contact !== undefined) this.#target = parseNameAddr(contact, 'Contact').uri;
    this.#learnRemote(res);
    await this.#send(this.#request('ACK', { cseq: 1, inDialog: true }));
  }

  #learnRemote(res: SipResponse): void {
    if (res.body.length === 0) return;
    const f = sdpFacts(res.body.toString('latin1'));
    this.remote = { address: f.connection, port: f.port };
  }

  /** CANCEL the pending INVITE; resolves with the INVITE's final response (487), ACKed. */
  async cancel(timeoutMs = 10_000): Promise<SipResponse> {
    await this.#send(this.#request('CANCEL', { cseq: 1, branch: this.branch, inDialog: false }));
    return this.final(timeoutMs);
  }

  /** A re-INVITE with a new version of the offer; resolves with its final response (ACKed when 2xx). */
  async reinvite(timeoutMs = 10_000): Promise<SipResponse> {
    const cseq = ++this.#cseq;
    await this.#send(this.#request('INVITE', { cseq, body: this.offerSdp(), inDialog: true }));
    const res = (await this.#uac.sip.expect(this.#is((s) => s >= 200, 'INVITE', cseq), timeoutMs, `the final response to re-INVITE ${this.callId}`)) as SipResponse;
    if (res.status < 300) {
      this.#learnRemote(res);
      await this.#send(this.#request('ACK', { cseq, inDialog: true }));
    }
    return res;
  }

  /** BYE; resolves with its final response. */
  async bye(timeoutMs = 10_000): Promise<SipResponse> {
    const cseq = ++this.#cseq;
    await this.#send(this.#request('BYE', { cseq, inDialog: true }));
    return (await this.#uac.sip.expect(this.#is((s) => s >= 200, 'BYE', cseq), timeoutMs, `the response to BYE ${this.callId}`)) as SipResponse;
  }

  /** Sends `count` 20 ms PCMU packets to the answer's address, `intervalMs` apart. */
  async sendRtp(count: number, intervalMs = 5): Promise<void> {
    const remote = this.remote;
    if (remote === undefined) throw new Error(`call ${this.callId} has no remote RTP address`);
    for (let i = 0; i < count; i++) {
      const pkt = Buffer.alloc(12 + 160, 0xff);
      pkt[0] = 0x80;
      pkt[1] = 0;
      pkt.writeUInt16BE(this.#seq++ & 0xffff, 2);
      pkt.writeUInt32BE((this.#ts += 160) >>> 0, 4);
      pkt.writeUInt32BE(this.#ssrc, 8);
      await new Promise<void>((resolve, reject) => this.#rtp.send(pkt, remote.port, remote.address, (err) => (err ? reject(err) : resolve())));
      this.sent++;
      if (intervalMs > 0) await new Promise((r) => setTimeout(r, intervalMs));
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#rtp.close(() => resolve()));
  }
}

/** The UAC: one SIP socket on `host`, one RTP socket per call. */
export class MediaUac {
  readonly host: string;
  readonly sip: UdpSipClient;
  readonly #calls = new Set<UacCall>();

  private constructor(host: string, sip: UdpSipClient) {
    this.host = host;
    this.sip = sip;
  }

  static async open(host: string): Promise<MediaUac> {
    return new MediaUac(host, await UdpSipClient.open(host));
  }

  async call(o: UacCallOptions): Promise<UacCall> {
    const rtp = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      rtp.once('error', reject);
      rtp.bind(0, this.host, () => resolve());
    });
    const call = new UacCall(this, rtp, o);
    this.#calls.add(call);
    return call;
  }

  /** Forget what was received so far (long runs). */
  forget(call: UacCall): Promise<void> {
    this.#calls.delete(call);
    this.sip.received.splice(0, this.sip.received.length, ...this.sip.received.filter((m) => m.callId !== call.callId));
    this.sip.raw.length = 0;
    return call.close();
  }

  async close(): Promise<void> {
    for (const c of this.#calls) await c.close().catch(() => undefined);
    this.#calls.clear();
    await this.sip.close();
  }
}

export type { SipRequest };
