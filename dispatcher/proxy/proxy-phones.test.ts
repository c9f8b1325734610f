/**
 * The proxy core with softphones (registrar issue, points 3 and 5): REGISTERs go to the registrar,
 * banned sources are dropped, phones are challenged before their calls reach a switch, and calls
 * for a registered user reach its bindings over their flows: directly when this node owns the
 * binding, through the owner node (hop token) otherwise. The registrar parts are a fake here;
 * they have tests of their own.
 */
import { describe, expect, it } from 'vitest';
import { parseCidr } from '../../shared/config/cidr.ts';
import type { Binding, BindingFlow } from '../../shared/registrar-store/registrar-store.ts';
import type { SipRequest } from '../../shared/sip/index.ts';
import { CarrierMatcher } from '../admission/carrier-matcher.ts';
import { PhoneFlowTokens } from '../registrar/owner-hop.ts';
import type { ServerTransaction } from '../transaction/server-transaction.ts';
import { CARRIER, parseRequest, parseResponse, request, responseTo } from '../transaction/transaction-test-kit.ts';
import type { FlowOptions } from '../transport/fake-transport.ts';
import type { PhoneAuthResult, PhoneServices } from './phone-services.ts';
import { SipfleetError } from '../../shared/errors.ts';
import { proxyHarness, sentRequests, sentResponses as sentResponsesTo, statusesTo, SW1, SW1_FLOW, type ProxyHarness } from './proxy-test-kit.ts';

const carriers = new CarrierMatcher([{ id: 'acme', sources: [parseCidr('198.51.100.0/24')], selection: 'round-robin' }]);
const PHONE: FlowOptions = { protocol: 'udp', remoteAddress: '203.0.113.50', remotePort: 40001 };
const PHONE_TCP: FlowOptions = { protocol: 'tcp', remoteAddress: '203.0.113.51', remotePort: 50123, connectionId: 77 };
const OTHER_NODE = { address: '192.0.2.101', port: 5060 };
const tick = () => new Promise((r) => setImmediate(r));

function flow(over: Partial<BindingFlow> = {}): BindingFlow {
  return {
    nodeId: 'd1',
    protocol: 'udp',
    address: '203.0.113.50',
    port: 40001,
    localAddress: '192.0.2.100',
    localPort: 5060,
    ownerUri: 'sip:192.0.2.100:5060',
    ...over,
  };
}

function binding(over: Partial<Binding> = {}): Binding {
  return {
    aor: 'alice',
    key: 'sip:alice@10.0.0.5:5060',
    contact: 'sip:alice@10.0.0.5:5060',
    q: 1,
    expiresAtMs: Date.now() + 3600_000,
    callId: 'reg-1',
    cseq: 1,
    path: [],
    flow: flow(),
    registeredAtMs: Date.now(),
    ...over,
  };
}

class FakePhones implements PhoneServices {
  readonly nodeId = 'd1';
  readonly tokens = new PhoneFlowTokens('cluster-secret');
  readonly registered: ServerTransaction[] = [];
  readonly authed: string[] = [];
  banned = new Set<string>();
  users = new Map<string, Binding[]>();
  auth: (req: SipRequest) => PhoneAuthResult = () => ({ ok: true, user: { id: 'bob', channels: 2 } });

  shouldDrop(_req: SipRequest, ip: string): boolean {
    return this.banned.has(ip);
  }
  register(txn: ServerTransaction): void {
    this.registered.push(txn);
    txn.respond(parseResponse(responseTo(txn.request, 200, 'OK', { toTag: 'reg' })));
  }
  async authenticate(req: SipRequest, ip: string): Promise<PhoneAuthResult> {
    this.authed.push(ip);
    return this.auth(req);
  }
  async lookup(aor: string): Promise<readonly Binding[] | undefined> {
    return this.users.get(aor);
  }
}

function setup(): { h: ProxyHarness; phones: FakePhones } {
  const phones = new FakePhones();
  const h = proxyHarness({ carriers, phones });
  return { h, phones };
}

const inviteFromSwitch = (user = 'alice', extra: string[] = []) =>
  request({ uri: `sip:${user}@192.0.2.100:5060`, toUri: `<sip:${user}@192.0.2.100>`, viaHost: '192.0.2.21:5060', extra });

describe('the proxy core with softphones', () => {
  it('hands every REGISTER outside a dialog to the registrar', async () => {
    const { h, phones } = setup();
    h.transport.inject(request({ method: 'REGISTER', uri: 'sip:192.0.2.100', viaHost: '203.0.113.50:40001' }), PHONE);
    await tick();
    expect(phones.registered).toHaveLength(1);
    expect(statusesTo(h, { address: '203.0.113.50' })).toEqual([200]);
    expect(sentRequests(h, SW1, 'REGISTER')).toHaveLength(0);
  });

  it('drops a banned source silently, before anything else', async () => {
    const { h, phones } = setup();
    phones.banned.add('203.0.113.50');
    h.transport.inject(request({ method: 'REGISTER', uri: 'sip:192.0.2.100', viaHost: '203.0.113.50:40001' }), PHONE);
    h.transport.inject(request({ viaHost: '203.0.113.50:40001', callId: 'x2' }), PHONE);
    await tick();
    expect(h.transport.sentTo({ address: '203.0.113.50' })).toHaveLength(0);
    expect(phones.registered).toHaveLength(0);
  });

  it("challenges a phone's INVITE and sends nothing to a switch until it authenticates", async () => {
    const { h, phones } = setup();
    phones.auth = () => ({ ok: false, status: 407, reason: 'Proxy Authentication Required', headers: [['Proxy-Authenticate', 'Digest realm="main"']], toTag: 'tag-from-seed' });
    h.transport.inject(request({ uri: 'sip:+15557654321@192.0.2.100', viaHost: '203.0.113.50:40001' }), PHONE);
    await tick();
    expect(statusesTo(h, { address: '203.0.113.50' })).toEqual([100, 407]);
    const challenge = parseResponse(h.transport.sentTo({ address: '203.0.113.50' })[1]);
    expect(challenge.get('proxy-authenticate')).toBe('Digest realm="main"');
    expect(challenge.toTag).toBe('tag-from-seed');
    expect(sentRequests(h, SW1, 'INVITE')).toHaveLength(0);
    expect(h.admission.admits).toHaveLength(0);
  });

  it("dispatches an authenticated phone's call to a switch, counted against the user", async () => {
    const { h, phones } = setup();
    h.transport.inject(request({ uri: 'sip:+15557654321@192.0.2.100', viaHost: '203.0.113.50:40001' }), PHONE);
    await tick();
    await tick();
    expect(phones.authed).toEqual(['203.0.113.50']);
    expect(h.admission.admits.map((a) => a.user)).toEqual([{ id: 'bob', channels: 2 }]);
    expect(sentRequests(h, SW1, 'INVITE').length + sentRequests(h, { address: '192.0.2.22' }, 'INVITE').length).toBe(1);
  });

  it("delivers a switch's call to a binding this node owns over its flow, with a flow token in Record-Route", async () => {
    const { h, phones } = setup();
    phones.users.set('alice', [binding()]);
    h.transport.inject(inviteFromSwitch(), SW1_FLOW);
    await tick();
    const sent = sentRequests(h, { address: '203.0.113.50', port: 40001 }, 'INVITE');
    expect(sent).toHaveLength(1);
    const fwd = parseRequest(sent[0]);
    expect(fwd.uri).toBe('sip:alice@10.0.0.5:5060');
    expect(fwd.has('route')).toBe(false);
    const rr = fwd.getAll('record-route').join(',');
    expect(rr).toMatch(/<sip:oh-r[^@]+@192\.0\.2\.100:5060;lr>/);
    expect(h.admission.admits).toHaveLength(0);
    // The phone answers; the 200 goes back to the switch.
    h.transport.inject(responseTo(sent[0], 200, 'OK', { toTag: 'ph' }), PHONE);
    expect(statusesTo(h, SW1)).toContain(200);
  });

  it('routes an in-dialog BYE from the switch back over the phone flow named in the Record-Route token', async () => {
    const { h, phones } = setup();
    phones.users.set('alice', [binding()]);
    h.transport.inject(inviteFromSwitch(), SW1_FLOW);
    await tick();
    const fwd = parseRequest(sentRequests(h, { address: '203.0.113.50', port: 40001 }, 'INVITE')[0]);
    const route = fwd.getAll('record-route')[0];
    h.transport.inject(
      request({ method: 'BYE', uri: 'sip:alice@10.0.0.5:5060', viaHost: '192.0.2.21:5060', branch: 'z9hG4bK-bye', toTag: 'ph', cseq: 2, extra: [`Route: ${route}`] }),
      SW1_FLOW,
    );
    await tick();
    expect(sentRequests(h, { address: '203.0.113.50', port: 40001 }, 'BYE')).toHaveLength(1);
  });

  it('sends a call for a binding owned by another node to that node with a hop token Route, then the Path', async () => {
    const { h, phones } = setup();
    phones.users.set('alice', [binding({ flow: flow({ nodeId: 'd2', ownerUri: 'sip:192.0.2.101:5060' }), path: ['<sip:edge.example.net;lr>'] })]);
    h.transport.inject(inviteFromSwitch(), SW1_FLOW);
    await tick();
    const sent = sentRequests(h, OTHER_NODE, 'INVITE');
    expect(sent).toHaveLength(1);
    const fwd = parseRequest(sent[0]);
    const routes = fwd.getAll('route');
    expect(routes[0]).toMatch(/^<sip:oh-h[^@]+@192\.0\.2\.101:5060;lr>$/);
    expect(routes[1]).toBe('<sip:edge.example.net;lr>');
    expect(fwd.uri).toBe('sip:alice@10.0.0.5:5060');
  });

  it('relays a hop from another node over the flow the token names, without auth or source checks', async () => {
    const { h, phones } = setup();
    const token = phones.tokens.encode('hop', { protocol: 'tcp', address: '203.0.113.51', port: 50123, connectionId: 77 }, Date.now() / 1000);
    const fromNode: FlowOptions = { protocol: 'udp', remoteAddress: '192.0.2.101', remotePort: 5060 };
    h.transport.setConnectionOpen(77);
    h.transport.inject(request({ uri: 'sip:alice@10.0.0.9:5060;transport=tcp', viaHost: '192.0.2.101:5060', extra: [`Route: <sip:${token}@192.0.2.100:5060;lr>`] }), fromNode);
    await tick();
    expect(phones.authed).toHaveLength(0);
    const sent = h.transport.sent.filter((s) => s.text.startsWith('INVITE ') && s.target.connectionId === 77);
    expect(sent).toHaveLength(1);
    expect(parseRequest(sent[0]).has('route')).toBe(false);
  });

  it('gives a forged or expired hop token no bypass: the request is a stranger\'s and must authenticate', async () => {
    const { h, phones } = setup();
    phones.auth = () => ({ ok: false, status: 407, reason: 'Proxy Authentication Required', headers: [], toTag: 't' });
    const stale = new PhoneFlowTokens('cluster-secret').encode('hop', PHONE_TCP_FLOW, Date.now() / 1000 - 600);
    const forged = new PhoneFlowTokens('another-secret').encode('hop', PHONE_TCP_FLOW, Date.now() / 1000);
    const fromNode: FlowOptions = { protocol: 'udp', remoteAddress: '192.0.2.101', remotePort: 5060 };
    h.transport.setConnectionOpen(77);
    for (const [i, t] of [stale, forged].entries()) {
      h.transport.inject(request({ callId: `hop-${i}`, branch: `z9hG4bK-h${i}`, viaHost: '192.0.2.101:5060', extra: [`Route: <sip:${t}@192.0.2.100:5060;lr>`] }), fromNode);
    }
    await tick();
    expect(statusesTo(h, { address: '192.0.2.101' })).toEqual([100, 100, 407, 407]);
    expect(phones.authed).toEqual(['192.0.2.101', '192.0.2.101']);
    expect(h.transport.sent.filter((s) => s.target.connectionId === 77)).toHaveLength(0);
  });

  it('forks to every binding of the highest q at once', async () => {
    const { h, phones } = setup();
    phones.users.set('alice', [
      binding({ key: 'a', contact: 'sip:alice@10.0.0.5', q: 1 }),
      binding({ key: 'b', contact: 'sip:alice@10.0.0.6', q: 1, flow: flow({ address: '203.0.113.60', port: 40002 }) }),
      binding({ key: 'c', contact: 'sip:alice@10.0.0.7', q: 0.5, flow: flow({ address: '203.0.113.70', port: 40003 }) }),
    ]);
    h.transport.inject(inviteFromSwitch(), SW1_FLOW);
    await tick();
    expect(sentRequests(h, { address: '203.0.113.50' }, 'INVITE')).toHaveLength(1);
    expect(sentRequests(h, { address: '203.0.113.60' }, 'INVITE')).toHaveLength(1);
    expect(sentRequests(h, { address: '203.0.113.70' }, 'INVITE')).toHaveLength(0);
  });

  it('answers a switch 480 for a user without bindings and 404 for no such user', async () => {
    const { h, phones } = setup();
    phones.users.set('carol', []);
    h.transport.inject(inviteFromSwitch('carol'), SW1_FLOW);
    h.transport.inject(request({ uri: 'sip:nobody@192.0.2.100', viaHost: '192.0.2.21:5060', callId: 'c2', branch: 'z9hG4bK-2' }), SW1_FLOW);
    await tick();
    expect(statusesTo(h, SW1).filter((s) => s !== 100).sort()).toEqual([404, 480]);
  });

  it('answers 503 with Retry-After when the location cannot be read (store down)', async () => {
    const { h, phones } = setup();
    phones.lookup = () => Promise.reject(new SipfleetError('STORE_ERR_UNAVAILABLE', 'redis down'));
    h.transport.inject(inviteFromSwitch(), SW1_FLOW);
    await tick();
    await tick();
    expect(statusesTo(h, SW1)).toEqual([100, 503]);
    expect(parseResponse(sentResponsesTo(h, SW1)[1]).get('retry-after')).toBe('5');
  });

  it('without carriers configured checks no source: a stranger\'s INVITE goes to a switch unchallenged', async () => {
    const phones = new FakePhones();
    const h = proxyHarness({ phones });
    h.transport.inject(request({ uri: 'sip:+15557654321@192.0.2.100', viaHost: '203.0.113.50:40001' }), PHONE);
    await tick();
    expect(phones.authed).toHaveLength(0);
    expect(h.admission.admits).toHaveLength(1);
  });

  it('leaves carrier calls alone: no auth, straight to admission and a switch', async () => {
    const { h, phones } = setup();
    h.transport.inject(request(), CARRIER);
    await tick();
    expect(phones.authed).toHaveLength(0);
    expect(h.admission.admits.map((a) => a.carrierId)).toEqual(['acme']);
  });
});

const PHONE_TCP_FLOW = { protocol: 'tcp' as const, address: PHONE_TCP.remoteAddress, port: PHONE_TCP.remotePort, connectionId: 77 };
