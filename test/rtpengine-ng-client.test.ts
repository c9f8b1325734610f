/**
 * The ng client against a real rtpengine (Debian's rtpengine-daemon, userspace mode) on loopback:
 * ping, offer/answer with SDP rewriting, query, statistics, delete, relay errors, a retransmission
 * answered from rtpengine's cookie cache, and a timeout against a dead port.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NgClient, type NgQueryReply } from '../dispatcher/media/ng-client.ts';
import { isBencodeDict, type BencodeDict, type BencodeValue } from '../dispatcher/media/bencode.ts';
import { isSipfleetError } from '../shared/errors.ts';
import { createLogger } from '../shared/log.ts';
import { freePort } from './support/ports.ts';
import { startRtpengine, type Rtpengine } from './support/rtpengine.ts';

const logger = createLogger({ test: 'rtpengine-ng-client' });

/** An SDP as a phone at `address:port` would send it (loopback addresses only). */
function phoneSdp(address: string, port: number, sessionId: number): string {
  return [
    'v=0',
    `o=- ${sessionId} 1 IN IP4 ${address}`,
    's=sipfleet',
    `c=IN IP4 ${address}`,
    't=0 0',
    `m=audio ${port} RTP/AVP 0 8 101`,
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:8 PCMA/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=fmtp:101 0-16',
    'a=sendrecv',
    '',
  ].join('\r\n');
}

function sdpFacts(sdp: string): { origin: string; connection: string; port: number; proto: string } {
  const origin = /^o=\S+ \S+ \S+ IN IP4 (\S+)$/m.exec(sdp)?.[1];
  const connection = /^c=IN IP4 (\S+)$/m.exec(sdp)?.[1];
  const media = /^m=audio (\d+) (\S+) /m.exec(sdp);
  if (origin === undefined || connection === undefined || media === null) throw new Error(`unexpected SDP:\n${sdp}`);
  return { origin, connection, port: Number(media[1]), proto: media[2] };
}

async function relayError(promise: Promise<unknown>): Promise<{ code: string; reason: unknown }> {
  try {
    await promise;
  } catch (err) {
    if (!isSipfleetError(err)) throw err;
    return { code: err.code, reason: err.detail?.reason };
  }
  throw new Error('expected a rejection');
}

function dict(value: BencodeValue | undefined): BencodeDict {
  if (!isBencodeDict(value)) throw new Error(`not a dictionary: ${String(value)}`);
  return value;
}

/** The RTP endpoints rtpengine learned for one SIP tag (`medias[].streams[]` with the RTP flag). */
function rtpEndpoint(reply: NgQueryReply, tag: string): { address: unknown; port: unknown; localPort: unknown } {
  const medias = dict(reply.tags[tag]).medias as BencodeValue[];
  const streams = dict(medias[0]).streams as BencodeValue[];
  const rtp = streams.map(dict).find((s) => (s.flags as BencodeValue[]).includes('RTP'));
  if (rtp === undefined) throw new Error(`no RTP stream for tag ${tag}`);
  const endpoint = dict(rtp.endpoint);
  return { address: endpoint.address, port: endpoint.port, localPort: rtp['local port'] };
}

/**
 * A UDP hop between the client and rtpengine that drops the first `dropReplies` replies, to
 * make the client retransmit against the real daemon.
 */
class LossyHop {
  readonly droppedReplies: Buffer[] = [];
  readonly forwardedRequests: Buffer[] = [];
  readonly #socket: Socket;
  readonly #target: { host: string; port: number };
  #client: RemoteInfo | undefined;
  #dropReplies: number;

  private constructor(socket: Socket, target: { host: string; port: number }, dropReplies: number) {
    this.#socket = socket;
    this.#target = target;
    this.#dropReplies = dropReplies;
    socket.on('message', (msg, from) => {
      if (from.port === target.port && from.address === target.host) {
        if (this.#dropReplies > 0) {
          this.#dropReplies--;
          this.droppedReplies.push(msg);
          return;
        }
        if (this.#client !== undefined) socket.send(msg, this.#client.port, this.#client.address);
        return;
      }
      this.#client = from;
      this.forwardedRequests.push(msg);
      socket.send(msg, target.port, target.host);
    });
  }

  static async start(target: { host: string; port: number }, dropReplies: number): Promise<LossyHop> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    return new LossyHop(socket, target, dropReplies);
  }

  get port(): number {
    return this.#socket.address().port;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#socket.close(() => resolve()));
  }
}

describe('NgClient against rtpengine', () => {
  let rtpe: Rtpengine;
  let ng: NgClient;

  beforeAll(async () => {
    rtpe = await startRtpengine();
    ng = new NgClient({ address: rtpe.host, port: rtpe.ngPort, logger });
  });

  afterAll(async () => {
    await ng?.close();
    await rtpe?.stop();
  });

  it('pings', async () => {
    await expect(ng.ping()).resolves.toEqual({ result: 'pong' });
  });

  it('starts with no sessions', async () => {
    const stats = await ng.statistics();
    expect(stats.statistics.currentstatistics).toMatchObject({ sessionsown: 0, sessionsforeign: 0, sessionstotal: 0 });
  });

  const call = { callId: 'e2e-call-1@127.0.0.2', fromTag: 'caller-tag', toTag: 'callee-tag' };
  let offeredPort = 0;

  it('offer: rewrites the SDP to the relay address and a port from its range', async () => {
    const reply = await ng.offer({
      ...call,
      toTag: undefined,
      sdp: phoneSdp('127.0.0.2', 4000, 1001),
      flags: ['trust-address'],
      replace: ['origin', 'session-connection'],
      ice: 'remove',
      receivedFrom: ['IP4', '127.0.0.2'],
      label: 'caller',
    });
    expect(reply.result).toBe('ok');
    const sdp = sdpFacts(reply.sdp.toString());
    expect(sdp.connection).toBe(rtpe.host);
    expect(sdp.origin).toBe(rtpe.host);
    expect(sdp.proto).toBe('RTP/AVP');
    expect(sdp.port).toBeGreaterThanOrEqual(rtpe.portMin);
    expect(sdp.port).toBeLessThanOrEqual(rtpe.portMax);
    expect(reply.sdp.toString()).toContain('a=rtpmap:101 telephone-event/8000');
    offeredPort = sdp.port;
  });

  it('answer: rewrites the answer SDP to another relay port', async () => {
    const reply = await ng.answer({
      ...call,
      sdp: phoneSdp('127.0.0.3', 5000, 2002),
      flags: ['trust-address'],
      replace: ['origin', 'session-connection'],
      ice: 'remove',
      label: 'callee',
    });
    const sdp = sdpFacts(reply.sdp.toString());
    expect(sdp.connection).toBe(rtpe.host);
    expect(sdp.port).toBeGreaterThanOrEqual(rtpe.portMin);
    expect(sdp.port).toBeLessThanOrEqual(rtpe.portMax);
    expect(sdp.port).not.toBe(offeredPort);
  });

  it('query: the session exists, with both tags and the phones as endpoints', async () => {
    const reply = await ng.query({ callId: call.callId });
    expect(reply.created).toBeGreaterThan(1_600_000_000);
    expect(Object.keys(reply.tags).sort()).toEqual([call.fromTag, call.toTag].sort());
    expect(dict(reply.tags[call.fromTag]).label).toBe('caller');
    expect(rtpEndpoint(reply, call.fromTag)).toMatchObject({ address: '127.0.0.2', port: 4000 });
    // The callee-side ports are what the caller was offered.
    expect(rtpEndpoint(reply, call.toTag)).toMatchObject({ address: '127.0.0.3', port: 5000, localPort: offeredPort });
  });

  it('statistics: one current session, ports in use', async () => {
    const stats = await ng.statistics();
    expect(stats.statistics.currentstatistics.sessionstotal).toBeGreaterThanOrEqual(1);
    expect(stats.statistics.currentstatistics).toMatchObject({ sessionsown: 1, sessionstotal: 1 });
    const iface = dict((stats.statistics.interfaces ?? [])[0]);
    expect(iface.address).toBe(rtpe.host);
    expect(dict(iface.ports)).toMatchObject({ min: rtpe.portMin, max: rtpe.portMax });
    expect(dict(iface.ports).used).toBeGreaterThanOrEqual(4);
  });

  it('delete: the session is gone (query errors, statistics back to 0)', async () => {
    const reply = await ng.delete({ callId: call.callId, fromTag: call.fromTag });
    expect(reply.result).toBe('ok');
    expect(reply.warning).toBeUndefined();
    expect(reply.created).toBeTypeOf('number'); // the final call statistics come along
    const err = await relayError(ng.query({ callId: call.callId }));
    expect(err).toEqual({ code: 'MEDIA_ERR_RELAY', reason: 'Unknown call-id' });
    const stats = await ng.statistics();
    expect(stats.statistics.currentstatistics).toMatchObject({ sessionsown: 0, sessionstotal: 0 });
  });

  it('delete of an unknown call: ok with a warning, or MEDIA_ERR_RELAY with flags: [fatal]', async () => {
    const lenient = await ng.delete({ callId: call.callId, fromTag: call.fromTag });
    expect(lenient.warning).toMatch(/Call-ID not found/);
    const err = await relayError(ng.delete({ callId: call.callId, fromTag: call.fromTag, flags: ['fatal'] }));
    expect(err).toEqual({ code: 'MEDIA_ERR_RELAY', reason: expect.stringMatching(/Call-ID not found/) });
  });

  it('an unknown command is MEDIA_ERR_RELAY "Unrecognized command"', async () => {
    expect(await relayError(ng.command('no such command'))).toEqual({ code: 'MEDIA_ERR_RELAY', reason: 'Unrecognized command' });
  });

  it('honours received from (with SIP-source-address) and transport protocol', async () => {
    const other = { callId: 'e2e-call-2@127.0.0.2', fromTag: 'ft2' };
    const reply = await ng.offer({
      ...other,
      sdp: phoneSdp('127.0.0.2', 4100, 3003),
      flags: ['SIP-source-address'],
      receivedFrom: ['IP4', '127.0.0.5'],
      transportProtocol: 'RTP/AVPF',
      replace: ['origin', 'session-connection'],
    });
    expect(sdpFacts(reply.sdp.toString()).proto).toBe('RTP/AVPF');
    const query = await ng.query({ callId: other.callId });
    expect(rtpEndpoint(query, other.fromTag)).toMatchObject({ address: '127.0.0.5', port: 4100 });
    await ng.delete({ ...other, deleteDelay: 0 });
    expect((await ng.statistics()).statistics.currentstatistics.sessionstotal).toBe(0);
  });

  it('a retransmitted offer (same cookie) gets the same reply from the cache and is applied once', async () => {
    const hop = await LossyHop.start({ host: rtpe.host, port: rtpe.ngPort }, 1);
    const viaHop = new NgClient({ address: '127.0.0.1', port: hop.port, logger });
    try {
      const third = { callId: 'e2e-call-3@127.0.0.2', fromTag: 'ft3' };
      const before = await ng.statistics();
      const reply = await viaHop.offer({ ...third, sdp: phoneSdp('127.0.0.2', 4200, 4004), replace: ['origin', 'session-connection'] });
      expect(viaHop.stats().retransmissions).toBeGreaterThanOrEqual(1);
      expect(hop.forwardedRequests.length).toBeGreaterThanOrEqual(2);
      expect(hop.forwardedRequests[1]).toEqual(hop.forwardedRequests[0]);
      // The reply rtpengine sent to the first copy (dropped by the hop) is the one that came back.
      const dropped = hop.droppedReplies[0];
      const body = dropped.subarray(dropped.indexOf(0x20) + 1).toString('utf8');
      expect(body).toContain(reply.sdp.toString());
      const after = await ng.statistics();
      expect(after.statistics.currentstatistics.sessionstotal).toBe(1);
      // rtpengine counts the offers it processed (per controlling proxy): one, not one per copy.
      const offers = (s: typeof before): number => {
        const proxies = dict(s.statistics.controlstatistics).proxies as BencodeValue[];
        return Number(dict(proxies.map(dict).find((p) => p.proxy === '127.0.0.1')).offercount);
      };
      expect(offers(after)).toBe(offers(before) + 1);
      await ng.delete({ ...third });
    } finally {
      await viaHop.close();
      await hop.close();
    }
  });

  it('times out with MEDIA_ERR_TIMEOUT against a dead port', async () => {
    const deadPort = await freePort('127.0.0.1', ['udp']);
    const dead = new NgClient({ address: '127.0.0.1', port: deadPort, logger });
    try {
      const started = Date.now();
      const err = await relayError(dead.ping());
      const elapsed = Date.now() - started;
      expect(err.code).toBe('MEDIA_ERR_TIMEOUT');
      expect(elapsed).toBeGreaterThanOrEqual(990);
      expect(elapsed).toBeLessThan(3000);
      expect(dead.stats()).toMatchObject({ requests: 1, retransmissions: 2, timeouts: 1, pending: 0 });
    } finally {
      await dead.close();
    }
  });

  it('stops cleanly', async () => {
    const exit = await rtpe.stop();
    expect(exit.signal === 'SIGTERM' || exit.code === 0).toBe(true);
    expect(rtpe.process.output()).toContain('Startup complete');
  });
});
