/**
 * Route processing in the proxy core: loose routing (RFC 3261 §16.4, §16.6 step 6, §16.12),
 * double Record-Route with flow tokens (RFC 5658, RFC 5626 idea), and Timer C (§16.8).
 */
import { describe, expect, it } from 'vitest';
import { CARRIER, parseRequest, parseResponse, request, settle, sip } from '../transaction/transaction-test-kit.ts';
import type { FlowOptions } from '../transport/fake-transport.ts';
import { decodeFlowToken } from './flow-token.ts';
import {
  CARRIER_TARGET,
  proxyHarness,
  sentRequests,
  statusesTo,
  SW1,
  SW1_FLOW,
  switchAnswers,
  type ProxyHarness,
} from './proxy-test-kit.ts';

const NEXT = { address: '192.0.2.50', port: 5070 } as const;
const BOB = 'sip:bob@192.0.2.60:5080';

/** An in-dialog BYE from the carrier with the given Request-URI and Route values. */
function inDialogBye(uri: string, routes: readonly string[]): string {
  return request({
    method: 'BYE',
    uri,
    branch: 'z9hG4bK-lr',
    toTag: 'remote-tag',
    cseq: 2,
    extra: routes.map((r) => `Route: ${r}`),
  });
}

async function forwardOnce(h: ProxyHarness, text: string, flow: FlowOptions = CARRIER) {
  h.transport.inject(text, flow);
  await settle();
  const out = h.transport.sent.filter((s) => !s.text.startsWith('SIP/2.0 '));
  expect(out).toHaveLength(1);
  return { rec: out[0], req: parseRequest(out[0]) };
}

describe('loose routing (RFC 3261 §16.4, §16.12)', () => {
  it('§16.4 our Route value is removed; §16.12 the request goes to the next Route hop, Route kept, Request-URI unchanged', async () => {
    const h = proxyHarness();
    const { rec, req } = await forwardOnce(h, inDialogBye(BOB, ['<sip:192.0.2.100:5060;lr>', '<sip:192.0.2.50:5070;lr>']));
    expect(rec.target).toMatchObject({ protocol: 'udp', ...NEXT });
    expect(req.uri).toBe(BOB);
    expect(req.getAll('route')).toEqual(['<sip:192.0.2.50:5070;lr>']);
    expect(req.vias()[0].host).toBe('192.0.2.100');
    expect(req.has('record-route')).toBe(false);
  });

  it('§16.4 both of our Record-Route values (double RR) are removed', async () => {
    const h = proxyHarness();
    const { rec, req } = await forwardOnce(
      h,
      inDialogBye(BOB, ['<sip:192.0.2.100:5060;lr>', '<sip:192.0.2.100:5060;transport=tcp;lr>', '<sip:192.0.2.50:5070;lr>']),
    );
    expect(rec.target).toMatchObject(NEXT);
    expect(req.getAll('route')).toEqual(['<sip:192.0.2.50:5070;lr>']);
  });

  it('§16.4 our values in one comma-separated Route line are removed too', async () => {
    const h = proxyHarness();
    const { rec, req } = await forwardOnce(h, inDialogBye(BOB, ['<sip:192.0.2.100:5060;lr>, <sip:192.0.2.50:5070;lr>']));
    expect(rec.target).toMatchObject(NEXT);
    expect(req.routes().map((r) => r.uri)).toEqual(['sip:192.0.2.50:5070;lr']);
  });

  it('§16.4 a strict-routing previous hop (Request-URI = our RR URI) gets the Request-URI restored from the last Route', async () => {
    const h = proxyHarness();
    const { rec, req } = await forwardOnce(h, inDialogBye('sip:192.0.2.100:5060;lr', ['<sip:192.0.2.50:5070;lr>', `<${BOB}>`]));
    expect(req.uri).toBe(BOB);
    expect(req.getAll('route')).toEqual(['<sip:192.0.2.50:5070;lr>']);
    expect(rec.target).toMatchObject(NEXT);
  });

  it('§16.6 step 6 a strict-router next hop (no lr): its URI becomes the Request-URI, the old one goes to the end of Route', async () => {
    const h = proxyHarness();
    const { rec, req } = await forwardOnce(
      h,
      inDialogBye(BOB, ['<sip:192.0.2.100:5060;lr>', '<sip:192.0.2.50:5070>', '<sip:192.0.2.51:5060;lr>']),
    );
    expect(req.uri).toBe('sip:192.0.2.50:5070');
    expect(req.routes().map((r) => r.uri)).toEqual(['sip:192.0.2.51:5060;lr', BOB]);
    expect(rec.target).toMatchObject(NEXT);
  });

  it('§16.12 the response to a loose-routed request comes back upstream without our Via', async () => {
    const h = proxyHarness();
    const { rec } = await forwardOnce(h, inDialogBye(BOB, ['<sip:192.0.2.100:5060;lr>', '<sip:192.0.2.50:5070;lr>']));
    switchAnswers(h, rec, 200, 'OK');
    const res = parseResponse(h.transport.sentTo(CARRIER_TARGET)[0]);
    expect(res.status).toBe(200);
    expect(res.getAll('via')).toEqual(['SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-lr']);
  });
});

describe('double Record-Route and flow tokens (RFC 5658, RFC 5626 §5.2 idea)', () => {
  const TCP_CARRIER: FlowOptions = { protocol: 'tcp', remoteAddress: '198.51.100.7', remotePort: 40000, connectionId: 42 };

  /** INVITE over TCP from the carrier, forwarded over UDP to sw1, answered 200 with the RR set. */
  async function tcpCall(h: ProxyHarness, contact: string) {
    h.transport.inject(
      request({
        viaTransport: 'TCP',
        branch: 'z9hG4bK-tcp1',
        extra: [`Contact: ${contact}`],
      }),
      TCP_CARRIER,
    );
    await settle();
    const [fwdRec] = sentRequests(h, SW1, 'INVITE');
    return fwdRec;
  }

  it('RFC 5658 TCP in, UDP out: two Record-Route values, the top one facing the UDP side; the TCP one carries a flow token', async () => {
    const h = proxyHarness();
    const fwdRec = await tcpCall(h, '<sip:+15550001111@198.51.100.7:5060;transport=tcp>');
    expect(h.transport.sent[0].target).toMatchObject({ protocol: 'tcp', connectionId: 42 }); // 100 Trying
    expect(fwdRec.target).toMatchObject({ protocol: 'udp', ...SW1 });
    const fwd = parseRequest(fwdRec);
    expect(fwd.getAll('via')[0]).toMatch(/^SIP\/2\.0\/UDP 192\.0\.2\.100:5060;/);
    const rr = fwd.recordRoutes();
    expect(rr).toHaveLength(2);
    expect(rr[0].uri).toBe('sip:192.0.2.100:5060;lr');
    expect(rr[1].uri).toMatch(/^sip:ft-[^@]+@192\.0\.2\.100:5060;transport=tcp;lr$/);
    const user = rr[1].uri.slice(4, rr[1].uri.indexOf('@'));
    expect(decodeFlowToken(user)).toBe(42);
  });

  it.each([
    ['with transport=tcp', '<sip:+15550001111@198.51.100.7:5060;transport=tcp>'],
    ['without a transport parameter', '<sip:+15550001111@198.51.100.7:5060>'],
    ['unreachable (RFC 7118 style .invalid)', '<sip:k3j2@df7jal23ls0d.invalid;transport=ws>'],
  ])('a BYE from the switch with that Route set leaves over the original TCP connection (Contact %s)', async (_label, contact) => {
    const h = proxyHarness();
    const fwdRec = await tcpCall(h, contact);
    const fwd = parseRequest(fwdRec);
    const rrLine = fwd.getAll('record-route').join(', ');
    switchAnswers(h, fwdRec, 200, 'OK', { headers: [['Record-Route', rrLine], ['Contact', '<sip:switch@192.0.2.21:5060>']] });
    const [ok] = h.transport.sentTo({ address: '198.51.100.7' }).filter((s) => s.text.startsWith('SIP/2.0 200'));
    expect(ok.target).toMatchObject({ protocol: 'tcp', connectionId: 42 });

    // The switch (UAS) uses the Record-Route set in order as its Route set; the Request-URI is the caller's Contact.
    h.transport.clear();
    const routes = fwd.recordRoutes().map((r) => `<${r.uri}>`);
    h.transport.inject(
      sip([
        `BYE ${contact.slice(1, -1)} SIP/2.0`,
        'Via: SIP/2.0/UDP 192.0.2.21:5060;branch=z9hG4bK-swbye2',
        'Max-Forwards: 70',
        `Route: ${routes.join(', ')}`,
        'From: <sip:+15551234567@192.0.2.100>;tag=sw-tag',
        'To: "Carrier" <sip:+15550001111@198.51.100.7>;tag=from-1',
        'Call-ID: call-1@198.51.100.7',
        'CSeq: 7 BYE',
      ]),
      SW1_FLOW,
    );
    await settle();
    const byes = h.transport.sent.filter((s) => s.text.startsWith('BYE '));
    expect(byes).toHaveLength(1);
    expect(byes[0].target).toMatchObject({ protocol: 'tcp', connectionId: 42 });
    const bye = parseRequest(byes[0]);
    expect(bye.has('route')).toBe(false);
    expect(bye.getAll('via')[0]).toMatch(/^SIP\/2\.0\/TCP 192\.0\.2\.100:5060;/);

    // The caller's 200 comes back over the TCP connection and is relayed to the switch; the call is released once.
    h.transport.inject(
      sip([
        'SIP/2.0 200 OK',
        ...bye.getAll('via').map((v) => `Via: ${v}`),
        'From: <sip:+15551234567@192.0.2.100>;tag=sw-tag',
        'To: "Carrier" <sip:+15550001111@198.51.100.7>;tag=from-1',
        'Call-ID: call-1@198.51.100.7',
        'CSeq: 7 BYE',
      ]),
      TCP_CARRIER,
    );
    expect(statusesTo(h, SW1)).toEqual([200]);
    expect(h.admission.releases.map((r) => r.reason)).toEqual(['bye']);
  });

  it('a single-transport path (UDP in, UDP out) gets one Record-Route without a token', async () => {
    const h = proxyHarness();
    h.transport.inject(request(), CARRIER);
    await settle();
    const fwd = parseRequest(sentRequests(h, SW1, 'INVITE')[0]);
    expect(fwd.getAll('record-route')).toEqual(['<sip:192.0.2.100:5060;lr>']);
  });
});

describe('Timer C (RFC 3261 §16.8)', () => {
  it('§16.8 after a 180 and no final for Timer C, a CANCEL goes to the switch; the call then ends upstream', async () => {
    const h = proxyHarness();
    h.transport.inject(request(), CARRIER);
    await settle();
    const [fwdRec] = sentRequests(h, SW1, 'INVITE');
    const fwd = parseRequest(fwdRec);
    h.clock.advance(1_000);
    switchAnswers(h, fwdRec, 180, 'Ringing');
    const timerC = h.layer.timers(false).C;
    expect(timerC).toBeGreaterThan(180_000);
    h.clock.advance(timerC - 1);
    expect(sentRequests(h, SW1, 'CANCEL')).toHaveLength(0);
    h.clock.advance(1);
    const cancels = sentRequests(h, SW1, 'CANCEL');
    expect(cancels).toHaveLength(1);
    const cancel = parseRequest(cancels[0]);
    expect(cancel.via.branch).toBe(fwd.via.branch);
    expect(cancel.get('cseq')).toBe('1 CANCEL');
    // The switch answers the CANCEL and the INVITE with 487, which is relayed.
    switchAnswers(h, cancels[0], 200, 'OK');
    switchAnswers(h, fwdRec, 487, 'Request Terminated');
    expect(statusesTo(h, CARRIER_TARGET)).toEqual([100, 180, 487]);
    expect(h.admission.releases).toHaveLength(1);
  });

  it('§16.8 each further provisional restarts Timer C', async () => {
    const h = proxyHarness();
    h.transport.inject(request(), CARRIER);
    await settle();
    const [fwdRec] = sentRequests(h, SW1, 'INVITE');
    const timerC = h.layer.timers(false).C;
    switchAnswers(h, fwdRec, 180, 'Ringing');
    h.clock.advance(timerC - 10);
    switchAnswers(h, fwdRec, 183, 'Session Progress');
    h.clock.advance(timerC - 1);
    expect(sentRequests(h, SW1, 'CANCEL')).toHaveLength(0);
    h.clock.advance(1);
    expect(sentRequests(h, SW1, 'CANCEL')).toHaveLength(1);
  });

  it('§16.8 + §9.1 Timer C CANCEL unanswered: after 64*T1 the caller gets 408 and the call is released', async () => {
    const h = proxyHarness();
    h.transport.inject(request(), CARRIER);
    await settle();
    const [fwdRec] = sentRequests(h, SW1, 'INVITE');
    switchAnswers(h, fwdRec, 180, 'Ringing');
    h.clock.advance(h.layer.timers(false).C);
    expect(sentRequests(h, SW1, 'CANCEL')).toHaveLength(1);
    h.clock.advance(32_000);
    await settle();
    expect(statusesTo(h, CARRIER_TARGET)).toEqual([100, 180, 408]);
    expect(h.admission.releases).toHaveLength(1);
    expect(h.dialogs.size).toBe(0);
  });
});
