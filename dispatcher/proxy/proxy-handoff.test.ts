/**
 * The drain hand-off (docs/ops-api.md, "Drain"), both ends.
 *
 * Draining node: a new INVITE goes to a live peer, statefully, with a signed Route token naming
 * its source and without Record-Route (the dialog then bypasses this node), no admission and no
 * dialog here; the peer's responses are relayed to the caller; no peer → 503 (Draining) as
 * before; a phone's call or a stream caller's is not handed off; while closing, new ones are
 * dropped (the caller retransmits to the restarted process) and the ones in flight finish.
 *
 * Peer: the token makes the request come from the original source for every check (carrier id,
 * unknown source, hash-source routing, admission key, the dialog's caller side); a token that does
 * not check out is refused, and a handed-in call is never handed on.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { parseCidr } from '../../shared/config/cidr.ts';
import type { NodeLease } from '../../shared/cluster-store/cluster-store.ts';
import { isSipUri, parseUri } from '../../shared/sip/index.ts';
import { CarrierMatcher } from '../admission/carrier-matcher.ts';
import { DrainHandoff, HandoffTokens } from '../cluster/drain-handoff.ts';
import { PhoneFlowTokens } from '../registrar/owner-hop.ts';
import type { RoutingContext, Router } from '../routing/router.ts';
import { StaticRouter } from '../routing/static-router.ts';
import { CARRIER, logger, parseRequest, parseResponse, request, responseTo, settle } from '../transaction/transaction-test-kit.ts';
import type { FlowOptions } from '../transport/fake-transport.ts';
import type { PhoneServices } from './phone-services.ts';
import { CARRIER_TARGET, proxyHarness, sentRequests, sentResponses, statusesTo, SW1, SW2, SWITCHES, switchAnswers, type ProxyHarness } from './proxy-test-kit.ts';

const SECRET = 'cluster-secret';
const carriers = new CarrierMatcher([{ id: 'acme', sources: [parseCidr('198.51.100.0/24')], selection: 'round-robin' }]);
/** The peer the draining node (192.0.2.100, the harness's node) hands calls to. */
const PEER = { address: '192.0.2.101', port: 5060 } as const;
/** Seen from the peer's side: the draining node is 192.0.2.101, the peer is the harness's 192.0.2.100. */
const DRAINING_NODE: FlowOptions = { protocol: 'udp', remoteAddress: '192.0.2.101', remotePort: 5060 };
/** The carrier's real source (another port than the harness's CARRIER, to tell them apart). */
const ORIGINAL = { protocol: 'udp', address: '198.51.100.7', port: 5071 } as const;

const services: DrainHandoff[] = [];
afterEach(async () => {
  for (const s of services.splice(0)) await s.stop();
});

function lease(nodeId: string, sip: string): NodeLease {
  return { nodeId, epoch: 1, expiresAtMs: 0, info: { sip } };
}

async function handoff(opts: { peers?: string[]; secret?: string | undefined } = {}): Promise<DrainHandoff> {
  const leases = [lease('d1', 'sip:192.0.2.100:5060'), ...(opts.peers ?? ['sip:192.0.2.101:5060']).map((uri, i) => lease(`d${i + 2}`, uri))];
  const secret = 'secret' in opts ? opts.secret : SECRET;
  const s = new DrainHandoff({
    nodeId: 'd1',
    store: { liveNodes: async () => leases },
    secret: {
      clusterSecret: async () => {
        if (secret === undefined) throw new Error('store down');
        return secret;
      },
    },
    logger,
    refreshMs: 60_000,
  });
  await s.start();
  services.push(s);
  return s;
}

const tokens = new HandoffTokens(SECRET);
const tokenUser = (fwd: ReturnType<typeof parseRequest>): string | undefined => {
  const uri = parseUri(fwd.routes()[0].uri, 'Route');
  return isSipUri(uri) ? uri.user : undefined;
};

describe('a draining node with a live peer', () => {
  it('hands a new INVITE to the peer: 100 Trying, a Route token naming the source, no Record-Route, no admission, no dialog', async () => {
    const h = proxyHarness({ isDraining: () => true, handoff: await handoff(), carriers });
    h.transport.inject(request({ callId: 'new-1@198.51.100.7' }), CARRIER);
    await settle();
    expect(statusesTo(h, CARRIER_TARGET)).toEqual([100]);
    const [rec] = sentRequests(h, PEER, 'INVITE');
    expect(rec.target).toMatchObject({ protocol: 'udp', ...PEER });
    const fwd = parseRequest(rec);
    expect(fwd.routes()).toHaveLength(1);
    expect(fwd.routes()[0].uri).toMatch(/^sip:od-[^@]+@192\.0\.2\.101:5060;lr$/);
    expect(tokens.decode(tokenUser(fwd), 'new-1@198.51.100.7', Date.now() / 1000)).toEqual({ protocol: 'udp', address: '198.51.100.7', port: 5060 });
    expect(fwd.has('record-route')).toBe(false);
    expect(fwd.maxForwards).toBe(69);
    expect(fwd.getAll('via')).toHaveLength(2);
    expect(fwd.via.host).toBe('192.0.2.100');
    expect(h.admission.admits).toHaveLength(0);
    expect(h.dialogs.size).toBe(0);
    expect([...sentRequests(h, SW1, 'INVITE'), ...sentRequests(h, SW2, 'INVITE')]).toHaveLength(0);
    expect(h.proxy.stats()).toMatchObject({ handedOff: 1, handedIn: 0 });
  });

  it("relays the peer's responses to the caller: the 200 names the peer's Record-Route only", async () => {
    const h = proxyHarness({ isDraining: () => true, handoff: await handoff() });
    h.transport.inject(request(), CARRIER);
    await settle();
    const [rec] = sentRequests(h, PEER, 'INVITE');
    const peerFlow: FlowOptions = { protocol: 'udp', remoteAddress: PEER.address, remotePort: PEER.port };
    h.transport.inject(responseTo(rec, 180, 'Ringing', { toTag: 'sw-tag' }), peerFlow);
    h.transport.inject(responseTo(rec, 200, 'OK', { toTag: 'sw-tag', headers: [['Record-Route', '<sip:192.0.2.101:5060;lr>'], ['Contact', '<sip:sw@192.0.2.21:5060>']] }), peerFlow);
    await settle();
    expect(statusesTo(h, CARRIER_TARGET)).toEqual([100, 180, 200]);
    const ok = parseResponse(sentResponses(h, CARRIER_TARGET)[2]);
    expect(ok.getAll('record-route')).toEqual(['<sip:192.0.2.101:5060;lr>']);
    expect(ok.getAll('via')).toHaveLength(1);
    expect(h.dialogs.size).toBe(0);
    expect(h.admission.admits).toHaveLength(0);
  });

  it('passes a CANCEL on to the peer', async () => {
    const h = proxyHarness({ isDraining: () => true, handoff: await handoff() });
    h.transport.inject(request(), CARRIER);
    await settle();
    const [rec] = sentRequests(h, PEER, 'INVITE');
    h.transport.inject(responseTo(rec, 100, 'Trying', { toTag: '' }), { protocol: 'udp', remoteAddress: PEER.address, remotePort: PEER.port });
    h.transport.inject(request({ method: 'CANCEL' }), CARRIER);
    await settle();
    const [cancel] = sentRequests(h, PEER, 'CANCEL');
    expect(cancel).toBeDefined();
    expect(parseRequest(cancel).routes()[0].uri).toBe(parseRequest(rec).routes()[0].uri);
  });

  it('answers 503 (Draining) as before when no peer is live, the cluster secret is not loaded, the caller is on a stream or is a phone', async () => {
    const cases: Array<{ h: ProxyHarness; flow: FlowOptions; viaTransport?: string }> = [
      { h: proxyHarness({ isDraining: () => true, handoff: await handoff({ peers: [] }) }), flow: CARRIER },
      { h: proxyHarness({ isDraining: () => true, handoff: await handoff({ secret: undefined }) }), flow: CARRIER },
      { h: proxyHarness({ isDraining: () => true, handoff: await handoff() }), flow: { ...CARRIER, protocol: 'tcp', connectionId: 9 }, viaTransport: 'TCP' },
      { h: proxyHarness({ isDraining: () => true }), flow: CARRIER },
    ];
    const phones: PhoneServices = {
      nodeId: 'd1',
      tokens: new PhoneFlowTokens(SECRET),
      shouldDrop: () => false,
      register: () => {},
      authenticate: async () => ({ ok: true, user: { id: 'bob' } }),
      lookup: async () => undefined,
    };
    const phone: FlowOptions = { protocol: 'udp', remoteAddress: '203.0.113.50', remotePort: 40001 };
    cases.push({ h: proxyHarness({ isDraining: () => true, handoff: await handoff(), carriers, phones }), flow: phone });
    for (const [i, c] of cases.entries()) {
      c.h.transport.inject(request({ viaHost: `${c.flow.remoteAddress}:${c.flow.remotePort}`, ...(c.viaTransport === undefined ? {} : { viaTransport: c.viaTransport }) }), c.flow);
      await settle();
      const answers = sentResponses(c.h, { address: c.flow.remoteAddress }).map(parseResponse);
      expect(answers.map((r) => `${r.status} ${r.reason}`), `case ${i}`).toEqual(['503 Service Unavailable (Draining)']);
      expect(sentRequests(c.h, PEER, 'INVITE'), `case ${i}`).toHaveLength(0);
      expect(c.h.proxy.stats().handedOff).toBe(0);
    }
  });

  it('closing: new INVITEs are dropped unanswered, the hand-offs in flight finish, then quiesce resolves', async () => {
    const h = proxyHarness({ isDraining: () => true, handoff: await handoff() });
    h.transport.inject(request({ callId: 'in-flight@x' }), CARRIER);
    await settle();
    const [rec] = sentRequests(h, PEER, 'INVITE');
    let quiet = false;
    const q = h.proxy.quiesce(2_000).then(() => {
      quiet = true;
    });
    h.transport.inject(request({ callId: 'late@x', branch: 'z9hG4bK-late' }), CARRIER);
    await settle();
    expect(sentRequests(h, PEER, 'INVITE')).toHaveLength(1);
    expect(sentResponses(h, CARRIER_TARGET).map(parseResponse).filter((r) => r.callId === 'late@x')).toHaveLength(0);
    expect(quiet).toBe(false);
    h.transport.inject(responseTo(rec, 200, 'OK', { toTag: 'sw-tag' }), { protocol: 'udp', remoteAddress: PEER.address, remotePort: PEER.port });
    await q;
    expect(statusesTo(h, CARRIER_TARGET)).toEqual([100, 200]);
  });

  it('closing: quiesce gives up on a hand-off that gets no answer after its time', async () => {
    const h = proxyHarness({ isDraining: () => true, handoff: await handoff() });
    await h.proxy.quiesce(2_000); // nothing in flight: at once
    const h2 = proxyHarness({ isDraining: () => true, handoff: await handoff() });
    h2.transport.inject(request(), CARRIER);
    await settle();
    let quiet = false;
    const q = h2.proxy.quiesce(2_000).then(() => {
      quiet = true;
    });
    h2.clock.advance(1_999);
    await settle();
    expect(quiet).toBe(false);
    h2.clock.advance(1);
    await q;
  });
});

describe('a peer taking a call a draining node handed over', () => {
  /** The draining node's copy: its Via on top of the carrier's, the token Route to us (192.0.2.100). */
  function handedOver(user: string, o: { callId?: string; method?: string } = {}): string {
    const callId = o.callId ?? 'call-1@198.51.100.7';
    return request({
      method: o.method ?? 'INVITE',
      callId,
      via: `SIP/2.0/UDP 192.0.2.101:5060;branch=z9hG4bK-d1hop, SIP/2.0/UDP 198.51.100.7:5071;branch=z9hG4bK-c1`,
      maxForwards: 69,
      extra: [`Route: <sip:${user}@192.0.2.100:5060;lr>`],
    });
  }
  const token = (callId = 'call-1@198.51.100.7', t = tokens, nowS = Date.now() / 1000) => t.encode(ORIGINAL, callId, nowS);

  it('takes it as coming from the original source: carrier id, hash-source routing, admission key, dialog caller side', async () => {
    const seen: string[] = [];
    const base = new StaticRouter(SWITCHES);
    const router: Router = {
      select: (ctx: RoutingContext) => {
        seen.push(`${ctx.flow.remoteAddress}:${ctx.flow.remotePort}`);
        return base.select(ctx);
      },
      next: (ctx, tried) => base.next(ctx, tried),
      report: () => {},
      isFromKnownPeer: (a) => base.isFromKnownPeer(a),
    };
    // 192.0.2.101 (the draining node) is no carrier: without the token the request would be refused.
    const h = proxyHarness({ carriers, handoff: await handoff(), router });
    h.transport.inject(handedOver(token()), DRAINING_NODE);
    await settle();
    expect(statusesTo(h, { address: DRAINING_NODE.remoteAddress })).toEqual([100]);
    expect(h.admission.admits).toHaveLength(1);
    const admit = h.admission.admits[0];
    expect(admit.carrierId).toBe('acme');
    expect(admit.flow).toMatchObject({ remoteAddress: ORIGINAL.address, remotePort: ORIGINAL.port, protocol: 'udp' });
    expect(seen).toEqual(['198.51.100.7:5071']);
    const [rec] = sentRequests(h, SW1, 'INVITE');
    const fwd = parseRequest(rec);
    expect(fwd.has('route')).toBe(false);
    expect(fwd.getAll('record-route')).toEqual(['<sip:192.0.2.100:5060;lr>']);
    expect(fwd.maxForwards).toBe(68);
    expect(h.proxy.stats()).toMatchObject({ handedIn: 1, handedOff: 0, unknownSources: 0 });

    // The answer goes back to the draining node (Via); the switch's BYE goes straight to the caller.
    switchAnswers(h, rec, 200, 'OK', { headers: [['Record-Route', '<sip:192.0.2.100:5060;lr>']] });
    expect(statusesTo(h, { address: DRAINING_NODE.remoteAddress })).toEqual([100, 200]);
    expect(h.dialogs.get('call-1@198.51.100.7')?.callerTarget).toMatchObject({ protocol: 'udp', address: ORIGINAL.address, port: ORIGINAL.port });
    h.transport.inject(
      [
        'BYE sip:+15550001111@198.51.100.7:5071 SIP/2.0',
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
      { protocol: 'udp', remoteAddress: SW1.address, remotePort: SW1.port },
    );
    await settle();
    const [bye] = sentRequests(h, { address: ORIGINAL.address, port: ORIGINAL.port }, 'BYE');
    expect(bye.target).toMatchObject({ protocol: 'udp', address: ORIGINAL.address, port: ORIGINAL.port });
  });

  it('applies the unknown-source check to the original source', async () => {
    const h = proxyHarness({ carriers, handoff: await handoff() });
    const stranger = tokens.encode({ protocol: 'udp', address: '203.0.113.9', port: 5060 }, 'call-1@198.51.100.7', Date.now() / 1000);
    h.transport.inject(handedOver(stranger), DRAINING_NODE);
    await settle();
    expect(statusesTo(h, { address: DRAINING_NODE.remoteAddress })).toEqual([403]);
    expect(h.proxy.stats().unknownSources).toBe(1);
    expect(h.admission.admits).toHaveLength(0);
  });

  it('refuses a token it cannot trust: forged, expired, made for another call (403), or not checkable yet (503)', async () => {
    const cases: Array<[string, string, number]> = [
      ['forged', token(undefined, new HandoffTokens('a-stranger-guess')), 403],
      ['expired', token(undefined, tokens, Date.now() / 1000 - 120), 403],
      ['another call', token('call-2@198.51.100.7'), 403],
      ['garbage', 'od-garbage', 403],
    ];
    for (const [what, user, status] of cases) {
      const h = proxyHarness({ carriers, handoff: await handoff() });
      h.transport.inject(handedOver(user), DRAINING_NODE);
      await settle();
      const answers = sentResponses(h, { address: DRAINING_NODE.remoteAddress }).map(parseResponse);
      expect(answers.map((r) => `${r.status} ${r.reason}`), what).toEqual([`${status} Forbidden (Invalid Hand-off Token)`]);
      expect(h.admission.admits, what).toHaveLength(0);
      expect(sentRequests(h, SW1, 'INVITE'), what).toHaveLength(0);
    }
    // A stranger inside a carrier's range gets no further with a forged token than without one.
    const h = proxyHarness({ carriers, handoff: await handoff() });
    h.transport.inject(handedOver(token(undefined, new HandoffTokens('guess'))), { protocol: 'udp', remoteAddress: '198.51.100.66', remotePort: 5060 });
    await settle();
    expect(statusesTo(h, { address: '198.51.100.66' })).toEqual([403]);
    // Where unknown sources are dropped, so is a request with a bad token.
    const silent = proxyHarness({ carriers, handoff: await handoff(), unknownSources: 'drop' });
    silent.transport.inject(handedOver('od-garbage'), DRAINING_NODE);
    await settle();
    expect(silent.transport.sentTo({ address: DRAINING_NODE.remoteAddress })).toHaveLength(0);
    // Without the cluster secret the token cannot be judged: a retryable 503.
    const h2 = proxyHarness({ carriers, handoff: await handoff({ secret: undefined }) });
    h2.transport.inject(handedOver(token()), DRAINING_NODE);
    await settle();
    const [r] = sentResponses(h2, { address: DRAINING_NODE.remoteAddress }).map(parseResponse);
    expect(`${r.status} ${r.reason}`).toBe('503 Service Unavailable (Cluster Secret Not Loaded)');
    expect(r.get('retry-after')).toBeDefined();
  });

  it('never hands a handed-in call on: draining itself, it answers 503 (Draining)', async () => {
    const h = proxyHarness({ carriers, handoff: await handoff(), isDraining: () => true });
    h.transport.inject(handedOver(token()), DRAINING_NODE);
    await settle();
    const answers = sentResponses(h, { address: DRAINING_NODE.remoteAddress }).map(parseResponse);
    expect(answers.map((r) => r.status)).toEqual([503]);
    expect(sentRequests(h, PEER, 'INVITE')).toHaveLength(0);
  });
});

describe('a peer that holds the floating IP a handed call reached (the drain hand-off across an address move)', () => {
  /** As above; the token says the caller sent the INVITE to the floating IP. */
  const handedOver = (callId = 'call-1@198.51.100.7', floatingIp = true): string =>
    request({
      callId,
      via: `SIP/2.0/UDP 192.0.2.101:5060;branch=z9hG4bK-d1hop, SIP/2.0/UDP 198.51.100.7:5071;branch=z9hG4bK-c1;rport=5071`,
      maxForwards: 69,
      extra: [`Route: <sip:${tokens.encode({ ...ORIGINAL, ...(floatingIp ? { floatingIp } : {}) }, callId, Date.now() / 1000)}@192.0.2.100:5060;lr>`],
    });
  const CALLER = { address: ORIGINAL.address, port: ORIGINAL.port };
  const CALLER_FLOW: FlowOptions = { protocol: 'udp', remoteAddress: ORIGINAL.address, remotePort: ORIGINAL.port };
  /** The carrier's own requests for its INVITE (its Via, its source): CANCEL, the ACK for a non-2xx. */
  const fromCaller = (method: string): string =>
    request({ method, via: 'SIP/2.0/UDP 198.51.100.7:5071;branch=z9hG4bK-c1;rport=5071', cseqMethod: method, ...(method === 'ACK' ? { toTag: 'sw-tag' } : {}) });
  const harness = async (holds: { now: boolean }) =>
    proxyHarness({ carriers, handoff: await handoff(), floatingIp: { listener: { address: '192.0.2.100', port: 5060 }, holds: () => holds.now } });
  /** A handed call the switch rings (`holds`: whether this node holds the address): the harness and the forwarded INVITE. */
  async function ringing(holds: { now: boolean }) {
    const h = await harness(holds);
    h.transport.inject(handedOver(), DRAINING_NODE);
    await settle();
    const [rec] = sentRequests(h, SW1, 'INVITE');
    switchAnswers(h, rec, 180, 'Ringing');
    return { h, rec };
  }

  it('answers through the draining node until it holds the address, then straight to the caller from it, without the hop Via', async () => {
    const holds = { now: false };
    const { h, rec } = await ringing(holds);
    expect(statusesTo(h, { address: DRAINING_NODE.remoteAddress })).toEqual([100, 180]);
    // The draining node let go of the address and this node took it: the 200 cannot go through it.
    holds.now = true;
    const ok = switchAnswers(h, rec, 200, 'OK', { headers: [['Record-Route', '<sip:192.0.2.100:5060;lr>']] });
    const direct = sentResponses(h, CALLER);
    expect(direct.map((s) => s.text.slice(0, 14))).toEqual(['SIP/2.0 200 OK']);
    expect(direct[0].target).toMatchObject({ protocol: 'udp', address: ORIGINAL.address, port: ORIGINAL.port, localPort: 5060 });
    const res = parseResponse(direct[0]);
    expect(res.getAll('via')).toEqual(['SIP/2.0/UDP 198.51.100.7:5071;branch=z9hG4bK-c1;rport=5071']);
    expect(statusesTo(h, { address: DRAINING_NODE.remoteAddress })).toEqual([100, 180]);
    // The switch's 2xx retransmission takes the same way (RFC 6026 Accepted).
    h.transport.inject(ok, { protocol: 'udp', remoteAddress: SW1.address, remotePort: SW1.port });
    await settle();
    expect(statusesTo(h, CALLER)).toEqual([200, 200]);
  });

  it("matches the caller's own CANCEL and ACK, which reach it straight from the caller after the move", async () => {
    const { h, rec } = await ringing({ now: true });
    // A provisional goes straight to the caller too, and a retransmitted INVITE from it gets it again.
    expect(statusesTo(h, CALLER)).toEqual([100, 180]);
    h.transport.inject(fromCaller('INVITE'), CALLER_FLOW);
    await settle();
    expect(statusesTo(h, CALLER)).toEqual([100, 180, 180]);
    expect(sentRequests(h, SW1, 'INVITE')).toHaveLength(1); // a retransmission, not a second call
    h.transport.inject(fromCaller('CANCEL'), CALLER_FLOW);
    await settle();
    expect(sentRequests(h, SW1, 'CANCEL')).toHaveLength(1);
    switchAnswers(h, rec, 487, 'Request Terminated');
    expect(statusesTo(h, CALLER)).toEqual([100, 180, 180, 200, 487]);
    // The caller's ACK for the 487 confirms the transaction: no Timer G retransmission follows.
    h.transport.inject(fromCaller('ACK'), CALLER_FLOW);
    await settle();
    h.clock.advance(10_000);
    await settle();
    expect(statusesTo(h, CALLER)).toEqual([100, 180, 180, 200, 487]);
    expect(statusesTo(h, { address: DRAINING_NODE.remoteAddress })).toEqual([]);
    expect(h.layer.stats().serverTransactions).toBeGreaterThan(0);
  });

  it('keeps answering through the draining node when the caller reached it at its own address, or without the floating IP', async () => {
    const holds = { now: true };
    const own = await harness(holds);
    own.transport.inject(handedOver('call-1@198.51.100.7', false), DRAINING_NODE);
    await settle();
    switchAnswers(own, sentRequests(own, SW1, 'INVITE')[0], 200, 'OK');
    expect(statusesTo(own, { address: DRAINING_NODE.remoteAddress })).toEqual([100, 200]);
    expect(statusesTo(own, CALLER)).toEqual([]);
    holds.now = false;
    const notYet = await harness(holds);
    notYet.transport.inject(handedOver(), DRAINING_NODE);
    await settle();
    switchAnswers(notYet, sentRequests(notYet, SW1, 'INVITE')[0], 486, 'Busy Here');
    expect(statusesTo(notYet, { address: DRAINING_NODE.remoteAddress })).toEqual([100, 486]);
    expect(statusesTo(notYet, CALLER)).toEqual([]);
  });

  it('marks the token of a call it hands off when the call reached it at the floating IP, and only then', async () => {
    const fip = { listener: { address: '192.0.2.100', port: 5060 }, holds: () => true };
    for (const [local, marked] of [['192.0.2.100', true], ['192.0.2.55', false]] as const) {
      const h = proxyHarness({ isDraining: () => true, handoff: await handoff(), floatingIp: fip });
      h.transport.inject(request({ callId: 'new-1@198.51.100.7' }), { ...CARRIER, localAddress: local });
      await settle();
      const fwd = parseRequest(sentRequests(h, PEER, 'INVITE')[0]);
      const decoded = tokens.decode(tokenUser(fwd), 'new-1@198.51.100.7', Date.now() / 1000);
      expect(decoded, local).toEqual({ protocol: 'udp', address: '198.51.100.7', port: 5060, ...(marked ? { floatingIp: true } : {}) });
    }
  });
});
