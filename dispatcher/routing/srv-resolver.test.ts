/**
 * DNS SRV resolution of switch names (RFC 3263 §4.1-4.2, RFC 2782) against a tiny DNS server on
 * loopback (test/support/dns-server.ts), then the switch pool and the prober using it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startDnsServer, type DnsServer } from '../../test/support/dns-server.ts';
import { proberHarness, probesTo, answer, switchRecord } from '../health/health-test-kit.ts';
import { parseRequest } from '../transaction/transaction-test-kit.ts';
import { ManualClock } from '../transaction/manual-clock.ts';
import { FakeHealth, FakeRegistryStore, callCtx, startPool, sw } from './routing-test-kit.ts';
import { SrvResolver, type SrvResolverOptions } from './srv-resolver.ts';

let dns: DnsServer;

const ZONE = {
  // Two at priority 10 (weights 1 and 3), a backup at 20.
  '_sip._udp.pool.lan': [
    { type: 'SRV', priority: 20, weight: 5, port: 5090, target: 'backup.pool.lan' },
    { type: 'SRV', priority: 10, weight: 1, port: 5070, target: 'a.pool.lan' },
    { type: 'SRV', priority: 10, weight: 3, port: 5080, target: 'b.pool.lan' },
  ],
  'a.pool.lan': [{ type: 'A', address: '10.1.0.1', ttl: 30 }],
  'b.pool.lan': [
    { type: 'A', address: '10.1.0.2', ttl: 20 },
    { type: 'AAAA', address: '2001:db8::2', ttl: 40 },
  ],
  'backup.pool.lan': [{ type: 'A', address: '10.1.0.9', ttl: 30 }],
  // No SRV records: the name's own A record is used.
  'plain.lan': [{ type: 'A', address: '10.2.0.1', ttl: 30 }],
  // An SRV record whose target does not resolve, next to one that does.
  '_sip._tcp.half.lan': [
    { type: 'SRV', priority: 10, weight: 1, port: 5060, target: 'gone.half.lan' },
    { type: 'SRV', priority: 10, weight: 1, port: 5062, target: 'ok.half.lan' },
  ],
  'ok.half.lan': [{ type: 'A', address: '10.3.0.2', ttl: 30 }],
  // "Service not offered here" (RFC 2782): no fallback to the A record next to it.
  '_sip._udp.closed.lan': [{ type: 'SRV', priority: 0, weight: 0, port: 0, target: '.' }],
  'closed.lan': [{ type: 'A', address: '10.4.0.1', ttl: 30 }],
} as const;

beforeAll(async () => {
  dns = await startDnsServer(JSON.parse(JSON.stringify(ZONE)));
});
afterAll(async () => {
  await dns.close();
});
afterEach(() => {
  dns.servfail.clear();
  dns.drop.clear();
});

function resolver(o: Partial<SrvResolverOptions> = {}): SrvResolver {
  return new SrvResolver({ servers: [dns.server], timeoutMs: 300, tries: 1, ...o });
}

describe('SrvResolver (RFC 3263 §4.1-4.2, RFC 2782)', () => {
  it('orders targets by priority, then by weight; a pick stays at the lowest priority', async () => {
    const r = resolver();
    const a = await r.resolve('_sip._udp.pool.lan');
    expect(a.source).toBe('srv');
    expect(a.targets.map((t) => [t.priority, t.host, t.target.address, t.target.port])).toEqual([
      [10, 'a.pool.lan', '10.1.0.1', 5070],
      [10, 'b.pool.lan', '10.1.0.2', 5080], // IPv4 before IPv6
      [20, 'backup.pool.lan', '10.1.0.9', 5090],
    ]);
    expect(a.targets.every((t) => t.target.protocol === 'udp')).toBe(true);
    for (let i = 0; i < 200; i++) expect(['10.1.0.1', '10.1.0.2']).toContain(r.pick(a)?.address);
    for (let i = 0; i < 50; i++) expect(r.order(a).map((t) => t.address).at(-1)).toBe('10.1.0.9');
    // The RFC 2782 running sum: r in [0,1) maps onto 1..4; 1 → a, 2..4 → b.
    expect(r.pick(a, 0)?.address).toBe('10.1.0.1');
    expect(r.pick(a, 0.26)?.address).toBe('10.1.0.2');
    expect(r.pick(a, 0.999)?.address).toBe('10.1.0.2');
  });

  it('spreads picks in proportion to the weights', async () => {
    const r = resolver();
    const a = await r.resolve('_sip._udp.pool.lan');
    const counts = new Map<string, number>();
    const n = 8000;
    for (let i = 0; i < n; i++) {
      const t = r.pick(a)!.address;
      counts.set(t, (counts.get(t) ?? 0) + 1);
    }
    // Weights 1:3 → 25 % / 75 % (4 standard deviations is about ±2 %).
    expect((counts.get('10.1.0.1') ?? 0) / n).toBeGreaterThan(0.22);
    expect((counts.get('10.1.0.1') ?? 0) / n).toBeLessThan(0.28);
    expect(counts.get('10.1.0.9')).toBeUndefined();
    // The first place of the full order follows the weights too.
    let firstA = 0;
    for (let i = 0; i < 4000; i++) if (r.order(a)[0].address === '10.1.0.1') firstA++;
    expect(firstA / 4000).toBeGreaterThan(0.21);
    expect(firstA / 4000).toBeLessThan(0.29);
  });

  it('falls back to the A/AAAA records of the domain, on the default port, when it has no SRV records', async () => {
    const r = resolver();
    const udp = await r.resolve('_sip._udp.plain.lan'); // NODATA for SRV
    expect(udp.source).toBe('a');
    expect(r.pick(udp)).toEqual({ protocol: 'udp', address: '10.2.0.1', port: 5060 });
    dns.zone.set('tls.lan', [{ type: 'AAAA', address: '2001:db8::5', ttl: 30 }]);
    const tls = await r.resolve('_sips._tcp.tls.lan'); // NXDOMAIN for the SRV name
    expect(tls.source).toBe('a');
    expect(r.pick(tls)).toEqual({ protocol: 'tls', address: '2001:db8::5', port: 5061 });
  });

  it('leaves out SRV targets that do not resolve; "." means no service and no fallback', async () => {
    const r = resolver();
    const half = await r.resolve('_sip._tcp.half.lan');
    expect(half.targets.map((t) => t.target)).toEqual([{ protocol: 'tcp', address: '10.3.0.2', port: 5062 }]);
    const before = dns.count('A', 'closed.lan');
    const closed = await r.resolve('_sip._udp.closed.lan');
    expect(closed.source).toBe('none');
    expect(closed.error).toMatch(/not offered/);
    expect(r.pick(closed)).toBeUndefined();
    expect(dns.count('A', 'closed.lan')).toBe(before);
  });

  it('never throws: NXDOMAIN, SERVFAIL and a silent server all give no targets', async () => {
    const r = resolver();
    const nx = await r.resolve('_sip._udp.nowhere.lan');
    expect(nx).toMatchObject({ source: 'none', targets: [] });
    expect(nx.error).toMatch(/no SRV records, and nowhere\.lan/);
    dns.servfail.add('_sip._udp.broken.lan');
    expect((await r.resolve('_sip._udp.broken.lan')).error).toMatch(/SRV lookup failed: ESERVFAIL/);
    dns.drop.add('_sip._udp.silent.lan');
    expect((await r.resolve('_sip._udp.silent.lan')).error).toMatch(/ETIMEOUT/);
    expect((await r.resolve('not-srv.lan')).error).toMatch(/not an SRV name/);
    // Down for good: a server that is not there at all.
    const dead = new SrvResolver({ servers: ['127.0.0.1:9'], timeoutMs: 200, tries: 1 });
    expect((await dead.resolve('_sip._udp.pool.lan')).source).toBe('none');
  });

  it('caches by TTL (the smallest A/AAAA TTL, bounded) and resolves again after it', async () => {
    let now = 1_000_000;
    const r = resolver({ now: () => now, maxTtlMs: 25_000 });
    const name = '_sip._udp.pool.lan';
    const queries = () => dns.count('SRV', name);
    const q0 = queries();
    const first = await r.resolve(name);
    // Smallest TTL among the targets: b's A record, 20 s.
    expect(first.expiresAt - now).toBe(20_000);
    await r.resolve(name);
    expect(r.peek(name)).toBe(first);
    expect(queries()).toBe(q0 + 1);
    now += 20_000;
    dns.zone.set('a.pool.lan', [{ type: 'A', address: '10.1.0.111', ttl: 3600 }]);
    dns.zone.set('b.pool.lan', [{ type: 'A', address: '10.1.0.222', ttl: 3600 }]);
    dns.zone.set('backup.pool.lan', [{ type: 'A', address: '10.1.0.99', ttl: 3600 }]);
    // Expired: peek still serves it and refreshes in the background.
    expect(r.peek(name)).toBe(first);
    const second = await r.resolve(name);
    expect(queries()).toBe(q0 + 2);
    expect(second.targets.map((t) => t.target.address)).toEqual(['10.1.0.111', '10.1.0.222', '10.1.0.99']);
    // An hour-long TTL is capped at maxTtlMs.
    expect(second.expiresAt - now).toBe(25_000);
    dns.zone.set('a.pool.lan', [{ type: 'A', address: '10.1.0.1', ttl: 30 }]);
    dns.zone.set('b.pool.lan', [...ZONE['b.pool.lan']]);
    dns.zone.set('backup.pool.lan', [...ZONE['backup.pool.lan']]);
  });

  it('keeps the last good answer through a transient failure, within the stale window', async () => {
    let now = 0;
    const r = resolver({ now: () => now, maxTtlMs: 10_000, staleMs: 30_000, negativeTtlMs: 5_000 });
    const name = '_sip._udp.pool.lan';
    const good = await r.resolve(name);
    now = 10_000;
    dns.servfail.add(name);
    const kept = await r.resolve(name);
    expect(kept.targets).toEqual(good.targets);
    expect(r.isKnownAddress('10.1.0.1')).toBe(true);
    now = 40_000; // past the stale window
    const lost = await r.resolve(name);
    expect(lost.source).toBe('none');
    expect(r.peek(name)?.targets).toEqual([]);
    expect(r.isKnownAddress('10.1.0.1')).toBe(false);
  });

  it('caches failures briefly and bounds the number of names', async () => {
    let now = 0;
    const r = resolver({ now: () => now, negativeTtlMs: 5_000, maxEntries: 2 });
    const nx = '_sip._udp.nothing.lan';
    await r.resolve(nx);
    const n0 = dns.count('SRV', nx);
    await r.resolve(nx);
    expect(dns.count('SRV', nx)).toBe(n0);
    now = 5_000;
    await r.resolve(nx);
    expect(dns.count('SRV', nx)).toBe(n0 + 1);

    await r.resolve('_sip._udp.pool.lan');
    await r.resolve('_sip._udp.plain.lan');
    // Three names, room for two: the least recently resolved (nx) is gone.
    expect(r.peek(nx)).toBeUndefined();
    expect(r.peek('_sip._udp.pool.lan')).toBeDefined();
  });

  it('coalesces concurrent resolutions of one name', async () => {
    const r = resolver();
    const name = '_sip._udp.plain.lan';
    const before = dns.count('SRV', name);
    const answers = await Promise.all([r.resolve(name), r.resolve(name), r.resolve(name)]);
    expect(new Set(answers).size).toBe(1);
    expect(dns.count('SRV', name)).toBe(before + 1);
  });
});

describe('SwitchPool with switches given as SRV names', () => {
  it('sends each call to a target of the name, trusts its addresses, and skips it while it does not resolve', async () => {
    const srv = resolver();
    const store = new FakeRegistryStore([
      sw('sw1', { host: '_sip._udp.pool.lan', port: 5060 }),
      sw('sw2', { host: '_sip._udp.nowhere.lan', port: 5060 }),
      sw('sw3'),
    ]);
    const health = new FakeHealth();
    const pool = await startPool(store, health, { srv, selection: 'priority' });
    // The pool resolves the names when it loads the registry; wait for that.
    await srv.resolve('_sip._udp.pool.lan');
    await srv.resolve('_sip._udp.nowhere.lan');
    const seen = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const c = await pool.select(callCtx(`call-${i}`));
      expect(c?.id).toBe('sw1');
      seen.add(`${c?.target.address}:${c?.target.port}`);
    }
    expect(seen).toEqual(new Set(['10.1.0.1:5070', '10.1.0.2:5080']));
    expect(pool.isFromKnownPeer('10.1.0.2')).toBe(true);
    expect(pool.isFromKnownPeer('10.9.9.9')).toBe(false);

    // sw1 down by health: sw2 (no answer) is skipped, sw3 takes the call.
    health.down.add('sw1');
    const c = await pool.select(callCtx('call-x'));
    expect(c?.id).toBe('sw3');
    health.down.add('sw3');
    expect(await pool.select(callCtx('call-y'))).toBeUndefined();
    pool.stop();
  });

  it('locates a Call-ID on the same target every time (hash-call-id)', async () => {
    const srv = resolver();
    const store = new FakeRegistryStore([sw('sw1', { host: '_sip._udp.pool.lan', port: 5060 })]);
    const pool = await startPool(store, new FakeHealth(), { srv, selection: 'hash-call-id' });
    await srv.resolve('_sip._udp.pool.lan');
    const targets = new Set<string>();
    for (let i = 0; i < 20; i++) targets.add(pool.locate('abc@host')!.target.address);
    expect(targets.size).toBe(1);
    const spread = new Set<string>();
    for (let i = 0; i < 50; i++) spread.add(pool.locate(`call-${i}@host`)!.target.address);
    expect(spread).toEqual(new Set(['10.1.0.1', '10.1.0.2']));
    pool.stop();
  });
});

describe('OptionsProber with switches given as SRV names', () => {
  const tick = () => new Promise((resolve) => setTimeout(resolve, 10));

  it('probes a resolved target with the domain as Request-URI', async () => {
    const srv = resolver();
    const rec = switchRecord('sw1', '_sip._tcp.half.lan', { transport: 'tcp', port: 5060 });
    await srv.resolve(rec.host);
    const h = proberHarness({ switches: [rec], srv });
    h.prober.start();
    h.clock.advanceTo(h.clock.nextTimerAt()!);
    await tick();
    const [p] = probesTo(h, '10.3.0.2');
    expect(p.target).toEqual({ protocol: 'tcp', address: '10.3.0.2', port: 5062 });
    expect(p.text.startsWith('OPTIONS sip:half.lan;transport=tcp SIP/2.0\r\n')).toBe(true);
    expect(parseRequest(p).method).toBe('OPTIONS');
    answer(h, p, 200);
    expect(h.health.localUp('sw1')).toBe(true);
    h.prober.stop();
  });

  it('counts a name that does not resolve as a failed probe: the switch goes down, nothing throws', async () => {
    const clock = new ManualClock();
    const srv = resolver({ now: () => clock.now() });
    const h = proberHarness({ switches: [switchRecord('sw1', '_sip._udp.nowhere.lan')], srv, clock });
    h.prober.start();
    // Rounds every second; each probe fails as soon as the name does not resolve (no timeout wait).
    while (h.health.localUp('sw1') && h.clock.now() < 10 * 1000) {
      h.clock.advanceTo(h.clock.nextTimerAt()!);
      await tick();
    }
    expect(h.health.localUp('sw1')).toBe(false);
    // Three probes (fall = 3), well before three timeouts would have passed.
    expect(h.clock.now()).toBeLessThan(3 * 1000);
    expect(h.changes).toContainEqual(['sw1', false]);
    expect(h.transport.sentTo({ address: '_sip._udp.nowhere.lan' }, true)).toEqual([]);
    h.prober.stop();
  });
});
