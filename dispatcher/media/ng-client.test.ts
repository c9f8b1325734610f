import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isSipfleetError, type ErrorCode } from '../../shared/errors.ts';
import { createLogger } from '../../shared/log.ts';
import { ManualClock } from '../transaction/manual-clock.ts';
import { bdecodeDict, bencode, type BencodeDict } from './bencode.ts';
import { NgClient, answerDict, deleteDict, offerDict, queryDict, type NgClientOptions } from './ng-client.ts';

const logger = createLogger({ test: true });

interface Request {
  readonly cookie: string;
  readonly dict: BencodeDict;
  readonly raw: Buffer;
  readonly from: RemoteInfo;
}

type Handler = (req: Request, relay: FakeRelay) => void;

/** An in-process UDP responder standing in for rtpengine's ng port. */
class FakeRelay {
  readonly received: Request[] = [];
  handler: Handler = (req, relay) => relay.reply(req, { result: req.dict.command === 'ping' ? 'pong' : 'ok' });
  readonly #socket: Socket;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('message', (raw, from) => {
      const space = raw.indexOf(0x20);
      const req = { cookie: raw.toString('latin1', 0, space), dict: bdecodeDict(raw.subarray(space + 1)), raw, from };
      this.received.push(req);
      this.handler(req, this);
    });
  }

  static async start(): Promise<FakeRelay> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    return new FakeRelay(socket);
  }

  get port(): number {
    return this.#socket.address().port;
  }

  /** Replies to `req` with `body` (a dict, or raw bytes after the cookie), from this relay's socket or `via`. */
  reply(req: Request, body: BencodeDict | Buffer, options: { cookie?: string; via?: Socket } = {}): void {
    const payload = Buffer.isBuffer(body) ? body : bencode(body);
    const datagram = Buffer.concat([Buffer.from(`${options.cookie ?? req.cookie} `, 'latin1'), payload]);
    (options.via ?? this.#socket).send(datagram, req.from.port, req.from.address);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#socket.close(() => resolve()));
  }
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Lets datagrams in flight on loopback arrive. */
const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 30));

async function rejection(promise: Promise<unknown>): Promise<{ code: ErrorCode; detail: Record<string, unknown> | undefined; message: string }> {
  try {
    await promise;
  } catch (err) {
    if (!isSipfleetError(err)) throw err;
    return { code: err.code, detail: err.detail, message: err.message };
  }
  throw new Error('expected a rejection');
}

const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';

describe('NgClient', () => {
  let relay: FakeRelay;
  let clock: ManualClock;
  const clients: NgClient[] = [];

  const client = (options: Partial<NgClientOptions> = {}): NgClient => {
    const c = new NgClient({ address: '127.0.0.1', port: relay.port, logger, clock, ...options });
    clients.push(c);
    return c;
  };

  beforeEach(async () => {
    relay = await FakeRelay.start();
    clock = new ManualClock(1_000_000);
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await relay.close();
  });

  it('pings: `<cookie> d7:command4:pinge`, resolved by the pong with the same cookie', async () => {
    const ng = client();
    await expect(ng.ping()).resolves.toEqual({ result: 'pong' });
    expect(relay.received).toHaveLength(1);
    const [req] = relay.received;
    expect(req.cookie).toMatch(/^[0-9a-z]+_[0-9a-z]+$/);
    expect(req.raw.toString('latin1')).toBe(`${req.cookie} d7:command4:pinge`);
    expect(ng.stats()).toMatchObject({ pending: 0, requests: 1, retransmissions: 0, timeouts: 0 });
  });

  it('gives every request its own cookie and matches replies by cookie, in any order', async () => {
    const ng = client();
    const held: Request[] = [];
    relay.handler = (req) => held.push(req);
    const calls = ['a', 'b', 'c'].map((id) => ng.query({ callId: id }));
    await waitFor(() => held.length === 3, 'three requests');
    expect(new Set(held.map((r) => r.cookie)).size).toBe(3);
    for (const req of [...held].reverse()) relay.reply(req, { result: 'ok', created: 1, tags: { [String(req.dict['call-id'])]: {} } });
    const replies = await Promise.all(calls);
    expect(replies.map((r) => Object.keys(r.tags))).toEqual([['a'], ['b'], ['c']]);
  });

  it('sends an offer with the ng key names and returns the rewritten SDP as bytes', async () => {
    const ng = client();
    relay.handler = (req, r) => r.reply(req, { result: 'ok', sdp: String(req.dict.sdp).replaceAll('127.0.0.2', '127.0.0.1') });
    const reply = await ng.offer({
      callId: 'call-1',
      fromTag: 'ft',
      sdp: SDP,
      flags: ['trust-address'],
      replace: ['origin', 'session-connection'],
      ice: 'remove',
      receivedFrom: ['IP4', '127.0.0.2'],
      transportProtocol: 'RTP/AVP',
      label: 'caller',
    });
    expect(Buffer.isBuffer(reply.sdp)).toBe(true);
    expect(reply.sdp.toString()).toContain('c=IN IP4 127.0.0.1');
    expect(relay.received[0].dict).toEqual({
      command: 'offer',
      'call-id': 'call-1',
      'from-tag': 'ft',
      sdp: SDP,
      flags: ['trust-address'],
      replace: ['origin', 'session-connection'],
      ICE: 'remove',
      'received from': ['IP4', '127.0.0.2'],
      'transport protocol': 'RTP/AVP',
      label: 'caller',
    });
  });

  it('passes an SDP Buffer through byte for byte, both ways', async () => {
    const ng = client();
    const latin1 = Buffer.from('v=0\r\ns=Caf\xe9\r\n', 'latin1');
    relay.handler = (req, r) => r.reply(req, { result: 'ok', sdp: latin1 });
    const reply = await ng.answer({ callId: 'c', fromTag: 'f', toTag: 't', sdp: latin1 });
    expect(reply.sdp).toEqual(latin1);
    expect(relay.received[0].raw.includes(latin1)).toBe(true);
  });

  it('retransmits the same bytes with the same cookie at 250 and 750 ms, then takes the reply', async () => {
    const ng = client();
    relay.handler = (req, r) => {
      if (relay.received.length === 3) r.reply(req, { result: 'pong' });
    };
    const ping = ng.ping();
    await waitFor(() => relay.received.length === 1, 'first send');
    clock.advance(249);
    await settle();
    expect(relay.received).toHaveLength(1);
    clock.advance(1);
    await waitFor(() => relay.received.length === 2, 'first retransmission');
    clock.advance(499);
    await settle();
    expect(relay.received).toHaveLength(2);
    clock.advance(1);
    await expect(ping).resolves.toEqual({ result: 'pong' });
    expect(relay.received).toHaveLength(3);
    expect(relay.received[1].raw).toEqual(relay.received[0].raw);
    expect(relay.received[2].raw).toEqual(relay.received[0].raw);
    expect(ng.stats()).toMatchObject({ pending: 0, requests: 1, retransmissions: 2, timeouts: 0 });
  });

  it('times out with MEDIA_ERR_TIMEOUT after timeoutMs, having sent three times', async () => {
    const ng = client();
    relay.handler = () => {};
    let settled = false;
    const ping = ng.ping().finally(() => {
      settled = true;
    });
    clock.advance(999);
    await settle();
    expect(settled).toBe(false);
    clock.advance(1);
    const err = await rejection(ping);
    expect(err.code).toBe('MEDIA_ERR_TIMEOUT');
    expect(err.detail).toMatchObject({ command: 'ping', timeoutMs: 1000 });
    await settle();
    expect(relay.received).toHaveLength(3);
    expect(ng.stats()).toMatchObject({ pending: 0, timeouts: 1, retransmissions: 2 });
    expect(clock.pending).toBe(0);
  });

  it('honours custom timing: retransmitMs doubles until timeoutMs', async () => {
    const ng = client({ retransmitMs: 100, timeoutMs: 2000 });
    relay.handler = () => {};
    const ping = rejection(ng.ping());
    // Sends at 0, 100, 300, 700, 1500; timeout at 2000.
    clock.advance(1999);
    await settle();
    expect(relay.received).toHaveLength(5);
    clock.advance(1);
    expect((await ping).code).toBe('MEDIA_ERR_TIMEOUT');
  });

  it('ignores a late reply after the timeout and a duplicate reply after the first', async () => {
    const ng = client();
    const held: Request[] = [];
    relay.handler = (req) => held.push(req);
    const late = rejection(ng.ping());
    await waitFor(() => held.length === 1, 'request');
    clock.advance(1000);
    expect((await late).code).toBe('MEDIA_ERR_TIMEOUT');
    relay.reply(held[0], { result: 'pong' });
    await waitFor(() => ng.stats().ignoredReplies === 1, 'late reply dropped');

    relay.handler = (req, r) => {
      r.reply(req, { result: 'pong' });
      r.reply(req, { result: 'pong' });
    };
    await expect(ng.ping()).resolves.toEqual({ result: 'pong' });
    await waitFor(() => ng.stats().ignoredReplies === 2, 'duplicate dropped');
    expect(ng.stats().pending).toBe(0);
  });

  it('ignores a reply with the right cookie from another address:port', async () => {
    const ng = client();
    const stranger = createSocket('udp4');
    await new Promise<void>((resolve) => stranger.bind(0, '127.0.0.1', resolve));
    try {
      relay.handler = (req, r) => {
        r.reply(req, { result: 'error', 'error-reason': 'spoofed' }, { via: stranger });
        setTimeout(() => r.reply(req, { result: 'pong' }), 20);
      };
      await expect(ng.ping()).resolves.toEqual({ result: 'pong' });
      await waitFor(() => ng.stats().ignoredReplies === 1, 'spoofed reply dropped');
    } finally {
      await new Promise<void>((resolve) => stranger.close(() => resolve()));
    }
  });

  it('ignores datagrams without a cookie', async () => {
    const ng = client();
    relay.handler = (req, r) => {
      r.reply(req, Buffer.alloc(0), { cookie: 'x'.repeat(100) });
      setTimeout(() => r.reply(req, { result: 'pong' }), 20);
    };
    await expect(ng.ping()).resolves.toEqual({ result: 'pong' });
    await waitFor(() => ng.stats().ignoredReplies === 1, 'cookieless datagram dropped');
  });

  it('rejects result "error" with MEDIA_ERR_RELAY carrying the error-reason', async () => {
    const ng = client();
    relay.handler = (req, r) => r.reply(req, { result: 'error', 'error-reason': "Call-ID not found or tags didn't match" });
    const err = await rejection(ng.query({ callId: 'gone' }));
    expect(err.code).toBe('MEDIA_ERR_RELAY');
    expect(err.detail).toEqual({ command: 'query', result: 'error', reason: "Call-ID not found or tags didn't match" });
    expect(err.message).toContain("Call-ID not found or tags didn't match");
  });

  it('rejects any other result (load limit) with MEDIA_ERR_RELAY', async () => {
    const ng = client();
    relay.handler = (req, r) => r.reply(req, { result: 'load limit', message: 'Parallel session limit reached' });
    const err = await rejection(ng.offer({ callId: 'c', fromTag: 'f', sdp: SDP }));
    expect(err.code).toBe('MEDIA_ERR_RELAY');
    expect(err.detail).toEqual({ command: 'offer', result: 'load limit', reason: 'Parallel session limit reached' });
  });

  it('resolves ok with a warning (delete of an unknown call)', async () => {
    const ng = client();
    relay.handler = (req, r) => r.reply(req, { result: 'ok', warning: "Call-ID not found or tags didn't match" });
    await expect(ng.delete({ callId: 'gone', fromTag: 'f' })).resolves.toEqual({ result: 'ok', warning: "Call-ID not found or tags didn't match" });
  });

  it.each<[string, Buffer | BencodeDict, (ng: NgClient) => Promise<unknown>]>([
    ['a body that is not bencode', Buffer.from('d6:result'), (ng) => ng.ping()],
    ['a list instead of a dictionary', Buffer.from('le'), (ng) => ng.ping()],
    ['no result', { sdp: 'v=0' }, (ng) => ng.ping()],
    ['a numeric result', { result: 1 }, (ng) => ng.ping()],
    ['an offer reply without sdp', { result: 'ok' }, (ng) => ng.offer({ callId: 'c', fromTag: 'f', sdp: SDP })],
    ['a query reply without tags', { result: 'ok', created: 1 }, (ng) => ng.query({ callId: 'c' })],
    ['statistics without currentstatistics', { result: 'ok', statistics: {} }, (ng) => ng.statistics()],
    ['statistics with a string count', { result: 'ok', statistics: { currentstatistics: { sessionsown: '1', sessionsforeign: 0, sessionstotal: 1 } } }, (ng) => ng.statistics()],
  ])('rejects %s with MEDIA_ERR_PROTOCOL', async (_what, body, call) => {
    const ng = client();
    relay.handler = (req, r) => r.reply(req, body);
    expect((await rejection(call(ng))).code).toBe('MEDIA_ERR_PROTOCOL');
    expect(ng.stats().pending).toBe(0);
  });

  it('types the statistics counts', async () => {
    const ng = client();
    relay.handler = (req, r) =>
      r.reply(req, { result: 'ok', statistics: { currentstatistics: { sessionsown: 2, sessionsforeign: 1, sessionstotal: 3 }, totalstatistics: { managedsessions: 9 } } });
    const reply = await ng.statistics();
    expect(reply.statistics.currentstatistics.sessionstotal).toBe(3);
    expect(reply.statistics.totalstatistics).toEqual({ managedsessions: 9 });
  });

  it('refuses at once with MEDIA_ERR_OVERLOAD beyond maxPending, and accepts again once one settles', async () => {
    const ng = client({ maxPending: 2 });
    const held: Request[] = [];
    relay.handler = (req) => held.push(req);
    const first = ng.ping();
    const second = ng.ping();
    const err = await rejection(ng.ping());
    expect(err.code).toBe('MEDIA_ERR_OVERLOAD');
    expect(err.detail).toEqual({ command: 'ping', maxPending: 2 });
    await waitFor(() => held.length === 2, 'two requests');
    await settle();
    expect(held).toHaveLength(2); // the refused one was never sent
    relay.reply(held[0], { result: 'pong' });
    await first;
    const third = ng.ping();
    expect(ng.stats().pending).toBe(2);
    relay.handler = (req, r) => r.reply(req, { result: 'pong' });
    relay.reply(held[1], { result: 'pong' });
    await Promise.all([second, third]);
  });

  it('close() rejects pending requests with MEDIA_ERR_CLOSED, cancels their timers, refuses new ones', async () => {
    const ng = client();
    relay.handler = () => {};
    const pending = [rejection(ng.ping()), rejection(ng.statistics())];
    await ng.close();
    for (const err of await Promise.all(pending)) expect(err.code).toBe('MEDIA_ERR_CLOSED');
    expect(clock.pending).toBe(0);
    expect(ng.closed).toBe(true);
    expect((await rejection(ng.ping())).code).toBe('MEDIA_ERR_CLOSED');
    await ng.close(); // idempotent
  });

  it('refuses requests it cannot build with MEDIA_ERR_INVALID, sending nothing', async () => {
    const ng = client();
    expect((await rejection(ng.command('ping', { command: 'offer' }))).code).toBe('MEDIA_ERR_INVALID');
    expect((await rejection(ng.command('query', { 'call-id': 'c', limit: 1.5 }))).code).toBe('MEDIA_ERR_INVALID');
    const huge = await rejection(ng.offer({ callId: 'c', fromTag: 'f', sdp: 'x'.repeat(70_000) }));
    expect(huge.code).toBe('MEDIA_ERR_INVALID');
    expect(huge.detail).toMatchObject({ command: 'offer' });
    await settle();
    expect(relay.received).toHaveLength(0);
    expect(ng.stats()).toMatchObject({ pending: 0, requests: 0 });
  });

  it('sends generic commands with their params', async () => {
    const ng = client();
    relay.handler = (req, r) => r.reply(req, { result: 'ok', calls: ['c1'] });
    await expect(ng.command('list', { limit: 10 })).resolves.toEqual({ result: 'ok', calls: ['c1'] });
    expect(relay.received[0].dict).toEqual({ command: 'list', limit: 10 });
  });

  it('shares a caller-owned socket between clients and leaves it open on close', async () => {
    const other = await FakeRelay.start();
    other.handler = (req, r) => r.reply(req, { result: 'ok', created: 2, tags: {} });
    const shared = createSocket('udp4');
    await new Promise<void>((resolve) => shared.bind(0, '127.0.0.1', resolve));
    try {
      const a = client({ socket: shared });
      const bClient = client({ socket: shared, port: other.port });
      const [pong, query] = await Promise.all([a.ping(), bClient.query({ callId: 'x' })]);
      expect(pong.result).toBe('pong');
      expect(query.created).toBe(2);
      expect(relay.received[0].from.port).toBe(shared.address().port);
      expect(other.received[0].from.port).toBe(shared.address().port);
      await a.close();
      await expect(bClient.ping()).resolves.toMatchObject({ result: 'ok' });
      expect(() => shared.address()).not.toThrow();
    } finally {
      await new Promise<void>((resolve) => shared.close(() => resolve()));
      await other.close();
    }
  });

  it('works on the system clock by default', async () => {
    const ng = new NgClient({ address: '127.0.0.1', port: relay.port, logger });
    clients.push(ng);
    await expect(ng.ping()).resolves.toEqual({ result: 'pong' });
  });

  it.each<[string, Partial<NgClientOptions>, string]>([
    ['a hostname', { address: 'localhost' }, 'address'],
    ['port 0', { port: 0 }, 'port'],
    ['a zero timeout', { timeoutMs: 0 }, 'timeoutMs'],
    ['a negative retransmit interval', { retransmitMs: -1 }, 'retransmitMs'],
    ['NaN maxPending', { maxPending: Number.NaN }, 'maxPending'],
  ])('refuses %s with CFG_ERR_INVALID', (_what, options, field) => {
    try {
      new NgClient({ address: '127.0.0.1', port: 2223, logger, ...options });
      expect.unreachable();
    } catch (err) {
      expect(isSipfleetError(err) && err.code).toBe('CFG_ERR_INVALID');
      expect(isSipfleetError(err) && err.detail?.field).toBe(field);
    }
  });
});

describe('ng params', () => {
  it('maps offer params to the documented ng keys', () => {
    expect(
      offerDict({
        callId: 'c',
        fromTag: 'f',
        viaBranch: 'z9hG4bK1',
        sdp: 'v=0',
        direction: ['priv', 'pub'],
        addressFamily: 'IP6',
        mediaAddress: '2001:db8::1',
        rtcpMux: ['demux'],
        dtls: 'off',
        sdes: ['off'],
        extra: { 'record call': 'no', 'call-id': 'overridden' },
      }),
    ).toEqual({
      'call-id': 'c',
      'from-tag': 'f',
      'via-branch': 'z9hG4bK1',
      sdp: 'v=0',
      direction: ['priv', 'pub'],
      'address family': 'IP6',
      'media address': '2001:db8::1',
      'rtcp-mux': ['demux'],
      DTLS: 'off',
      SDES: ['off'],
      'record call': 'no',
    });
  });

  it('maps answer, delete and query params', () => {
    expect(answerDict({ callId: 'c', fromTag: 'f', toTag: 't', sdp: 'v=0', transportProtocol: 'accept' })).toEqual({
      'call-id': 'c',
      'from-tag': 'f',
      'to-tag': 't',
      sdp: 'v=0',
      'transport protocol': 'accept',
    });
    expect(deleteDict({ callId: 'c', fromTag: 'f', toTag: 't', flags: ['fatal'], deleteDelay: 0 })).toEqual({
      'call-id': 'c',
      'from-tag': 'f',
      'to-tag': 't',
      flags: ['fatal'],
      'delete delay': 0,
    });
    expect(queryDict({ callId: 'c' })).toEqual({ 'call-id': 'c' });
  });
});
