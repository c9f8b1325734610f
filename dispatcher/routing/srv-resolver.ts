/**
 * DNS SRV resolution of switch names (RFC 3263 §4.1-4.2, RFC 2782).
 *
 * A switch whose host is an SRV owner name (`_sip._udp.switches.example.net`; the config makes one
 * of a host name given without a port) is resolved here:
 * - SRV records of the name; each target host's A and AAAA records (IPv4 first). A single record
 *   with target "." means the service is not offered there: no targets, no fallback (RFC 2782).
 * - No SRV records at all (NODATA or NXDOMAIN): the A/AAAA records of the domain itself, on the
 *   transport's default port (5060, 5061 for TLS) (RFC 3263 §4.2).
 * - Each request picks one target (`pick`): the lowest priority that has any, then weighted random
 *   selection among those (RFC 2782's running-sum rule). `order` gives the full RFC 2782 order.
 *
 * Answers are cached by TTL, bounded: node's `resolveSrv` does not report the SRV records' own TTL,
 * so an answer lives for the smallest A/AAAA TTL of its targets, clamped to [minTtlMs, maxTtlMs]
 * (default 1 s to 60 s); a failure is cached for `negativeTtlMs` (5 s). An expired answer is
 * refreshed in the background while it is still served; when the refresh fails for a transient
 * reason (timeout, SERVFAIL) the last good answer is kept for up to `staleMs` more (RFC 8767), an
 * authoritative "no such name/records" replaces it at once. At most `maxEntries` names are kept
 * (least recently resolved dropped first). Resolution never throws: a name that does not resolve
 * has no targets, and the switch it names is skipped by the pool and fails its probes (down).
 */
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { SwitchTransport } from '../../shared/config/config-types.ts';
import { DEFAULT_SIP_PORT, parseSrvName } from '../../shared/config/srv-name.ts';
import type { Logger } from '../../shared/log.ts';
import type { Target } from '../transport/transport.ts';

/** The queries used; `node:dns/promises` `Resolver` has them (tests may fake them). */
export interface DnsClient {
  resolveSrv(name: string): Promise<Array<{ name: string; port: number; priority: number; weight: number }>>;
  resolve4(name: string, options: { ttl: true }): Promise<Array<{ address: string; ttl: number }>>;
  resolve6(name: string, options: { ttl: true }): Promise<Array<{ address: string; ttl: number }>>;
}

export interface SrvResolverOptions {
  /** DNS servers (`ip` or `ip:port`, `[v6]:port`); default the system's (/etc/resolv.conf). */
  servers?: readonly string[] | undefined;
  /** Instead of a `Resolver` on `servers`. */
  dns?: DnsClient | undefined;
  /** ms per query attempt; default 2000. */
  timeoutMs?: number | undefined;
  /** Attempts per query; default 2. */
  tries?: number | undefined;
  minTtlMs?: number | undefined;
  maxTtlMs?: number | undefined;
  negativeTtlMs?: number | undefined;
  staleMs?: number | undefined;
  maxEntries?: number | undefined;
  /** Clock in ms; default Date.now. */
  now?: (() => number) | undefined;
  /** Uniform [0, 1); default Math.random. */
  random?: (() => number) | undefined;
  logger?: Logger | undefined;
}

/** One place a request can go. */
export interface SrvTarget {
  /** SRV priority and weight (0 and 1 for an A/AAAA fallback). */
  readonly priority: number;
  readonly weight: number;
  /** The SRV target host (the domain itself for a fallback). */
  readonly host: string;
  readonly target: Target;
}

export interface SrvAnswer {
  /** The SRV owner name asked for. */
  readonly name: string;
  /** `srv`: from SRV records; `a`: no SRV records, the domain's A/AAAA; `none`: nothing usable. */
  readonly source: 'srv' | 'a' | 'none';
  /** By priority (lowest first), then as the SRV records came; hosts that did not resolve are left out. */
  readonly targets: readonly SrvTarget[];
  /** Why there are no targets (source `none`). */
  readonly error?: string | undefined;
  /** ms: the answer is fresh until then. */
  readonly expiresAt: number;
  /** ms: the last good answer may be served until then while refreshes fail transiently. */
  readonly staleUntil: number;
}

const NO_RECORDS = new Set(['ENODATA', 'ENOTFOUND', 'NODATA', 'NOTFOUND']);

function errCode(err: unknown): string {
  return (err as { code?: string }).code ?? (err instanceof Error ? err.message : String(err));
}

export class SrvResolver {
  readonly #dns: DnsClient;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #minTtl: number;
  readonly #maxTtl: number;
  readonly #negativeTtl: number;
  readonly #stale: number;
  readonly #maxEntries: number;
  readonly #log: Logger | undefined;
  readonly #cache = new Map<string, SrvAnswer>();
  readonly #inflight = new Map<string, Promise<SrvAnswer>>();
  #known = new Set<string>();
  #queries = 0;

  constructor(opts: SrvResolverOptions = {}) {
    if (opts.dns !== undefined) this.#dns = opts.dns;
    else {
      const resolver = new Resolver({ timeout: opts.timeoutMs ?? 2000, tries: opts.tries ?? 2 });
      if (opts.servers !== undefined) resolver.setServers([...opts.servers]);
      this.#dns = resolver;
    }
    this.#now = opts.now ?? Date.now;
    this.#random = opts.random ?? Math.random;
    this.#minTtl = opts.minTtlMs ?? 1_000;
    this.#maxTtl = Math.max(this.#minTtl, opts.maxTtlMs ?? 60_000);
    this.#negativeTtl = opts.negativeTtlMs ?? 5_000;
    this.#stale = opts.staleMs ?? 60_000;
    this.#maxEntries = Math.max(1, opts.maxEntries ?? 1_000);
    this.#log = opts.logger;
  }

  /** Resolutions started (each SRV name lookup counts once), for tests and metrics. */
  get queries(): number {
    return this.#queries;
  }

  /** The answer for an SRV name: the cached one while fresh, else a new resolution. Never rejects. */
  resolve(name: string): Promise<SrvAnswer> {
    const key = name.toLowerCase();
    const cached = this.#cache.get(key);
    if (cached !== undefined && this.#now() < cached.expiresAt) return Promise.resolve(cached);
    return this.#refresh(key);
  }

  /**
   * The cached answer without waiting (undefined when there is none, or only one too stale to
   * use); an expired one is refreshed in the background.
   */
  peek(name: string): SrvAnswer | undefined {
    const key = name.toLowerCase();
    const cached = this.#cache.get(key);
    const now = this.#now();
    if (cached === undefined || now >= cached.expiresAt) void this.#refresh(key);
    if (cached === undefined) return undefined;
    return now < cached.expiresAt || (cached.source !== 'none' && now < cached.staleUntil) ? cached : undefined;
  }

  /**
   * One target for a request (RFC 2782): among the lowest priority present, weighted random
   * selection with `r` (default random; give a hash for a deterministic choice).
   */
  pick(answer: SrvAnswer, r: number = this.#random()): Target | undefined {
    const first = answer.targets[0];
    if (first === undefined) return undefined;
    const level = answer.targets.filter((t) => t.priority === first.priority);
    return level[weightedIndex(level, r)].target;
  }

  /** Every target in RFC 2782 order: by priority, each level ordered by repeated weighted selection. */
  order(answer: SrvAnswer, random: () => number = this.#random): Target[] {
    const out: Target[] = [];
    let i = 0;
    while (i < answer.targets.length) {
      const priority = answer.targets[i].priority;
      const level: SrvTarget[] = [];
      while (i < answer.targets.length && answer.targets[i].priority === priority) level.push(answer.targets[i++]);
      while (level.length > 0) out.push(level.splice(weightedIndex(level, random()), 1)[0].target);
    }
    return out;
  }

  /** Whether an IP is one of the cached answers' targets (requests from a switch behind an SRV name). */
  isKnownAddress(address: string): boolean {
    return this.#known.has(address);
  }

  /** Forget every answer. */
  clear(): void {
    this.#cache.clear();
    this.#known = new Set();
  }

  #refresh(key: string): Promise<SrvAnswer> {
    let p = this.#inflight.get(key);
    if (p === undefined) {
      p = this.#query(key)
        .catch((err: unknown) => this.#failed(key, `resolver error: ${errCode(err)}`, false))
        .then((answer) => this.#store(key, answer))
        .finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, p);
    }
    return p;
  }

  async #query(name: string): Promise<SrvAnswer> {
    this.#queries++;
    const srv = parseSrvName(name);
    if (srv === undefined) return this.#failed(name, 'not an SRV name (_sip._udp., _sip._tcp. or _sips._tcp.)', true);
    let records: Awaited<ReturnType<DnsClient['resolveSrv']>>;
    try {
      records = await this.#dns.resolveSrv(name);
    } catch (err) {
      const code = errCode(err);
      if (!NO_RECORDS.has(code)) return this.#failed(name, `SRV lookup failed: ${code}`, false);
      records = [];
    }
    if (records.length === 1 && (records[0].name === '' || records[0].name === '.')) {
      return this.#failed(name, 'service not offered (SRV target ".")', true);
    }
    if (records.length === 0) {
      // RFC 3263 §4.2: no SRV records → the domain's own A/AAAA records, default port.
      const found = await this.#addresses(srv.domain);
      if (found.addresses.length === 0) return this.#failed(name, `no SRV records, and ${srv.domain}: ${found.error ?? 'no A/AAAA records'}`, found.authoritative);
      const port = DEFAULT_SIP_PORT[srv.transport];
      const targets = [{ priority: 0, weight: 1, host: srv.domain, target: this.#target(srv.transport, found.addresses[0], port) }];
      return this.#answer(name, 'a', targets, found.ttl);
    }
    const sorted = records
      .map((r, i) => ({ r, i }))
      .sort((a, b) => a.r.priority - b.r.priority || a.i - b.i)
      .map(({ r }) => r);
    const hosts = [...new Set(sorted.map((r) => r.name.toLowerCase().replace(/\.$/, '')))];
    const resolved = new Map(await Promise.all(hosts.map(async (h) => [h, await this.#addresses(h)] as const)));
    const targets: SrvTarget[] = [];
    let ttl = Infinity;
    for (const r of sorted) {
      const host = r.name.toLowerCase().replace(/\.$/, '');
      const found = resolved.get(host);
      if (found === undefined || found.addresses.length === 0) continue;
      ttl = Math.min(ttl, found.ttl);
      targets.push({ priority: r.priority, weight: r.weight, host, target: this.#target(srv.transport, found.addresses[0], r.port) });
    }
    if (targets.length === 0) return this.#failed(name, `no SRV target resolves (${hosts.join(', ')})`, false);
    return this.#answer(name, 'srv', targets, ttl);
  }

  /** A host's addresses (IPv4 first) and their smallest TTL in ms; an IP literal is its own. */
  async #addresses(host: string): Promise<{ addresses: string[]; ttl: number; error?: string; authoritative: boolean }> {
    if (isIP(host) !== 0) return { addresses: [host], ttl: Infinity, authoritative: true };
    const [v4, v6] = await Promise.allSettled([this.#dns.resolve4(host, { ttl: true }), this.#dns.resolve6(host, { ttl: true })]);
    const records = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
    const errors = [v4, v6].filter((s) => s.status === 'rejected').map((s) => errCode((s as PromiseRejectedResult).reason));
    return {
      addresses: records.map((r) => r.address),
      ttl: records.reduce((min, r) => Math.min(min, r.ttl * 1000), Infinity),
      ...(errors.length > 0 ? { error: errors.join('/') } : {}),
      authoritative: errors.every((c) => NO_RECORDS.has(c)),
    };
  }

  #target(transport: SwitchTransport, address: string, port: number): Target {
    return Object.freeze({ protocol: transport, address, port });
  }

  #answer(name: string, source: 'srv' | 'a', targets: SrvTarget[], ttlMs: number): SrvAnswer {
    const now = this.#now();
    const expiresAt = now + Math.min(this.#maxTtl, Math.max(this.#minTtl, ttlMs));
    return Object.freeze({ name, source, targets: Object.freeze(targets), expiresAt, staleUntil: expiresAt + this.#stale });
  }

  /**
   * A failed resolution. A transient one (`authoritative` false) keeps the last good answer while
   * it is within its stale window.
   */
  #failed(name: string, error: string, authoritative: boolean): SrvAnswer {
    const now = this.#now();
    const last = this.#cache.get(name);
    if (!authoritative && last !== undefined && last.source !== 'none' && now < last.staleUntil) {
      this.#log?.warn({ name, error }, 'SRV refresh failed; serving the last answer');
      return Object.freeze({ ...last, expiresAt: Math.min(last.staleUntil, now + this.#negativeTtl) });
    }
    this.#log?.warn({ name, error }, 'switch SRV name does not resolve');
    return Object.freeze({ name, source: 'none', targets: [], error, expiresAt: now + this.#negativeTtl, staleUntil: now + this.#negativeTtl });
  }

  #store(key: string, answer: SrvAnswer): SrvAnswer {
    this.#cache.delete(key);
    this.#cache.set(key, answer);
    while (this.#cache.size > this.#maxEntries) this.#cache.delete(this.#cache.keys().next().value as string);
    const known = new Set<string>();
    for (const a of this.#cache.values()) for (const t of a.targets) known.add(t.target.address);
    this.#known = known;
    return answer;
  }
}

/**
 * RFC 2782 weighted selection within one priority: weight-0 records first, running sums, the
 * first whose running sum reaches a uniform integer in [0, sum] ([1, sum] when no record has
 * weight 0, so that shares are exactly proportional to the weights). All weights 0: uniform.
 */
function weightedIndex(level: readonly SrvTarget[], r: number): number {
  const order = level.map((_, i) => i).sort((a, b) => (level[a].weight === 0 ? 0 : 1) - (level[b].weight === 0 ? 0 : 1) || a - b);
  const sum = level.reduce((s, t) => s + t.weight, 0);
  if (sum === 0) return Math.min(level.length - 1, Math.floor(r * level.length));
  const zeros = level.some((t) => t.weight === 0);
  const n = zeros ? Math.min(sum, Math.floor(r * (sum + 1))) : Math.min(sum, 1 + Math.floor(r * sum));
  let running = 0;
  for (const i of order) {
    running += level[i].weight;
    if (running >= n) return i;
  }
  return order[order.length - 1];
}

let shared: SrvResolver | undefined;

/** The process-wide resolver (system DNS servers) the switch pool and the prober share by default. */
export function sharedSrvResolver(): SrvResolver {
  return (shared ??= new SrvResolver());
}
