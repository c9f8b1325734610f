import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { parseSdp } from '../shared/sdp/parse-sdp.ts';
import type { SipResponse } from '../shared/sip/message.ts';
import { createLogger } from '../shared/log.ts';
import { SimMedia, type RtpCallInfo } from './rtp-media.ts';
import { RtpPortPool } from './rtp-ports.ts';
import { buildRtpPacket, parseRtpHeader, silenceFrame, type RtpHeader } from './rtp-packet.ts';
import { startSwitchSim, type SwitchSim, type SwitchSimOptions, type SwitchSimStatus } from './switch-sim.ts';
import { TestPeer, branch, invite, newCall, okFor, request, type CallIdentity } from './test-peer.ts';

const HOST = '127.0.0.21';
/** Where the caller's RTP lives, and another address standing in for a relay. */
const CALLER = '127.0.0.1';
const RELAY = '127.0.0.2';
const TIMERS = { t1: 20, t2: 80, t4: 100 };
/** Away from the default range and from the other test files. */
const PORTS = '42000-42099';

interface Datagram {
  data: Buffer;
  address: string;
  port: number;
}

/** A UDP socket standing in for a caller's (or a relay's) RTP port. */
class RtpPeer {
  readonly received: Datagram[] = [];
  readonly socket: Socket;
  readonly host: string;
  port = 0;

  private constructor(host: string) {
    this.host = host;
    this.socket = createSocket('udp4');
    this.socket.on('message', (data, r) => this.received.push({ data, address: r.address, port: r.port }));
  }

  static async open(host: string, port = 0): Promise<RtpPeer> {
    const peer = new RtpPeer(host);
    await new Promise<void>((resolve, reject) => {
      peer.socket.once('error', reject);
      peer.socket.bind(port, host, () => resolve());
    });
    peer.port = peer.socket.address().port;
    return peer;
  }

  send(data: Buffer, to: { host: string; port: number }): void {
    this.socket.send(data, to.port, to.host);
  }

  headers(): RtpHeader[] {
    return this.received.map((d) => parseRtpHeader(d.data)!);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

let sim: SwitchSim;
let peer: TestPeer;
let target: { host: string; port: number };
let base: string;
const opened: RtpPeer[] = [];

async function start(options: Partial<SwitchSimOptions> = {}): Promise<void> {
  sim = await startSwitchSim({ listen: [`udp://${HOST}:0`], http: `${HOST}:0`, id: 'sw-rtp', timers: TIMERS, rtpPorts: PORTS, ...options });
  target = { host: HOST, port: sim.listeners[0].port };
  base = `http://${HOST}:${sim.http!.port}`;
  peer = await TestPeer.udp(target);
}

async function rtpPeer(host = CALLER, port = 0): Promise<RtpPeer> {
  const p = await RtpPeer.open(host, port);
  opened.push(p);
  return p;
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((p) => p.close()));
  await peer?.close();
  await sim?.close();
  peer = undefined!;
  sim = undefined!;
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function offer(port: number, options: { address?: string; formats?: string; direction?: string } = {}): string {
  const address = options.address ?? CALLER;
  return [
    'v=0',
    `o=caller 1 1 IN IP4 ${address}`,
    's=-',
    `c=IN IP4 ${address}`,
    't=0 0',
    `m=audio ${port} RTP/AVP ${options.formats ?? '0 8 101'}`,
    'a=rtpmap:101 telephone-event/8000',
    ...(options.direction === undefined ? [] : [`a=${options.direction}`]),
    '',
  ].join('\r\n');
}

/** The RTP address of a 200's SDP. */
function sdpTarget(res: SipResponse): { host: string; port: number } {
  const sdp = parseSdp(res.body);
  return { host: sdp.connectionFor(sdp.media[0])!.address, port: sdp.media[0].port };
}

/** INVITE with an offer for `rtpPort` → 200 → ACK. */
async function establish(call: CallIdentity, rtpPort: number, body = offer(rtpPort)): Promise<SipResponse> {
  peer.send(invite(call, { branch: branch(), body }));
  const ok = await peer.expect((m) => m.kind === 'response' && m.status === 200 && m.callId === call.callId) as SipResponse;
  peer.send(request('ACK', call, { branch: branch(), cseq: 1, toTag: ok.toTag }));
  return ok;
}

function rtp(seq: number, ssrc = 0x1234): Buffer {
  return buildRtpPacket({ marker: false, payloadType: 0, sequence: seq, timestamp: seq * 160, ssrc }, silenceFrame(0));
}

async function getJson<T>(path: string): Promise<T> {
  return (await (await fetch(`${base}${path}`)).json()) as T;
}

/** True once `port` on HOST can be bound again: the sim closed its socket. */
async function isFree(port: number): Promise<boolean> {
  const s = createSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(port, HOST, () => resolve());
    });
    return true;
  } catch {
    return false;
  } finally {
    await new Promise<void>((r) => s.close(() => r()));
  }
}

async function waitFree(port: number): Promise<void> {
  const deadline = Date.now() + 3000;
  while (!(await isFree(port))) {
    if (Date.now() > deadline) throw new Error(`port ${port} still bound`);
    await sleep(10);
  }
}

describe('switch-sim RTP echo', () => {
  it('answers with a bound port in the range and echoes every packet to its source (the relay), counted', async () => {
    await start({ rtp: 'echo' });
    const caller = await rtpPeer(CALLER);
    const relay = await rtpPeer(RELAY);
    const call = newCall(peer, target);
    const ok = await establish(call, caller.port);
    const media = sdpTarget(ok);
    expect(media.host).toBe(HOST);
    expect(media.port).toBeGreaterThanOrEqual(42000);
    expect(media.port).toBeLessThanOrEqual(42099);
    expect(media.port % 2).toBe(0);
    expect(await isFree(media.port)).toBe(false);

    // The relay forwards the caller's packets: they come from the relay's address, not the SDP's.
    for (let i = 0; i < 10; i++) relay.send(rtp(i), media);
    await peer.waitFor(() => relay.received.length === 10, 2000, '10 echoed packets');
    expect(relay.headers().map((h) => h.sequence)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(relay.received.every((d) => d.address === HOST && d.port === media.port)).toBe(true);
    expect(caller.received).toHaveLength(0);

    const [info] = await getJson<RtpCallInfo[]>(`/calls?callId=${encodeURIComponent(call.callId)}`);
    expect(info).toEqual({
      callId: call.callId,
      state: 'active',
      rtpLocal: `${HOST}:${media.port}`,
      rtpRemote: `${CALLER}:${caller.port}`,
      packetsIn: 10,
      bytesIn: 1720,
      packetsOut: 10,
      bytesOut: 1720,
      lastSource: `${RELAY}:${relay.port}`,
      sources: [`${RELAY}:${relay.port}`],
    });
    const status = await getJson<SwitchSimStatus>('/status');
    expect(status.behaviour.rtp).toBe('echo');
    expect(status.rtp).toMatchObject({ mode: 'echo', ports: PORTS, calls: 1, portsFree: 49, packetsIn: 10, packetsOut: 10, bytesIn: 1720, lastRemote: `${RELAY}:${relay.port}` });

    // BYE closes the socket; the counters stay readable.
    peer.send(request('BYE', call, { branch: branch(), cseq: 2, toTag: ok.toTag }));
    await peer.response(200, 'BYE');
    await waitFree(media.port);
    relay.send(rtp(99), media);
    await sleep(50);
    expect(relay.received).toHaveLength(10);
    const [ended] = sim.calls(call.callId);
    expect(ended).toMatchObject({ state: 'ended', packetsIn: 10, packetsOut: 10, lastSource: `${RELAY}:${relay.port}` });
    expect(sim.stats().rtp).toMatchObject({ calls: 0, portsFree: 50, packetsIn: 10 });
  });

  it('counts but does not echo before the 200 OK; echoes from the 200 on', async () => {
    await start({ rtp: 'echo', answerMs: 300 });
    const caller = await rtpPeer();
    const call = newCall(peer, target);
    peer.send(invite(call, { branch: branch(), body: offer(caller.port) }));
    await peer.response(180, 'INVITE');
    await peer.waitFor(() => sim.calls(call.callId)[0]?.rtpLocal !== null && sim.calls(call.callId).length === 1, 2000, 'a bound port');
    const [early] = sim.calls(call.callId);
    expect(early.state).toBe('early');
    const port = Number(early.rtpLocal!.split(':')[1]);
    caller.send(rtp(1), { host: HOST, port });
    await peer.waitFor(() => sim.calls(call.callId)[0].packetsIn === 1, 2000, 'the early packet counted');
    expect(sim.calls(call.callId)[0].packetsOut).toBe(0);
    const ok = await peer.response(200, 'INVITE');
    expect(sdpTarget(ok).port).toBe(port);
    caller.send(rtp(2), { host: HOST, port });
    await peer.waitFor(() => caller.received.length === 1, 2000, 'an echo');
    expect(caller.headers()[0].sequence).toBe(2);
  });

  it('skips a port of the range that another process holds', async () => {
    const squatter = await rtpPeer(HOST, 42200);
    await start({ rtp: 'echo', rtpPorts: '42200-42203' });
    const ok = await establish(newCall(peer, target), 4000);
    expect(sdpTarget(ok).port).toBe(42202);
    expect(squatter.received).toHaveLength(0);
  });
});

describe('switch-sim RTP send', () => {
  it('sends a 20 ms PCMU stream to the offer address, ~50 packets/s, and echoes nothing', async () => {
    await start({ rtp: 'send' });
    const caller = await rtpPeer();
    const call = newCall(peer, target);
    const started = Date.now();
    const ok = await establish(call, caller.port);
    const media = sdpTarget(ok);
    // Our own packets to the sim: counted, never sent back.
    for (let i = 0; i < 5; i++) caller.send(rtp(i, 0xabcd), media);
    await sleep(1000);
    const elapsed = Date.now() - started;
    const headers = caller.headers();
    expect(caller.received.every((d) => d.address === HOST && d.port === media.port && d.data.length === 172)).toBe(true);
    expect(headers.length).toBeGreaterThanOrEqual(Math.floor((elapsed * 50) / 1000) - 8);
    expect(headers.length).toBeLessThanOrEqual(Math.ceil((elapsed * 50) / 1000) + 2);
    expect(headers.every((h) => h.version === 2 && h.payloadType === 0 && h.ssrc === headers[0].ssrc)).toBe(true);
    expect(headers[0].ssrc).not.toBe(0xabcd);
    expect(headers[0].marker).toBe(true);
    expect(headers.slice(1).every((h) => !h.marker)).toBe(true);
    for (let i = 1; i < headers.length; i++) {
      expect((headers[i].sequence - headers[i - 1].sequence) & 0xffff).toBe(1);
      expect((headers[i].timestamp - headers[i - 1].timestamp) >>> 0).toBe(160);
    }
    const [info] = sim.calls(call.callId);
    expect(info).toMatchObject({ state: 'active', packetsIn: 5, rtpRemote: `${CALLER}:${caller.port}`, lastSource: `${CALLER}:${caller.port}` });
    expect(info.packetsOut).toBeGreaterThanOrEqual(headers.length);

    // hangup-all: the sim's BYE stops the stream and closes the socket.
    expect(await (await fetch(`${base}/hangup-all`, { method: 'POST' })).json()).toEqual({ hungUp: 1 });
    const bye = await peer.request('BYE');
    peer.send(okFor(bye));
    await waitFree(media.port);
    const n = caller.received.length;
    await sleep(100);
    expect(caller.received.length).toBe(n);
    expect(sim.calls(call.callId)[0].state).toBe('ended');
  });

  it('PCMA when the offer has no PCMU; a re-INVITE moves the stream; hold (sendonly) stops it', async () => {
    await start({ rtp: 'send' });
    const first = await rtpPeer();
    const second = await rtpPeer();
    const call = newCall(peer, target);
    const ok = await establish(call, first.port, offer(first.port, { formats: '8' }));
    await peer.waitFor(() => first.received.length >= 3, 2000, 'a stream');
    expect(first.headers()[0].payloadType).toBe(8);
    expect(first.received[0].data[12]).toBe(0xd5);

    peer.send(invite(call, { branch: branch(), cseq: 2, toTag: ok.toTag, body: offer(second.port, { formats: '8' }) }));
    await peer.expect((m) => m.kind === 'response' && m.status === 200 && m.cseq.seq === 2);
    peer.send(request('ACK', call, { branch: branch(), cseq: 2, toTag: ok.toTag }));
    await peer.waitFor(() => second.received.length >= 3, 2000, 'the stream at the new address');
    const atFirst = first.received.length;
    await sleep(100);
    expect(first.received.length).toBe(atFirst);
    const a = first.headers().at(-1)!;
    const b = second.headers()[0];
    expect(b.ssrc).toBe(a.ssrc);
    expect((b.sequence - a.sequence) & 0xffff).toBeGreaterThanOrEqual(1);

    peer.send(invite(call, { branch: branch(), cseq: 3, toTag: ok.toTag, body: offer(second.port, { formats: '8', direction: 'sendonly' }) }));
    const held = await peer.expect((m) => m.kind === 'response' && m.status === 200 && m.cseq.seq === 3) as SipResponse;
    expect(parseSdp(held.body).media[0].hasAttribute('recvonly')).toBe(true);
    peer.send(request('ACK', call, { branch: branch(), cseq: 3, toTag: ok.toTag }));
    await sleep(60);
    const atHold = second.received.length;
    await sleep(150);
    expect(second.received.length).toBe(atHold);
  });

  it('an INVITE without SDP: the stream goes where the answer in the ACK says', async () => {
    await start({ rtp: 'send' });
    const caller = await rtpPeer();
    const call = newCall(peer, target);
    peer.send(invite(call, { branch: branch(), body: '' }));
    const ok = await peer.response(200, 'INVITE');
    expect(sdpTarget(ok).port).toBeGreaterThanOrEqual(42000);
    peer.send(request('ACK', call, { branch: branch(), cseq: 1, toTag: ok.toTag, body: offer(caller.port, { formats: '0' }) }));
    await peer.waitFor(() => caller.received.length >= 3, 2000, 'a stream');
    expect(caller.headers()[0].payloadType).toBe(0);
  });
});

describe('switch-sim RTP sockets end with the call', () => {
  it('CANCEL while ringing closes the socket', async () => {
    await start({ rtp: 'echo', answerMs: 10_000 });
    const call = newCall(peer, target);
    const b = branch();
    peer.send(invite(call, { branch: b, body: offer(4000) }));
    await peer.response(180, 'INVITE');
    await peer.waitFor(() => sim.calls(call.callId)[0]?.rtpLocal != null, 2000, 'a bound port');
    const port = Number(sim.calls(call.callId)[0].rtpLocal!.split(':')[1]);
    expect(await isFree(port)).toBe(false);
    peer.send(request('CANCEL', call, { branch: b, cseq: 1, contact: false }));
    await peer.response(487, 'INVITE');
    await waitFree(port);
    expect(sim.stats().rtp.calls).toBe(0);
    expect(sim.calls(call.callId)[0].state).toBe('ended');
  });

  it('a 200 never ACKed (64*T1) closes the socket', async () => {
    await start({ rtp: 'echo' });
    const call = newCall(peer, target);
    peer.send(invite(call, { branch: branch(), body: offer(4000) }));
    const ok = await peer.response(200, 'INVITE');
    const bye = await peer.request('BYE', 64 * TIMERS.t1 + 1000);
    peer.send(okFor(bye));
    await waitFree(sdpTarget(ok).port);
    expect(sim.stats().rtp.calls).toBe(0);
  });

  it('close() closes every socket', async () => {
    await start({ rtp: 'echo' });
    const ok = await establish(newCall(peer, target), 4000);
    expect(await isFree(sdpTarget(ok).port)).toBe(false);
    await sim.close();
    expect(await isFree(sdpTarget(ok).port)).toBe(true);
  });

  it('a session ended (or the sim closed) while binding closes what it bound', async () => {
    const pool = new RtpPortPool({ min: 42400, max: 42409 });
    const media = new SimMedia({ pool, mode: () => 'echo', log: createLogger() });
    const ended = media.open('a', HOST)!;
    const closedWithSim = media.open('b', HOST)!;
    media.close(ended);
    await media.closeAll();
    expect(await ended.bound).toBeUndefined();
    expect(await closedWithSim.bound).toBeUndefined();
    expect(pool.free).toBe(5);
    for (let port = 42400; port <= 42408; port += 2) expect(await isFree(port)).toBe(true);
    expect(media.open('c', HOST)).toBeUndefined();
    expect(media.calls().map((c) => [c.callId, c.state])).toEqual([['b', 'ended'], ['a', 'ended']]);
  });
});

describe('switch-sim RTP port range', () => {
  it('503 RTP Ports Exhausted when every port is in use; a freed port is used again', async () => {
    await start({ rtp: 'echo', rtpPorts: '42100-42103' });
    const calls = [newCall(peer, target), newCall(peer, target)];
    const oks = [await establish(calls[0], 4000), await establish(calls[1], 4002)];
    expect(oks.map((ok) => sdpTarget(ok).port).sort()).toEqual([42100, 42102]);
    const third = newCall(peer, target);
    peer.send(invite(third, { branch: branch(), body: offer(4004) }));
    const refused = await peer.response(503, 'INVITE');
    expect(refused.reason).toBe('RTP Ports Exhausted');
    expect(refused.get('retry-after')).toBe('1');
    expect(sim.channels()).toBe(2);
    expect(sim.stats().rtp).toMatchObject({ refused: 1, portsFree: 0, calls: 2 });
    expect(sim.stats().calls).toMatchObject({ rejected: 1, answered: 2 });

    peer.send(request('BYE', calls[0], { branch: branch(), cseq: 2, toTag: oks[0].toTag }));
    await peer.response(200, 'BYE');
    await peer.waitFor(() => sim.stats().rtp.portsFree === 1, 2000, 'a port back');
    const again = await establish(newCall(peer, target), 4006);
    expect(sdpTarget(again).port).toBe(sdpTarget(oks[0]).port);
  });

  it('503 after the 180 when no port of the range can be bound', async () => {
    const squatter = await rtpPeer(HOST, 42300);
    await start({ rtp: 'echo', rtpPorts: '42300-42301' });
    const call = newCall(peer, target);
    peer.send(invite(call, { branch: branch(), body: offer(4000) }));
    const refused = await peer.response(503, 'INVITE');
    expect(refused.reason).toBe('RTP Ports Exhausted');
    expect(peer.responses('INVITE', 200)).toHaveLength(0);
    expect(sim.channels()).toBe(0);
    expect(sim.stats().rtp.refused).toBe(1);
    expect(squatter.received).toHaveLength(0);
  });
});

describe('switch-sim RTP off (the default)', () => {
  it('binds nothing and keeps the old SDP port; POST /behaviour {"rtp":"echo"} turns it on for new calls', async () => {
    await start();
    const caller = await rtpPeer();
    const ok = await establish(newCall(peer, target), caller.port);
    const media = sdpTarget(ok);
    expect(media.port).toBeGreaterThanOrEqual(20000);
    expect(media.port).toBeLessThan(30000);
    expect(sim.stats().rtp).toMatchObject({ mode: 'off', calls: 0, portsFree: 50, packetsIn: 0, packetsOut: 0 });
    expect(await getJson<unknown[]>('/calls')).toEqual([]);

    const res = await fetch(`${base}/behaviour`, { method: 'POST', body: JSON.stringify({ rtp: 'echo' }) });
    expect(((await res.json()) as { rtp: string }).rtp).toBe('echo');
    const echoed = await establish(newCall(peer, target), caller.port);
    const bound = sdpTarget(echoed);
    expect(bound.port).toBeGreaterThanOrEqual(42000);
    caller.send(rtp(7), bound);
    await peer.waitFor(() => caller.received.length === 1, 2000, 'an echo');
    expect(sim.stats().rtp).toMatchObject({ mode: 'echo', calls: 1, packetsIn: 1, packetsOut: 1 });

    // Back to off: the live socket stays (until the call ends) but echoes nothing.
    sim.setBehaviour({ rtp: 'off' });
    caller.send(rtp(8), bound);
    await peer.waitFor(() => sim.stats().rtp.packetsIn === 2, 2000, 'a counted packet');
    await sleep(30);
    expect(caller.received).toHaveLength(1);
  });
});
