/**
 * The abuse guard: failed digest authentications counted per source IP cluster-wide, bans that
 * every node enforces, and SIP scanner detection (docs/config.md `cluster.registrar.abuse`).
 *
 * - `isBanned(ip)` is on the hot path of every request: a local map lookup, never the store. The
 *   map is loaded at `start()` (`listBans`) and kept current by `onBan` (any node's ban or unban,
 *   within ~1 s) and at once by this node's own bans. Expired entries are ignored and pruned.
 * - `authFailed(ip)` counts one failure in the store (`recordAuthFailure`); at the threshold the
 *   store bans the IP for `banTime` and tells every node. Store errors are logged at debug and
 *   swallowed: the guard must never turn a failed login into a failed request.
 * - Carrier sources (trunks) are never counted nor banned: one misconfigured phone behind a
 *   carrier's SBC must not cut off the carrier's traffic.
 * - `isScanner(req)`: the User-Agent holds one of the configured substrings (case-insensitive),
 *   e.g. `friendly-scanner`, `sipvicious`, `sipcli`. The caller drops such requests silently.
 *
 * Ban times are on the store's clock (Redis TIME); the guard measures the offset between the store
 * and its own clock at `start()` and compares ban ends with its clock plus that offset.
 */
import type { Logger } from '../../shared/log.ts';
import type { RegistrarConfig } from '../../shared/config/config-types.ts';
import type { Ban, RegistrarStore } from '../../shared/registrar-store/registrar-store.ts';
import type { SipRequest } from '../../shared/sip/index.ts';
import type { Clock } from '../transaction/clock.ts';

export type AbusePolicy = RegistrarConfig['abuse'];

export interface AbuseGuardOptions {
  store: RegistrarStore;
  policy: AbusePolicy;
  /** True for a carrier (trunk) source address: never banned. */
  isCarrier: (ip: string) => boolean;
  clock: Clock;
  logger: Logger;
}

export interface AbuseStats {
  /** IPs banned now (as this node knows). */
  banned: number;
  /** Requests dropped because their source was banned. */
  droppedBanned: number;
  /** Requests dropped because their User-Agent is a scanner's. */
  droppedScanners: number;
  /** Failed authentications this node counted. */
  authFailures: number;
}

export type DropKind = 'banned' | 'scanner';

/** Above this many entries the ban map is pruned of expired bans on the next change. */
const PRUNE_AT = 1024;

export class AbuseGuard {
  readonly #store: RegistrarStore;
  readonly #policy: AbusePolicy;
  readonly #isCarrier: (ip: string) => boolean;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #scanners: readonly string[];
  /** ip → ban end, store-clock ms. */
  readonly #bans = new Map<string, number>();
  /** Store clock minus our clock, measured at start. */
  #offsetMs = 0;
  #unsubscribe: (() => void) | undefined;
  #pruneAt = PRUNE_AT;
  readonly #stats = { droppedBanned: 0, droppedScanners: 0, authFailures: 0 };

  constructor(opts: AbuseGuardOptions) {
    this.#store = opts.store;
    this.#policy = opts.policy;
    this.#isCarrier = opts.isCarrier;
    this.#clock = opts.clock;
    this.#logger = opts.logger;
    // An empty substring would match every User-Agent.
    this.#scanners = opts.policy.scanners.map((s) => s.toLowerCase()).filter((s) => s.length > 0);
  }

  /** Subscribe to ban announcements, then load the bans in force. Rejects when the store is down. */
  async start(): Promise<void> {
    if (this.#unsubscribe === undefined) this.#unsubscribe = this.#store.onBan((ban) => this.#apply(ban));
    const before = this.#clock.now();
    const storeNow = await this.#store.now();
    this.#offsetMs = storeNow - Math.round((before + this.#clock.now()) / 2);
    for (const ban of await this.#store.listBans()) this.#apply(ban);
  }

  stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }

  #storeNow(): number {
    return this.#clock.now() + this.#offsetMs;
  }

  #apply(ban: Ban): void {
    if (ban.untilMs <= 0) {
      this.#bans.delete(ban.ip);
      return;
    }
    this.#bans.set(ban.ip, ban.untilMs);
    if (this.#bans.size >= this.#pruneAt) this.#prune();
  }

  #prune(): void {
    const now = this.#storeNow();
    for (const [ip, until] of this.#bans) if (until <= now) this.#bans.delete(ip);
    this.#pruneAt = Math.max(PRUNE_AT, this.#bans.size * 2);
  }

  /** Is `ip` banned now? A local lookup; carriers never are. */
  isBanned(ip: string): boolean {
    const until = this.#bans.get(ip);
    if (until === undefined) return false;
    if (until <= this.#storeNow()) {
      this.#bans.delete(ip);
      return false;
    }
    return !this.#isCarrier(ip);
  }

  /** Does the request come from a known SIP scanner (by User-Agent)? */
  isScanner(req: SipRequest): boolean {
    if (this.#scanners.length === 0) return false;
    const ua = req.get('user-agent');
    if (ua === undefined || ua.length === 0) return false;
    const lower = ua.toLowerCase();
    return this.#scanners.some((s) => lower.includes(s));
  }

  /**
   * The proxy's gate for every new request: true (and counted) when the source is banned or the
   * request comes from a scanner (carrier sources are trusted: neither applies); the caller then
   * drops it silently.
   */
  shouldDrop(req: SipRequest, sourceIp: string): boolean {
    if (this.isBanned(sourceIp)) {
      this.countDrop('banned');
      return true;
    }
    if (this.isScanner(req) && !this.#isCarrier(sourceIp)) {
      this.countDrop('scanner');
      return true;
    }
    return false;
  }

  /**
   * Count a failed authentication from `ip` (cluster-wide). Bans it at the threshold, here at once
   * and on every other node through the store. Never rejects.
   */
  async authFailed(ip: string): Promise<void> {
    if (this.#isCarrier(ip)) return;
    this.#stats.authFailures++;
    const { threshold, window: windowMs, banTime: banMs } = this.#policy;
    try {
      const result = await this.#store.recordAuthFailure(ip, { windowMs, threshold, banMs });
      if (result.banned) {
        this.#apply({ ip, untilMs: this.#storeNow() + banMs });
        this.#logger.warn({ ip, failures: result.failures, banMs }, 'source banned after failed authentications');
      }
    } catch (err) {
      this.#logger.debug({ err, ip }, 'could not record a failed authentication');
    }
  }

  /** The caller dropped a request for a banned source or a scanner. */
  countDrop(kind: DropKind): void {
    if (kind === 'banned') this.#stats.droppedBanned++;
    else this.#stats.droppedScanners++;
  }

  stats(): AbuseStats {
    const now = this.#storeNow();
    let banned = 0;
    for (const until of this.#bans.values()) if (until > now) banned++;
    return { banned, ...this.#stats };
  }
}
