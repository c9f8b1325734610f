/**
 * Client transactions through the transaction layer (RFC 3261 §17.1, RFC 6026 §8.4), with a
 * FakeTransport and a ManualClock.
 */
import { describe, expect, it } from 'vitest';
import type { SipRequest } from '../../shared/sip/index.ts';
import type { Target } from '../transport/transport.ts';
import {
  layerHarness,
  parseRequest,
  RecordingClientUser,
  responseTo,
  sendTimes,
  settle,
  sip,
  startLines,
  type LayerHarness,
} from './transaction-test-kit.ts';

const SWITCH: Target = { protocol: 'udp', address: '192.0.2.21', port: 5060 };
const SWITCH_FLOW = { protocol: 'udp', remoteAddress: '192.0.2.21', remotePort: 5060 } as const;
const BRANCH = 'z9hG4bK-out-1';

function outbound(method: string, opts: { transport?: string; branch?: string } = {}): SipRequest {
  return parseRequest(
    sip([
      `${method} sip:+15551234567@192.0.2.21:5060 SIP/2.0`,
      `Via: SIP/2.0/${opts.transport ?? 'UDP'} 192.0.2.100:5060;branch=${opts.branch ?? BRANCH};rport`,
      'Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-c1;rport=5060;received=198.51.100.7',
      'Max-Forwards: 69',
      'Route: <sip:192.0.2.50:5070;lr>',
      'Route: <sip:192.0.2.21:5060;lr>',
      'From: "Carrier" <sip:+15550001111@198.51.100.7>;tag=from-1',
      'To: <sip:+15551234567@192.0.2.100>',
      'Call-ID: call-1@198.51.100.7',
      `CSeq: 4711 ${method}`,
      'Contact: <sip:+15550001111@198.51.100.7:5060>',
      'X-Extra: kept',
    ]),
  );
}

function start(h: LayerHarness, method: string, target: Target = SWITCH): { req: SipRequest; user: RecordingClientUser } {
  const req = outbound(method, { transport: target.protocol === 'udp' ? 'UDP' : 'TCP' });
  const user = new RecordingClientUser();
  h.layer.sendRequest(req, target, user);
  return { req, user };
}

const isMethod = (m: string) => (s: { text: string }) => s.text.startsWith(`${m} `);

describe('INVITE client transaction (RFC 3261 §17.1.1)', () => {
  it('§17.1.1.2 Timer A retransmits at 500, 1000, 2000 ms... over UDP; Timer B (64*T1) reports a timeout exactly once', () => {
    const h = layerHarness();
    const { user } = start(h, 'INVITE');
    const times = sendTimes(h, 31_999, isMethod('INVITE'));
    // Timer A doubles without the T2 cap.
    expect(times).toEqual([0, 500, 1500, 3500, 7500, 15500, 31500]);
    expect(user.timeouts).toBe(0);
    h.clock.advance(1);
    expect(user.timeouts).toBe(1);
    expect(h.layer.stats().clientTransactions).toBe(0);
    h.transport.clear();
    h.clock.advance(120_000);
    expect(user.timeouts).toBe(1);
    expect(h.transport.sent).toHaveLength(0);
  });

  it('§17.1.1.2 over TCP: no Timer A retransmissions, Timer B still fires', () => {
    const h = layerHarness();
    const { user } = start(h, 'INVITE', { protocol: 'tcp', address: '192.0.2.21', port: 5060 });
    h.clock.advance(31_999);
    expect(h.transport.sent).toHaveLength(1);
    h.clock.advance(1);
    expect(user.timeouts).toBe(1);
  });

  it('§17.1.1.2 a 1xx stops retransmissions and Timer B (Proceeding waits for the final)', () => {
    const h = layerHarness();
    const { req, user } = start(h, 'INVITE');
    h.clock.advance(700); // one retransmission at 500
    h.transport.inject(responseTo(req, 180, 'Ringing'), SWITCH_FLOW);
    expect(user.statuses).toEqual([180]);
    h.clock.advance(200_000);
    expect(startLines(h.transport.sent).filter((l) => l.startsWith('INVITE'))).toHaveLength(2);
    expect(user.timeouts).toBe(0);
    expect(h.layer.stats().clientTransactions).toBe(1);
  });

  it('§17.1.1.3 a 486 is ACKed hop by hop (same branch, CSeq n ACK, To with tag, Request-URI, Route); retransmitted 486s re-trigger the ACK only', () => {
    const h = layerHarness();
    const { req, user } = start(h, 'INVITE');
    h.transport.clear();
    const busy = responseTo(req, 486, 'Busy Here', { toTag: 'sw-486' });
    h.transport.inject(busy, SWITCH_FLOW);
    expect(user.statuses).toEqual([486]);
    const [ackRec] = h.transport.take();
    expect(ackRec.target).toEqual(SWITCH);
    const ack = parseRequest(ackRec);
    expect(ack.method).toBe('ACK');
    expect(ack.uri).toBe(req.uri);
    expect(ack.getAll('via')).toEqual([`SIP/2.0/UDP 192.0.2.100:5060;branch=${BRANCH};rport`]);
    expect(ack.via.branch).toBe(BRANCH);
    expect(ack.get('cseq')).toBe('4711 ACK');
    expect(ack.toTag).toBe('sw-486');
    expect(ack.get('to')).toBe('<sip:+15551234567@192.0.2.100>;tag=sw-486');
    expect(ack.get('from')).toBe(req.get('from'));
    expect(ack.callId).toBe(req.callId);
    expect(ack.getAll('route')).toEqual(['<sip:192.0.2.50:5070;lr>', '<sip:192.0.2.21:5060;lr>']);
    expect(ack.has('contact')).toBe(false);
    expect(ack.has('x-extra')).toBe(false);
    expect(ack.body.length).toBe(0);

    // Completed: no more INVITE retransmissions, each 486 retransmission gets the same ACK.
    h.clock.advance(2_000);
    expect(h.transport.sent).toHaveLength(0);
    h.transport.inject(busy, SWITCH_FLOW);
    h.transport.inject(busy, SWITCH_FLOW);
    const acks = h.transport.take();
    expect(acks).toHaveLength(2);
    expect(acks.every((a) => a.data.equals(ackRec.data))).toBe(true);
    expect(user.statuses).toEqual([486]);

    // Timer D (32 s over UDP, counted from the first 486) ends the transaction.
    h.clock.advance(29_999);
    expect(h.layer.stats().clientTransactions).toBe(1);
    h.clock.advance(1);
    expect(h.layer.stats().clientTransactions).toBe(0);
    h.transport.inject(busy, SWITCH_FLOW);
    expect(h.transport.sent).toHaveLength(0);
    expect(h.layer.stats().strayResponses).toBe(1);
  });

  it('RFC 6026 §8.4 a 2xx moves to Accepted: retransmitted 2xx are passed up, never ACKed by the transaction; Timer M ends it', () => {
    const h = layerHarness();
    const { req, user } = start(h, 'INVITE');
    h.transport.inject(responseTo(req, 180, 'Ringing'), SWITCH_FLOW);
    h.transport.clear();
    const ok = responseTo(req, 200, 'OK', { toTag: 'sw-200' });
    h.transport.inject(ok, SWITCH_FLOW);
    h.transport.inject(ok, SWITCH_FLOW);
    // A 2xx from another fork (different To tag) goes up as well.
    h.transport.inject(responseTo(req, 200, 'OK', { toTag: 'sw-fork' }), SWITCH_FLOW);
    // A non-2xx in Accepted is dropped.
    h.transport.inject(responseTo(req, 486, 'Busy Here', { toTag: 'sw-200' }), SWITCH_FLOW);
    expect(user.statuses).toEqual([180, 200, 200, 200]);
    expect(h.transport.sent).toHaveLength(0); // the ACK for a 2xx is end to end, not ours
    h.clock.advance(31_999);
    h.transport.inject(ok, SWITCH_FLOW);
    expect(user.statuses).toHaveLength(5);
    h.clock.advance(1);
    expect(h.layer.stats().clientTransactions).toBe(0);
    h.transport.inject(ok, SWITCH_FLOW);
    expect(user.statuses).toHaveLength(5);
  });

  it('§8.1.3.1 a send failure is reported once as a transport error and ends the transaction', async () => {
    const h = layerHarness();
    h.transport.failSendsTo({ address: '192.0.2.21' });
    const { user } = start(h, 'INVITE');
    await settle();
    expect(user.transportErrors).toHaveLength(1);
    expect(h.layer.stats().clientTransactions).toBe(0);
    h.clock.advance(60_000);
    await settle();
    expect(user.transportErrors).toHaveLength(1);
    expect(user.timeouts).toBe(0);
  });
});

describe('non-INVITE client transaction (RFC 3261 §17.1.2)', () => {
  it('§17.1.2.2 Timer E doubles, capped at T2; Timer F (64*T1) reports a timeout once', () => {
    const h = layerHarness();
    const { user } = start(h, 'BYE');
    const times = sendTimes(h, 31_999, isMethod('BYE'));
    expect(times).toEqual([0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
    expect(user.timeouts).toBe(0);
    h.clock.advance(1);
    expect(user.timeouts).toBe(1);
    expect(h.layer.stats().clientTransactions).toBe(0);
    h.clock.advance(60_000);
    expect(user.timeouts).toBe(1);
  });

  it('§17.1.2.2 Timer E honours a configured T2', () => {
    const h = layerHarness({ t2: 2_000 });
    start(h, 'BYE');
    const times = sendTimes(h, 10_000, isMethod('BYE'));
    expect(times).toEqual([0, 500, 1500, 3500, 5500, 7500, 9500]);
  });

  it('§17.1.2.2 in Proceeding the request is retransmitted every T2; Timer F keeps its original deadline', () => {
    const h = layerHarness();
    const { req, user } = start(h, 'BYE');
    h.clock.advance(600); // retransmission at 500
    h.transport.inject(responseTo(req, 100, 'Trying'), SWITCH_FLOW);
    expect(user.statuses).toEqual([100]);
    h.transport.clear();
    const times = sendTimes(h, 31_999, isMethod('BYE'));
    expect(times).toEqual([4600, 8600, 12600, 16600, 20600, 24600, 28600]);
    expect(user.timeouts).toBe(0);
    h.clock.advance(1);
    expect(user.timeouts).toBe(1);
  });

  it('§17.1.2.2 a final moves to Completed: no retransmissions, repeats are absorbed, Timer K (T4) ends it', () => {
    const h = layerHarness();
    const { req, user } = start(h, 'BYE');
    const ok = responseTo(req, 200, 'OK');
    h.transport.inject(ok, SWITCH_FLOW);
    h.transport.inject(ok, SWITCH_FLOW);
    expect(user.statuses).toEqual([200]);
    h.transport.clear();
    h.clock.advance(4_999);
    expect(h.transport.sent).toHaveLength(0);
    expect(h.layer.stats().clientTransactions).toBe(1);
    h.clock.advance(1);
    expect(h.layer.stats().clientTransactions).toBe(0);
    expect(user.timeouts).toBe(0);
  });

  it('§17.1.2.2 over TCP: no retransmissions; Timer K is 0', () => {
    const h = layerHarness();
    const { req, user } = start(h, 'BYE', { protocol: 'tcp', address: '192.0.2.21', port: 5060 });
    h.clock.advance(31_999);
    expect(h.transport.sent).toHaveLength(1);
    h.transport.inject(responseTo(req, 200, 'OK'), { ...SWITCH_FLOW, protocol: 'tcp', connectionId: 3 });
    expect(user.statuses).toEqual([200]);
    h.clock.advance(0);
    expect(h.layer.stats().clientTransactions).toBe(0);
  });
});

describe('linger (node.limits.transactionLinger): Timers M and D shortened', () => {
  it('RFC 6026 Accepted lasts the linger: a 2xx retransmission after it matches nothing and is dropped as stray', () => {
    const h = layerHarness({ linger: 5_000 });
    const { req, user } = start(h, 'INVITE');
    const ok = responseTo(req, 200, 'OK', { toTag: 'sw-200' });
    h.transport.inject(ok, SWITCH_FLOW);
    h.clock.advance(4_999);
    h.transport.inject(ok, SWITCH_FLOW);
    expect(user.statuses).toEqual([200, 200]);
    h.clock.advance(1);
    expect(h.layer.stats().clientTransactions).toBe(0);
    h.transport.inject(ok, SWITCH_FLOW);
    expect(user.statuses).toHaveLength(2);
    expect(h.layer.stats().strayResponses).toBe(1);
  });

  it('§17.1.1.2 Timer D after a non-2xx over UDP is the linger: a retransmitted 486 is ACKed until then', () => {
    const h = layerHarness({ linger: 5_000 });
    const { req } = start(h, 'INVITE');
    const busy = responseTo(req, 486, 'Busy Here');
    h.transport.inject(busy, SWITCH_FLOW);
    h.transport.clear();
    h.clock.advance(4_999);
    h.transport.inject(busy, SWITCH_FLOW);
    expect(startLines(h.transport.take())).toEqual([`ACK ${req.uri} SIP/2.0`]);
    h.clock.advance(1);
    expect(h.layer.stats().clientTransactions).toBe(0);
  });
});
