import { describe, expect, it } from 'vitest';
import { parseCidr } from '../../shared/config/cidr.ts';
import type { CarrierConfig, ClusterConfig, SwitchConfig } from '../../shared/config/config-types.ts';
import { levelKey, type ClusterStore } from '../../shared/cluster-store/cluster-store.ts';
import { MemoryClusterStore } from '../../shared/cluster-store/memory-cluster-store.ts';
import { ERROR_CODES, SipfleetError } from '../../shared/errors.ts';
import { createLogger } from '../../shared/log.ts';
import { parseMessage, type SipRequest } from '../../shared/sip/index.ts';
import { LocalCalls } from '../cluster/local-calls.ts';
import { NodeMembership } from '../cluster/node-membership.ts';
import { ManualClock } from '../transaction/manual-clock.ts';
import { request, CARRIER } from '../transaction/transaction-test-kit.ts';
import type { Flow } from '../transport/transport.ts';
import type { AdmissionDecision } from './admission.ts';
import { StoreAdmission } from './store-admission.ts';

const logger = createLogger({ test: true });
const FLOW: Flow = { protocol: 'udp', localAddress: '192.0.2.100', localPort: 5060, remoteAddress: CARRIER.remoteAddress, remotePort: 5060, connectionId: undefined };
const REQ = parseMessage(Buffer.from(request())) as SipRequest;

/** A store that can be taken down: every call rejects with STORE_ERR_UNAVAILABLE, like Redis gone. */
function downable(inner: ClusterStore): { store: ClusterStore; down(v: boolean): void } {
  let isDown = false;
  const listeners = new Set<(up: boolean) => void>();
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'connected') return !isDown;
      if (prop === 'onConnectionChange') return (l: (up: boolean) => void) => (listeners.add(l), () => listeners.delete(l));
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (isDown && prop !== 'close') return Promise.reject(new SipfleetError(ERROR_CODES.STORE_ERR_UNAVAILABLE, 'store down'));
        return v.apply(target, args);
      };
    },
  });
  return {
    store,
    down(v: boolean) {
      isDown = v;
      for (const l of listeners) l(!v);
    },
  };
}

interface Setup {
  admission: StoreAdmission;
  store: ClusterStore;
  local: LocalCalls;
  membership: NodeMembership;
  sleeps: number[];
  down(v: boolean): void;
}

async function setup(cluster: Partial<ClusterConfig> = {}, switches: Partial<SwitchConfig>[] = [], carriers: CarrierConfig[] = []): Promise<Setup> {
  const inner = new MemoryClusterStore();
  const { store, down } = downable(inner);
  const local = new LocalCalls();
  const clock = new ManualClock();
  const membership = new NodeMembership({ store, nodeId: 'd1', ttlMs: 3000, reapIntervalMs: 1000, clock, logger, localCalls: local });
  await membership.start();
  const config: ClusterConfig = {
    name: 'main',
    realm: 'main',
    limits: {},
    selection: 'round-robin',
    probe: { interval: 5000, timeout: 2000, fall: 3, rise: 2, accept: [200], warmup: 0, quorum: false },
    redisOutage: 'fail-closed',
    unknownSources: 'reject',
    spikeBuffer: 0,
    maxCallAge: 3_600_000,
    leases: { ttl: 3000, reapInterval: 1000 },
    stickyTtl: 60_000,
    failover: { codes: [408, 500, 503], attempts: 3, timeout: 2000 },
    switches: [],
    carriers,
    users: [],
    registrar: {
      enabled: false,
      minExpires: 60,
      maxExpires: 3600,
      defaultExpires: 3600,
      maxContacts: 10,
      algorithms: ['SHA-256', 'MD5'],
      nonceTtl: 300_000,
      keepalive: { enabled: false, interval: 30_000, timeout: 5000, misses: 3 },
      abuse: { threshold: 20, window: 60_000, banTime: 600_000, scanners: [] },
    },
    media: { zones: [], required: true, probe: { interval: 2000, timeout: 1000, fall: 3, rise: 2 }, statsInterval: 5000 },
    rtpRelays: [],
    ...cluster,
  };
  const sw = new Map(
    [{ id: 'sw1' }, { id: 'sw2' }, ...switches].map((s) => [s.id!, { address: 'x', host: 'x', port: 5060, transport: 'udp', weight: 1, priority: 0, ...s } as SwitchConfig]),
  );
  const sleeps: number[] = [];
  const admission = new StoreAdmission({
    store,
    fallback: new MemoryClusterStore(),
    membership,
    localCalls: local,
    nodeId: 'd1',
    cluster: config,
    logger,
    switches: () => sw,
    carriers: () => new Map(carriers.map((c) => [c.id, c])),
    sleep: async (ms) => {
      sleeps.push(ms);
      await new Promise((r) => setTimeout(r, ms));
    },
  });
  return { admission, store, local, membership, sleeps, down };
}

function admit(s: Setup, callId: string, switchId = 'sw1', extra: { carrierId?: string; reattempt?: boolean; user?: { id: string; cps?: number; channels?: number }; relayId?: string } = {}): Promise<AdmissionDecision> {
  return Promise.resolve(s.admission.admit({ callId, request: REQ, flow: FLOW, switchId, ...extra }));
}

async function channels(s: Setup, level = levelKey('cluster', 'main')): Promise<number> {
  return (await s.store.levelStats([level]))[0].channels;
}

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('StoreAdmission', () => {
  it('takes cluster, carrier and switch levels and releases them exactly once', async () => {
    const acme: CarrierConfig = { id: 'acme', sources: [parseCidr('198.51.100.0/24')], selection: 'round-robin' };
    const s = await setup({}, [], [acme]);
    const d = await admit(s, 'c1', 'sw1', { carrierId: 'acme' });
    expect(d.admitted).toBe(true);
    expect(await channels(s)).toBe(1);
    expect(await channels(s, levelKey('carrier', 'acme'))).toBe(1);
    expect(await channels(s, levelKey('switch', 'sw1'))).toBe(1);
    expect(s.local.size).toBe(1);
    if (d.admitted) {
      d.release('bye');
      d.release('bye');
    }
    await tick();
    expect(await channels(s)).toBe(0);
    expect(s.local.size).toBe(0);
    expect(s.admission.stats()).toMatchObject({ admitted: 1, released: 1, releaseNotFound: 0 });
  });

  it('keeps the switch, carrier, user and media relay with the call for the API', async () => {
    const s = await setup();
    const d = await admit(s, 'm1', 'sw2', { carrierId: 'acme', user: { id: 'alice' }, relayId: 'r-eu' });
    expect(d.admitted).toBe(true);
    expect((await s.store.calls())[0].meta).toEqual({ callId: 'm1', switch: 'sw2', carrier: 'acme', user: 'alice', relay: 'r-eu' });
  });

  it("counts a softphone user's calls at its own level and refuses past its account limit", async () => {
    const s = await setup();
    const alice = { id: 'alice', channels: 1 };
    const d = await admit(s, 'u1', 'sw1', { user: alice });
    expect(d.admitted).toBe(true);
    expect(await channels(s, levelKey('user', 'alice'))).toBe(1);
    expect(await admit(s, 'u2', 'sw2', { user: alice })).toMatchObject({ admitted: false, status: 503, switchOnly: false, limit: 'user:alice:channels' });
    // Another user is not held by alice's limit.
    expect((await admit(s, 'u3', 'sw1', { user: { id: 'bob', channels: 1 } })).admitted).toBe(true);
    if (d.admitted) d.release('bye');
    await tick();
    expect(await channels(s, levelKey('user', 'alice'))).toBe(0);
  });

  it('refuses past the cluster channel cap with 503 Channel Limit Reached and Retry-After', async () => {
    const s = await setup({ limits: { channels: 1 } });
    expect((await admit(s, 'a')).admitted).toBe(true);
    const d = await admit(s, 'b', 'sw2');
    expect(d).toMatchObject({ admitted: false, status: 503, reason: 'Channel Limit Reached', retryAfter: 5, switchOnly: false, limit: 'cluster:main:channels' });
  });

  it('marks a full switch as switch-only, so the next switch can be tried', async () => {
    const s = await setup({}, [{ id: 'sw1', channels: 1 }]);
    expect((await admit(s, 'a', 'sw1')).admitted).toBe(true);
    expect(await admit(s, 'b', 'sw1')).toMatchObject({ admitted: false, switchOnly: true, limit: 'switch:sw1:channels' });
    expect((await admit(s, 'b', 'sw2')).admitted).toBe(true);
  });

  it("answers a carrier's refusals with its rejectCode", async () => {
    const acme: CarrierConfig = { id: 'acme', sources: [parseCidr('198.51.100.0/24')], selection: 'round-robin', channels: 0, rejectCode: 480 };
    const s = await setup({}, [], [acme]);
    expect(await admit(s, 'a', 'sw1', { carrierId: 'acme' })).toMatchObject({ admitted: false, status: 480, reason: 'Channel Limit Reached' });
  });

  it('refuses past the CPS cap with 503 CPS Limit Reached and a Retry-After of at least 1 s', async () => {
    const s = await setup({ limits: { cps: 1 } });
    expect((await admit(s, 'a')).admitted).toBe(true);
    const d = await admit(s, 'b');
    expect(d).toMatchObject({ admitted: false, status: 503, reason: 'CPS Limit Reached', limit: 'cluster:main:cps' });
    if (!d.admitted) expect(d.retryAfter).toBeGreaterThanOrEqual(1);
  });

  it('holds an over-CPS call in the spike buffer and admits it in the next free slot', async () => {
    const s = await setup({ limits: { cps: 5 }, spikeBuffer: 2_000 });
    const results = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => admit(s, `c${i}`)));
    expect(results.every((r) => r.admitted)).toBe(true);
    expect(s.sleeps.length).toBeGreaterThan(0);
    expect(Math.max(...s.sleeps)).toBeLessThanOrEqual(2_000);
  });

  it('does not charge the cluster CPS again for a failover re-attempt of the same call', async () => {
    const s = await setup({ limits: { cps: 1 } });
    const first = await admit(s, 'a', 'sw1');
    expect(first.admitted).toBe(true);
    if (first.admitted) first.release('failover');
    await tick();
    expect((await admit(s, 'a', 'sw2', { reattempt: true })).admitted).toBe(true);
    expect((await admit(s, 'other', 'sw2')).admitted).toBe(false);
  });

  it('refuses with 503 when the store is unreachable and the policy is fail-closed', async () => {
    const s = await setup({ redisOutage: 'fail-closed' });
    s.down(true);
    expect(await admit(s, 'a')).toMatchObject({ admitted: false, status: 503, reason: 'Service Unavailable (Cluster Store Unreachable)', retryAfter: 5 });
    expect(s.admission.stats().refusedStore).toBe(1);
  });

  it('admits against local caps when the store is unreachable and the policy is fail-open', async () => {
    const s = await setup({ redisOutage: 'fail-open', limits: { channels: 2 } });
    s.down(true);
    expect((await admit(s, 'a')).admitted).toBe(true);
    expect((await admit(s, 'b')).admitted).toBe(true);
    expect((await admit(s, 'c')).admitted).toBe(false);
    expect(s.admission.stats().admittedLocally).toBe(2);
    expect(s.local.size).toBe(2);
  });

  it('re-asserts calls admitted during an outage and flushes releases once the store is back', async () => {
    const s = await setup({ redisOutage: 'fail-open' });
    const before = await admit(s, 'up-before');
    s.down(true);
    const during = await admit(s, 'up-during');
    if (before.admitted) before.release('bye');
    expect(during.admitted).toBe(true);
    s.down(false);
    await s.membership.register();
    expect(await channels(s)).toBe(1);
    expect((await s.store.calls()).map((c) => c.meta.callId)).toEqual(['up-during']);
  });
});
