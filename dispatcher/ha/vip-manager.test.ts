import { describe, expect, it } from 'vitest';
import type { ClusterStore } from '../../shared/cluster-store/cluster-store.ts';
import { MemoryClusterStore } from '../../shared/cluster-store/memory-cluster-store.ts';
import type { VipConfig } from '../../shared/config/config-types.ts';
import { createLogger } from '../../shared/log.ts';
import type { Clock, TimerHandle } from '../transaction/clock.ts';
import { ManualClock } from '../transaction/manual-clock.ts';
import type { VipAddress } from './vip-address.ts';
import { VipManager, type VipHealth, type VipStore } from './vip-manager.ts';
import { KERNEL_LIFETIME_SLACK_MS, vipTiming } from './vip-timing.ts';

const T0 = 1_700_000_000_000;
const STEP = 10;
const logger = createLogger({ level: 'silent' });

function vipConfig(extra: Partial<VipConfig> = {}): VipConfig {
  return {
    address: '198.51.100.10',
    prefixLength: 24,
    cidr: '198.51.100.10/24',
    interface: 'eth0',
    priority: 100,
    rise: 3,
    fall: 3,
    autoReturn: true,
    leaseTtl: 3000,
    checkInterval: 1000,
    garp: 2,
    ...extra,
  };
}

/**
 * One host's interface as the kernel keeps it: an address added with a lifetime stays until
 * removed or until the lifetime (plus the kernel's worst-case check slack) runs out, whatever
 * happens to the process that added it.
 */
class FakeAddress implements VipAddress {
  readonly #clock: Clock;
  expiresAt: number | undefined;
  readonly ops: string[] = [];
  announced = 0;
  failUp = false;

  constructor(clock: Clock, present = false) {
    this.#clock = clock;
    if (present) this.expiresAt = Infinity;
  }

  get isUp(): boolean {
    return this.expiresAt !== undefined && this.#clock.now() < this.expiresAt;
  }

  async up(lifetimeS: number): Promise<void> {
    if (this.failUp) throw new Error('ip failed');
    this.ops.push(`up ${lifetimeS}`);
    this.expiresAt = this.#clock.now() + lifetimeS * 1000 + KERNEL_LIFETIME_SLACK_MS;
  }

  async down(): Promise<void> {
    this.ops.push('down');
    this.expiresAt = undefined;
  }

  async present(): Promise<boolean> {
    return this.isUp;
  }

  announce(count: number): void {
    this.announced += count;
  }
}

/** A process's view of the shared clock: `freeze()` is a kill -9 (no timer of it fires again). */
class ProcessClock implements Clock {
  readonly #clock: ManualClock;
  frozen = false;

  constructor(clock: ManualClock) {
    this.#clock = clock;
  }

  now(): number {
    return this.#clock.now();
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    return this.#clock.setTimer(ms, () => {
      if (!this.frozen) fn();
    });
  }
}

type FlakyStore = VipStore & { down: boolean; renewReplyDelayMs: number };

/**
 * A store whose every call fails while `down` (Redis unreachable), and whose renewal replies can
 * be slow: the store acts at once, the reply arrives `renewReplyDelayMs` later.
 */
function flakyStore(store: ClusterStore, clock: Clock): FlakyStore {
  const later = <T>(value: T, ms: number): Promise<T> => (ms <= 0 ? Promise.resolve(value) : new Promise((resolve) => clock.setTimer(ms, () => resolve(value))));
  const s: FlakyStore = {
    down: false,
    renewReplyDelayMs: 0,
    acquireLease: (...a) => (s.down ? Promise.reject(new Error('down')) : store.acquireLease(...a)),
    renewLease: async (...a) => (s.down ? Promise.reject(new Error('down')) : later(await store.renewLease(...a), s.renewReplyDelayMs)),
    releaseLease: (...a) => (s.down ? Promise.reject(new Error('down')) : store.releaseLease(...a)),
  };
  return s;
}

interface Node {
  id: string;
  manager: VipManager;
  address: FakeAddress;
  clock: ProcessClock;
  health: { ready: boolean; draining: boolean };
  store: FlakyStore;
}

class Lab {
  readonly clock = new ManualClock(T0);
  readonly store = new MemoryClusterStore({ clock: { nowMs: () => this.clock.now() } });
  readonly nodes = new Map<string, Node>();
  /** Every 10 ms: how many hosts had the address, and how many managers said leader. */
  maxUp = 0;
  maxLeaders = 0;

  /** A node on its own host; `address` is that host's interface (kept across a restart). */
  node(id: string, extra: Partial<VipConfig> = {}, address?: FakeAddress): Node {
    const clock = new ProcessClock(this.clock);
    const health = { ready: true, draining: false };
    const store = flakyStore(this.store, this.clock);
    const addr = address ?? new FakeAddress(this.clock);
    const manager = new VipManager({
      config: vipConfig(extra),
      nodeId: id,
      store,
      address: addr,
      health: (): VipHealth => health,
      clock,
      logger,
    });
    const node = { id, manager, address: addr, clock, health, store };
    this.nodes.set(id, node);
    return node;
  }

  async start(node: Node): Promise<void> {
    await node.manager.start();
    await flush();
  }

  kill(node: Node): void {
    node.clock.frozen = true;
    node.store.down = true; // its in-flight store calls never complete usefully
  }

  async advance(ms: number): Promise<void> {
    for (let t = 0; t < ms; t += STEP) {
      this.clock.advance(STEP);
      await flush();
      const nodes = [...this.nodes.values()];
      this.maxUp = Math.max(this.maxUp, nodes.filter((n) => n.address.isUp).length);
      this.maxLeaders = Math.max(this.maxLeaders, nodes.filter((n) => !n.clock.frozen && n.manager.leader).length);
    }
  }

  /** Advances until `cond` holds; returns the ms it took. */
  async until(cond: () => boolean, maxMs: number, what: string): Promise<number> {
    const start = this.clock.now();
    while (!cond()) {
      if (this.clock.now() - start > maxMs) throw new Error(`not within ${maxMs} ms: ${what}`);
      await this.advance(STEP);
    }
    return this.clock.now() - start;
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

describe('vipTiming', () => {
  it('derives the renewal, drop, lifetime and guard from the lease ttl', () => {
    expect(vipTiming(3000)).toEqual({ renewEveryMs: 1000, freshForMs: 2000, refreshWindowMs: 1000, lifetimeS: 2, guardMs: 1000, takeoverBoundMs: 4500 });
    expect(vipTiming(1000)).toMatchObject({ renewEveryMs: 333, freshForMs: 666, lifetimeS: 1, guardMs: 1334 });
    expect(vipTiming(6000)).toMatchObject({ renewEveryMs: 2000, freshForMs: 4000, lifetimeS: 4, guardMs: 1000 });
  });
});

describe('VipManager', () => {
  it('a lone node takes the address after `rise` ready checks, announces it and keeps it while renewing', async () => {
    const lab = new Lab();
    const d1 = lab.node('d1', { priority: 200 });
    await lab.start(d1);
    await lab.advance(2990);
    expect(d1.address.isUp).toBe(false); // two checks so far
    const took = await lab.until(() => d1.manager.leader, 1000, 'd1 leads');
    expect(took).toBeLessThanOrEqual(STEP * 2);
    expect(d1.address.ops).toEqual(['up 2']);
    expect(d1.address.announced).toBe(2);
    expect(d1.manager.status()).toMatchObject({ leader: true, state: 'active', epoch: 1, vip: '198.51.100.10/24', priority: 200 });
    await lab.advance(10_000);
    expect(d1.manager.leader).toBe(true);
    expect(d1.address.ops.filter((o) => o === 'up 2').length).toBeGreaterThanOrEqual(10); // refreshed by each renewal
    expect((await lab.store.getLease('vip:198.51.100.10'))?.holder).toBe('d1');
    await d1.manager.stop();
    expect(d1.address.isUp).toBe(false);
    expect((await lab.store.getLease('vip:198.51.100.10'))?.holder).toBeUndefined();
  });

  it('removes an address left on the interface by an earlier process before anything else', async () => {
    const lab = new Lab();
    const d1 = lab.node('d1', {}, new FakeAddress(lab.clock, true));
    expect(d1.address.isUp).toBe(true);
    await lab.start(d1);
    expect(d1.address.isUp).toBe(false);
    expect(d1.address.ops).toEqual(['down']);
  });

  it('the holder is killed: the standby takes over within the takeover bound, never while the dead host still has the address', async () => {
    const lab = new Lab();
    const d1 = lab.node('d1', { priority: 200 });
    const d2 = lab.node('d2', { priority: 100 });
    await lab.start(d1);
    await lab.until(() => d1.manager.leader, 5000, 'd1 leads');
    await lab.start(d2);
    await lab.advance(5000);
    expect(d2.manager.status()).toMatchObject({ leader: false, state: 'standby', holder: 'd1' });
    // Kill d1 at the worst moment for the kernel lifetime: just after a refresh.
    await lab.until(() => d1.address.ops.length >= 8, 5000, 'another refresh');
    lab.kill(d1);
    const killedAt = lab.clock.now();
    expect(d1.address.isUp).toBe(true); // the kernel keeps it for now
    const took = await lab.until(() => d2.manager.leader, 10_000, 'd2 takes over');
    const timing = vipTiming(3000);
    expect(took).toBeLessThanOrEqual(timing.takeoverBoundMs);
    expect(took).toBeGreaterThanOrEqual(3000 - timing.renewEveryMs); // not before the lease could lapse
    expect(lab.maxUp).toBe(1);
    expect(lab.clock.now() - killedAt).toBe(took);
    const lease = await lab.store.getLease('vip:198.51.100.10');
    expect(lease).toMatchObject({ holder: 'd2', epoch: 2 });
    expect(d2.address.announced).toBe(2);
  });

  it('the guard covers a dead holder whose last refresh came late: its kernel drops the address before the standby adds it', async () => {
    const lab = new Lab();
    const d1 = lab.node('d1', { priority: 200 });
    const d2 = lab.node('d2', { priority: 100 });
    await lab.start(d1);
    await lab.start(d2);
    await lab.until(() => d1.manager.leader, 5000, 'd1 leads');
    // Renewal replies now take 900 ms: each refresh happens 900 ms after the store extended the lease.
    d1.store.renewReplyDelayMs = 900;
    await lab.advance(6000);
    expect(d1.manager.leader).toBe(true);
    const refreshes = d1.address.ops.length;
    await lab.until(() => d1.address.ops.length > refreshes, 3000, 'a late refresh');
    lab.kill(d1);
    const took = await lab.until(() => d2.manager.leader, 10_000, 'd2 takes over');
    expect(took).toBeLessThanOrEqual(vipTiming(3000).takeoverBoundMs);
    expect(lab.maxUp).toBe(1);
  });

  it('the primary returns: the address moves back only after `rise` ready checks, with no moment of two holders', async () => {
    const lab = new Lab();
    const d1 = lab.node('d1', { priority: 200 });
    const d2 = lab.node('d2', { priority: 100 });
    await lab.start(d1);
    await lab.start(d2);
    await lab.until(() => d1.manager.leader, 5000, 'd1 leads');
    lab.kill(d1);
    await lab.until(() => d2.manager.leader, 10_000, 'd2 takes over');
    await lab.advance(3000);
    // d1 restarts on the same host: warming up first (not ready), then ready.
    const d1b = lab.node('d1', { priority: 200 }, d1.address);
    d1b.health.ready = false;
    await lab.start(d1b);
    await lab.advance(5000);
    expect(d2.manager.leader).toBe(true);
    d1b.health.ready = true;
    const readyAt = lab.clock.now();
    await lab.advance(2990);
    expect(d2.manager.leader).toBe(true); // two ready checks: not yet
    expect(d1b.manager.status().readyChecks).toBe(2);
    const moved = await lab.until(() => d1b.manager.leader, 5000, 'the address moves back to d1');
    // The third check claims, d2 yields at its next renewal (<= ttl/3), d1 takes it at its next check.
    expect(lab.clock.now() - readyAt).toBeLessThanOrEqual(3000 + 1000 + 1000 + 2 * STEP);
    expect(moved).toBeGreaterThan(0);
    expect(d2.manager.leader).toBe(false);
    expect(d2.address.isUp).toBe(false);
    expect(lab.maxUp).toBe(1);
    expect(lab.maxLeaders).toBe(1);
    // Released, not lapsed: no guard was needed.
    expect(d1b.address.ops.at(-1)).toBe('up 2');
    await lab.advance(10_000);
    expect(d1b.manager.leader).toBe(true); // the backup does not take it back (the lease stays with d1)
    expect(lab.maxLeaders).toBe(1);
  });

  it('autoReturn false: the backup keeps the address until handBack() (SIGHUP)', async () => {
    const lab = new Lab();
    const d2 = lab.node('d2', { priority: 100, autoReturn: false });
    await lab.start(d2);
    await lab.until(() => d2.manager.leader, 5000, 'd2 leads');
    expect(await d2.manager.handBack()).toMatch(/no ready node of higher priority/);
    const d1 = lab.node('d1', { priority: 200, autoReturn: false });
    await lab.start(d1);
    await lab.advance(10_000);
    expect(d2.manager.leader).toBe(true);
    expect(d1.manager.status()).toMatchObject({ leader: false, holder: 'd2' });
    expect(await d2.manager.handBack()).toBe('handed the floating IP back to d1');
    await lab.until(() => d1.manager.leader, 2000, 'd1 takes it');
    expect(d2.manager.leader).toBe(false);
    expect(lab.maxUp).toBe(1);
    expect(await d1.manager.handBack()).toMatch(/no ready node of higher priority/);
  });

  it('a draining holder lets go at the next check; a not-ready one after `fall` checks', async () => {
    const lab = new Lab();
    const d1 = lab.node('d1', { priority: 200 });
    const d2 = lab.node('d2', { priority: 100 });
    await lab.start(d1);
    await lab.start(d2);
    await lab.until(() => d1.manager.leader, 5000, 'd1 leads');
    d1.health.ready = false;
    await lab.advance(2000);
    expect(d1.manager.leader).toBe(true); // two not-ready checks
    await lab.until(() => !d1.manager.leader, 1000, 'd1 lets go after the third');
    await lab.until(() => d2.manager.leader, 2000, 'd2 takes over');
    expect(lab.maxUp).toBe(1);
    // d2 drains: it lets go at once, but nobody is ready to take it.
    d2.health.draining = true;
    d2.health.ready = false;
    await lab.until(() => !d2.manager.leader, 1000, 'd2 lets go');
    await lab.advance(5000);
    expect(d1.manager.leader).toBe(false);
    d1.health.ready = true;
    await lab.until(() => d1.manager.leader, 4000, 'd1 back after rise');
    expect(lab.maxUp).toBe(1);
  });

  it('store unreachable: the holder drops the address 2/3 of the ttl after its last renewal; nobody holds it until the store is back', async () => {
    const lab = new Lab();
    const d1 = lab.node('d1', { priority: 200 });
    const d2 = lab.node('d2', { priority: 100 });
    await lab.start(d1);
    await lab.start(d2);
    await lab.until(() => d1.manager.leader, 5000, 'd1 leads');
    await lab.advance(500);
    d1.store.down = true;
    d2.store.down = true;
    const dropped = await lab.until(() => !d1.address.isUp, 3000, 'd1 drops the address');
    expect(dropped).toBeLessThanOrEqual(2000);
    expect(d1.manager.leader).toBe(false);
    await lab.advance(5000);
    expect(d2.address.isUp).toBe(false);
    d1.store.down = false;
    d2.store.down = false;
    await lab.until(() => d1.manager.leader || d2.manager.leader, 8000, 'someone holds it again');
    await lab.advance(6000);
    expect(d1.manager.leader).toBe(true); // the primary in the end
    expect(lab.maxUp).toBe(1);
  });

  it('an address that cannot be added leaves the node a non-leader that still holds the lease (no false 200)', async () => {
    const lab = new Lab();
    const d1 = lab.node('d1');
    d1.address.failUp = true;
    await lab.start(d1);
    await lab.advance(5000);
    expect(d1.manager.leader).toBe(false);
    expect(d1.manager.status().state).toBe('guard');
    d1.address.failUp = false;
    await lab.until(() => d1.manager.leader, 2000, 'added at the next renewal');
  });
});
