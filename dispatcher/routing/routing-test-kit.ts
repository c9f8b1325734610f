/**
 * Test-only fakes for the routing unit: a registry/sticky/levelStats store with a manual clock,
 * a settable health view, and builders for switches, candidates and call contexts.
 */
import type { LevelStats, SwitchRecord } from '../../shared/cluster-store/cluster-store.ts';
import { createLogger } from '../../shared/log.ts';
import { SipRequest } from '../../shared/sip/index.ts';
import type { SwitchHealthView } from '../health/switch-health.ts';
import type { Flow } from '../transport/transport.ts';
import type { RoutingContext } from './router.ts';
import type { SelectionCandidate } from './selection-algorithm.ts';
import { SwitchPool, type SwitchPoolOptions, type SwitchPoolStore } from './switch-pool.ts';

export const logger = createLogger({ test: true });

export function sw(id: string, over: Partial<SwitchRecord> = {}): SwitchRecord {
  const n = Number(id.replace(/\D/g, '')) || 1;
  return { id, host: `192.0.2.${n}`, port: 5060, transport: 'udp', weight: 1, priority: 1, state: 'active', ...over };
}

export function cand(id: string, index: number, over: Partial<SelectionCandidate> = {}): SelectionCandidate {
  return { id, weight: 1, priority: 1, share: 1, latencyMs: undefined, channels: 0, index, ...over };
}

export function callCtx(callId: string, source = '198.51.100.7', carrierId?: string): RoutingContext {
  const request = new SipRequest('INVITE', 'sip:+15551234@example.net', [], Buffer.alloc(0));
  request.append('Call-ID', callId);
  const flow: Flow = { protocol: 'udp', localAddress: '203.0.113.1', localPort: 5060, remoteAddress: source, remotePort: 5060, connectionId: undefined };
  return { request, flow, carrierId };
}

/** The registry, sticky table and channel counts of one cluster store, in memory. */
export class FakeRegistryStore implements SwitchPoolStore {
  connected = true;
  /** Store clock (ms) for sticky expiry. */
  now = 0;
  /** Make the sticky table (or levelStats) throw. */
  failSticky = false;
  failStats = false;
  readonly channels = new Map<string, number>();
  #switches: SwitchRecord[];
  readonly #sticky = new Map<string, { id: string; expiresAt: number }>();
  readonly #listeners = new Set<() => void>();

  constructor(switches: readonly SwitchRecord[] = []) {
    this.#switches = [...switches];
  }

  async listSwitches(): Promise<SwitchRecord[]> {
    return [...this.#switches];
  }

  async putSwitch(s: SwitchRecord): Promise<void> {
    const i = this.#switches.findIndex((x) => x.id === s.id);
    if (i >= 0) this.#switches[i] = s;
    else this.#switches.push(s);
    this.#notify();
  }

  async removeSwitch(id: string): Promise<boolean> {
    const before = this.#switches.length;
    this.#switches = this.#switches.filter((s) => s.id !== id);
    this.#notify();
    return this.#switches.length < before;
  }

  /** Replace the whole registry (e.g. a different order). */
  async setSwitches(list: readonly SwitchRecord[]): Promise<void> {
    this.#switches = [...list];
    this.#notify();
  }

  onSwitchesChanged(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async stickyGet(key: string): Promise<string | undefined> {
    if (this.failSticky) throw new Error('store down');
    const s = this.#sticky.get(key);
    return s !== undefined && s.expiresAt > this.now ? s.id : undefined;
  }

  async stickySet(key: string, switchId: string, ttlMs: number): Promise<void> {
    if (this.failSticky) throw new Error('store down');
    this.#sticky.set(key, { id: switchId, expiresAt: this.now + ttlMs });
  }

  async levelStats(levels: readonly string[]): Promise<LevelStats[]> {
    if (this.failStats) throw new Error('store down');
    return levels.map((level) => ({ level, channels: this.channels.get(level.slice('switch:'.length)) ?? 0, cpsNow: 0 }));
  }

  #notify(): void {
    for (const l of this.#listeners) l();
  }
}

export class FakeHealth implements SwitchHealthView {
  readonly down = new Set<string>();
  readonly shares = new Map<string, number>();
  readonly latencies = new Map<string, number>();
  readonly suspects: string[] = [];

  isUp(id: string): boolean {
    return !this.down.has(id);
  }
  share(id: string): number {
    return this.shares.get(id) ?? 1;
  }
  latencyMs(id: string): number | undefined {
    return this.latencies.get(id);
  }
  p99Ms(_id: string): number | undefined {
    return undefined;
  }
  markSuspect(id: string): void {
    this.suspects.push(id);
    this.down.add(id);
  }
}

export async function startPool(
  store: FakeRegistryStore,
  health: FakeHealth,
  opts: Partial<Omit<SwitchPoolOptions, 'store' | 'health' | 'logger'>> = {},
): Promise<SwitchPool> {
  const pool = new SwitchPool({ store, health, selection: 'round-robin', stickyTtlMs: 60_000, logger, ...opts });
  await pool.start();
  return pool;
}

/** Resolves after the pool's next registry load. */
export function nextChange(pool: SwitchPool): Promise<readonly SwitchRecord[]> {
  return new Promise((resolve) => {
    const off = pool.onChange((list) => {
      off();
      resolve(list);
    });
  });
}

/** The chosen switch id for a new call. */
export async function pick(pool: SwitchPool, callId: string, source?: string, carrierId?: string): Promise<string | undefined> {
  return (await pool.select(callCtx(callId, source, carrierId)))?.id;
}
