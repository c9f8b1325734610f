/**
 * The proxy core as a transaction user (RFC 3261 §16): call flows toward two switches, CANCEL,
 * failover, admission, validation. ProxyCore + TransactionLayer + FakeTransport + ManualClock.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  CARRIER,
  headerLines,
  parseRequest,
  parseResponse,
  request,
  settle,
  startLines,
} from '../transaction/transaction-test-kit.ts';
import {
  CARRIER_TARGET,
  proxyHarness,
  sentRequests,
  sentResponses,
  statusesTo,
  SW1,
  SW1_FLOW,
  SW2,
  SWITCHES,
  switchAnswers,
  type ProxyHarness,
} from './proxy-test-kit.ts';
import { StaticRouter } from '../routing/static-router.ts';
import type { AttemptOutcome } from '../routing/router.ts';

const SDP = 'v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';
const CARRIER_VIA = 'SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-c1';

function carrierInvite(o: { callId?: string; branch?: string; extra?: string[]; maxForwards?: number } = {}): string {
  return request({
    branch: o.branch ?? 'z9hG4bK-c1',
    callId: o.callId ?? 'call-1@198.51.100.7',
    ...(o.maxForwards === undefined ? {} : { maxForwards: o.maxForwards }),
    extra: [
      'Contact: <sip:+15550001111@198.51.100.7:5060>',
      'X-Carrier-Info:   opaque ,  value ;p=1',
      'P-Asserted-Identity: "Caller" <sip:+15550001111@198.51.100.7>',
      'Content-Type: application/sdp',
      ...(o.extra ?? []),
    ],
    body: SDP,
  });
}

/** Carrier INVITE in, routing settled: returns the forwarded INVITE (to whichever switch). */
async function placeCall(h: ProxyHarness, o: Parameters<typeof carrierInvite>[0] = {}) {
  h.transport.inject(carrierInvite(o), CARRIER);
  await settle();
  const invites = h.transport.sent.filter((s) => s.text.startsWith('INVITE ') && s.target.address !== CARRIER_TARGET.address);
  return invites[invites.length - 1];
}

const RR_UDP = '<sip:192.0.2.100:5060;lr>';

describe('INVITE forwarding (RFC 3261 §16.2, §16.6)', () => {
  it('§16.2 an INVITE from a carrier gets 100 Trying at once, before routing completes', async () => {
    const h = proxyHarness();
    h.transport.inject(carrierInvite(), CARRIER);
    // Synchronously, before admission/routing (async) ran.
    expect(startLines(h.transport.sent)).toEqual(['SIP/2.0 100 Trying']);
    expect(h.transport.sent[0].target).toMatchObject({ protocol: 'udp', ...CARRIER_TARGET });
    const trying = parseResponse(h.transport.sent[0]);
    expect(trying.toTag).toBeUndefined();
    expect(trying.get('via')).toBe(CARRIER_VIA);
    await settle();
    expect(sentRequests(h, SW1, 'INVITE')).toHaveLength(1);
  });

  it('§16.6 the forwarded INVITE: our Via on top (z9hG4bK), Max-Forwards − 1, Record-Route ;lr, every other header unchanged', async () => {
    const h = proxyHarness();
    const original = carrierInvite();
    const fwdRec = await placeCall(h);
    expect(fwdRec.target).toMatchObject({ protocol: 'udp', ...SW1 });
    const fwd = parseRequest(fwdRec);
    expect(fwd.uri).toBe('sip:+15551234567@192.0.2.100:5060');
    const vias = fwd.getAll('via');
    expect(vias).toHaveLength(2);
    expect(vias[0]).toMatch(/^SIP\/2\.0\/UDP 192\.0\.2\.100:5060;branch=z9hG4bK[^;]+;rport$/);
    expect(vias[1]).toBe(CARRIER_VIA);
    expect(fwd.via.branch).not.toBe('z9hG4bK-c1');
    expect(fwd.maxForwards).toBe(69);
    expect(fwd.getAll('record-route')).toEqual([RR_UDP]);
    // Everything else byte for byte and in order, unknown headers included.
    const untouched = (lines: string[]) => lines.filter((l) => !/^(Via|Max-Forwards|Record-Route):/.test(l));
    expect(untouched(headerLines(fwdRec.text))).toEqual(untouched(headerLines(original)));
    expect(fwdRec.text).toContain('\r\nX-Carrier-Info:   opaque ,  value ;p=1\r\n');
    expect(fwd.body.toString('latin1')).toBe(SDP);
  });

  it('the StaticRouter round-robin alternates the switches call by call', async () => {
    const h = proxyHarness();
    const targets: string[] = [];
    for (let i = 1; i <= 4; i++) {
      const fwd = await placeCall(h, { callId: `rr-${i}`, branch: `z9hG4bK-rr${i}` });
      targets.push(fwd.target.address);
    }
    expect(targets).toEqual(['192.0.2.21', '192.0.2.22', '192.0.2.21', '192.0.2.22']);
    expect(h.admission.admits.map((a) => a.switchId)).toEqual(['sw1', 'sw2', 'sw1', 'sw2']);
  });
});

describe('a call through the proxy (RFC 3261 §16.7, §13.2.2.4, §15)', () => {
  it('§16.7 180 and 200 relayed upstream without our Via; ACK for the 200 and the BYE follow the dialog; release once', async () => {
    const h = proxyHarness();
    const fwd = await placeCall(h);
    h.transport.clear();

    switchAnswers(h, fwd, 180, 'Ringing');
    const [ringing] = sentResponses(h, CARRIER_TARGET);
    expect(ringing.target).toMatchObject({ protocol: 'udp', ...CARRIER_TARGET });
    const r180 = parseResponse(ringing);
    expect(r180.status).toBe(180);
    expect(r180.getAll('via')).toEqual([CARRIER_VIA]);
    expect(r180.toTag).toBe('sw-tag');

    switchAnswers(h, fwd, 200, 'OK', {
      headers: [
        ['Record-Route', RR_UDP],
        ['Contact', '<sip:switch@192.0.2.21:5060>'],
      ],
      body: SDP,
    });
    const ok = parseResponse(sentResponses(h, CARRIER_TARGET)[1]);
    expect(ok.status).toBe(200);
    expect(ok.getAll('via')).toEqual([CARRIER_VIA]);
    expect(ok.getAll('record-route')).toEqual([RR_UDP]);
    expect(ok.body.toString('latin1')).toBe(SDP);
    expect(h.dialogs.get('call-1@198.51.100.7')?.state).toBe('confirmed');
    expect(h.admission.releases).toEqual([]);

    // SIPp-style ACK for the 2xx: new branch, no Route, the To tag; found by Call-ID.
    h.transport.clear();
    const clientsBefore = h.layer.stats().clientTransactions;
    h.transport.inject(request({ method: 'ACK', branch: 'z9hG4bK-ack2xx', toTag: 'sw-tag' }), CARRIER);
    // Forwarded within the call that delivered it: the dialog names the switch, nothing to look up or await.
    expect(sentRequests(h, SW1, 'ACK')).toHaveLength(1);
    await settle();
    const acks = sentRequests(h, SW1, 'ACK');
    expect(acks).toHaveLength(1);
    const ack = parseRequest(acks[0]);
    expect(ack.getAll('via')[1]).toBe('SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-ack2xx');
    expect(ack.via.branch).toMatch(/^z9hG4bK/);
    expect(ack.via.branch).not.toBe(parseRequest(fwd).via.branch);
    expect(ack.has('record-route')).toBe(false);
    expect(ack.get('cseq')).toBe('1 ACK');
    expect(ack.maxForwards).toBe(69);
    // Stateless: no client transaction, no retransmission.
    expect(h.layer.stats().clientTransactions).toBe(clientsBefore);
    h.clock.advance(10_000);
    expect(sentRequests(h, SW1, 'ACK')).toHaveLength(1);

    // BYE from the carrier, same way (no Route).
    h.transport.inject(request({ method: 'BYE', branch: 'z9hG4bK-bye1', toTag: 'sw-tag', cseq: 2 }), CARRIER);
    await settle();
    const [byeRec] = sentRequests(h, SW1, 'BYE');
    expect(byeRec).toBeDefined();
    expect(parseRequest(byeRec).has('record-route')).toBe(false);
    expect(h.admission.releases).toEqual([]);
    const byeOk = switchAnswers(h, byeRec, 200, 'OK');
    expect(statusesTo(h, CARRIER_TARGET).at(-1)).toBe(200);
    expect(h.dialogs.get('call-1@198.51.100.7')).toBeUndefined();
    expect(h.admission.releases).toEqual([{ switchId: 'sw1', callId: 'call-1@198.51.100.7', reason: 'bye' }]);
    // A retransmitted 200 for the BYE changes nothing.
    h.transport.inject(byeOk, SW1_FLOW);
    expect(h.admission.releases).toHaveLength(1);
  });

  it('§16.7 a BYE from the switch side goes to the caller (source address of the INVITE)', async () => {
    const h = proxyHarness();
    const fwd = await placeCall(h);
    switchAnswers(h, fwd, 200, 'OK', { headers: [['Record-Route', RR_UDP]] });
    h.transport.clear();
    h.transport.inject(
      [
        'BYE sip:+15550001111@198.51.100.7:5060 SIP/2.0',
        'Via: SIP/2.0/UDP 192.0.2.21:5060;branch=z9hG4bK-swbye',
        'Max-Forwards: 70',
        'From: <sip:+15551234567@192.0.2.100>;tag=sw-tag',
        'To: "Carrier" <sip:+15550001111@198.51.100.7>;tag=from-1',
        'Call-ID: call-1@198.51.100.7',
        'CSeq: 9 BYE',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
      SW1_FLOW,
    );
    await settle();
    const [bye] = sentRequests(h, CARRIER_TARGET, 'BYE');
    expect(bye.target).toMatchObject({ protocol: 'udp', ...CARRIER_TARGET });
  });

  it('§16.7 step 10 / §17.1.1.3 a 486 from the switch is ACKed hop by hop and relayed; release once with "rejected"', async () => {
    const h = proxyHarness();
    const fwdRec = await placeCall(h);
    const fwd = parseRequest(fwdRec);
    h.transport.clear();
    const busy = switchAnswers(h, fwdRec, 486, 'Busy Here');
    const [ackRec] = sentRequests(h, SW1, 'ACK');
    const ack = parseRequest(ackRec);
    expect(ack.via.branch).toBe(fwd.via.branch);
    expect(ack.getAll('via')).toHaveLength(1);
    expect(ack.get('cseq')).toBe('1 ACK');
    expect(ack.toTag).toBe('sw-tag');
    expect(ack.uri).toBe(fwd.uri);
    const relayed = parseResponse(sentResponses(h, CARRIER_TARGET)[0]);
    expect(relayed.status).toBe(486);
    expect(relayed.getAll('via')).toEqual([CARRIER_VIA]);
    expect(h.admission.releases).toEqual([{ switchId: 'sw1', callId: 'call-1@198.51.100.7', reason: 'rejected' }]);
    expect(h.dialogs.size).toBe(0);

    // A retransmitted 486 re-triggers our ACK only; it is not relayed again.
    h.transport.inject(busy, SW1_FLOW);
    expect(sentRequests(h, SW1, 'ACK')).toHaveLength(2);
    expect(statusesTo(h, CARRIER_TARGET)).toEqual([486]);
    // The carrier's own ACK is absorbed by our server transaction, not forwarded.
    h.transport.inject(request({ method: 'ACK', branch: 'z9hG4bK-c1', toTag: 'sw-tag' }), CARRIER);
    await settle();
    expect(sentRequests(h, SW1, 'ACK')).toHaveLength(2);
    expect(h.admission.releases).toHaveLength(1);
    // No failover for a 486.
    expect(sentRequests(h, SW2, 'INVITE')).toHaveLength(0);
  });
});

describe('CANCEL (RFC 3261 §9, §16.10)', () => {
  const carrierCancel = () => request({ method: 'CANCEL', branch: 'z9hG4bK-c1' });

  it('§16.10 CANCEL after a 180: 200 for the CANCEL, CANCEL to the switch on the INVITE branch, the 487 relayed', async () => {
    const h = proxyHarness();
    const fwdRec = await placeCall(h);
    const fwd = parseRequest(fwdRec);
    switchAnswers(h, fwdRec, 180, 'Ringing');
    h.transport.clear();

    h.transport.inject(carrierCancel(), CARRIER);
    const [cancelOk] = sentResponses(h, CARRIER_TARGET).map(parseResponse);
    expect(cancelOk.status).toBe(200);
    expect(cancelOk.get('cseq')).toBe('1 CANCEL');
    const [cancelRec] = sentRequests(h, SW1, 'CANCEL');
    const cancel = parseRequest(cancelRec);
    expect(cancel.via.branch).toBe(fwd.via.branch);
    expect(cancel.getAll('via')).toHaveLength(1);
    expect(cancel.get('cseq')).toBe('1 CANCEL');
    expect(cancel.uri).toBe(fwd.uri);
    expect(cancel.callId).toBe(fwd.callId);
    expect(cancel.get('from')).toBe(fwd.get('from'));
    expect(cancel.get('to')).toBe(fwd.get('to'));

    switchAnswers(h, cancelRec, 200, 'OK'); // consumed by our CANCEL client transaction
    expect(statusesTo(h, CARRIER_TARGET)).toEqual([200]);
    switchAnswers(h, fwdRec, 487, 'Request Terminated');
    expect(statusesTo(h, CARRIER_TARGET)).toEqual([200, 487]);
    expect(sentRequests(h, SW1, 'ACK')).toHaveLength(1);
    expect(h.admission.releases).toEqual([{ switchId: 'sw1', callId: 'call-1@198.51.100.7', reason: 'cancel' }]);
  });

  it.each([100, 180])('§9.1 CANCEL before any provisional is held until the switch sends %i', async (status) => {
    const h = proxyHarness();
    const fwdRec = await placeCall(h);
    h.transport.clear();
    h.transport.inject(carrierCancel(), CARRIER);
    expect(statusesTo(h, CARRIER_TARGET)).toEqual([200]);
    h.clock.advance(400);
    expect(sentRequests(h, SW1, 'CANCEL')).toHaveLength(0);
    switchAnswers(h, fwdRec, status);
    const cancels = sentRequests(h, SW1, 'CANCEL');
    expect(cancels).toHaveLength(1);
    expect(parseRequest(cancels[0]).via.branch).toBe(parseRequest(fwdRec).via.branch);
    switchAnswers(h, fwdRec, 487, 'Request Terminated');
    expect(statusesTo(h, CARRIER_TARGET).at(-1)).toBe(487);
    expect(h.admission.releases.map((r) => r.reason)).toEqual(['cancel']);
  });

  it('§16.10 CANCEL while admission is still deciding: 487 upstream, nothing sent to a switch, released once', async () => {
    const h = proxyHarness();
    h.transport.inject(carrierInvite(), CARRIER);
    h.transport.inject(carrierCancel(), CARRIER);
    await settle();
    expect(statusesTo(h, CARRIER_TARGET)).toEqual([100, 200, 487]);
    expect(sentRequests(h, SW1, 'INVITE')).toHaveLength(0);
    expect(sentRequests(h, SW2, 'INVITE')).toHaveLength(0);
    expect(h.admission.releases.map((r) => r.reason)).toEqual(['cancel']);
  });

  it('§16.10 CANCEL for an unknown INVITE → 481', () => {
    const h = proxyHarness();
    h.transport.inject(request({ method: 'CANCEL', branch: 'z9hG4bK-nobody' }), CARRIER);
    const [res] = sentResponses(h, CARRIER_TARGET).map(parseResponse);
    expect(res.status).toBe(481);
    expect(res.get('cseq')).toBe('1 CANCEL');
    expect(h.transport.sent).toHaveLength(1);
  });

  it('§9.1 the switch never answers the CANCELled INVITE: after 64*T1 the call ends upstream (487) and is released', async () => {
    const h = proxyHarness();
    const fwdRec = await placeCall(h);
    switchAnswers(h, fwdRec, 180, 'Ringing');
    h.transport.inject(carrierCancel(), CARRIER);
    const [cancelRec] = sentRequests(h, SW1, 'CANCEL');
    switchAnswers(h, cancelRec, 200, 'OK');
    h.clock.advance(31_999);
    await settle();
    expect(statusesTo(h, CARRIER_TARGET)).toEqual([100, 180, 200]);
    h.clock.advance(1);
    await settle();
    expect(statusesTo(h, CARRIER_TARGET)).toEqual([100, 180, 200, 487]);
    expect(h.admission.releases.map((r) => r.reason)).toEqual(['cancel']);
    // Everything drains: ACK from the carrier, then timers.
    h.transport.inject(request({ method: 'ACK', branch: 'z9hG4bK-c1', toTag: 'x' }), CARRIER);
    h.clock.advance(64_000);
    expect(h.layer.stats()).toMatchObject({ serverTransactions: 0, clientTransactions: 0 });
    expect(h.dialogs.size).toBe(0);
  });
});

describe('failover (RFC 3261 §16.7 step 6, §16.8)', () => {
  it('switch 1 answers 503 → the INVITE is retried on switch 2 with a new branch; the carrier sees only the final answer', async () => {
    const h = proxyHarness();
    const first = await placeCall(h);
    expect(first.target).toMatchObject(SW1);
    switchAnswers(h, first, 503, 'Service Unavailable');
    expect(sentRequests(h, SW1, 'ACK')).toHaveLength(1);
    await settle();
    const [second] = sentRequests(h, SW2, 'INVITE');
    expect(second).toBeDefined();
    const b1 = parseRequest(first).via.branch!;
    const b2 = parseRequest(second).via.branch!;
    expect(b2).toMatch(/^z9hG4bK/);
    expect(b2).not.toBe(b1);
    expect(parseRequest(second).maxForwards).toBe(69);
    expect(parseRequest(second).getAll('via')).toHaveLength(2);
    expect(statusesTo(h, CARRIER_TARGET)).toEqual([100]);
    expect(h.admission.admits.map((a) => a.switchId)).toEqual(['sw1', 'sw2']);
    expect(h.admission.releases).toEqual([{ switchId: 'sw1', callId: 'call-1@198.51.100.7', reason: 'failover' }]);
    switchAnswers(h, second, 200, 'OK');
    expect(statusesTo(h, CARRIER_TARGET)).toEqual([100, 200]);
    expect(h.dialogs.get('call-1@198.51.100.7')?.switchId).toBe('sw2');
  });

  it('switch 1 times out (Timer B, 64*T1) → retried on switch 2', async () => {
    const h = proxyHarness();
    const first = await placeCall(h);
    h.clock.advance(31_999);
    await settle();
    expect(sentRequests(h, SW2, 'INVITE')).toHaveLength(0);
    expect(sentRequests(h, SW1, 'INVITE')).toHaveLength(7); // Timer A: 0, .5, 1.5, 3.5, 7.5, 15.5, 31.5 s
    h.clock.advance(1);
    await settle();
    const [second] = sentRequests(h, SW2, 'INVITE');
    expect(second).toBeDefined();
    expect(parseRequest(second).via.branch).not.toBe(parseRequest(first).via.branch);
    expect(statusesTo(h, CARRIER_TARGET)).toEqual([100]);
    expect(h.admission.releases.map((r) => `${r.switchId}:${r.reason}`)).toEqual(['sw1:failover']);
  });

  it('§8.1.3.1 switch 1 unreachable (transport error) → retried on switch 2', async () => {
    const h = proxyHarness();
    h.transport.failSendsTo(SW1);
    await placeCall(h);
    await settle();
    expect(sentRequests(h, SW2, 'INVITE')).toHaveLength(1);
    expect(statusesTo(h, CARRIER_TARGET)).toEqual([100]);
  });

  it('180 then 503: no failover once a provisional went upstream; the final is relayed', async () => {
    const h = proxyHarness();
    const first = await placeCall(h);
    switchAnswers(h, first, 180, 'Ringing');
    switchAnswers(h, first, 503, 'Service Unavailable');
    await settle();
    expect(sentRequests(h, SW2, 'INVITE')).toHaveLength(0);
    expect(statusesTo(h, CARRIER_TARGET)).toEqual([100, 180, 503]);
    expect(h.admission.releases.map((r) => r.reason)).toEqual(['rejected']);
  });

  it('a 100 from switch 1 does not stop failover (only provisionals relayed upstream do)', async () => {
    const h = proxyHarness();
    const first = await placeCall(h);
    switchAnswers(h, first, 100, 'Trying');
    switchAnswers(h, first, 500, 'Server Internal Error');
    await settle();
    expect(sentRequests(h, SW2, 'INVITE')).toHaveLength(1);
  });

  it('all switches fail → 503 No Switch Available with Retry-After', async () => {
    const h = proxyHarness();
    const first = await placeCall(h);
    switchAnswers(h, first, 503, 'Service Unavailable');
    await settle();
    const [second] = sentRequests(h, SW2, 'INVITE');
    switchAnswers(h, second, 500, 'Server Internal Error');
    await settle();
    const finals = sentResponses(h, CARRIER_TARGET).map(parseResponse).filter((r) => r.status >= 200);
    expect(finals).toHaveLength(1);
    expect(finals[0].status).toBe(503);
    expect(finals[0].reason).toBe('No Switch Available');
    expect(finals[0].get('retry-after')).toBe('5');
    expect(h.admission.releases.map((r) => `${r.switchId}:${r.reason}`)).toEqual(['sw1:failover', 'sw2:failover']);
    expect(h.dialogs.size).toBe(0);
  });
});

describe('admission', () => {
  it('a refusal that is not switch-only is answered with its status, reason and Retry-After; no switch is tried', async () => {
    const h = proxyHarness();
    h.admission.decide = () => ({
      admitted: false,
      status: 503,
      reason: 'Service Unavailable (CPS Limit)',
      retryAfter: 7,
      limit: 'cluster:cps',
      switchOnly: false,
    });
    await placeCall(h);
    const [, final] = sentResponses(h, CARRIER_TARGET).map(parseResponse);
    expect(final.status).toBe(503);
    expect(final.reason).toBe('Service Unavailable (CPS Limit)');
    expect(final.get('retry-after')).toBe('7');
    expect(h.admission.admits).toHaveLength(1);
    expect(sentRequests(h, SW1, 'INVITE')).toHaveLength(0);
    expect(sentRequests(h, SW2, 'INVITE')).toHaveLength(0);
  });

  it('a switch-only refusal tries the next switch', async () => {
    const h = proxyHarness();
    h.admission.decide = (req) =>
      req.switchId === 'sw1'
        ? { admitted: false, status: 503, reason: 'Switch Full', limit: 'switch:sw1:channels', switchOnly: true }
        : undefined;
    await placeCall(h);
    expect(sentRequests(h, SW1, 'INVITE')).toHaveLength(0);
    expect(sentRequests(h, SW2, 'INVITE')).toHaveLength(1);
    expect(h.admission.admits.map((a) => a.switchId)).toEqual(['sw1', 'sw2']);
    expect(statusesTo(h, CARRIER_TARGET)).toEqual([100]);
  });
});

describe('request validation (RFC 3261 §16.3, §16.4)', () => {
  it('§16.3 step 3 Max-Forwards 0 → 483, not forwarded', async () => {
    const h = proxyHarness();
    await placeCall(h, { maxForwards: 0 });
    expect(statusesTo(h, CARRIER_TARGET)).toEqual([483]);
    expect(h.transport.sent).toHaveLength(1);
  });

  it('§16.3 step 4 a request carrying our own Via with the same loop hash → 482', async () => {
    const h = proxyHarness();
    const fwd = await placeCall(h);
    h.transport.clear();
    // The switch sends our own request straight back to us, unchanged.
    h.transport.inject(fwd.data, SW1_FLOW);
    await settle();
    const res = sentResponses(h, SW1).map(parseResponse);
    expect(res.map((r) => r.status)).toEqual([482]);
    expect(sentRequests(h, SW2, 'INVITE')).toHaveLength(0);
  });

  it('§16.3 step 4 a spiral (our Via, but the Request-URI changed) is forwarded', async () => {
    const h = proxyHarness();
    const fwd = await placeCall(h);
    h.transport.clear();
    const spiral = fwd.text.replace('INVITE sip:+15551234567@192.0.2.100:5060 SIP/2.0', 'INVITE sip:+15557654321@192.0.2.100:5060 SIP/2.0');
    h.transport.inject(spiral, SW1_FLOW);
    await settle();
    expect(statusesTo(h, SW1)).toEqual([100]);
    const [again] = sentRequests(h, SW2, 'INVITE');
    expect(again).toBeDefined();
    const req = parseRequest(again);
    expect(req.uri).toBe('sip:+15557654321@192.0.2.100:5060');
    expect(req.vias().map((v) => v.host)).toEqual(['192.0.2.100', '192.0.2.100', '198.51.100.7']);
    expect(req.maxForwards).toBe(68);
  });

  it('§16.3 step 6 Proxy-Require with an unknown extension → 420 with Unsupported', () => {
    const h = proxyHarness();
    h.transport.inject(request({ method: 'OPTIONS', extra: ['Proxy-Require: com.example.foo'] }), CARRIER);
    const [res] = sentResponses(h, CARRIER_TARGET).map(parseResponse);
    expect(res.status).toBe(420);
    expect(res.get('unsupported')).toBe('com.example.foo');
  });

  it('RFC 4475 §3.3.2 unkscm: an unknown Request-URI scheme → 416, never routed on To', () => {
    const h = proxyHarness();
    const data = readFileSync(new URL('../../shared/sip/fixtures/rfc4475/unkscm.dat', import.meta.url));
    h.transport.inject(data, { protocol: 'tcp', remoteAddress: '192.0.2.30', remotePort: 40001, connectionId: 9 });
    expect(h.transport.sent).toHaveLength(1);
    expect(h.transport.sent[0].target).toMatchObject({ protocol: 'tcp', address: '192.0.2.30', connectionId: 9 });
    expect(parseResponse(h.transport.sent[0]).status).toBe(416);
  });

  it('§11 OPTIONS to the dispatcher itself → 200 with Allow, not forwarded', async () => {
    const h = proxyHarness();
    h.transport.inject(request({ method: 'OPTIONS', uri: 'sip:192.0.2.100:5060', toUri: '<sip:192.0.2.100>' }), CARRIER);
    await settle();
    const [res] = h.transport.sent.map(parseResponse);
    expect(h.transport.sent).toHaveLength(1);
    expect(res.status).toBe(200);
    expect(res.get('allow')).toMatch(/\bINVITE\b/);
    expect(res.get('allow')).toMatch(/\bOPTIONS\b/);
  });

  it('§16.3 an unknown method out of dialog is proxied to a switch, not rejected', async () => {
    const h = proxyHarness();
    h.transport.inject(request({ method: 'FROBNICATE', branch: 'z9hG4bK-frob' }), CARRIER);
    await settle();
    const [fwd] = sentRequests(h, SW1, 'FROBNICATE');
    expect(fwd).toBeDefined();
    expect(parseRequest(fwd).get('cseq')).toBe('1 FROBNICATE');
    expect(parseRequest(fwd).has('record-route')).toBe(false);
    expect(statusesTo(h, CARRIER_TARGET)).toEqual([]); // no 100 for non-INVITE
    switchAnswers(h, fwd, 501, 'Not Implemented');
    expect(statusesTo(h, CARRIER_TARGET)).toEqual([501]);
  });

  it('§16.3 a malformed Route in an INVITE → 400 through the transaction, which then ends normally', async () => {
    const h = proxyHarness();
    h.transport.inject(carrierInvite({ extra: ['Route: <sip:192.0.2.100;lr'] }), CARRIER);
    await settle();
    const [res] = sentResponses(h, CARRIER_TARGET).map(parseResponse);
    expect(res.status).toBe(400);
    expect(res.reason).toMatch(/Route/);
    h.clock.advance(32_000); // Timer H
    expect(h.layer.stats().serverTransactions).toBe(0);
  });

  it('§17 an ACK is never answered, even one with a malformed Route', async () => {
    const h = proxyHarness();
    h.transport.inject(request({ method: 'ACK', branch: 'z9hG4bK-badack', toTag: 't', extra: ['Route: <sip:192.0.2.100;lr'] }), CARRIER);
    await settle();
    expect(h.transport.sent).toHaveLength(0);
  });
});

describe('a finished call while its transactions are still held (RFC 6026; memory shedding)', () => {
  it('after the 2xx: a 2xx retransmission is still relayed (not reported again), a retransmitted INVITE absorbed, a retransmitted BYE re-answered', async () => {
    const reports: Array<{ id: string; outcome: AttemptOutcome }> = [];
    const router = new StaticRouter(SWITCHES);
    router.report = (c, outcome) => void reports.push({ id: c.id, outcome });
    const h = proxyHarness({ router });
    const invite = carrierInvite();
    h.transport.inject(invite, CARRIER);
    await settle();
    const fwd = h.transport.sent.filter((s) => s.text.startsWith('INVITE ') && s.target.address !== CARRIER_TARGET.address)[0];
    const ok = switchAnswers(h, fwd, 200, 'OK', { headers: [['Record-Route', RR_UDP]], body: SDP });
    expect(statusesTo(h, CARRIER_TARGET)).toEqual([100, 200]);
    const relayed = sentResponses(h, CARRIER_TARGET)[1];

    // The switch retransmits its 2xx: it still goes upstream, byte for byte the same.
    h.transport.clear();
    h.transport.inject(ok, SW1_FLOW);
    const again = sentResponses(h, CARRIER_TARGET);
    expect(again).toHaveLength(1);
    expect(again[0].data.equals(relayed.data)).toBe(true);
    expect(h.dialogs.get('call-1@198.51.100.7')?.state).toBe('confirmed');
    // The switch pool heard of the answer once: a retransmission is not another answer.
    expect(reports).toEqual([{ id: 'sw1', outcome: { kind: 'response', status: 200, latencyMs: 0 } }]);

    // The carrier retransmits its INVITE: absorbed by the Accepted server transaction.
    h.transport.clear();
    h.transport.inject(invite, CARRIER);
    await settle();
    expect(h.transport.sent).toHaveLength(0);

    // BYE, its 200, then a retransmitted BYE: the 200 is re-sent from the Completed transaction.
    const bye = request({ method: 'BYE', branch: 'z9hG4bK-bye-mem', toTag: 'sw-tag', cseq: 2 });
    h.transport.inject(bye, CARRIER);
    await settle();
    const [byeRec] = sentRequests(h, SW1, 'BYE');
    switchAnswers(h, byeRec, 200, 'OK');
    const [byeOk] = sentResponses(h, CARRIER_TARGET);
    h.transport.clear();
    h.transport.inject(bye, CARRIER);
    const [byeOkAgain] = sentResponses(h, CARRIER_TARGET);
    expect(byeOkAgain.data.equals(byeOk.data)).toBe(true);
    expect(sentRequests(h, SW1, 'BYE')).toHaveLength(0);
    expect(h.admission.releases).toEqual([{ switchId: 'sw1', callId: 'call-1@198.51.100.7', reason: 'bye' }]);

    // Everything ends with its timers.
    h.clock.advance(200_000);
    expect(h.layer.stats()).toMatchObject({ serverTransactions: 0, clientTransactions: 0 });
  });
});
