import { describe, expect, it } from 'vitest';
import type { Binding, BindingFlow, RegistrarStore } from '../../shared/registrar-store/registrar-store.ts';
import { MemoryRegistrarStore } from '../../shared/registrar-store/memory-registrar-store.ts';
import { LocalIdentity } from '../proxy/local-identity.ts';
import { ManualClock } from '../transaction/manual-clock.ts';
import { TransactionLayer } from '../transaction/transaction-layer.ts';
import { logger, parseRequest, RecordingTU, responseTo, settle } from '../transaction/transaction-test-kit.ts';
import type { PongListener } from '../transport/connection-pool.ts';
import { FakeTransport, type SentRecord } from '../transport/fake-transport.ts';
import type { KeepaliveOptions, SipTransportLayer } from '../transport/transport-layer.ts';
import type { ListenerInfo } from '../transport/transport.ts';
import { handOverBindings } from './binding-handover.ts';
import { NatKeepalive, RTT_FLUSH_MS, TICK_MS, type KeepaliveConfig, type KeepaliveTransport } from './nat-keepalive.ts';

// The node's real transport layer is what NatKeepalive takes.
type TransportFits = SipTransportLayer extends KeepaliveTransport ? true : never;
const transportFits: TransportFits = true;
void transportFits;

const NODE = 'n1';
const OWNER_URI = 'sip:192.0.2.100:5060';
const LISTENERS: readonly ListenerInfo[] = [
  { protocol: 'udp', address: '192.0.2.100', port: 5060, advertisedHost: '192.0.2.100' },
  { protocol: 'udp', address: '192.0.2.100', port: 5080, advertisedHost: '192.0.2.100' },
  { protocol: 'tcp', address: '192.0.2.100', port: 5060, advertisedHost: '192.0.2.100' },
];
const CONFIG: KeepaliveConfig = { enabled: true, interval: 10_000, timeout: 2_000, misses: 3 };

/** FakeTransport plus the stream keep-alive of SipTransportLayer. */
class KaTransport extends FakeTransport {
  readonly keepalives: Array<{ connectionId: number; remote: { address: string; port: number } | undefined }> = [];
  pong: PongListener | undefined;

  keepalive(connectionId: number, opts: KeepaliveOptions = {}): boolean {
    if (!this.isConnectionOpen(connectionId)) return false;
    this.keepalives.push({ connectionId, remote: opts.remote === undefined ? undefined : { ...opts.remote } });
    this.pong = opts.onPong;
    return true;
  }
}

/** Deterministic [0, 1) (mulberry32). */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type StoreLike = Pick<RegistrarStore, 'bindingsOwnedBy' | 'removeBinding' | 'recordPingRtts'>;

function harness(o: { config?: Partial<KeepaliveConfig>; store?: (inner: MemoryRegistrarStore) => StoreLike } = {}) {
  const clock = new ManualClock(1_000_000);
  const transport = new KaTransport(LISTENERS);
  const layer = new TransactionLayer({ transport, user: new RecordingTU(), logger, clock });
  transport.delegate = layer;
  const store = new MemoryRegistrarStore({ now: () => clock.now() });
  const config = { ...CONFIG, ...o.config };
  const ka = new NatKeepalive({
    store: o.store?.(store) ?? store,
    nodeId: NODE,
    layer,
    transport,
    identity: new LocalIdentity(LISTENERS),
    config,
    clock,
    logger,
    random: seeded(42),
  });
  /** Advance `ms` in TICK_MS steps, letting store promises settle in between. */
  const run = async (ms: number, onStep?: () => void): Promise<void> => {
    for (let done = 0; done < ms; done += TICK_MS) {
      clock.advance(Math.min(TICK_MS, ms - done));
      await settle();
      onStep?.();
    }
  };
  return { clock, transport, layer, store, ka, config, run };
}

let cseq = 0;

function udpFlow(i: number, o: Partial<BindingFlow> = {}): BindingFlow {
  return {
    nodeId: NODE,
    protocol: 'udp',
    address: `203.0.113.${(i % 250) + 1}`,
    port: 20_000 + i,
    localAddress: '192.0.2.100',
    localPort: 5060,
    ownerUri: OWNER_URI,
    ...o,
  };
}

async function register(store: MemoryRegistrarStore, aor: string, flow: BindingFlow, o: { expires?: number; key?: string } = {}): Promise<Binding> {
  const key = o.key ?? `sip:${aor}@${flow.address}:${flow.port}`;
  const res = await store.register({
    aor,
    callId: `reg-${aor}`,
    cseq: ++cseq,
    removeAll: false,
    upserts: [{ key, contact: `sip:${aor}@${flow.address}:${flow.port}`, q: 1, path: [], flow, expires: o.expires ?? 3600 }],
    removals: [],
    maxContacts: 10,
  });
  if (!res.ok) throw new Error(`register failed: ${res.reason}`);
  return res.bindings.find((b) => b.key === key)!;
}

/** First transmissions of OPTIONS (Timer E retransmissions, same branch, left out). */
function pings(transport: FakeTransport, address?: string): SentRecord[] {
  const seen = new Set<string>();
  const out: SentRecord[] = [];
  for (const s of transport.sent) {
    if (!s.text.startsWith('OPTIONS ') || (address !== undefined && s.target.address !== address)) continue;
    const branch = parseRequest(s).via.branch ?? '';
    if (seen.has(branch)) continue;
    seen.add(branch);
    out.push(s);
  }
  return out;
}

/** Advance timer by timer until a new OPTIONS goes out; the clock is left at its send time. */
async function nextPing(h: ReturnType<typeof harness>, until = h.clock.now() + 5 * h.config.interval): Promise<SentRecord> {
  const before = pings(h.transport).length;
  for (;;) {
    const all = pings(h.transport);
    if (all.length > before) return all[before];
    const next = h.clock.nextTimerAt();
    if (next === undefined || next > until) throw new Error('no ping');
    h.clock.advanceTo(next);
    await settle();
  }
}

function answer(transport: FakeTransport, ping: SentRecord, status = 200): void {
  transport.inject(responseTo(ping, status), { protocol: 'udp', remoteAddress: ping.target.address, remotePort: ping.target.port });
}

describe('NatKeepalive: UDP OPTIONS pings', () => {
  it('spreads the pings of 1000 bindings over the interval (no burst) and sends each from the REGISTER listener', async () => {
    const h = harness();
    for (let i = 0; i < 1000; i++) await register(h.store, `u${i}`, udpFlow(i, i === 7 ? { localPort: 5080 } : {}));
    h.ka.start();
    await settle();
    expect(h.ka.stats().tracked).toBe(1000);
    const perSlot: number[] = [];
    let before = 0;
    await h.run(h.config.interval, () => {
      const n = pings(h.transport).length;
      perSlot.push(n - before);
      before = n;
    });
    const first = pings(h.transport);
    // Every binding pinged once in its first interval (a few early ones a second time, ±10 %).
    expect(new Set(first.map((p) => p.target.address + ':' + p.target.port)).size).toBe(1000);
    const mean = first.length / perSlot.length;
    expect(Math.max(...perSlot)).toBeLessThanOrEqual(3 * mean);

    const p7 = first.find((p) => p.target.port === 20_007)!;
    expect(p7.target).toMatchObject({ protocol: 'udp', address: '203.0.113.8', port: 20_007, localPort: 5080 });
    const req = parseRequest(p7);
    expect(req.method).toBe('OPTIONS');
    expect(req.uri).toBe('sip:u7@203.0.113.8:20007');
    expect(req.get('max-forwards')).toBe('70');
    expect(req.get('via')).toMatch(/^SIP\/2\.0\/UDP 192\.0\.2\.100:5080;branch=z9hG4bK/);
    expect(req.get('to')).toBe('<sip:u7@203.0.113.8:20007>');
    expect(new Set(first.map((p) => parseRequest(p).get('call-id'))).size).toBe(first.length);
    h.ka.stop();
  });

  it('keeps an answered binding (any status) and records the round trip in the store, at most once per second', async () => {
    const h = harness({ config: { interval: 1000, timeout: 500, misses: 2 } });
    const b = await register(h.store, 'alice', udpFlow(1));
    h.ka.start();
    await settle();
    const sent: number[] = [];
    for (let round = 0; round < 5; round++) {
      const ping = await nextPing(h);
      sent.push(h.clock.now());
      h.clock.advance(40);
      answer(h.transport, ping, round === 2 ? 404 : 200);
    }
    // After the first ping, one every interval ± 10 % (plus up to a tick).
    for (let i = 1; i < sent.length; i++) {
      expect(sent[i] - sent[i - 1]).toBeGreaterThanOrEqual(900 - TICK_MS);
      expect(sent[i] - sent[i - 1]).toBeLessThanOrEqual(1100 + TICK_MS);
    }
    await h.run(RTT_FLUSH_MS + TICK_MS);
    const [stored] = await h.store.lookup('alice');
    expect(stored.key).toBe(b.key);
    expect(stored.pingRttMs).toBe(40);
    expect(h.ka.stats()).toMatchObject({ tracked: 1, pongs: 5, misses: 0, removed: 0 });
    // The answered transactions were let go of at once (no Timer K left per ping).
    expect(h.layer.stats().clientTransactions).toBeLessThanOrEqual(1);
    await nextPing(h);
    expect(h.layer.stats().clientTransactions).toBe(1);
    h.ka.stop(); // abandons the ping in flight
    expect(h.layer.stats().clientTransactions).toBe(0);
    expect(h.ka.stats().tracked).toBe(0);
  });

  it('removes a binding after `misses` unanswered pings, visible to every node through the store', async () => {
    const h = harness({ config: { interval: 1000, timeout: 500, misses: 3 } });
    await register(h.store, 'bob', udpFlow(2));
    await register(h.store, 'carol', udpFlow(3));
    h.ka.start();
    await settle();
    // carol answers every ping, bob none.
    let answered = 0;
    await h.run(5000, () => {
      const carol = pings(h.transport, '203.0.113.4');
      for (; answered < carol.length; answered++) answer(h.transport, carol[answered]);
    });
    expect(await h.store.lookup('bob')).toEqual([]);
    expect(await h.store.lookup('carol')).toHaveLength(1);
    expect(h.ka.stats()).toMatchObject({ tracked: 1, misses: 3, removed: 1 });
    const bobPings = pings(h.transport, '203.0.113.3').length;
    expect(bobPings).toBe(3);
    await h.run(3000);
    expect(pings(h.transport, '203.0.113.3')).toHaveLength(bobPings);
    h.ka.stop();
  });

  it('stops pinging a binding moved or re-registered through another node once it reconciles', async () => {
    const h = harness({ config: { interval: 1000, timeout: 500, misses: 100 } });
    const moved = await register(h.store, 'dave', udpFlow(4));
    await register(h.store, 'erin', udpFlow(5));
    const rereg = await register(h.store, 'rita', udpFlow(12));
    h.ka.start();
    await settle();
    expect(h.ka.stats().tracked).toBe(3);
    await h.store.moveBindings(NODE, [{ aor: 'dave', key: moved.key, nodeId: 'n2', ownerUri: 'sip:192.0.2.102:5060' }], []);
    // rita's phone re-registered through n2 from a new NAT mapping.
    await register(h.store, 'rita', udpFlow(13, { nodeId: 'n2', ownerUri: 'sip:192.0.2.102:5060' }), { key: rereg.key });
    await h.run(1000); // one reconcile
    expect(h.ka.stats().tracked).toBe(1);
    const before = pings(h.transport, '203.0.113.6').length;
    h.transport.clear();
    await h.run(5000);
    expect(pings(h.transport, '203.0.113.6').length).toBe(pings(h.transport).length);
    expect(pings(h.transport).length).toBeGreaterThanOrEqual(4);
    expect(before).toBeGreaterThanOrEqual(1);
    // Misses on n1 never remove what n2 owns now.
    expect(await h.store.lookup('dave')).toHaveLength(1);
    expect((await h.store.lookup('rita'))[0].flow.nodeId).toBe('n2');
    h.ka.stop();
  });

  it('starts pinging bindings handed over from a dead node at its next reconcile', async () => {
    const h = harness({ config: { interval: 1000, timeout: 500 } });
    await register(h.store, 'frank', udpFlow(6, { nodeId: 'dead', ownerUri: 'sip:192.0.2.109:5060' }));
    await register(h.store, 'gina', udpFlow(7, { nodeId: 'dead', protocol: 'tcp', connectionId: 3 }));
    h.ka.start();
    await settle();
    expect(h.ka.stats().tracked).toBe(0);
    const res = await handOverBindings({ store: h.store, deadNodeId: 'dead', liveNodes: [{ nodeId: NODE, ownerUri: OWNER_URI }] });
    expect(res).toEqual({ moved: 1, dropped: 1 });
    await h.run(1000);
    expect(h.ka.stats().tracked).toBe(1);
    await h.run(1000);
    expect(pings(h.transport, '203.0.113.7').length).toBeGreaterThanOrEqual(1);
    const [frank] = await h.store.lookup('frank');
    expect(frank.flow).toMatchObject({ nodeId: NODE, ownerUri: OWNER_URI });
    h.ka.stop();
  });

  it('track() schedules a REGISTER\'s own bindings at once, ignores other nodes\', and untrack() stops them', async () => {
    const h = harness({ config: { interval: 1000, timeout: 500 } });
    h.ka.start();
    await settle();
    const mine = await register(h.store, 'hank', udpFlow(8));
    const theirs = await register(h.store, 'iris', udpFlow(9, { nodeId: 'n2' }));
    h.ka.track([mine, theirs]);
    expect(h.ka.stats().tracked).toBe(1);
    await h.run(1000);
    expect(pings(h.transport, '203.0.113.9').length).toBe(1);
    expect(pings(h.transport, '203.0.113.10')).toHaveLength(0);
    h.ka.untrack([{ aor: 'hank', key: mine.key }]);
    expect(h.ka.stats().tracked).toBe(0);
    h.transport.clear();
    await h.run(500);
    expect(pings(h.transport)).toHaveLength(0);
    h.ka.stop();
  });

  it('drops expired bindings without a store write', async () => {
    let removes = 0;
    const h = harness({
      config: { interval: 1000, timeout: 500, misses: 100 },
      store: (inner) => ({
        bindingsOwnedBy: (n) => inner.bindingsOwnedBy(n),
        recordPingRtts: (s) => inner.recordPingRtts(s),
        removeBinding: (r, n) => {
          removes++;
          return inner.removeBinding(r, n);
        },
      }),
    });
    const b = await register(h.store, 'jack', udpFlow(10), { expires: 2 });
    h.ka.start();
    await settle();
    h.ka.track([b]);
    await h.run(1500);
    expect(h.ka.stats().tracked).toBe(1);
    await h.run(1000);
    expect(h.ka.stats().tracked).toBe(0);
    const n = pings(h.transport).length;
    await h.run(2000);
    expect(pings(h.transport)).toHaveLength(n);
    expect(removes).toBe(0);
    h.ka.stop();
  });

  it('sends nothing at all when disabled', async () => {
    const h = harness({ config: { enabled: false, interval: 1000 } });
    for (let i = 0; i < 10; i++) await register(h.store, `k${i}`, udpFlow(20 + i));
    h.ka.start();
    await settle();
    h.ka.track(await h.store.bindingsOwnedBy(NODE));
    await h.run(10_000);
    expect(h.transport.sent).toHaveLength(0);
    expect(h.transport.keepalives).toHaveLength(0);
    expect(h.ka.stats()).toMatchObject({ tracked: 0, pingsSent: 0 });
    expect(await h.store.countBindings(NODE)).toBe(10);
    h.ka.stop();
  });

  it('survives a store that fails every call, and resumes when it is back', async () => {
    let down = true;
    const failing = <T>(fn: () => Promise<T>): Promise<T> => (down ? Promise.reject(new Error('store down')) : fn());
    const h = harness({
      config: { interval: 1000, timeout: 300, misses: 1 },
      store: (inner) => ({
        bindingsOwnedBy: (n) => failing(() => inner.bindingsOwnedBy(n)),
        recordPingRtts: (s) => failing(() => inner.recordPingRtts(s)),
        removeBinding: (r, n) => failing(() => inner.removeBinding(r, n)),
      }),
    });
    const answered = await register(h.store, 'kate', udpFlow(30));
    const silent = await register(h.store, 'liam', udpFlow(31));
    h.ka.start(); // the first read fails
    await settle();
    expect(h.ka.stats().tracked).toBe(0);
    h.ka.track([answered, silent]);
    let seen = 0;
    const answerKate = (): void => {
      const ps = pings(h.transport, '203.0.113.31');
      for (; seen < ps.length; seen++) answer(h.transport, ps[seen]);
    };
    await h.run(3000, answerKate);
    // liam missed and its removal failed; kate's round trips could not be written.
    expect(h.ka.stats()).toMatchObject({ tracked: 1, removed: 0 });
    expect(h.ka.stats().pongs).toBeGreaterThanOrEqual(2);
    expect(await h.store.lookup('liam')).toHaveLength(1);
    down = false;
    await h.run(2000, answerKate); // the next reconcile brings liam back; its next miss removes it for good
    expect(await h.store.lookup('liam')).toEqual([]);
    expect(h.ka.stats().removed).toBe(1);
    h.ka.stop();
  });
});

describe('NatKeepalive: stream bindings', () => {
  function streamFlow(i: number, protocol: 'tcp' | 'ws', connectionId: number): BindingFlow {
    return udpFlow(i, { protocol, connectionId });
  }

  it('sends CRLF keep-alives on the connection, takes its pong as the round trip, and removes the binding when it closes', async () => {
    const h = harness({ config: { interval: 1000 } });
    h.transport.setConnectionOpen(7);
    h.transport.setConnectionOpen(8);
    await register(h.store, 'mia', streamFlow(40, 'tcp', 7));
    await register(h.store, 'noah', streamFlow(41, 'ws', 8));
    h.ka.start();
    await settle();
    await h.run(1000);
    expect(h.transport.keepalives.map((k) => k.connectionId).sort()).toEqual([7, 8]);
    expect(h.transport.keepalives.find((k) => k.connectionId === 7)?.remote).toEqual({ address: '203.0.113.41', port: 20_040 });
    expect(pings(h.transport)).toHaveLength(0); // no OPTIONS on streams
    h.transport.pong?.(7, 12.5);
    await h.run(RTT_FLUSH_MS + TICK_MS);
    expect((await h.store.lookup('mia'))[0].pingRttMs).toBe(12.5);
    h.ka.onConnectionClosed(7);
    await settle();
    expect(await h.store.lookup('mia')).toEqual([]);
    expect(await h.store.lookup('noah')).toHaveLength(1);
    // A connection gone without a close event: the failed keep-alive removes the binding.
    h.transport.setConnectionOpen(8, false);
    await h.run(1200);
    expect(await h.store.lookup('noah')).toEqual([]);
    expect(h.ka.stats()).toMatchObject({ tracked: 0, removed: 2, pongs: 1 });
    h.ka.stop();
  });

  it('removes every binding on a closed connection (several AORs over one connection), conditional on ownership', async () => {
    const h = harness({ config: { interval: 1000 } });
    h.transport.setConnectionOpen(21);
    await register(h.store, 'ruth', streamFlow(50, 'tcp', 21));
    await register(h.store, 'sam', streamFlow(50, 'tcp', 21));
    const tom = await register(h.store, 'tom', streamFlow(50, 'tcp', 21));
    h.ka.start();
    await settle();
    expect(h.ka.stats().tracked).toBe(3);
    // tom moved on to another node (a new connection there) before n1 reconciled.
    await register(h.store, 'tom', { ...streamFlow(51, 'tcp', 4), nodeId: 'n2' }, { key: tom.key });
    h.ka.onConnectionClosed(21);
    await settle();
    expect(await h.store.lookup('ruth')).toEqual([]);
    expect(await h.store.lookup('sam')).toEqual([]);
    expect((await h.store.lookup('tom'))[0].flow.nodeId).toBe('n2');
    expect(h.ka.stats()).toMatchObject({ tracked: 0, removed: 2 });
    h.ka.onConnectionClosed(21); // twice: nothing more
    h.ka.stop();
  });

  it('removes stream bindings whose connection is already gone when it loads them (a restart)', async () => {
    const h = harness({ config: { interval: 1000 } });
    h.transport.setConnectionOpen(9);
    await register(h.store, 'olga', streamFlow(42, 'tcp', 9));
    await register(h.store, 'paul', streamFlow(43, 'tcp', 10)); // not open
    h.ka.start();
    await settle();
    await settle();
    expect(await h.store.lookup('paul')).toEqual([]);
    expect(await h.store.lookup('olga')).toHaveLength(1);
    expect(h.ka.stats().tracked).toBe(1);
    h.ka.stop();
  });

  it('still removes a closed connection\'s bindings when pinging is disabled', async () => {
    const h = harness({ config: { enabled: false } });
    h.transport.setConnectionOpen(11);
    const b = await register(h.store, 'quin', streamFlow(44, 'tcp', 11));
    h.ka.start();
    await settle();
    h.ka.track([b]);
    await h.run(CONFIG.interval);
    expect(h.transport.keepalives).toHaveLength(0);
    h.ka.onConnectionClosed(11);
    await settle();
    expect(await h.store.lookup('quin')).toEqual([]);
    expect(h.ka.stats()).toMatchObject({ tracked: 0, pingsSent: 0, removed: 1 });
    h.ka.stop();
  });
});
