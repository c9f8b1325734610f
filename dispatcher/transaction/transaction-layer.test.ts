/**
 * The transaction layer's own duties: matching (RFC 3261 §17.2.3, RFC 2543 fallback), received /
 * rport (RFC 3581), stray responses, unparseable input and the table cap.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { makeResponse } from '../../shared/sip/index.ts';
import type { ServerTransaction } from './server-transaction.ts';
import { serverKeyOf } from './transaction-key.ts';
import {
  CARRIER,
  headerLines,
  layerHarness,
  parseResponse,
  request,
  sip,
  startLines,
} from './transaction-test-kit.ts';

const RFC4475 = new URL('../../shared/sip/fixtures/rfc4475/', import.meta.url);
const fixture = (name: string): Buffer => readFileSync(new URL(`${name}.dat`, RFC4475));

function reply(txn: ServerTransaction, status: number, reason: string): void {
  txn.respond(makeResponse(txn.request, status, reason, { toTag: txn.localTag }));
}

describe('request matching (RFC 3261 §17.2.3)', () => {
  it('§17.2.3 same branch but a different sent-by is a different transaction', () => {
    const h = layerHarness();
    h.transport.inject(request({ branch: 'z9hG4bK-same', viaHost: '198.51.100.7:5060' }), CARRIER);
    h.transport.inject(request({ branch: 'z9hG4bK-same', viaHost: '198.51.100.8:5060' }), { remoteAddress: '198.51.100.8', remotePort: 5060 });
    h.transport.inject(request({ branch: 'z9hG4bK-same', viaHost: '198.51.100.7:5062' }), { remoteAddress: '198.51.100.7', remotePort: 5062 });
    expect(h.tu.requests).toHaveLength(3);
    expect(h.layer.stats().serverTransactions).toBe(3);
    expect(h.layer.stats().retransmissionsAbsorbed).toBe(0);
  });

  it('§17.2.3 same branch and sent-by but another method is another transaction', () => {
    const h = layerHarness();
    h.transport.inject(request({ method: 'INVITE', branch: 'z9hG4bK-m' }), CARRIER);
    h.transport.inject(request({ method: 'OPTIONS', branch: 'z9hG4bK-m' }), CARRIER);
    expect(h.tu.requests.map((t) => t.request.method)).toEqual(['INVITE', 'OPTIONS']);
  });

  it('§17.2.3 the ACK for a non-2xx matches the INVITE transaction (method ACK matches INVITE)', () => {
    const h = layerHarness();
    h.transport.inject(request({ branch: 'z9hG4bK-a1' }), CARRIER);
    const invite = h.tu.requests[0];
    reply(invite, 404, 'Not Found');
    h.transport.inject(request({ method: 'ACK', branch: 'z9hG4bK-a1', toTag: invite.localTag }), CARRIER);
    expect(invite.state).toBe('confirmed');
    expect(h.tu.strayAcks).toHaveLength(0);
    expect(h.tu.requests).toHaveLength(1);
  });

  it('§17.2.3 an ACK that matches no INVITE transaction goes to the TU as a stray ACK', () => {
    const h = layerHarness();
    h.transport.inject(request({ method: 'ACK', branch: 'z9hG4bK-lonely', toTag: 't' }), CARRIER);
    expect(h.tu.strayAcks).toHaveLength(1);
    expect(h.tu.requests).toHaveLength(0);
    expect(h.layer.stats().serverTransactions).toBe(0);
  });

  it('§9.2 a CANCEL gets its own transaction and onCancel receives the INVITE transaction', () => {
    const h = layerHarness();
    h.transport.inject(request({ branch: 'z9hG4bK-c' }), CARRIER);
    const invite = h.tu.requests[0];
    const cancel = request({ method: 'CANCEL', branch: 'z9hG4bK-c' });
    h.transport.inject(cancel, CARRIER);
    expect(h.tu.cancels).toHaveLength(1);
    const { txn, invite: matched } = h.tu.cancels[0];
    expect(matched).toBe(invite);
    expect(txn).not.toBe(invite);
    expect(txn.request.method).toBe('CANCEL');
    expect(txn.isInvite).toBe(false);
    expect(h.tu.requests).toHaveLength(1); // the CANCEL is not a new request for onRequest
    expect(h.layer.stats().serverTransactions).toBe(2);
    // A retransmitted CANCEL is absorbed by its own transaction (re-sending its final).
    reply(txn, 200, 'OK');
    h.transport.clear();
    h.transport.inject(cancel, CARRIER);
    expect(h.tu.cancels).toHaveLength(1);
    expect(startLines(h.transport.take())).toEqual(['SIP/2.0 200 OK']);
  });

  it('§9.2 a CANCEL for no INVITE reaches onCancel with no INVITE transaction', () => {
    const h = layerHarness();
    h.transport.inject(request({ method: 'CANCEL', branch: 'z9hG4bK-none' }), CARRIER);
    expect(h.tu.cancels).toHaveLength(1);
    expect(h.tu.cancels[0].invite).toBeUndefined();
  });

  it('§17.2.3 RFC 2543 request without a magic-cookie branch: its retransmission is absorbed and the ACK matches', () => {
    const h = layerHarness();
    const invite = request({ via: 'SIP/2.0/UDP 198.51.100.7:5060' });
    h.transport.inject(invite, CARRIER);
    h.transport.inject(invite, CARRIER);
    expect(h.tu.requests).toHaveLength(1);
    expect(h.layer.stats().retransmissionsAbsorbed).toBe(1);
    const txn = h.tu.requests[0];
    reply(txn, 486, 'Busy Here');
    // The RFC 2543 ACK carries our To tag (the INVITE had none) and still matches.
    h.transport.inject(request({ method: 'ACK', via: 'SIP/2.0/UDP 198.51.100.7:5060', toTag: txn.localTag }), CARRIER);
    expect(txn.state).toBe('confirmed');
    expect(h.tu.strayAcks).toHaveLength(0);
    // A CANCEL without branch finds the INVITE through the same fields.
    h.transport.inject(request({ method: 'CANCEL', via: 'SIP/2.0/UDP 198.51.100.7:5060' }), CARRIER);
    expect(h.tu.cancels[0].invite).toBe(txn);
  });

  it('§17.2.3 RFC 2543 requests that differ in CSeq or From tag are different transactions', () => {
    const h = layerHarness();
    const via = 'SIP/2.0/UDP 198.51.100.7:5060;branch=1234';
    h.transport.inject(request({ method: 'OPTIONS', via, cseq: 1 }), CARRIER);
    h.transport.inject(request({ method: 'OPTIONS', via, cseq: 2 }), CARRIER);
    h.transport.inject(request({ method: 'OPTIONS', via, cseq: 2, fromTag: 'other' }), CARRIER);
    h.transport.inject(request({ method: 'OPTIONS', via, cseq: 2, fromTag: 'other' }), CARRIER);
    expect(h.tu.requests).toHaveLength(3);
  });

  it('RFC 4475 §3.2.1 badbranch (branch exactly z9hG4bK): falls back to RFC 2543 matching, retransmission absorbed', () => {
    const h = layerHarness();
    const flow = { remoteAddress: '192.0.2.1', remotePort: 5060 };
    h.transport.inject(fixture('badbranch'), flow);
    h.transport.inject(fixture('badbranch'), flow);
    expect(h.tu.requests).toHaveLength(1);
    expect(h.layer.stats().retransmissionsAbsorbed).toBe(1);
    reply(h.tu.requests[0], 200, 'OK');
    h.transport.clear();
    h.transport.inject(fixture('badbranch'), flow);
    expect(startLines(h.transport.take())).toEqual(['SIP/2.0 200 OK']);
  });
});

describe('a second key (aliasServer: a caller reaching the transaction past a bypassed hop)', () => {
  const HOP = { remoteAddress: '192.0.2.101', remotePort: 5060 };
  const hopInvite = () =>
    request({ via: 'SIP/2.0/UDP 192.0.2.101:5060;branch=z9hG4bK-hop, SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-c1' });

  it('matches the retransmission, CANCEL and ACK the caller sends itself, is not counted as a transaction, and goes with it', () => {
    const h = layerHarness();
    h.transport.inject(hopInvite(), HOP);
    const invite = h.tu.requests[0];
    h.layer.aliasServer(invite, serverKeyOf(invite.request, invite.request.vias()[1], 'INVITE', { ...invite.flow, remoteAddress: '198.51.100.7', remotePort: 5060 }));
    expect(h.layer.stats().serverTransactions).toBe(1);
    h.transport.inject(request({ branch: 'z9hG4bK-c1' }), CARRIER);
    expect(h.tu.requests).toHaveLength(1);
    expect(h.layer.stats().retransmissionsAbsorbed).toBe(1);
    h.transport.inject(request({ method: 'CANCEL', branch: 'z9hG4bK-c1' }), CARRIER);
    expect(h.tu.cancels.map((c) => c.invite)).toEqual([invite]);
    reply(h.tu.cancels[0].txn, 200, 'OK');
    reply(invite, 487, 'Request Terminated');
    h.transport.inject(request({ method: 'ACK', branch: 'z9hG4bK-c1', toTag: invite.localTag }), CARRIER);
    expect(invite.state).toBe('confirmed');
    expect(h.tu.strayAcks).toHaveLength(0);
    // Timer I ends it (and the CANCEL's Timer J its own): both keys are gone, a new request is new.
    h.clock.advance(40_000);
    expect(h.layer.stats().serverTransactions).toBe(0);
    h.transport.inject(request({ branch: 'z9hG4bK-c1' }), CARRIER);
    expect(h.tu.requests).toHaveLength(2);
  });

  it('leaves a key another transaction holds to it', () => {
    const h = layerHarness();
    h.transport.inject(request({ branch: 'z9hG4bK-c1' }), CARRIER);
    h.transport.inject(hopInvite(), HOP);
    const [direct, handed] = h.tu.requests;
    h.layer.aliasServer(handed, serverKeyOf(handed.request, handed.request.vias()[1], 'INVITE', { ...handed.flow, remoteAddress: '198.51.100.7', remotePort: 5060 }));
    h.transport.inject(request({ method: 'CANCEL', branch: 'z9hG4bK-c1' }), CARRIER);
    expect(h.tu.cancels.map((c) => c.invite)).toEqual([direct]);
    expect(h.layer.stats().serverTransactions).toBe(3);
  });
});

describe('received and rport (RFC 3261 §18.2.1, RFC 3581 §4)', () => {
  it('RFC 3581 §4 an empty rport gets the source port, and received is added', () => {
    const h = layerHarness();
    h.transport.inject(request({ via: 'SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK-nat;rport' }), {
      remoteAddress: '203.0.113.9',
      remotePort: 34567,
    });
    const txn = h.tu.requests[0];
    expect(txn.request.via.rport).toBe(34567);
    expect(txn.request.via.received).toBe('203.0.113.9');
    expect(txn.request.get('via')).toBe('SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK-nat;rport=34567;received=203.0.113.9');
    // The response goes back to the packet's source, not to the Via sent-by (symmetric response).
    reply(txn, 180, 'Ringing');
    const [sent] = h.transport.take();
    expect(sent.target).toMatchObject({ protocol: 'udp', address: '203.0.113.9', port: 34567 });
    expect(parseResponse(sent).get('via')).toBe('SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK-nat;rport=34567;received=203.0.113.9');
  });

  it('RFC 3581 §4 a UDP response leaves from the socket its request arrived on (several UDP listeners, or a worker port beside the shared one)', () => {
    const h = layerHarness();
    h.transport.inject(request({ via: 'SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-local' }), { ...CARRIER, localPort: 5080 });
    reply(h.tu.requests[0], 200, 'OK');
    const [sent] = h.transport.take();
    expect(sent.target).toMatchObject({ protocol: 'udp', address: '198.51.100.7', port: 5060, localPort: 5080 });
  });

  it('RFC 3581 §4 the rport stamp applies even when the Via host equals the source address', () => {
    const h = layerHarness();
    h.transport.inject(request({ via: 'SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-r;rport' }), { ...CARRIER, remotePort: 40000 });
    expect(h.tu.requests[0].request.via.rport).toBe(40000);
    expect(h.tu.requests[0].request.via.received).toBe('198.51.100.7');
  });

  it('§18.2.1 a Via host different from the source address gets received (no rport added)', () => {
    const h = layerHarness();
    h.transport.inject(request({ via: 'SIP/2.0/UDP pbx.example.com:5060;branch=z9hG4bK-h' }), CARRIER);
    const via = h.tu.requests[0].request.via;
    expect(via.received).toBe('198.51.100.7');
    expect(via.rport).toBeUndefined();
    expect(h.tu.requests[0].request.get('via')).toBe('SIP/2.0/UDP pbx.example.com:5060;branch=z9hG4bK-h;received=198.51.100.7');
  });

  it('§18.2.1 a Via host equal to the source address is left byte for byte', () => {
    const h = layerHarness();
    const text = request({ via: 'SIP/2.0/UDP   198.51.100.7:5060 ;branch=z9hG4bK-same' });
    h.transport.inject(text, CARRIER);
    const req = h.tu.requests[0].request;
    expect(req.via.received).toBeUndefined();
    expect(headerLines(text)[0]).toBe(req.headers[0].raw);
  });
});

describe('stray and unparseable messages', () => {
  it('RFC 4475 §3.3.10 bcast: a response matching no client transaction is dropped and counted, never routed by Via', () => {
    const h = layerHarness();
    h.transport.inject(fixture('bcast'), { remoteAddress: '192.0.2.198', remotePort: 5060 });
    expect(h.transport.sent).toHaveLength(0);
    expect(h.layer.stats().strayResponses).toBe(1);
    expect(h.layer.stats().responsesIn).toBe(1);
  });

  it('§16.3 an unparseable UDP request with a readable Via gets 400 naming the problem, sent back to the source', () => {
    const h = layerHarness();
    const bad = request({ branch: 'z9hG4bK-bad', maxForwards: null, extra: ['Max-Forwards: lots'] });
    h.transport.inject(bad, { remoteAddress: '203.0.113.50', remotePort: 5099 });
    expect(h.tu.requests).toHaveLength(0);
    const [sent] = h.transport.take();
    expect(sent.target).toMatchObject({ protocol: 'udp', address: '203.0.113.50', port: 5099 });
    const res = parseResponse(sent);
    expect(res.status).toBe(400);
    expect(res.reason).toMatch(/Max-Forwards/);
    expect(res.via.branch).toBe('z9hG4bK-bad');
    expect(res.get('call-id')).toBe('call-1@198.51.100.7');
    expect(h.layer.stats().parseErrors).toBe(1);
  });

  it('§17 an unparseable ACK is dropped, never answered', () => {
    const h = layerHarness();
    const bad = request({ method: 'ACK', branch: 'z9hG4bK-badack', toTag: 't', maxForwards: null, extra: ['Max-Forwards: lots'] });
    h.transport.inject(bad, CARRIER);
    expect(h.transport.sent).toHaveLength(0);
    expect(h.tu.strayAcks).toHaveLength(0);
    expect(h.layer.stats().parseErrors).toBe(1);
  });

  it('§16.3 a request whose Via itself is unreadable is dropped without an answer', () => {
    const h = layerHarness();
    h.transport.inject(request().replace(/^Via: .*$/m, 'Via: garbage'), CARRIER);
    expect(h.transport.sent).toHaveLength(0);
    expect(h.layer.stats().parseErrors).toBe(1);
  });

  it('§7 a response that cannot be parsed is dropped, never answered', () => {
    const h = layerHarness();
    const bad = sip([
      'SIP/2.0 200 OK',
      'Via: SIP/2.0/UDP 192.0.2.100:5060;branch=z9hG4bK-x',
      'From: <sip:a@198.51.100.7>;tag=1',
      'To: <sip:b@192.0.2.100>;tag=2',
      'Call-ID: broken-response',
      'CSeq: nope',
    ]);
    h.transport.inject(bad, { remoteAddress: '192.0.2.21', remotePort: 5060 });
    expect(h.transport.sent).toHaveLength(0);
    expect(h.layer.stats().parseErrors).toBe(1);
  });

  it('RFC 4475 §3.1.2.16 badvers with a SIP/2.0 Via: 505 Version Not Supported', () => {
    const h = layerHarness();
    const text = fixture('badvers').toString('latin1').replace('SIP/7.0/UDP', 'SIP/2.0/UDP');
    h.transport.inject(text, { remoteAddress: '192.0.2.77', remotePort: 5060 });
    const [sent] = h.transport.take();
    const res = parseResponse(sent);
    expect(res.status).toBe(505);
    expect(sent.target).toMatchObject({ address: '192.0.2.77', port: 5060 });
  });

  it('RFC 4475 §3.1.2.16 badvers verbatim (Via SIP/7.0 too): 505 Version Not Supported to the source', () => {
    const h = layerHarness();
    h.transport.inject(fixture('badvers'), { remoteAddress: '192.0.2.77', remotePort: 5060 });
    expect(h.transport.sent).toHaveLength(1);
    const [sent] = h.transport.sent;
    // The copied Via says SIP/7.0, so the answer is checked as text rather than re-parsed.
    expect(sent.text).toMatch(/^SIP\/2\.0 505 /);
    expect(sent.text).toContain('Call-ID: badvers.31417@c.example.com\r\n');
    expect(sent.target).toMatchObject({ address: '192.0.2.77', port: 5060 });
    expect(h.tu.requests).toHaveLength(0);
  });
});

describe('table cap', () => {
  it('a full table answers a new request 503 with Retry-After, statelessly, without the TU', () => {
    const h = layerHarness({ maxTransactions: 2 });
    h.transport.inject(request({ method: 'OPTIONS', branch: 'z9hG4bK-t1' }), CARRIER);
    h.transport.inject(request({ method: 'INVITE', branch: 'z9hG4bK-t2', callId: 'c2' }), CARRIER);
    h.transport.inject(request({ method: 'INVITE', branch: 'z9hG4bK-t3', callId: 'c3' }), CARRIER);
    expect(h.tu.requests).toHaveLength(2);
    const [sent] = h.transport.take();
    const res = parseResponse(sent);
    expect(res.status).toBe(503);
    expect(res.get('retry-after')).toMatch(/^\d+$/);
    expect(res.get('call-id')).toBe('c3');
    expect(sent.target).toMatchObject({ address: '198.51.100.7', port: 5060 });
    expect(h.layer.stats().rejectedTableFull).toBe(1);
    expect(h.layer.stats().serverTransactions).toBe(2);
    // Retransmissions of requests already in the table are still absorbed.
    h.transport.inject(request({ method: 'OPTIONS', branch: 'z9hG4bK-t1' }), CARRIER);
    expect(h.transport.sent).toHaveLength(0);
    expect(h.tu.requests).toHaveLength(2);
    // Once a transaction ends there is room again.
    reply(h.tu.requests[0], 200, 'OK');
    h.clock.advance(32_000); // Timer J
    h.transport.inject(request({ method: 'INVITE', branch: 'z9hG4bK-t4', callId: 'c4' }), CARRIER);
    expect(h.tu.requests).toHaveLength(3);
  });

  it('client transactions count toward the cap', () => {
    const h = layerHarness({ maxTransactions: 1 });
    h.transport.inject(request({ method: 'OPTIONS', branch: 'z9hG4bK-only' }), CARRIER);
    h.transport.inject(request({ method: 'OPTIONS', branch: 'z9hG4bK-second' }), CARRIER);
    expect(h.tu.requests).toHaveLength(1);
    expect(parseResponse(h.transport.sent[0]).status).toBe(503);
  });
});

describe('overload shedding', () => {
  it('while shedding, a new INVITE gets 503 with Retry-After statelessly; in-dialog requests, other methods and retransmissions still go through', () => {
    let shedding = false;
    const h = layerHarness({ shedNewCalls: () => shedding });
    h.transport.inject(request({ method: 'INVITE', branch: 'z9hG4bK-before', callId: 'c1' }), CARRIER);
    expect(h.tu.requests).toHaveLength(1);
    shedding = true;
    h.transport.inject(request({ method: 'INVITE', branch: 'z9hG4bK-new', callId: 'c2' }), CARRIER);
    const [sent] = h.transport.take();
    const res = parseResponse(sent);
    expect(res.status).toBe(503);
    expect(res.reason).toBe('Server Overloaded');
    expect(res.get('retry-after')).toBe('5');
    expect(res.get('call-id')).toBe('c2');
    expect(h.layer.stats()).toMatchObject({ rejectedOverload: 1, rejectedTableFull: 0, serverTransactions: 1 });
    // A re-INVITE (To-tag), a BYE, an OPTIONS: accepted work, never shed.
    h.transport.inject(request({ method: 'INVITE', branch: 'z9hG4bK-reinvite', callId: 'c1', toTag: 'sw-1', cseq: 2 }), CARRIER);
    h.transport.inject(request({ method: 'BYE', branch: 'z9hG4bK-bye', callId: 'c3', toTag: 'sw-1', cseq: 3 }), CARRIER);
    h.transport.inject(request({ method: 'OPTIONS', branch: 'z9hG4bK-opt', callId: 'c4' }), CARRIER);
    expect(h.tu.requests.map((t) => t.request.method)).toEqual(['INVITE', 'INVITE', 'BYE', 'OPTIONS']);
    // A retransmission of the INVITE accepted before is absorbed by its transaction, not refused.
    h.transport.inject(request({ method: 'INVITE', branch: 'z9hG4bK-before', callId: 'c1' }), CARRIER);
    expect(h.layer.stats().rejectedOverload).toBe(1);
    expect(h.layer.stats().retransmissionsAbsorbed).toBe(1);
    shedding = false;
    h.transport.inject(request({ method: 'INVITE', branch: 'z9hG4bK-after', callId: 'c5' }), CARRIER);
    expect(h.tu.requests).toHaveLength(5);
  });
});
