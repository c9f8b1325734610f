/**
 * The floating IP of an active/standby pair (docs/ha.md): this node holds the address only while
 * it holds the store lease `vip:<address>` under a fresh epoch, so two nodes never hold it at once.
 *
 * - Every `checkInterval` the node samples its own readiness (the `/readyz` conditions). After
 *   `rise` consecutive ready checks it asks the store for the lease (with its priority); a free
 *   lease is granted with a new epoch, a held one records the claim for the holder to see.
 * - Granted: the address is added (`ip addr replace`, with a kernel lifetime) and announced by
 *   gratuitous ARP, after a guard when the previous grant lapsed instead of being released (its
 *   holder may have died with the address still configured: see `vip-timing.ts`).
 * - The lease is renewed every ttl/3; each renewal refreshes the address's lifetime. No renewal
 *   succeeding for 2·ttl/3 (store unreachable), a renewal refused (another epoch holds it), `fall`
 *   consecutive not-ready checks, draining, or a higher-priority ready claimant with `autoReturn`
 *   (or `handBack()`, on SIGHUP) → the address is removed at once, then the lease released.
 *
 * Store calls never overlap each other (one step at a time); the address commands run in order
 * on their own queue so that a drop never waits behind a slow store call.
 */
import type { ClusterStore, LeaseClaim } from '../../shared/cluster-store/cluster-store.ts';
import type { VipConfig } from '../../shared/config/config-types.ts';
import type { Logger } from '../../shared/log.ts';
import type { Clock, TimerHandle } from '../transaction/clock.ts';
import type { VipAddress } from './vip-address.ts';
import { vipTiming, type VipTiming } from './vip-timing.ts';

export type VipStore = Pick<ClusterStore, 'acquireLease' | 'renewLease' | 'releaseLease'>;

export interface VipHealth {
  /** The `/readyz` conditions: listening, warmed up, the store per policy, not draining. */
  readonly ready: boolean;
  readonly draining: boolean;
}

export interface VipManagerOptions {
  config: VipConfig;
  nodeId: string;
  store: VipStore;
  address: VipAddress;
  health: () => VipHealth;
  /** Monotonic, for deadlines (the store's own clock decides the lease). */
  clock: Clock;
  logger: Logger;
}

/** What `/leader` reports. */
export interface VipStatus {
  /** This node holds the lease under a fresh epoch and the address is up. */
  readonly leader: boolean;
  /** `address/prefix`. */
  readonly vip: string;
  readonly priority: number;
  /** `active` (leader), `guard` (granted, waiting out a lapsed holder), `standby`. */
  readonly state: 'active' | 'guard' | 'standby';
  /** The lease epoch this node holds. */
  readonly epoch?: number | undefined;
  /** The holder as last seen by a refused claim (standby only). */
  readonly holder?: string | undefined;
  /** Consecutive ready checks (standby) toward `rise`. */
  readonly readyChecks: number;
}

interface Grant {
  readonly epoch: number;
  /** Send time (monotonic) of the latest successful acquire or renewal. */
  sentAt: number;
  /** No address add or refresh before this (the guard). */
  readonly upAt: number;
  /** The address is configured (as far as this process knows). */
  up: boolean;
  /** The latest claim of another node heard with a renewal. */
  wantedBy: LeaseClaim | undefined;
}

/** Lease name of a floating IP. */
export function vipLeaseName(address: string): string {
  return `vip:${address}`;
}

export class VipManager {
  readonly #o: VipManagerOptions;
  readonly #log: Logger;
  readonly #name: string;
  readonly timing: VipTiming;
  #grant: Grant | undefined;
  #readyStreak = 0;
  #unreadyStreak = 0;
  #lastHolder: string | undefined;
  #stopped = false;
  #started = false;
  /** A store step (acquire, renew, release) is running. */
  #busy = false;
  #ipQueue: Promise<void> = Promise.resolve();
  #checkTimer: TimerHandle | undefined;
  #renewTimer: TimerHandle | undefined;
  #dropTimer: TimerHandle | undefined;
  #guardTimer: TimerHandle | undefined;
  #attemptTimer: TimerHandle | undefined;

  constructor(opts: VipManagerOptions) {
    this.#o = opts;
    this.#log = opts.logger;
    this.#name = vipLeaseName(opts.config.address);
    this.timing = vipTiming(opts.config.leaseTtl);
  }

  get leader(): boolean {
    const g = this.#grant;
    return g !== undefined && g.up && this.#o.clock.now() < g.sentAt + this.timing.freshForMs;
  }

  status(): VipStatus {
    const g = this.#grant;
    const leader = this.leader;
    return {
      leader,
      vip: this.#o.config.cidr,
      priority: this.#o.config.priority,
      state: leader ? 'active' : g !== undefined ? 'guard' : 'standby',
      ...(g === undefined ? { holder: this.#lastHolder } : { epoch: g.epoch }),
      readyChecks: this.#readyStreak,
    };
  }

  /** Removes a stale address left by an earlier process, then starts the checks. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    try {
      if (await this.#o.address.present()) {
        this.#log.warn({ vip: this.#o.config.cidr }, 'removing a floating IP left on the interface by an earlier process');
        await this.#o.address.down();
      }
    } catch (err) {
      this.#log.error({ err, vip: this.#o.config.cidr, interface: this.#o.config.interface }, 'cannot read or clean the interface');
    }
    this.#log.info({ vip: this.#o.config.cidr, priority: this.#o.config.priority, ...this.timing }, 'floating IP manager started');
    this.#scheduleCheck();
  }

  /** Lets the address go (removed, then the lease released) and stops. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#checkTimer?.cancel();
    this.#attemptTimer?.cancel();
    await this.#letGo('shutting down', true);
    await this.#ipQueue;
  }

  /**
   * Manual return (`autoReturn: false`; `sipfleet dispatcher` calls it on SIGHUP): the holder
   * lets the address go when a ready node of higher priority claims it. Returns what happened.
   */
  async handBack(): Promise<string> {
    const g = this.#grant;
    const claim = g?.wantedBy;
    let outcome: string;
    if (g === undefined) outcome = 'not holding the floating IP: nothing to hand back';
    else if (claim === undefined || claim.priority <= this.#o.config.priority) outcome = 'no ready node of higher priority claims the floating IP: keeping it';
    else {
      await this.#letGo(`handed back to ${claim.holder} on request`, true);
      outcome = `handed the floating IP back to ${claim.holder}`;
    }
    this.#log.warn({ vip: this.#o.config.cidr }, outcome);
    return outcome;
  }

  // ---- checks and claims ----

  #scheduleCheck(): void {
    if (this.#stopped) return;
    this.#checkTimer = this.#o.clock.setTimer(this.#o.config.checkInterval, () => {
      this.#check();
      this.#scheduleCheck();
    });
  }

  #check(): void {
    let h: VipHealth;
    try {
      h = this.#o.health();
    } catch {
      h = { ready: false, draining: false };
    }
    if (h.ready) {
      this.#readyStreak++;
      this.#unreadyStreak = 0;
    } else {
      this.#unreadyStreak++;
      this.#readyStreak = 0;
    }
    if (this.#grant !== undefined) {
      if (h.draining) void this.#letGo('draining', true);
      else if (this.#unreadyStreak >= this.#o.config.fall) void this.#letGo(`not ready for ${this.#unreadyStreak} checks`, true);
      return;
    }
    if (this.#readyStreak >= this.#o.config.rise) void this.#claim();
  }

  async #claim(): Promise<void> {
    if (this.#busy || this.#stopped || this.#grant !== undefined) return;
    this.#busy = true;
    const c = this.#o.config;
    const sentAt = this.#o.clock.now();
    try {
      const res = await this.#o.store.acquireLease(this.#name, this.#o.nodeId, c.leaseTtl, c.priority);
      if (!res.acquired) {
        this.#lastHolder = res.holder ?? res.reservedFor;
        // The holder may be gone: try again right when its grant would end, if before the next check.
        if (res.holder !== undefined && res.remainingMs < c.checkInterval) this.#attemptAt(res.remainingMs + 5);
        return;
      }
      if (this.#stopped || this.#o.clock.now() >= sentAt + this.timing.freshForMs) {
        // Too late to use safely (or shutting down): give it back at once.
        await this.#o.store.releaseLease(this.#name, this.#o.nodeId, res.epoch).catch(() => false);
        return;
      }
      const lapsed = res.lapsed !== undefined && res.lapsed.holder !== this.#o.nodeId ? res.lapsed : undefined;
      const guard = lapsed === undefined ? 0 : Math.max(0, this.timing.guardMs - lapsed.agoMs);
      const g: Grant = { epoch: res.epoch, sentAt, upAt: sentAt + guard, up: false, wantedBy: undefined };
      this.#grant = g;
      this.#lastHolder = undefined;
      this.#log.warn(
        { vip: c.cidr, epoch: res.epoch, lapsed: lapsed?.holder, lapsedAgoMs: lapsed?.agoMs, guardMs: guard },
        lapsed === undefined ? 'floating IP lease granted' : 'floating IP lease taken over from a lapsed holder',
      );
      this.#armDrop(g);
      this.#scheduleRenew(g, sentAt);
      if (guard > 0) this.#guardTimer = this.#o.clock.setTimer(g.upAt - this.#o.clock.now(), () => this.#bringUp(g));
      else this.#bringUp(g);
    } catch (err) {
      this.#log.debug({ err }, 'floating IP claim failed');
    } finally {
      this.#busy = false;
    }
  }

  #attemptAt(ms: number): void {
    this.#attemptTimer?.cancel();
    this.#attemptTimer = this.#o.clock.setTimer(Math.max(0, ms), () => {
      if (this.#readyStreak >= this.#o.config.rise) void this.#claim();
    });
  }

  // ---- holding ----

  /** Adds (or refreshes) the address if the grant is still current, past its guard and fresh enough. */
  #bringUp(g: Grant): void {
    this.#ip(async () => {
      const now = this.#o.clock.now();
      if (this.#grant !== g || now < g.upAt || now > g.sentAt + this.timing.refreshWindowMs) return;
      const first = !g.up;
      try {
        await this.#o.address.up(this.timing.lifetimeS);
      } catch (err) {
        this.#log.error({ err, vip: this.#o.config.cidr }, 'cannot add the floating IP');
        return;
      }
      if (this.#grant !== g) return; // lost meanwhile: the drop queued behind us removes it
      g.up = true;
      if (first) {
        this.#o.address.announce(this.#o.config.garp);
        this.#log.warn({ vip: this.#o.config.cidr, interface: this.#o.config.interface, epoch: g.epoch }, 'took the floating IP');
      }
    });
  }

  /** The next renewal `renewEveryMs` after the previous one was sent (at once if that is past: one in flight at most). */
  #scheduleRenew(g: Grant, lastSentAt: number): void {
    this.#renewTimer?.cancel();
    const delay = Math.max(0, lastSentAt + this.timing.renewEveryMs - this.#o.clock.now());
    this.#renewTimer = this.#o.clock.setTimer(delay, () => void this.#renew(g));
  }

  #armDrop(g: Grant): void {
    this.#dropTimer?.cancel();
    const left = g.sentAt + this.timing.freshForMs - this.#o.clock.now();
    this.#dropTimer = this.#o.clock.setTimer(Math.max(0, left), () => {
      if (this.#grant === g) void this.#letGo(`no lease renewal for ${this.timing.freshForMs} ms`, true);
    });
  }

  async #renew(g: Grant): Promise<void> {
    if (this.#grant !== g || this.#stopped) return;
    const sentAt = this.#o.clock.now();
    let res;
    try {
      res = await this.#o.store.renewLease(this.#name, this.#o.nodeId, g.epoch, this.#o.config.leaseTtl);
    } catch (err) {
      this.#log.warn({ err, vip: this.#o.config.cidr }, 'floating IP lease renewal failed');
      if (this.#grant === g) this.#scheduleRenew(g, sentAt);
      return;
    }
    if (this.#grant !== g) return;
    if (!res.renewed) {
      await this.#letGo('lease lost (expired or taken over)', false);
      return;
    }
    g.sentAt = sentAt;
    g.wantedBy = res.wantedBy;
    this.#armDrop(g);
    this.#scheduleRenew(g, sentAt);
    this.#bringUp(g);
    const claim = res.wantedBy;
    if (claim !== undefined && claim.priority > this.#o.config.priority && this.#o.config.autoReturn) {
      await this.#letGo(`returning it to ${claim.holder} (priority ${claim.priority})`, true);
    }
  }

  /**
   * Removes the address at once, then (when `release`, and only if the address is known to be
   * gone) releases the lease so that the next holder needs no guard.
   */
  async #letGo(reason: string, release: boolean): Promise<void> {
    const g = this.#grant;
    if (g === undefined) return;
    this.#grant = undefined;
    this.#renewTimer?.cancel();
    this.#dropTimer?.cancel();
    this.#guardTimer?.cancel();
    this.#readyStreak = 0;
    this.#log.warn({ vip: this.#o.config.cidr, epoch: g.epoch, reason }, 'letting the floating IP go');
    let removed = false;
    await this.#ip(async () => {
      try {
        await this.#o.address.down();
        removed = true;
      } catch (err) {
        this.#log.error({ err, vip: this.#o.config.cidr }, 'cannot remove the floating IP: its kernel lifetime removes it');
      }
    });
    if (release && removed) {
      await this.#o.store.releaseLease(this.#name, this.#o.nodeId, g.epoch).catch((err: unknown) => {
        this.#log.debug({ err }, 'floating IP lease not released: it lapses by itself');
        return false;
      });
    }
  }

  /** Runs an address command after the ones before it. */
  #ip(fn: () => Promise<void>): Promise<void> {
    const next = this.#ipQueue.then(fn, fn);
    this.#ipQueue = next.catch(() => undefined);
    return this.#ipQueue;
  }
}
