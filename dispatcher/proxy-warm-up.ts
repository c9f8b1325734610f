/**
 * Warms V8's JIT on the whole proxy path before the node takes traffic: calls run end to end
 * through a private transaction layer and proxy core, on a hand-driven clock, over an in-memory
 * transport (FakeTransport) that only this warm-up sees.
 *
 * sip-warm-up.ts moves the codec's warm-up before the listeners open. What it leaves is the
 * transaction layer, the proxy core, the dialog table and the timer lanes: a fresh node still
 * ran those as bytecode for its first half second, so a node restarted or taking over a
 * floating IP at 6000 cps answered its first calls in 100–250 ms and shed some with 503
 * (BENCHMARKS.md, Session 13). V8 keeps a function's type feedback and optimised code per
 * function, not per object, so what these calls teach it serves the node's own instances.
 *
 * Nothing here reaches the node: its own clock (nothing is left scheduled on Node's timers), its
 * own tables (emptied and closed at the end), an admit-all admission instead of the store, and a
 * silent logger. Addresses are from the documentation ranges (RFC 5737).
 */
import { createLogger } from '../shared/log.ts';
import { DEFAULT_WARMUP_CALLS, type SwitchConfig } from '../shared/config/config-types.ts';
import { makeResponse, parseMessage, serializeMessage, type SipRequest } from '../shared/sip/index.ts';
import type { Admission, AdmissionDecision } from './admission/admission.ts';
import { DialogTable } from './proxy/dialog-table.ts';
import { LocalIdentity } from './proxy/local-identity.ts';
import { ProxyCore } from './proxy/proxy-core.ts';
import { StaticRouter } from './routing/static-router.ts';
import { ManualClock } from './transaction/manual-clock.ts';
import { TransactionLayer } from './transaction/transaction-layer.ts';
import { FakeTransport, type FlowOptions } from './transport/fake-transport.ts';
import type { ListenerInfo, Target } from './transport/transport.ts';
import { SDP } from './sip-warm-up.ts';

/** Calls in flight together (their transactions are held until the clock jumps at the end). */
const BATCH = 100;

const US: ListenerInfo = { protocol: 'udp', address: '192.0.2.100', port: 5060, advertisedHost: '192.0.2.100' };
const CARRIER: FlowOptions = { protocol: 'udp', remoteAddress: '203.0.113.17', remotePort: 5060 };
const SWITCHES: readonly SwitchConfig[] = ['192.0.2.21', '192.0.2.22'].map((host, i) => ({
  id: `warm-${i + 1}`,
  address: `${host}:5060`,
  host,
  port: 5060,
  transport: 'udp',
  weight: 1,
  priority: 1,
  state: 'active',
}));

const SDP_BODY = Buffer.from(SDP, 'latin1');

const ADMITTED: AdmissionDecision = { admitted: true, release: () => undefined };
const admitAll: Admission = { admit: () => Promise.resolve(ADMITTED) };

/** Let the admission promises and the forwarding after them run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

function carrierRequest(n: number, method: string, cseq: number, ruri: string, toTag: string | undefined, route: string | undefined, body: string): string {
  const lines = [
    `${method} ${ruri} SIP/2.0`,
    `Via: SIP/2.0/UDP 203.0.113.17:5060;branch=z9hG4bK-warm-${method.toLowerCase()}-${n}`,
    'Max-Forwards: 70',
    `From: "ACME" <sip:+12125550199@203.0.113.17:5060;user=phone>;tag=warm-${n}`,
    toTag === undefined ? 'To: <sip:+14155550123@192.0.2.100;user=phone>' : `To: <sip:+14155550123@192.0.2.100;user=phone>;tag=${toTag}`,
    `Call-ID: warm-${n}-5f9c1e7a2b8d4c3e9a1f6b2d7c8e4a0b@203.0.113.17`,
    `CSeq: ${cseq} ${method}`,
    'Contact: <sip:+12125550199@203.0.113.17:5060>',
  ];
  if (route !== undefined) lines.push(`Route: ${route}`);
  if (body.length > 0) lines.push('Content-Type: application/sdp');
  lines.push(`Content-Length: ${body.length}`);
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

/**
 * The answer of the switch at `to` to a request the proxy forwarded there (Record-Route copied
 * and its own Contact on a dialog's responses). One To-tag serves every call: Call-IDs differ.
 */
function switchResponse(fwd: SipRequest, to: Target, status: number, reason: string): string {
  const invite = fwd.method === 'INVITE';
  const headers: Array<[string, string]> = [];
  if (invite && status > 100) {
    for (const rr of fwd.values('record-route')) headers.push(['Record-Route', rr]);
    headers.push(['Contact', `<sip:+14155550123@${to.address}:${to.port}>`]);
  }
  const body = invite && status === 200 ? SDP_BODY : undefined;
  const res = makeResponse(fwd, status, reason, { toTag: 'sw-warm', headers, ...(body === undefined ? {} : { body, contentType: 'application/sdp' }) });
  return serializeMessage(res).toString('latin1');
}

function flowFrom(target: Target): FlowOptions {
  return { protocol: 'udp', remoteAddress: target.address, remotePort: target.port };
}

/**
 * Run `calls` complete calls (INVITE with SDP → 100/180/200 → ACK → BYE → 200) through a private
 * proxy; returns how many came back to the caller answered and hung up (all, unless the proxy
 * path is broken).
 */
export async function warmProxyPath(calls = DEFAULT_WARMUP_CALLS): Promise<number> {
  const clock = new ManualClock();
  const logger = createLogger({ component: 'warm-up' }, { level: 'silent' });
  const transport = new FakeTransport([US]);
  const proxy = new ProxyCore({ identity: new LocalIdentity([US]), router: new StaticRouter(SWITCHES), admission: admitAll, dialogs: new DialogTable(clock), logger });
  const layer = new TransactionLayer({ transport, user: proxy, logger, clock });
  proxy.bind(layer);
  transport.delegate = layer;
  let done = 0;
  try {
    for (let first = 0; first < calls; first += BATCH) {
      const last = Math.min(calls, first + BATCH);
      for (let n = first; n < last; n++) transport.inject(carrierRequest(n, 'INVITE', 1, 'sip:+14155550123@192.0.2.100:5060;user=phone', undefined, undefined, SDP), CARRIER);
      await settle();
      for (const s of transport.take()) {
        const fwd = parseMessage(s.data);
        if (fwd.kind !== 'request' || fwd.method !== 'INVITE') continue;
        const flow = flowFrom(s.target);
        transport.inject(switchResponse(fwd, s.target, 100, 'Trying'), flow);
        transport.inject(switchResponse(fwd, s.target, 180, 'Ringing'), flow);
        transport.inject(switchResponse(fwd, s.target, 200, 'OK'), flow);
      }
      // The carrier's side of each answered call: ACK and BYE along the Record-Route it was given.
      for (const s of transport.take()) {
        const res = parseMessage(s.data);
        if (res.kind !== 'response' || res.status !== 200) continue;
        const n = Number(/^warm-(\d+)-/.exec(res.callId)?.[1]);
        const route = res.values('record-route').join(', ');
        const contacts = res.contacts();
        if (contacts === '*' || contacts.length === 0) continue;
        transport.inject(carrierRequest(n, 'ACK', 1, contacts[0].uri, res.toTag, route, ''), CARRIER);
        transport.inject(carrierRequest(n, 'BYE', 2, contacts[0].uri, res.toTag, route, ''), CARRIER);
      }
      await settle();
      for (const s of transport.take()) {
        const fwd = parseMessage(s.data);
        if (fwd.kind === 'request' && fwd.method === 'BYE') transport.inject(switchResponse(fwd, s.target, 200, 'OK'), flowFrom(s.target));
      }
      for (const s of transport.take()) {
        const res = parseMessage(s.data);
        if (res.kind === 'response' && res.status === 200 && res.cseq.method === 'BYE' && s.target.address === CARRIER.remoteAddress) done++;
      }
    }
    // Past every transaction timer (Timer C's 3 min too), so the tables empty as they do live.
    clock.advance(200_000);
  } finally {
    layer.close();
  }
  return done;
}
