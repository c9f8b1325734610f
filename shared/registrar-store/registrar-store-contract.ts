/**
 * The contract suite every `RegistrarStore` adapter passes: the memory store in the unit project
 * (`memory-registrar-store.test.ts`, on a hand-moved clock) and the redis store against a real
 * redis-server in the e2e project (`test/redis-registrar-store.test.ts`, on real time: Redis TIME
 * cannot be faked, so expiries there are short and waited out).
 *
 * Each test gets a fresh, empty store from `makeStore`. `peer` opens a second client of the same
 * cluster (another node): bans announced by one must reach the other, and both must see one
 * cluster secret. Without a peer the tests use `store` twice.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isSipfleetError } from '../errors.ts';
import type { Ban, Binding, BindingFlow, BindingInput, RegisterChange, RegistrarStore, UserRecord } from './registrar-store.ts';

export interface RegistrarContractStore {
  readonly store: RegistrarStore;
  /** Another client of the same cluster (a second node); closed by `cleanup`. */
  readonly peer?: (() => Promise<RegistrarStore>) | undefined;
  /**
   * Moves the store's clock forward by `ms` (a memory store on a manual clock). Without it the
   * suite waits in real time.
   */
  readonly advance?: ((ms: number) => void) | undefined;
  cleanup(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** How long a fresh `onBan` subscription (redis: a SUBSCRIBE on a new connection) gets to be in place. */
const SUBSCRIBE_SETTLE_MS = 400;

function invalidField(field: string): (e: unknown) => boolean {
  return (e) => isSipfleetError(e) && e.code === 'STORE_ERR_INVALID' && e.detail?.field === field;
}

const MD5 = '0123456789abcdef0123456789abcdef';
const SHA = 'ab'.repeat(32);

function user(username: string, extra: Partial<UserRecord> = {}): UserRecord {
  return { username, realm: 'sipfleet', ha1Md5: MD5, ...extra };
}

function flow(nodeId = 'n1', extra: Partial<BindingFlow> = {}): BindingFlow {
  return {
    nodeId,
    protocol: 'udp',
    address: '203.0.113.7',
    port: 5062,
    localAddress: '127.0.0.11',
    localPort: 5060,
    ownerUri: `sip:${nodeId}.internal:5060`,
    ...extra,
  };
}

function input(key: string, extra: Partial<BindingInput> = {}): BindingInput {
  return { key, contact: key.startsWith('sip:') ? key : `sip:alice@198.51.100.1:5060`, q: 1, expires: 3600, path: [], flow: flow(), ...extra };
}

function change(aor: string, callId: string, cseq: number, extra: Partial<RegisterChange> = {}): RegisterChange {
  return { aor, callId, cseq, removeAll: false, upserts: [], removals: [], maxContacts: 10, ...extra };
}

function keys(bindings: readonly Binding[]): string[] {
  return bindings.map((b) => b.key);
}

async function registered(store: RegistrarStore, c: RegisterChange): Promise<Binding[]> {
  const r = await store.register(c);
  if (!r.ok) throw new Error(`register refused: ${r.reason}`);
  return [...r.bindings];
}

export function describeRegistrarStoreContract(name: string, makeStore: () => Promise<RegistrarContractStore>): void {
  describe(`RegistrarStore contract: ${name}`, () => {
    let handle: RegistrarContractStore;
    let store: RegistrarStore;

    beforeEach(async () => {
      handle = await makeStore();
      store = handle.store;
    });
    afterEach(async () => {
      await handle.cleanup();
    });

    /** Lets `ms` pass on the store clock (a manual clock moves; real time is waited out). */
    const pass = async (ms: number): Promise<void> => {
      if (handle.advance !== undefined) handle.advance(ms);
      else await sleep(ms);
    };
    const peerOf = async (): Promise<RegistrarStore> => (handle.peer === undefined ? store : await handle.peer());

    it('users: put, get, replace, list in name order, seed only the missing, remove with their bindings', async () => {
      expect(await store.getUser('alice')).toBeUndefined();
      await store.putUser(user('alice', { ha1Sha256: SHA, cps: 2, channels: 3 }));
      expect(await store.getUser('alice')).toEqual({ username: 'alice', realm: 'sipfleet', ha1Md5: MD5, ha1Sha256: SHA, cps: 2, channels: 3 });
      await store.putUser(user('alice', { realm: 'other' })); // replaced whole
      expect(await store.getUser('alice')).toEqual({ username: 'alice', realm: 'other', ha1Md5: MD5 });

      expect(await store.seedUsers([user('carol'), user('alice', { realm: 'seeded' }), user('Bob.2+x')])).toBe(2);
      expect((await store.getUser('alice'))?.realm).toBe('other');
      expect((await store.listUsers()).map((u) => u.username)).toEqual(['Bob.2+x', 'alice', 'carol']);
      expect((await store.listUsers(2)).map((u) => u.username)).toEqual(['Bob.2+x', 'alice']);
      expect(await store.seedUsers([])).toBe(0);

      await registered(store, change('alice', 'c1', 1, { upserts: [input('sip:alice@10.0.0.1')] }));
      expect(await store.countBindings('n1')).toBe(1);
      expect(await store.removeUser('alice')).toBe(true);
      expect(await store.getUser('alice')).toBeUndefined();
      expect(await store.lookup('alice')).toEqual([]);
      expect(await store.countBindings()).toBe(0);
      expect(await store.bindingsOwnedBy('n1')).toEqual([]);
      expect(await store.removeUser('alice')).toBe(false);
      expect((await store.listUsers()).map((u) => u.username)).toEqual(['Bob.2+x', 'carol']);
    });

    it('register: add, refresh (keeps registeredAtMs), remove one, and Contact: * removes all', async () => {
      const t0 = await store.now();
      const [first] = await registered(store, change('alice', 'c1', 1, { upserts: [input('sip:alice@10.0.0.1', { userAgent: 'ua/1', path: ['<sip:edge;lr>'] })] }));
      const t1 = await store.now();
      expect(first).toEqual({
        aor: 'alice',
        key: 'sip:alice@10.0.0.1',
        contact: 'sip:alice@10.0.0.1',
        q: 1,
        expiresAtMs: first.registeredAtMs + 3_600_000,
        callId: 'c1',
        cseq: 1,
        path: ['<sip:edge;lr>'],
        flow: flow(),
        userAgent: 'ua/1',
        registeredAtMs: first.registeredAtMs,
      });
      expect(first.registeredAtMs).toBeGreaterThanOrEqual(t0);
      expect(first.registeredAtMs).toBeLessThanOrEqual(t1);
      expect(await store.lookup('alice')).toEqual([first]);

      await pass(20);
      const refreshed = await registered(store, change('alice', 'c1', 2, { upserts: [input('sip:alice@10.0.0.1', { expires: 60 }), input('sip:alice@10.0.0.2', { q: 0.5 })] }));
      expect(keys(refreshed)).toEqual(['sip:alice@10.0.0.1', 'sip:alice@10.0.0.2']);
      const [again, second] = refreshed;
      expect(again.registeredAtMs).toBe(first.registeredAtMs);
      expect(again.cseq).toBe(2);
      expect(again.userAgent).toBeUndefined(); // replaced whole, not merged
      expect(again.expiresAtMs).toBe(second.registeredAtMs + 60_000);
      expect(second.registeredAtMs).toBeGreaterThan(first.registeredAtMs);
      expect(await store.lookup('alice')).toEqual(refreshed);

      expect(keys(await registered(store, change('alice', 'c1', 3, { removals: ['sip:alice@10.0.0.1', 'sip:never@x'] })))).toEqual(['sip:alice@10.0.0.2']);
      await registered(store, change('alice', 'c2', 1, { upserts: [input('sip:alice@10.0.0.3')] }));
      expect(await store.countBindings()).toBe(2);
      expect(await registered(store, change('alice', 'c3', 9, { removeAll: true }))).toEqual([]);
      expect(await store.lookup('alice')).toEqual([]);
      expect(await store.countBindings()).toBe(0);
      expect(await store.countBindings('n1')).toBe(0);
      // Removing what is not there is fine.
      expect(await registered(store, change('nobody', 'c4', 1, { removeAll: true }))).toEqual([]);
    });

    it('register: a request with the same Call-ID and a CSeq not higher is refused whole (§10.3 step 7)', async () => {
      await registered(store, change('alice', 'c1', 5, { upserts: [input('sip:alice@10.0.0.1')] }));
      const before = await store.lookup('alice');
      for (const cseq of [5, 4]) {
        expect(await store.register(change('alice', 'c1', cseq, { upserts: [input('sip:alice@10.0.0.1', { q: 0.1 }), input('sip:alice@10.0.0.2')] }))).toEqual({
          ok: false,
          reason: 'out-of-order',
        });
        expect(await store.register(change('alice', 'c1', cseq, { removals: ['sip:alice@10.0.0.1'] }))).toEqual({ ok: false, reason: 'out-of-order' });
        expect(await store.register(change('alice', 'c1', cseq, { removeAll: true }))).toEqual({ ok: false, reason: 'out-of-order' });
      }
      expect(await store.lookup('alice')).toEqual(before);
      // A change that does not touch the binding is not held up by it.
      await pass(10);
      expect(keys(await registered(store, change('alice', 'c1', 1, { upserts: [input('sip:alice@10.0.0.2')] })))).toEqual([
        'sip:alice@10.0.0.2',
        'sip:alice@10.0.0.1',
      ]);
      // Another Call-ID (the phone rebooted) replaces the binding whatever its CSeq.
      const [replaced] = (await registered(store, change('alice', 'other', 1, { upserts: [input('sip:alice@10.0.0.1', { q: 0.9 })] }))).filter(
        (b) => b.key === 'sip:alice@10.0.0.1',
      );
      expect(replaced).toMatchObject({ callId: 'other', cseq: 1, q: 0.9, registeredAtMs: before[0].registeredAtMs });
      expect((await store.register(change('alice', 'c1', 6, { removals: ['sip:alice@10.0.0.1'] }))).ok).toBe(true);
    });

    it('register: refuses more than maxContacts whole; refreshes and removals still pass', async () => {
      await registered(store, change('alice', 'c1', 1, { maxContacts: 2, upserts: [input('sip:a@1'), input('sip:a@2')] }));
      expect(await store.register(change('alice', 'c2', 1, { maxContacts: 2, upserts: [input('sip:a@3')] }))).toEqual({ ok: false, reason: 'too-many-contacts' });
      expect(await store.register(change('alice', 'c1', 2, { maxContacts: 2, upserts: [input('sip:a@1'), input('sip:a@3')] }))).toEqual({
        ok: false,
        reason: 'too-many-contacts',
      });
      expect(keys(await store.lookup('alice')).sort()).toEqual(['sip:a@1', 'sip:a@2']);
      expect((await store.lookup('alice')).every((b) => b.cseq === 1)).toBe(true);
      // A refresh at the cap, and a swap (one out, one in) in one request.
      expect((await store.register(change('alice', 'c1', 3, { maxContacts: 2, upserts: [input('sip:a@1'), input('sip:a@2')] }))).ok).toBe(true);
      expect(keys(await registered(store, change('alice', 'c1', 4, { maxContacts: 2, removals: ['sip:a@1'], upserts: [input('sip:a@3')] }))).sort()).toEqual([
        'sip:a@2',
        'sip:a@3',
      ]);
      // A lowered cap never blocks a removal.
      expect(keys(await registered(store, change('alice', 'c1', 5, { maxContacts: 1, removals: ['sip:a@2'] })))).toEqual(['sip:a@3']);
      expect(await store.register(change('alice', 'c1', 6, { maxContacts: 1, upserts: [input('sip:a@4')] }))).toEqual({ ok: false, reason: 'too-many-contacts' });
      expect(await store.register(change('bob', 'c1', 1, { maxContacts: 1, upserts: [input('sip:b@1'), input('sip:b@2')] }))).toEqual({
        ok: false,
        reason: 'too-many-contacts',
      });
      expect(await store.lookup('bob')).toEqual([]);
    });

    it('register: concurrent requests for one AOR never exceed maxContacts', async () => {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => store.register(change('alice', `c${i}`, 1, { maxContacts: 5, upserts: [input(`sip:a@${i}`)] }))),
      );
      expect(results.filter((r) => r.ok)).toHaveLength(5);
      expect(results.filter((r) => !r.ok).every((r) => !r.ok && r.reason === 'too-many-contacts')).toBe(true);
      expect(await store.lookup('alice')).toHaveLength(5);
      expect(await store.countBindings()).toBe(5);
    });

    it('lookup orders by q (highest first), then most recently registered', async () => {
      await registered(store, change('alice', 'c1', 1, { upserts: [input('sip:a@low', { q: 0.1 }), input('sip:a@old', { q: 0.5 })] }));
      await pass(10);
      await registered(store, change('alice', 'c2', 1, { upserts: [input('sip:a@new', { q: 0.5 }), input('sip:a@top', { q: 1 })] }));
      expect(keys(await store.lookup('alice'))).toEqual(['sip:a@top', 'sip:a@new', 'sip:a@old', 'sip:a@low']);
      expect(await store.lookup('nobody')).toEqual([]);
    });

    it('expiry: lookup and counts hide expired bindings, sweepExpired deletes them once', async () => {
      await registered(store, change('alice', 'c1', 1, { upserts: [input('sip:a@short', { expires: 1 }), input('sip:a@long')] }));
      await registered(store, change('bob', 'c1', 1, { upserts: [input('sip:b@short', { expires: 1, flow: flow('n2') })] }));
      expect(await store.countBindings()).toBe(3);
      await pass(1100);
      expect(keys(await store.lookup('alice'))).toEqual(['sip:a@long']);
      expect(await store.lookup('bob')).toEqual([]);
      expect(await store.countBindings()).toBe(1);
      expect(await store.countBindings('n2')).toBe(0);
      expect(await store.bindingsOwnedBy('n2')).toEqual([]);
      const swept = await Promise.all([store.sweepExpired(), store.sweepExpired()]);
      expect(swept[0] + swept[1]).toBeLessThanOrEqual(2); // lookup may have cleaned alice's already
      expect(await store.sweepExpired()).toBe(0);
      expect(await store.countBindings()).toBe(1);
      // An expired binding is absent: its Call-ID/CSeq no longer hold a new registration up.
      await registered(store, change('bob', 'c1', 1, { upserts: [input('sip:b@short', { expires: 1 })] }));
      await pass(1100);
      expect(keys(await registered(store, change('bob', 'c1', 1, { upserts: [input('sip:b@short')] })))).toEqual(['sip:b@short']);
      expect(await store.removeBinding({ aor: 'alice', key: 'sip:a@short' })).toBe(false);
    });

    it('sweepExpired counts each expired binding once', async () => {
      for (let i = 0; i < 30; i++) await registered(store, change(`u${i}`, 'c1', 1, { upserts: [input('sip:x@1', { expires: 1 })] }));
      await registered(store, change('keep', 'c1', 1, { upserts: [input('sip:x@1')] }));
      await pass(1100);
      const swept = await Promise.all([store.sweepExpired(), store.sweepExpired(), store.sweepExpired()]);
      expect(swept.reduce((a, b) => a + b, 0)).toBe(30);
      expect(await store.countBindings()).toBe(1);
      expect(await store.countBindings('n1')).toBe(1);
    });

    it('outbound: a new flow of the same instance and reg-id replaces the old one', async () => {
      const key = '<urn:uuid:00000000-0000-1000-8000-000000000001>;reg-id=1';
      const outbound = { instanceId: '<urn:uuid:00000000-0000-1000-8000-000000000001>', regId: 1 };
      const [b1] = await registered(store, change('alice', 'c1', 1, { upserts: [input(key, { contact: 'sip:alice@10.0.0.1;ob', ...outbound, flow: flow('n1', { protocol: 'tcp', connectionId: 7 }) })] }));
      await store.recordPingRtts([{ aor: 'alice', key, rttMs: 42 }]);
      expect((await store.lookup('alice'))[0].pingRttMs).toBe(42);
      await pass(10);
      const moved = await registered(store, change('alice', 'c9', 1, { upserts: [input(key, { contact: 'sip:alice@10.9.9.9;ob', ...outbound, flow: flow('n2', { protocol: 'tcp', address: '203.0.113.99', connectionId: 3 }) })] }));
      expect(moved).toHaveLength(1);
      expect(moved[0]).toMatchObject({ key, contact: 'sip:alice@10.9.9.9;ob', instanceId: outbound.instanceId, regId: 1, registeredAtMs: b1.registeredAtMs });
      expect(moved[0].flow).toEqual(flow('n2', { protocol: 'tcp', address: '203.0.113.99', connectionId: 3 }));
      expect(moved[0].pingRttMs).toBeUndefined(); // a new flow: the old RTT says nothing about it
      expect(await store.bindingsOwnedBy('n1')).toEqual([]);
      expect(await store.bindingsOwnedBy('n2')).toEqual(moved);
      expect(await store.countBindings('n1')).toBe(0);
      expect(await store.countBindings('n2')).toBe(1);
    });

    it('owner index: bindingsOwnedBy and countBindings follow registers, moves, drops and removals', async () => {
      await registered(store, change('alice', 'c1', 1, { upserts: [input('sip:a@1'), input('sip:a@2', { flow: flow('n:2') })] }));
      await registered(store, change('bob', 'c1', 1, { upserts: [input('sip:b@1'), input('sip:b@2', { flow: flow('n1', { protocol: 'tls', connectionId: 1 }) })] }));
      expect((await store.bindingsOwnedBy('n1')).map((b) => `${b.aor} ${b.key}`)).toEqual(['alice sip:a@1', 'bob sip:b@1', 'bob sip:b@2']);
      expect(await store.countBindings('n1')).toBe(3);
      expect(await store.countBindings('n:2')).toBe(1);
      expect(await store.countBindings('n3')).toBe(0);
      expect(await store.countBindings()).toBe(4);

      // n1 died: its UDP bindings go to n3 (if n1 still owns them), its stream binding is dropped.
      const r = await store.moveBindings(
        'n1',
        [
          { aor: 'alice', key: 'sip:a@1', nodeId: 'n3', ownerUri: 'sip:n3.internal:5060' },
          { aor: 'bob', key: 'sip:b@1', nodeId: 'n3', ownerUri: 'sip:n3.internal:5060' },
          { aor: 'alice', key: 'sip:a@2', nodeId: 'n3', ownerUri: 'sip:n3.internal:5060' }, // n:2 owns it
          { aor: 'alice', key: 'sip:gone', nodeId: 'n3', ownerUri: 'sip:n3.internal:5060' },
        ],
        [
          { aor: 'bob', key: 'sip:b@2' },
          { aor: 'alice', key: 'sip:a@2' }, // not n1's
        ],
      );
      expect(r).toEqual({ moved: 2, dropped: 1 });
      expect(await store.bindingsOwnedBy('n1')).toEqual([]);
      const n3 = await store.bindingsOwnedBy('n3');
      expect(n3.map((b) => `${b.aor} ${b.key}`)).toEqual(['alice sip:a@1', 'bob sip:b@1']);
      expect(n3[0].flow).toEqual(flow('n1', { nodeId: 'n3', ownerUri: 'sip:n3.internal:5060' }));
      expect(n3[0]).toMatchObject({ callId: 'c1', cseq: 1, contact: 'sip:a@1' });
      expect(await store.countBindings('n3')).toBe(2);
      expect(await store.countBindings('n1')).toBe(0);
      expect(keys(await store.lookup('bob'))).toEqual(['sip:b@1']);
      // A second hand-over of the same node is a no-op.
      expect(await store.moveBindings('n1', [{ aor: 'alice', key: 'sip:a@1', nodeId: 'n4', ownerUri: 'sip:n4' }], [{ aor: 'bob', key: 'sip:b@1' }])).toEqual({
        moved: 0,
        dropped: 0,
      });

      expect(await store.removeBinding({ aor: 'alice', key: 'sip:a@1' }, 'n1')).toBe(false); // moved away
      expect(await store.removeBinding({ aor: 'alice', key: 'sip:a@1' }, 'n3')).toBe(true);
      expect(await store.removeBinding({ aor: 'alice', key: 'sip:a@1' }, 'n3')).toBe(false);
      expect(await store.removeBinding({ aor: 'alice', key: 'sip:a@2' })).toBe(true); // unconditional
      expect(await store.countBindings('n:2')).toBe(0);
      expect(await store.countBindings('n3')).toBe(1);
      expect(await store.countBindings()).toBe(1);
      expect(await store.lookup('alice')).toEqual([]);
    });

    it('ping RTTs: recorded on known bindings, kept by a refresh over the same flow, unknown ignored', async () => {
      await registered(store, change('alice', 'c1', 1, { upserts: [input('sip:a@1'), input('sip:a@2')] }));
      await store.recordPingRtts([
        { aor: 'alice', key: 'sip:a@1', rttMs: 12.5 },
        { aor: 'alice', key: 'sip:nope', rttMs: 3 },
        { aor: 'ghost', key: 'sip:a@1', rttMs: 3 },
      ]);
      await store.recordPingRtts([]);
      const byKey = new Map((await store.lookup('alice')).map((b) => [b.key, b]));
      expect(byKey.get('sip:a@1')?.pingRttMs).toBe(12.5);
      expect(byKey.get('sip:a@2')?.pingRttMs).toBeUndefined();
      expect(await store.lookup('ghost')).toEqual([]);
      expect((await store.bindingsOwnedBy('n1')).find((b) => b.key === 'sip:a@1')?.pingRttMs).toBe(12.5);

      const [kept] = (await registered(store, change('alice', 'c1', 2, { upserts: [input('sip:a@1')] }))).filter((b) => b.key === 'sip:a@1');
      expect(kept.pingRttMs).toBe(12.5);
      const [reset] = (await registered(store, change('alice', 'c1', 3, { upserts: [input('sip:a@1', { flow: flow('n1', { port: 6000 }) })] }))).filter(
        (b) => b.key === 'sip:a@1',
      );
      expect(reset.pingRttMs).toBeUndefined();
      // A move keeps the measured RTT (the same NAT pinhole, pinged from elsewhere).
      await store.recordPingRtts([{ aor: 'alice', key: 'sip:a@1', rttMs: 8 }]);
      await store.moveBindings('n1', [{ aor: 'alice', key: 'sip:a@1', nodeId: 'n2', ownerUri: 'sip:n2' }], []);
      expect((await store.bindingsOwnedBy('n2'))[0].pingRttMs).toBe(8);
    });

    it('auth failures: a ban at the threshold reaches every node; further failures do not re-announce; unban lifts it', async () => {
      const peer = await peerOf();
      const heardHere: Ban[] = [];
      const heardThere: Ban[] = [];
      const offHere = store.onBan((b) => heardHere.push(b));
      peer.onBan((b) => heardThere.push(b));
      if (handle.advance === undefined) await sleep(SUBSCRIBE_SETTLE_MS);

      const policy = { windowMs: 60_000, threshold: 3, banMs: 600_000 };
      expect(await store.recordAuthFailure('198.51.100.9', policy)).toEqual({ failures: 1, banned: false });
      expect(await peer.recordAuthFailure('198.51.100.9', policy)).toEqual({ failures: 2, banned: false });
      expect(await store.recordAuthFailure('2001:db8::9', policy)).toEqual({ failures: 1, banned: false });
      const before = await store.now();
      expect(await store.recordAuthFailure('198.51.100.9', policy)).toEqual({ failures: 3, banned: true });
      const after = await store.now();
      await until(() => heardHere.length === 1 && heardThere.length === 1, 2000, 'the ban notice on both nodes');
      expect(heardThere[0]).toEqual(heardHere[0]);
      expect(heardHere[0].ip).toBe('198.51.100.9');
      expect(heardHere[0].untilMs).toBeGreaterThanOrEqual(before + 600_000);
      expect(heardHere[0].untilMs).toBeLessThanOrEqual(after + 600_000);
      expect(await peer.listBans()).toEqual([heardHere[0]]);

      const again = await peer.recordAuthFailure('198.51.100.9', policy);
      expect(again.banned).toBe(true);
      await sleep(handle.advance === undefined ? 200 : 0);
      expect(heardHere).toHaveLength(1);
      expect(heardThere).toHaveLength(1);
      expect(await store.listBans()).toEqual([heardHere[0]]);

      expect(await peer.unban('198.51.100.9')).toBe(true);
      await until(() => heardHere.length === 2 && heardThere.length === 2, 2000, 'the unban notice on both nodes');
      expect(heardHere[1]).toEqual({ ip: '198.51.100.9', untilMs: 0 });
      expect(heardThere[1]).toEqual({ ip: '198.51.100.9', untilMs: 0 });
      expect(await store.listBans()).toEqual([]);
      expect(await store.unban('198.51.100.9')).toBe(false);
      // The count started over.
      expect(await store.recordAuthFailure('198.51.100.9', policy)).toEqual({ failures: 1, banned: false });

      offHere();
      expect(await store.recordAuthFailure('2001:db8::9', { ...policy, threshold: 2 })).toEqual({ failures: 2, banned: true });
      await until(() => heardThere.length === 3, 2000, 'the second ban on the peer');
      await sleep(handle.advance === undefined ? 100 : 0);
      expect(heardHere).toHaveLength(2); // unsubscribed
      expect((await store.listBans()).map((b) => b.ip)).toEqual(['2001:db8::9']);
    });

    it('auth failures: the window and the ban run out', async () => {
      const policy = { windowMs: 500, threshold: 2, banMs: 600 };
      expect(await store.recordAuthFailure('192.0.2.1', policy)).toEqual({ failures: 1, banned: false });
      await pass(600);
      expect(await store.recordAuthFailure('192.0.2.1', policy)).toEqual({ failures: 1, banned: false }); // a new window
      expect(await store.recordAuthFailure('192.0.2.1', policy)).toEqual({ failures: 2, banned: true });
      expect(await store.listBans()).toHaveLength(1);
      await pass(700);
      expect(await store.listBans()).toEqual([]);
      expect(await store.recordAuthFailure('192.0.2.1', policy)).toEqual({ failures: 1, banned: false });
      expect(await store.unban('192.0.2.1')).toBe(false);
    });

    it('cluster secret: created once, the same on every node', async () => {
      const peer = await peerOf();
      const [a, b] = await Promise.all([store.clusterSecret(), peer.clusterSecret()]);
      expect(a).toMatch(/^[A-Za-z0-9_-]{43,}$/);
      expect(b).toBe(a);
      expect(await store.clusterSecret()).toBe(a);
    });

    it('nonce counts: only increasing counts are accepted, per nonce, for the ttl', async () => {
      const peer = await peerOf();
      expect(await store.acceptNonceCount('n-1', 1, 60_000)).toBe(true);
      expect(await peer.acceptNonceCount('n-1', 1, 60_000)).toBe(false); // replay
      expect(await peer.acceptNonceCount('n-1', 3, 60_000)).toBe(true);
      expect(await store.acceptNonceCount('n-1', 2, 60_000)).toBe(false); // reordered
      expect(await store.acceptNonceCount('n-1', 4, 60_000)).toBe(true);
      expect(await store.acceptNonceCount('n-2', 1, 300)).toBe(true);
      const racing = await Promise.all([store.acceptNonceCount('n-3', 1, 60_000), peer.acceptNonceCount('n-3', 1, 60_000)]);
      expect(racing.filter(Boolean)).toHaveLength(1);
      await pass(400);
      expect(await store.acceptNonceCount('n-2', 1, 300)).toBe(true); // the record ran out
      expect(await store.acceptNonceCount('n-1', 4, 60_000)).toBe(false);
    });

    it('refuses invalid arguments with STORE_ERR_INVALID and changes nothing', async () => {
      const ok = input('sip:a@1');
      await expect(store.getUser('bad name')).rejects.toSatisfy(invalidField('username'));
      await expect(store.getUser('x'.repeat(65))).rejects.toSatisfy(invalidField('username'));
      await expect(store.putUser(user('a:b'))).rejects.toSatisfy(invalidField('user.username'));
      await expect(store.putUser(user('alice', { ha1Md5: 'XYZ' }))).rejects.toSatisfy(invalidField('user.ha1Md5'));
      await expect(store.putUser(user('alice', { ha1Sha256: MD5 }))).rejects.toSatisfy(invalidField('user.ha1Sha256'));
      await expect(store.putUser(user('alice', { cps: -1 }))).rejects.toSatisfy(invalidField('user.cps'));
      await expect(store.putUser(user('alice', { channels: -1 }))).rejects.toSatisfy(invalidField('user.channels'));
      await expect(store.seedUsers([user('ok'), user('')])).rejects.toSatisfy(invalidField('users[1].username'));
      expect(await store.listUsers()).toEqual([]);
      await expect(store.listUsers(0)).rejects.toSatisfy(invalidField('limit'));
      await expect(store.removeUser('')).rejects.toSatisfy(invalidField('username'));

      await expect(store.register(change('a b', 'c', 1, { upserts: [ok] }))).rejects.toSatisfy(invalidField('aor'));
      await expect(store.register(change('alice', '', 1, { upserts: [ok] }))).rejects.toSatisfy(invalidField('callId'));
      await expect(store.register(change('alice', 'c', -1, { upserts: [ok] }))).rejects.toSatisfy(invalidField('cseq'));
      await expect(store.register(change('alice', 'c', 2 ** 31, { upserts: [ok] }))).rejects.toSatisfy(invalidField('cseq'));
      await expect(store.register(change('alice', 'c', 1, { upserts: [ok], maxContacts: 0 }))).rejects.toSatisfy(invalidField('maxContacts'));
      await expect(store.register(change('alice', 'c', 1, { upserts: [ok, ok] }))).rejects.toSatisfy(invalidField('upserts[1].key'));
      await expect(store.register(change('alice', 'c', 1, { upserts: [ok], removals: ['sip:a@1'] }))).rejects.toSatisfy(invalidField('removals[0]'));
      await expect(store.register(change('alice', 'c', 1, { upserts: [ok], removeAll: true }))).rejects.toSatisfy(invalidField('upserts'));
      await expect(store.register(change('alice', 'c', 1, { upserts: [input('sip:a@1', { q: 1.5 })] }))).rejects.toSatisfy(invalidField('upserts[0].q'));
      await expect(store.register(change('alice', 'c', 1, { upserts: [input('sip:a@1', { expires: 0 })] }))).rejects.toSatisfy(invalidField('upserts[0].expires'));
      await expect(store.register(change('alice', 'c', 1, { upserts: [input('')] }))).rejects.toSatisfy(invalidField('upserts[0].key'));
      await expect(store.register(change('alice', 'c', 1, { upserts: [input('sip:a@1', { flow: flow('') })] }))).rejects.toSatisfy(invalidField('upserts[0].flow.nodeId'));
      await expect(store.register(change('alice', 'c', 1, { upserts: [input('sip:a@1', { flow: flow('n1', { port: 70000 }) })] }))).rejects.toSatisfy(
        invalidField('upserts[0].flow.port'),
      );
      await expect(
        store.register(change('alice', 'c', 1, { upserts: [input('sip:a@1', { flow: flow('n1', { protocol: 'sctp' as 'udp' }) })] })),
      ).rejects.toSatisfy(invalidField('upserts[0].flow.protocol'));
      await expect(store.register(change('alice', 'c', 1, { upserts: [input('sip:a@1', { path: [7 as unknown as string] })] }))).rejects.toSatisfy(
        invalidField('upserts[0].path[0]'),
      );
      await expect(store.register(change('alice', 'c', 1, { upserts: [input('sip:a@1', { regId: 1.5 })] }))).rejects.toSatisfy(invalidField('upserts[0].regId'));
      await expect(store.register(null as unknown as RegisterChange)).rejects.toSatisfy(invalidField('change'));
      expect(await store.lookup('alice')).toEqual([]);

      await expect(store.lookup('')).rejects.toSatisfy(invalidField('aor'));
      await expect(store.removeBinding({ aor: 'alice', key: '' })).rejects.toSatisfy(invalidField('ref.key'));
      await expect(store.removeBinding({ aor: 'alice', key: 'k' }, '')).rejects.toSatisfy(invalidField('ownerNodeId'));
      await expect(store.bindingsOwnedBy('')).rejects.toSatisfy(invalidField('nodeId'));
      await expect(store.countBindings('')).rejects.toSatisfy(invalidField('nodeId'));
      await expect(store.moveBindings('', [], [])).rejects.toSatisfy(invalidField('fromNodeId'));
      await expect(store.moveBindings('n1', [{ aor: 'alice', key: 'k', nodeId: '', ownerUri: 'sip:x' }], [])).rejects.toSatisfy(invalidField('moves[0].nodeId'));
      await expect(store.moveBindings('n1', [], [{ aor: '', key: 'k' }])).rejects.toSatisfy(invalidField('drops[0].aor'));
      await expect(store.recordPingRtts([{ aor: 'alice', key: 'k', rttMs: -1 }])).rejects.toSatisfy(invalidField('samples[0].rttMs'));
      await expect(store.recordPingRtts([{ aor: 'alice', key: 'k', rttMs: Number.NaN }])).rejects.toSatisfy(invalidField('samples[0].rttMs'));

      const policy = { windowMs: 1000, threshold: 3, banMs: 1000 };
      await expect(store.recordAuthFailure('', policy)).rejects.toSatisfy(invalidField('ip'));
      await expect(store.recordAuthFailure('1.2.3.4 x', policy)).rejects.toSatisfy(invalidField('ip'));
      await expect(store.recordAuthFailure('1.2.3.4', { ...policy, threshold: 0 })).rejects.toSatisfy(invalidField('policy.threshold'));
      await expect(store.recordAuthFailure('1.2.3.4', { ...policy, windowMs: 0 })).rejects.toSatisfy(invalidField('policy.windowMs'));
      await expect(store.recordAuthFailure('1.2.3.4', { ...policy, banMs: -5 })).rejects.toSatisfy(invalidField('policy.banMs'));
      await expect(store.unban('')).rejects.toSatisfy(invalidField('ip'));
      expect(await store.listBans()).toEqual([]);

      await expect(store.acceptNonceCount('', 1, 1000)).rejects.toSatisfy(invalidField('nonce'));
      await expect(store.acceptNonceCount('n', 0, 1000)).rejects.toSatisfy(invalidField('nc'));
      await expect(store.acceptNonceCount('n', 1.5, 1000)).rejects.toSatisfy(invalidField('nc'));
      await expect(store.acceptNonceCount('n', 1, 0)).rejects.toSatisfy(invalidField('ttlMs'));
    });

    it('keys and values with awkward characters round-trip', async () => {
      const key = 'sip:alice@[2001:db8::1]:5060;transport=tcp {x} "q" \\ é';
      const c = change('a.b+c-d_e', 'call {1}@host', 1, {
        upserts: [input(key, { contact: key, userAgent: 'UA "1" {}', path: ['<sip:[2001:db8::2];lr>', '<sip:e\\x;lr>'], flow: flow('node:{7}') })],
      });
      const [b] = await registered(store, c);
      expect(b).toMatchObject({ aor: 'a.b+c-d_e', key, contact: key, callId: 'call {1}@host', userAgent: 'UA "1" {}', path: ['<sip:[2001:db8::2];lr>', '<sip:e\\x;lr>'] });
      expect(await store.lookup('a.b+c-d_e')).toEqual([b]);
      expect(await store.bindingsOwnedBy('node:{7}')).toEqual([b]);
      expect(await store.removeBinding({ aor: 'a.b+c-d_e', key }, 'node:{7}')).toBe(true);
      expect(await store.countBindings('node:{7}')).toBe(0);
    });
  });
}
