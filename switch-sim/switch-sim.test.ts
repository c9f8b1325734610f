import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseSdp } from '../shared/sdp/parse-sdp.ts';
import type { SipResponse } from '../shared/sip/message.ts';
import { startSwitchSim, type SwitchSim, type SwitchSimOptions } from './switch-sim.ts';
import { TestPeer, branch, invite, newCall, okFor, request, type CallIdentity } from './test-peer.ts';

const HOST = '127.0.0.21';
/** Short RFC 3261 timers so that 64*T1 is 1.28 s. */
const TIMERS = { t1: 20, t2: 80, t4: 100 };

let sim: SwitchSim;
let peer: TestPeer;
let target: { host: string; port: number };

async function start(options: Partial<SwitchSimOptions> = {}): Promise<void> {
  sim = await startSwitchSim({ listen: [`udp://${HOST}:0`, `tcp://${HOST}:0`], id: 'sw1', timers: TIMERS, ...options });
  target = { host: HOST, port: sim.listeners[0].port };
  peer = await TestPeer.udp(target);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

afterEach(async () => {
  await peer?.close();
  await sim?.close();
  peer = undefined!;
  sim = undefined!;
});

/** INVITE → 200, ACK; returns the 200. */
async function establish(call: CallIdentity, extra: { headers?: string[] } = {}): Promise<SipResponse> {
  peer.send(invite(call, { branch: branch(), ...extra }));
  const ok = await peer.response(200, 'INVITE');
  peer.send(request('ACK', call, { branch: branch(), cseq: 1, toTag: ok.toTag }));
  return ok;
}

describe('switch-sim over UDP', () => {
  beforeEach(() => start());

  it('binds port 0 and reports the real ports', () => {
    expect(sim.listeners.map((l) => l.transport)).toEqual(['udp', 'tcp']);
    for (const l of sim.listeners) {
      expect(l.port).toBeGreaterThan(0);
      expect(l.uri).toBe(`${l.transport}://${HOST}:${l.port}`);
    }
  });

  it('INVITE → 100/180/200 with SDP → ACK → BYE → 200', async () => {
    const call = newCall(peer, target);
    peer.send(invite(call, { branch: branch() }));
    const ok = await peer.response(200, 'INVITE');
    expect(peer.summary()).toEqual(['100 INVITE', '180 INVITE', '200 INVITE']);
    const [trying, ringing] = peer.responses('INVITE');
    expect(trying.toTag).toBeUndefined();
    expect(ringing.toTag).toBeDefined();
    expect(ok.toTag).toBe(ringing.toTag);
    expect(ok.get('contact')).toBe(`<sip:sw1@${HOST}:${target.port}>`);
    expect(ok.contentType).toBe('application/sdp');
    const answer = parseSdp(ok.body);
    expect(answer.connection?.address).toBe(HOST);
    expect(answer.media[0].port).toBeGreaterThan(0);
    expect(answer.media[0].formats).toEqual(['0', '8', '101']);
    expect(sim.channels()).toBe(1);

    peer.send(request('ACK', call, { branch: branch(), cseq: 1, toTag: ok.toTag }));
    peer.send(request('BYE', call, { branch: branch(), cseq: 2, toTag: ok.toTag }));
    const byeOk = await peer.response(200, 'BYE');
    expect(byeOk.toTag).toBe(ok.toTag);
    expect(sim.channels()).toBe(0);
    expect(sim.stats().calls).toMatchObject({ total: 1, answered: 1, completed: 1, failed: 0 });
    // No 200 retransmission once ACKed.
    await sleep(100);
    expect(peer.responses('INVITE', 200)).toHaveLength(1);
  });

  it('copies Record-Route into 180 and 200 (RFC 3261 §12.1.1)', async () => {
    const call = newCall(peer, target);
    const rr = ['<sip:127.0.0.1:5999;lr>', '<sip:127.0.0.2:5999;lr;ftag=x>'];
    peer.send(invite(call, { branch: branch(), headers: rr.map((r) => `Record-Route: ${r}`) }));
    const ok = await peer.response(200, 'INVITE');
    expect(ok.getAll('record-route')).toEqual(rr);
    expect(peer.responses('INVITE', 180)[0].getAll('record-route')).toEqual(rr);
    expect(peer.responses('INVITE', 100)[0].getAll('record-route')).toEqual([]);
  });

  it('absorbs a retransmitted INVITE: resends the last response, one call only', async () => {
    const call = newCall(peer, target);
    const b = branch();
    peer.send(invite(call, { branch: b }));
    const ok = await peer.response(200, 'INVITE');
    peer.send(invite(call, { branch: b }));
    await peer.expect((m) => peer.responses('INVITE', 200).length >= 2, 1000, 'a second 200');
    const oks = peer.responses('INVITE', 200);
    expect(oks[1].toTag).toBe(ok.toTag);
    expect(sim.stats().calls.total).toBe(1);
    expect(sim.channels()).toBe(1);
  });

  it('absorbs a retransmitted INVITE while still ringing', async () => {
    sim.setBehaviour({ answerMs: 5000 });
    const call = newCall(peer, target);
    const b = branch();
    peer.send(invite(call, { branch: b }));
    await peer.response(180, 'INVITE');
    peer.send(invite(call, { branch: b }));
    await peer.expect(() => peer.responses('INVITE', 180).length === 2, 1000, 'a second 180');
    expect(sim.stats().calls.total).toBe(1);
  });

  it('retransmits the 200 (T1 doubling) until the ACK', async () => {
    const call = newCall(peer, target);
    peer.send(invite(call, { branch: branch() }));
    const ok = await peer.response(200, 'INVITE');
    await sleep(TIMERS.t1 * 4);
    const count = peer.responses('INVITE', 200).length;
    expect(count).toBeGreaterThanOrEqual(2);
    peer.send(request('ACK', call, { branch: branch(), cseq: 1, toTag: ok.toTag }));
    await sleep(TIMERS.t2 * 3);
    // At most one more may have crossed the ACK.
    expect(peer.responses('INVITE', 200).length).toBeLessThanOrEqual(count + 1);
    expect(sim.channels()).toBe(1);
  });

  it('gives up on a 200 without ACK after 64*T1: failed, channel freed, BYE to the Contact', async () => {
    const call = newCall(peer, target);
    peer.send(invite(call, { branch: branch() }));
    await peer.response(200, 'INVITE');
    const bye = await peer.request('BYE', 64 * TIMERS.t1 + 1000);
    expect(sim.channels()).toBe(0);
    expect(sim.stats().calls.failed).toBe(1);
    expect(bye.uri).toBe(`sip:caller@${peer.host}:${peer.port}`);
    peer.send(okFor(bye));
  });

  it('answers BYE for an unknown dialog with 481', async () => {
    const call = newCall(peer, target);
    peer.send(request('BYE', call, { branch: branch(), cseq: 2, toTag: 'nope' }));
    await peer.response(481, 'BYE');
    peer.send(request('BYE', call, { branch: branch(), cseq: 3 }));
    await peer.response(481, 'BYE');
  });

  it('answers a retransmitted BYE from the response cache', async () => {
    const call = newCall(peer, target);
    const ok = await establish(call);
    const b = branch();
    peer.send(request('BYE', call, { branch: b, cseq: 2, toTag: ok.toTag }));
    await peer.response(200, 'BYE');
    peer.send(request('BYE', call, { branch: b, cseq: 2, toTag: ok.toTag }));
    await peer.expect(() => peer.responses('BYE', 200).length === 2, 1000, 'a second 200 BYE');
    expect(peer.responses('BYE', 481)).toHaveLength(0);
  });

  it('CANCEL: 200 for the CANCEL, 487 for the INVITE, 487 resent until the ACK', async () => {
    sim.setBehaviour({ ringMs: 0, answerMs: 10_000 });
    const call = newCall(peer, target);
    const b = branch();
    peer.send(invite(call, { branch: b }));
    const ringing = await peer.response(180, 'INVITE');
    expect(sim.channels()).toBe(1);
    peer.send(request('CANCEL', call, { branch: b, cseq: 1, contact: false }));
    const cancelOk = await peer.response(200, 'CANCEL');
    expect(cancelOk.toTag).toBe(ringing.toTag);
    const terminated = await peer.response(487, 'INVITE');
    expect(terminated.toTag).toBe(ringing.toTag);
    expect(sim.channels()).toBe(0);
    // Timer G: the 487 comes again until ACKed.
    await peer.expect(() => peer.responses('INVITE', 487).length >= 2, 1000, 'a 487 retransmission');
    peer.send(request('ACK', call, { branch: b, cseq: 1, toTag: terminated.toTag, contact: false }));
    await sleep(TIMERS.t2 + 20);
    const after = peer.responses('INVITE', 487).length;
    await sleep(TIMERS.t2 * 2);
    expect(peer.responses('INVITE', 487).length).toBe(after);
    expect(sim.stats().calls).toMatchObject({ total: 1, cancelled: 1, answered: 0 });
    expect(peer.responses('INVITE', 200)).toHaveLength(0);
  });

  it('stops resending the 487 after 64*T1 without an ACK', async () => {
    sim.setBehaviour({ answerMs: 10_000 });
    const call = newCall(peer, target);
    const b = branch();
    peer.send(invite(call, { branch: b }));
    await peer.response(180, 'INVITE');
    peer.send(request('CANCEL', call, { branch: b, cseq: 1 }));
    await peer.response(487, 'INVITE');
    await sleep(64 * TIMERS.t1 + 100);
    const n = peer.responses('INVITE', 487).length;
    await sleep(TIMERS.t2 * 2);
    expect(peer.responses('INVITE', 487).length).toBe(n);
    expect(sim.channels()).toBe(0);
  });

  it('answers CANCEL for an unknown transaction with 481', async () => {
    const call = newCall(peer, target);
    peer.send(request('CANCEL', call, { branch: branch(), cseq: 1 }));
    await peer.response(481, 'CANCEL');
  });

  it('CANCEL after the 200 has no effect on the call (RFC 3261 §9.2)', async () => {
    const call = newCall(peer, target);
    const b = branch();
    peer.send(invite(call, { branch: b }));
    await peer.response(200, 'INVITE');
    peer.send(request('CANCEL', call, { branch: b, cseq: 1 }));
    await peer.response(200, 'CANCEL');
    await sleep(50);
    expect(peer.responses('INVITE', 487)).toHaveLength(0);
    expect(sim.channels()).toBe(1);
  });

  it('channel cap → 503 Channel Limit with Retry-After: 1; the ACK is absorbed', async () => {
    sim.setBehaviour({ channels: 1 });
    await establish(newCall(peer, target));
    const second = newCall(peer, target);
    const b = branch();
    peer.send(invite(second, { branch: b }));
    const busy = await peer.response(503, 'INVITE');
    expect(busy.reason).toBe('Channel Limit');
    expect(busy.get('retry-after')).toBe('1');
    expect(busy.toTag).toBeDefined();
    expect(peer.responses('INVITE', 100).length).toBe(1); // only the first call's
    peer.send(request('ACK', second, { branch: b, cseq: 1, toTag: busy.toTag }));
    expect(sim.channels()).toBe(1);
    expect(sim.stats().calls).toMatchObject({ total: 2, answered: 1, rejected: 1 });
  });

  it('CPS cap → 503 CPS Limit past N new calls in the last second', async () => {
    sim.setBehaviour({ cps: 2 });
    for (let i = 0; i < 3; i++) peer.send(invite(newCall(peer, target), { branch: branch() }));
    const limited = await peer.response(503, 'INVITE');
    expect(limited.reason).toBe('CPS Limit');
    expect(limited.get('retry-after')).toBe('1');
    await peer.expect(() => peer.responses('INVITE', 200).length === 2, 1000, 'two 200s');
    expect(sim.stats().calls.rejected).toBe(1);
  });

  it('OPTIONS → 200 with Allow, Accept, X-Channels and X-Channels-Max', async () => {
    const probe = newCall(peer, target);
    peer.send(request('OPTIONS', probe, { branch: branch(), cseq: 1 }));
    const idle = await peer.response(200, 'OPTIONS');
    expect(idle.get('allow')).toContain('INVITE');
    expect(idle.get('accept')).toBe('application/sdp');
    expect(idle.get('x-channels')).toBe('0');
    expect(idle.get('x-channels-max')).toBe('unlimited');

    await establish(newCall(peer, target));
    sim.setBehaviour({ channels: 30 });
    peer.clear();
    peer.send(request('OPTIONS', newCall(peer, target), { branch: branch(), cseq: 1 }));
    const busy = await peer.response(200, 'OPTIONS');
    expect(busy.get('x-channels')).toBe('1');
    expect(busy.get('x-channels-max')).toBe('30');
  });

  it('OPTIONS behaviour: 503 and ignore', async () => {
    sim.setBehaviour({ options: '503' });
    peer.send(request('OPTIONS', newCall(peer, target), { branch: branch(), cseq: 1 }));
    await peer.response(503, 'OPTIONS');
    sim.setBehaviour({ options: 'ignore' });
    peer.clear();
    peer.send(request('OPTIONS', newCall(peer, target), { branch: branch(), cseq: 1 }));
    await sleep(100);
    expect(peer.received).toHaveLength(0);
  });

  it('invite behaviours: 486, 503, drop, slow', async () => {
    sim.setBehaviour({ invite: '486' });
    peer.send(invite(newCall(peer, target), { branch: branch() }));
    await peer.response(486, 'INVITE');
    sim.setBehaviour({ invite: '503' });
    peer.send(invite(newCall(peer, target), { branch: branch() }));
    await peer.response(503, 'INVITE');
    sim.setBehaviour({ invite: 'drop' });
    const dropped = newCall(peer, target);
    peer.send(invite(dropped, { branch: branch() }));
    await sleep(100);
    expect(peer.received.filter((m) => m.callId === dropped.callId)).toHaveLength(0);
    sim.setBehaviour({ invite: 'slow', slowMs: 200 });
    const started = Date.now();
    peer.send(invite(newCall(peer, target), { branch: branch() }));
    await peer.response(100, 'INVITE');
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    await peer.response(200, 'INVITE');
    expect(sim.stats().calls).toMatchObject({ total: 4, rejected: 2, dropped: 1, answered: 1 });
  });

  it('ring-ms and answer-ms delay the 180 and the 200', async () => {
    sim.setBehaviour({ ringMs: 100, answerMs: 100 });
    const started = Date.now();
    peer.send(invite(newCall(peer, target), { branch: branch() }));
    await peer.response(100, 'INVITE');
    await peer.response(180, 'INVITE');
    const ringAt = Date.now() - started;
    await peer.response(200, 'INVITE');
    const answerAt = Date.now() - started;
    expect(ringAt).toBeGreaterThanOrEqual(90);
    expect(answerAt).toBeGreaterThanOrEqual(190);
  });

  it('hold-ms: the sim hangs up with a loose-routed BYE through the route set', async () => {
    sim.setBehaviour({ holdMs: 50 });
    // The peer plays the proxy: the Record-Route points at it.
    const proxy = await TestPeer.udp(target);
    try {
      const call = newCall(peer, target);
      const rr = [`<sip:${proxy.host}:${proxy.port};lr>`, '<sip:10.0.0.9:5060;lr>'];
      const ok = await establish(call, { headers: rr.map((r) => `Record-Route: ${r}`) });
      const bye = await proxy.request('BYE', 2000);
      expect(bye.uri).toBe(`sip:caller@${peer.host}:${peer.port}`);
      expect(bye.getAll('route')).toEqual(rr);
      expect(bye.fromTag).toBe(ok.toTag);
      expect(bye.toTag).toBe(call.fromTag);
      expect(bye.callId).toBe(call.callId);
      expect(bye.cseq).toEqual({ seq: 1, method: 'BYE' });
      expect(bye.via.branch).toMatch(/^z9hG4bK/);
      expect(bye.via.port).toBe(target.port);
      expect(sim.channels()).toBe(0);
      // Timer E: resent until answered.
      await proxy.expect(() => proxy.requests('BYE').length >= 2, 1000, 'a BYE retransmission');
      proxy.send(okFor(bye), target);
      await sleep(TIMERS.t2 * 2);
      const n = proxy.requests('BYE').length;
      await sleep(TIMERS.t2 * 2);
      expect(proxy.requests('BYE').length).toBe(n);
      expect(peer.requests('BYE')).toHaveLength(0);
      // The dialog is gone.
      peer.send(request('BYE', call, { branch: branch(), cseq: 2, toTag: ok.toTag }));
      await peer.response(481, 'BYE');
    } finally {
      await proxy.close();
    }
  });

  it('without a route set the sim BYE goes to the Contact; hangupAll counts established calls', async () => {
    const call = newCall(peer, target);
    await establish(call);
    peer.send(invite(newCall(peer, target), { branch: branch() })); // answered, never ACKed
    await peer.expect(() => peer.responses('INVITE', 200).length >= 2, 1000, 'second 200');
    expect(sim.hangupAll()).toBe(1);
    const bye = await peer.request('BYE');
    expect(bye.callId).toBe(call.callId);
    expect(bye.getAll('route')).toEqual([]);
    peer.send(okFor(bye));
  });

  it('re-INVITE → 200 with a new SDP version; INFO and UPDATE → 200', async () => {
    const call = newCall(peer, target);
    const ok = await establish(call);
    const first = parseSdp(ok.body);
    peer.send(invite(call, { branch: branch(), cseq: 2, toTag: ok.toTag }));
    const reOk = await peer.expect((m) => m.kind === 'response' && m.status === 200 && m.cseq.seq === 2) as SipResponse;
    const second = parseSdp(reOk.body);
    expect(second.origin.sessionId).toBe(first.origin.sessionId);
    expect(BigInt(second.origin.sessionVersion)).toBe(BigInt(first.origin.sessionVersion) + 1n);
    expect(second.media[0].port).toBe(first.media[0].port);
    peer.send(request('ACK', call, { branch: branch(), cseq: 2, toTag: ok.toTag }));
    peer.send(request('INFO', call, { branch: branch(), cseq: 3, toTag: ok.toTag, body: 'Signal=1\r\n', contentType: 'application/dtmf-relay' }));
    await peer.response(200, 'INFO');
    peer.send(request('UPDATE', call, { branch: branch(), cseq: 4, toTag: ok.toTag }));
    await peer.response(200, 'UPDATE');
    peer.send(request('INFO', call, { branch: branch(), cseq: 5, toTag: 'other' }));
    await peer.response(481, 'INFO');
  });

  it('unknown out-of-dialog method → 501 with Allow; dialog-only methods → 481', async () => {
    peer.send(request('SUBSCRIBE', newCall(peer, target), { branch: branch(), cseq: 1, headers: ['Event: presence'] }));
    const res = await peer.response(501, 'SUBSCRIBE');
    expect(res.get('allow')).toContain('OPTIONS');
    peer.send(request('INFO', newCall(peer, target), { branch: branch(), cseq: 1 }));
    await peer.response(481, 'INFO');
  });

  it('answers 488 to an offer without a common codec', async () => {
    const g729 = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18\r\n';
    peer.send(invite(newCall(peer, target), { branch: branch(), body: g729 }));
    await peer.response(488, 'INVITE');
    peer.send(invite(newCall(peer, target), { branch: branch(), body: 'v=0\r\nbroken\r\n' }));
    await peer.expect(() => peer.responses('INVITE', 488).length === 2, 1000, 'second 488');
    expect(sim.channels()).toBe(0);
  });

  it('an INVITE without SDP gets an offer in the 200', async () => {
    peer.send(invite(newCall(peer, target), { branch: branch(), body: '' }));
    const ok = await peer.response(200, 'INVITE');
    expect(parseSdp(ok.body).media[0].formats).toEqual(['0', '8', '101']);
  });

  it('400 for a malformed request, drop for garbage, and keeps working', async () => {
    const call = newCall(peer, target);
    // A broken CSeq: the 400 copies it, so look at the raw datagrams.
    peer.send(invite(call, { branch: branch() }).replace('CSeq: 1 INVITE', 'CSeq: x INVITE'));
    await peer.waitFor(() => peer.raw.some((d) => d.toString('latin1').startsWith('SIP/2.0 400 ')), 1000, 'a 400');
    const raw400 = peer.raw.find((d) => d.toString('latin1').startsWith('SIP/2.0 400 '))!.toString('latin1');
    expect(raw400).toContain(`Call-ID: ${call.callId}`);
    expect(raw400).toMatch(/\r\nTo: [^\r]*;tag=/);
    peer.send(Buffer.from([0, 1, 2, 3, 0xff, 0x0d, 0x0a]));
    peer.send('\r\n\r\n');
    peer.send('SIP/2.0 200 OK\r\n\r\n');
    peer.send(request('ACK', newCall(peer, target), { branch: branch(), cseq: 1 }).replace('CSeq: 1 ACK', 'CSeq: 1 BYE'));
    const other = newCall(peer, target);
    peer.send(invite(other, { branch: branch() }).replace(/Contact: [^\r]*/, 'Contact: <bad'));
    const res = await peer.expect((m) => m.kind === 'response' && m.callId === other.callId);
    expect(res.kind === 'response' && res.status).toBe(400);
    expect(sim.stats().calls.total).toBe(0);
    await establish(newCall(peer, target));
    expect(sim.channels()).toBe(1);
    expect(peer.raw.filter((d) => d.toString('latin1').startsWith('SIP/2.0 400 '))).toHaveLength(2);
  });

  it('replies to the packet source, not the Via (RFC 3581)', async () => {
    const call = newCall(peer, target);
    const text = invite(call, { branch: branch() }).replace(`Via: SIP/2.0/UDP ${peer.host}:${peer.port}`, 'Via: SIP/2.0/UDP 192.0.2.1:5062');
    peer.send(text);
    await peer.response(200, 'INVITE');
  });
});

describe('switch-sim over TCP', () => {
  let tcp: TestPeer;
  beforeEach(async () => {
    await start();
    tcp = await TestPeer.tcp({ host: HOST, port: sim.listeners[1].port });
  });
  afterEach(async () => {
    await tcp.close();
  });

  it('runs a call over one connection and answers CRLFCRLF with CRLF', async () => {
    const t = { host: HOST, port: sim.listeners[1].port };
    const call = newCall(tcp, t);
    tcp.send(invite(call, { branch: branch() }));
    const ok = await tcp.response(200, 'INVITE');
    expect(ok.get('contact')).toBe(`<sip:sw1@${HOST}:${t.port};transport=tcp>`);
    tcp.send(request('ACK', call, { branch: branch(), cseq: 1, toTag: ok.toTag }));
    tcp.send('\r\n\r\n');
    await tcp.expect(() => tcp.raw.some((c) => c.toString() === '\r\n'), 1000, 'a CRLF pong');
    tcp.send(request('BYE', call, { branch: branch(), cseq: 2, toTag: ok.toTag }));
    await tcp.response(200, 'BYE');
    expect(sim.channels()).toBe(0);
  });

  it('sends its own BYE back over the open connection when the Contact is that connection', async () => {
    sim.setBehaviour({ holdMs: 30 });
    const t = { host: HOST, port: sim.listeners[1].port };
    const call = newCall(tcp, t);
    tcp.send(invite(call, { branch: branch() }));
    const ok = await tcp.response(200, 'INVITE');
    tcp.send(request('ACK', call, { branch: branch(), cseq: 1, toTag: ok.toTag }));
    const bye = await tcp.request('BYE');
    expect(bye.via.transport).toBe('TCP');
    tcp.send(okFor(bye));
    await sleep(50);
    expect(sim.channels()).toBe(0);
  });
});

describe('startSwitchSim options', () => {
  it('rejects a bad listen URI and an unbindable address', async () => {
    await expect(startSwitchSim({ listen: ['sctp://127.0.0.1:5060'] })).rejects.toMatchObject({ code: 'CFG_ERR_INVALID' });
    await expect(startSwitchSim({ listen: [] })).rejects.toMatchObject({ code: 'CFG_ERR_INVALID' });
    await expect(startSwitchSim({ listen: ['udp://192.0.2.55:0'] })).rejects.toMatchObject({ code: 'TRANSPORT_ERR_BIND' });
  });

  it('takes channels/cps/timings as shortcuts and validates setBehaviour', async () => {
    const s = await startSwitchSim({ listen: [`udp://${HOST}:0`], channels: 5, cps: 10, ringMs: 1, answerMs: 2, holdMs: 3 });
    try {
      expect(s.behaviour()).toMatchObject({ channels: 5, cps: 10, ringMs: 1, answerMs: 2, holdMs: 3, invite: 'answer' });
      expect(() => s.setBehaviour({ ringMs: -1 })).toThrow(/ringMs/);
      expect(s.behaviour().ringMs).toBe(1);
    } finally {
      await s.close();
    }
  });
});

describe('switch-sim over IPv6', () => {
  it('answers with an IP6 SDP and a bracketed Contact', async () => {
    const s = await startSwitchSim({ listen: ['udp://[::1]:0'], id: 'v6', timers: TIMERS });
    const { createSocket } = await import('node:dgram');
    const socket = createSocket('udp6');
    try {
      await new Promise<void>((resolve) => socket.bind(0, '::1', resolve));
      const port = s.listeners[0].port;
      const ownPort = socket.address().port;
      const responses: string[] = [];
      socket.on('message', (d) => responses.push(d.toString('latin1')));
      const sdp = 'v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n';
      const msg = [
        `INVITE sip:x@[::1]:${port} SIP/2.0`,
        `Via: SIP/2.0/UDP [::1]:${ownPort};branch=z9hG4bKv6one`,
        'From: <sip:a@[::1]>;tag=v6',
        `To: <sip:x@[::1]:${port}>`,
        'Call-ID: v6-call',
        'CSeq: 1 INVITE',
        `Contact: <sip:a@[::1]:${ownPort}>`,
        'Content-Type: application/sdp',
        `Content-Length: ${sdp.length}`,
        '',
        sdp,
      ].join('\r\n');
      socket.send(msg, port, '::1');
      const deadline = Date.now() + 2000;
      while (!responses.some((r) => r.startsWith('SIP/2.0 200')) && Date.now() < deadline) await sleep(5);
      const ok = responses.find((r) => r.startsWith('SIP/2.0 200'));
      expect(ok).toBeDefined();
      expect(ok).toContain(`Contact: <sip:v6@[::1]:${port}>`);
      expect(ok).toContain('c=IN IP6 ::1\r\n');
      expect(ok).toContain('m=audio 2');
      expect(ok).toContain(' RTP/AVP 8\r\n');
    } finally {
      socket.close();
      await s.close();
    }
  });
});
