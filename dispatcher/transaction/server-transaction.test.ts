/**
 * Server transactions through the transaction layer (RFC 3261 §17.2, RFC 6026), driven with a
 * FakeTransport and a ManualClock so every timer is exact.
 */
import { describe, expect, it } from 'vitest';
import { makeResponse, type SipRequest } from '../../shared/sip/index.ts';
import type { FlowOptions } from '../transport/fake-transport.ts';
import type { InviteServerTransaction, ServerTransaction } from './server-transaction.ts';
import {
  CARRIER,
  layerHarness,
  parseResponse,
  request,
  sendTimes,
  startLines,
  type LayerHarness,
} from './transaction-test-kit.ts';

/** Each transaction's request, read before its final response (after that the transaction drops it). */
const requestOf = new WeakMap<ServerTransaction, SipRequest>();

function reply(txn: ServerTransaction, status: number, reason: string): void {
  let req = requestOf.get(txn);
  if (req === undefined) requestOf.set(txn, (req = txn.request));
  txn.respond(makeResponse(req, status, reason, { toTag: txn.localTag }));
}

function ackFor(branch: string, toTag: string, flowVia = 'UDP'): string {
  return request({ method: 'ACK', branch, toTag, viaTransport: flowVia });
}

const TCP_CARRIER: FlowOptions = { protocol: 'tcp', remoteAddress: '198.51.100.7', remotePort: 40123, connectionId: 7 };

function inviteWith486(h: LayerHarness, flow: FlowOptions = CARRIER, viaTransport = 'UDP'): ServerTransaction {
  h.transport.inject(request({ branch: 'z9hG4bK-inv1', viaTransport }), flow);
  const txn = h.tu.requests[0];
  reply(txn, 486, 'Busy Here');
  return txn;
}

describe('INVITE server transaction (RFC 3261 §17.2.1)', () => {
  it('§17.2.1 Proceeding: a retransmitted INVITE does not reach the TU again and gets the latest provisional re-sent', () => {
    const h = layerHarness();
    const invite = request({ branch: 'z9hG4bK-inv1' });
    h.transport.inject(invite, CARRIER);
    expect(h.tu.requests).toHaveLength(1);
    const txn = h.tu.requests[0];
    // Before any response a retransmission is absorbed silently.
    h.transport.inject(invite, CARRIER);
    expect(h.transport.sent).toHaveLength(0);

    reply(txn, 100, 'Trying');
    reply(txn, 180, 'Ringing');
    const [, ringing] = h.transport.take();
    h.transport.inject(invite, CARRIER);
    h.transport.inject(invite, CARRIER);
    const resent = h.transport.take();
    expect(startLines(resent)).toEqual(['SIP/2.0 180 Ringing', 'SIP/2.0 180 Ringing']);
    expect(resent[0].data.equals(ringing.data)).toBe(true);
    expect(resent[0].target).toMatchObject({ protocol: 'udp', address: '198.51.100.7', port: 5060 });
    expect(h.tu.requests).toHaveLength(1);
    expect(h.layer.stats().retransmissionsAbsorbed).toBe(3);
    expect(txn.state).toBe('proceeding');
  });

  it('§17.2.1 Completed: after a 486 over UDP, Timer G doubles up to T2 until Timer H (64*T1) terminates', () => {
    const h = layerHarness();
    const txn = inviteWith486(h) as InviteServerTransaction;
    let ackTimeouts = 0;
    txn.onAckTimeout = () => ackTimeouts++;
    expect(txn.state).toBe('completed');
    const times = sendTimes(h, 31_999, (s) => s.text.startsWith('SIP/2.0 486'));
    // Intervals 500, 1000, 2000, 4000 (T2), 4000, ...
    expect(times).toEqual([0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
    expect(txn.state).toBe('completed');
    expect(ackTimeouts).toBe(0);
    h.clock.advance(1); // 32 000 ms: Timer H
    expect(txn.state).toBe('terminated');
    expect(ackTimeouts).toBe(1);
    expect(h.layer.stats().serverTransactions).toBe(0);
    h.transport.clear();
    h.clock.advance(60_000);
    expect(h.transport.sent).toHaveLength(0);
  });

  it('§17.2.1 Timer G honours a configured T2', () => {
    const h = layerHarness({ t2: 2_000 });
    inviteWith486(h);
    const times = sendTimes(h, 12_000, (s) => s.text.startsWith('SIP/2.0 486'));
    expect(times).toEqual([0, 500, 1500, 3500, 5500, 7500, 9500, 11500]);
  });

  it('§17.2.1 Completed: a retransmitted INVITE re-sends the final response', () => {
    const h = layerHarness();
    inviteWith486(h);
    h.transport.clear();
    h.transport.inject(request({ branch: 'z9hG4bK-inv1' }), CARRIER);
    expect(startLines(h.transport.take())).toEqual(['SIP/2.0 486 Busy Here']);
    expect(h.tu.requests).toHaveLength(1);
  });

  it('§17.2.1 Confirmed: the ACK stops retransmissions and Timer I (T4) then terminates', () => {
    const h = layerHarness();
    const txn = inviteWith486(h);
    const toTag = parseResponse(h.transport.sent[0]).toTag!;
    h.clock.advance(1_500); // retransmissions at 500 and 1500
    expect(h.transport.sent).toHaveLength(3);
    h.transport.inject(ackFor('z9hG4bK-inv1', toTag), CARRIER);
    expect(txn.state).toBe('confirmed');
    expect(h.tu.strayAcks).toHaveLength(0);
    // A retransmitted ACK is absorbed by the Confirmed state.
    h.transport.inject(ackFor('z9hG4bK-inv1', toTag), CARRIER);
    expect(h.tu.strayAcks).toHaveLength(0);
    h.clock.advance(4_999);
    expect(txn.state).toBe('confirmed');
    h.clock.advance(1);
    expect(txn.state).toBe('terminated');
    expect(h.layer.stats().serverTransactions).toBe(0);
    h.clock.advance(60_000);
    expect(h.transport.sent).toHaveLength(3);
    expect(h.tu.terminated).toEqual([txn]);
  });

  it('§17.2.1 over TCP (reliable): no response retransmissions, Timer I is 0', () => {
    const h = layerHarness();
    const txn = inviteWith486(h, TCP_CARRIER, 'TCP');
    expect(h.transport.sent[0].target).toMatchObject({ protocol: 'tcp', connectionId: 7 });
    h.clock.advance(31_999);
    expect(h.transport.sent).toHaveLength(1);
    const toTag = parseResponse(h.transport.sent[0]).toTag!;
    h.transport.inject(ackFor('z9hG4bK-inv1', toTag, 'TCP'), TCP_CARRIER);
    expect(txn.state).toBe('confirmed');
    h.clock.advance(0);
    expect(txn.state).toBe('terminated');
    expect(h.layer.stats().serverTransactions).toBe(0);
  });

  it('§17.2.1 over TCP without an ACK: Timer H still ends the transaction after 64*T1', () => {
    const h = layerHarness();
    const txn = inviteWith486(h, TCP_CARRIER, 'TCP');
    h.clock.advance(31_999);
    expect(txn.state).toBe('completed');
    h.clock.advance(1);
    expect(txn.state).toBe('terminated');
    expect(h.transport.sent).toHaveLength(1);
  });
});

describe('INVITE server transaction, Accepted state (RFC 6026 §8.5-§8.7)', () => {
  it('RFC 6026 Accepted: INVITE retransmissions are absorbed, further 2xx from the TU are sent, Timer L terminates', () => {
    const h = layerHarness();
    const invite = request({ branch: 'z9hG4bK-inv2' });
    h.transport.inject(invite, CARRIER);
    const txn = h.tu.requests[0];
    reply(txn, 180, 'Ringing');
    reply(txn, 200, 'OK');
    expect(txn.state).toBe('accepted');
    h.transport.clear();

    h.transport.inject(invite, CARRIER);
    expect(h.transport.sent).toHaveLength(0);
    expect(h.tu.requests).toHaveLength(1);

    // The transaction itself never retransmits the 2xx (the UAS core / downstream does).
    h.clock.advance(10_000);
    expect(h.transport.sent).toHaveLength(0);

    reply(txn, 200, 'OK'); // a 2xx retransmission coming from downstream
    reply(txn, 486, 'Busy Here'); // not a 2xx: dropped in Accepted
    reply(txn, 183, 'Session Progress'); // neither
    expect(startLines(h.transport.take())).toEqual(['SIP/2.0 200 OK']);

    // The ACK for the 2xx has its own branch: it goes to the TU (forwarded end to end).
    h.transport.inject(request({ method: 'ACK', branch: 'z9hG4bK-ack2', toTag: 'x' }), CARRIER);
    expect(h.tu.strayAcks).toHaveLength(1);
    expect(txn.state).toBe('accepted');

    h.clock.advance(21_999); // 31 999 ms since the first 2xx
    expect(txn.state).toBe('accepted');
    h.clock.advance(1);
    expect(txn.state).toBe('terminated');
    expect(h.layer.stats().serverTransactions).toBe(0);
  });

  it('RFC 6026 §8.7: an ACK (same branch) while Accepted is passed to the TU, not absorbed as a non-2xx ACK', () => {
    const h = layerHarness();
    h.transport.inject(request({ branch: 'z9hG4bK-inv3' }), CARRIER);
    const txn = h.tu.requests[0];
    reply(txn, 200, 'OK');
    h.transport.inject(ackFor('z9hG4bK-inv3', txn.localTag), CARRIER);
    expect(h.tu.strayAcks).toHaveLength(1);
    expect(txn.state).toBe('accepted');
  });
});

describe('non-INVITE server transaction (RFC 3261 §17.2.2)', () => {
  const options = (branch: string, transport = 'UDP'): string =>
    request({ method: 'OPTIONS', branch, viaTransport: transport, uri: 'sip:192.0.2.21:5060' });

  it('§17.2.2 Trying: a retransmission before any response is absorbed silently', () => {
    const h = layerHarness();
    h.transport.inject(options('z9hG4bK-o1'), CARRIER);
    h.transport.inject(options('z9hG4bK-o1'), CARRIER);
    expect(h.tu.requests).toHaveLength(1);
    expect(h.transport.sent).toHaveLength(0);
    expect(h.tu.requests[0].state).toBe('trying');
  });

  it('§17.2.2 Proceeding: a retransmission re-sends the latest provisional', () => {
    const h = layerHarness();
    h.transport.inject(options('z9hG4bK-o2'), CARRIER);
    reply(h.tu.requests[0], 100, 'Trying');
    h.transport.inject(options('z9hG4bK-o2'), CARRIER);
    expect(startLines(h.transport.take())).toEqual(['SIP/2.0 100 Trying', 'SIP/2.0 100 Trying']);
  });

  it('§17.2.2 Completed: a retransmission re-sends the final; Timer J (64*T1) terminates over UDP', () => {
    const h = layerHarness();
    h.transport.inject(options('z9hG4bK-o3'), CARRIER);
    const txn = h.tu.requests[0];
    reply(txn, 200, 'OK');
    const [final] = h.transport.take();
    h.clock.advance(20_000);
    expect(h.transport.sent).toHaveLength(0); // no retransmission of non-INVITE finals
    h.transport.inject(options('z9hG4bK-o3'), CARRIER);
    const [resent] = h.transport.take();
    expect(resent.data.equals(final.data)).toBe(true);
    expect(h.tu.requests).toHaveLength(1);
    // A later response from the TU is ignored in Completed.
    reply(txn, 500, 'Server Internal Error');
    expect(h.transport.sent).toHaveLength(0);
    h.clock.advance(11_999);
    expect(txn.state).toBe('completed');
    h.clock.advance(1);
    expect(txn.state).toBe('terminated');
    expect(h.layer.stats().serverTransactions).toBe(0);
  });

  it('§17.2.2 Timer J is 0 over TCP', () => {
    const h = layerHarness();
    h.transport.inject(options('z9hG4bK-o4', 'TCP'), TCP_CARRIER);
    const txn = h.tu.requests[0];
    reply(txn, 200, 'OK');
    expect(txn.state).toBe('completed');
    h.clock.advance(0);
    expect(txn.state).toBe('terminated');
    expect(h.layer.stats().serverTransactions).toBe(0);
  });
});

describe('linger (node.limits.transactionLinger, like Kamailio tm wt_timer): Timers J and L shortened', () => {
  it('a 2xx-answered INVITE stays Accepted for the linger, not 32 s; a retransmission after it is a new request', () => {
    const h = layerHarness({ linger: 5_000 });
    const invite = request({ branch: 'z9hG4bK-lg1' });
    h.transport.inject(invite, CARRIER);
    const txn = h.tu.requests[0];
    reply(txn, 200, 'OK');
    h.clock.advance(4_999);
    h.transport.inject(invite, CARRIER);
    expect(h.tu.requests).toHaveLength(1); // absorbed
    h.clock.advance(1);
    expect(txn.state).toBe('terminated');
    // What a linger under 32 s gives up (docs/config.md): a very late retransmission is new work.
    h.transport.inject(invite, CARRIER);
    expect(h.tu.requests).toHaveLength(2);
  });

  it('a non-INVITE final is re-sent for the linger over UDP; over TCP Timer J stays 0', () => {
    const h = layerHarness({ linger: 5_000 });
    const bye = request({ method: 'BYE', branch: 'z9hG4bK-lg2', toTag: 'x' });
    h.transport.inject(bye, CARRIER);
    const txn = h.tu.requests[0];
    reply(txn, 200, 'OK');
    h.transport.clear();
    h.clock.advance(4_999);
    h.transport.inject(bye, CARRIER);
    expect(startLines(h.transport.take())).toEqual(['SIP/2.0 200 OK']);
    h.clock.advance(1);
    expect(txn.state).toBe('terminated');
    expect(h.layer.stats().serverTransactions).toBe(0);

    h.transport.inject(request({ method: 'BYE', branch: 'z9hG4bK-lg3', toTag: 'x', viaTransport: 'TCP' }), TCP_CARRIER);
    const tcp = h.tu.requests[1];
    reply(tcp, 200, 'OK');
    h.clock.advance(0);
    expect(tcp.state).toBe('terminated');
  });
});

describe('what a finished server transaction keeps (memory)', () => {
  it('INVITE: the request and response objects are dropped at the final; Completed still re-sends the final', () => {
    const h = layerHarness();
    const invite = request({ branch: 'z9hG4bK-mem1' });
    h.transport.inject(invite, CARRIER);
    const txn = h.tu.requests[0];
    reply(txn, 180, 'Ringing');
    expect(txn.request.method).toBe('INVITE');
    expect(txn.lastResponse?.status).toBe(180);
    reply(txn, 486, 'Busy Here');
    expect(() => txn.request).toThrow(/released/);
    expect(txn.lastResponse).toBeUndefined();
    expect(txn.lastStatus).toBe(486);
    expect(txn.finalSent).toBe(true);
    const [, final] = h.transport.take();
    h.transport.inject(invite, CARRIER);
    const [resent] = h.transport.take();
    expect(resent.data.equals(final.data)).toBe(true);
  });

  it('INVITE Accepted and non-INVITE Completed drop the request too', () => {
    const h = layerHarness();
    h.transport.inject(request({ branch: 'z9hG4bK-mem2' }), CARRIER);
    h.transport.inject(request({ method: 'OPTIONS', branch: 'z9hG4bK-mem3' }), CARRIER);
    const [inv, opt] = h.tu.requests;
    reply(inv, 200, 'OK');
    reply(opt, 200, 'OK');
    expect(inv.state).toBe('accepted');
    expect(opt.state).toBe('completed');
    for (const t of [inv, opt]) {
      expect(() => t.request).toThrow(/released/);
      expect(t.lastResponse).toBeUndefined();
      expect(t.finalSent).toBe(true);
    }
  });

  it("the TU's context is kept through provisionals and let go at the final, of either kind", () => {
    const h = layerHarness();
    h.transport.inject(request({ branch: 'z9hG4bK-mem4' }), CARRIER);
    h.transport.inject(request({ method: 'BYE', branch: 'z9hG4bK-mem5', toTag: 'tt' }), CARRIER);
    h.transport.inject(request({ branch: 'z9hG4bK-mem6' }), CARRIER);
    const [inv, bye, busy] = h.tu.requests;
    for (const t of [inv, bye, busy]) t.context = { tu: 'context' };
    reply(inv, 180, 'Ringing');
    expect(inv.context).toEqual({ tu: 'context' });
    reply(inv, 200, 'OK');
    reply(bye, 200, 'OK');
    reply(busy, 486, 'Busy Here');
    expect([inv.state, bye.state, busy.state]).toEqual(['accepted', 'completed', 'completed']);
    for (const t of [inv, bye, busy]) expect(t.context).toBeUndefined();
  });
});
