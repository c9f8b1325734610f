/**
 * The `memory` adapter of the registrar store: one node, in process. Same semantics as the redis
 * adapter (the same contract suite runs against both): each method is one synchronous step, hence
 * atomic. The clock is injectable (`now`) so unit tests can move time.
 *
 * Memory: one record object per binding for its whole life (a refresh, a ping RTT or a move
 * updates it in place; its `flow` and `path` are shared frozen values), referenced from its AOR's
 * list, its owner's set and the expiry heap. Reads hand out shallow copies. The expiry heap holds
 * one small entry per (binding, expiry) and compacts itself; failure counts, bans and nonce counts
 * are pruned as they are touched and fully by `sweepExpired()`.
 *
 * `onBan` listeners run in a microtask after the change (never inside the mutating call); the
 * "cluster" of a memory store is the store itself.
 */
import { randomBytes } from 'node:crypto';
import { SipfleetError } from '../errors.ts';
import { createLogger, type Logger } from '../log.ts';
import { ExpiryQueue, type ExpiryEntry } from '../cluster-store/expiry-queue.ts';
import type {
  AuthFailurePolicy,
  Ban,
  Binding,
  BindingFlow,
  BindingMove,
  BindingRef,
  RegisterChange,
  RegisterResult,
  RegistrarStore,
  UserRecord,
} from './registrar-store.ts';
import {
  assertIp,
  assertMoves,
  assertNodeId,
  assertNonce,
  assertNonceCount,
  assertPolicy,
  assertRef,
  assertRttSamples,
  assertTtlMs,
  assertUsername,
  bindingOrder,
  normalizeChange,
  normalizeUser,
  sameFlow,
  type NormalizedChange,
  usersLimit,
} from './validate-registrar-args.ts';

/** The stored form of a binding: every field always present (one hidden class), mutated in place. */
interface StoredBinding {
  readonly aor: string;
  readonly key: string;
  contact: string;
  q: number;
  expiresAtMs: number;
  callId: string;
  cseq: number;
  instanceId: string | undefined;
  regId: number | undefined;
  path: readonly string[];
  flow: BindingFlow;
  userAgent: string | undefined;
  registeredAtMs: number;
  pingRttMs: number | undefined;
}

/** A fresh `Binding` (absent optional fields left out, like the JSON the redis adapter reads). */
function toBinding(s: StoredBinding): Binding {
  const b: { -readonly [K in keyof Binding]: Binding[K] } = {
    aor: s.aor,
    key: s.key,
    contact: s.contact,
    q: s.q,
    expiresAtMs: s.expiresAtMs,
    callId: s.callId,
    cseq: s.cseq,
    path: s.path,
    flow: s.flow,
    registeredAtMs: s.registeredAtMs,
  };
  if (s.instanceId !== undefined) b.instanceId = s.instanceId;
  if (s.regId !== undefined) b.regId = s.regId;
  if (s.userAgent !== undefined) b.userAgent = s.userAgent;
  if (s.pingRttMs !== undefined) b.pingRttMs = s.pingRttMs;
  return b;
}

/** The Path of most bindings (none), shared. */
const NO_PATH: readonly string[] = Object.freeze([]);

/** Most distinct repeated strings (`#intern`) kept. */
const INTERN_MAX = 10_000;

function byRef(a: StoredBinding, b: StoredBinding): number {
  return a.aor < b.aor ? -1 : a.aor > b.aor ? 1 : a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

interface Expiring<T> {
  value: T;
  expiresAtMs: number;
}

/** Entries pruned from the front of an expiring map per write (the rest go in `sweepExpired`). */
const PRUNE_STEP = 64;

function pruneExpired<T>(map: Map<string, Expiring<T>>, nowMs: number, max = Infinity): void {
  let seen = 0;
  for (const [key, entry] of map) {
    if (seen++ >= max) break;
    if (entry.expiresAtMs <= nowMs) map.delete(key);
  }
}

export class MemoryRegistrarStore implements RegistrarStore {
  readonly #now: () => number;
  readonly #users = new Map<string, UserRecord>();
  /**
   * aor → its bindings (expired ones linger until swept or touched). A small array, not a Map:
   * most AORs hold one binding, and `maxContacts` keeps the scans short.
   */
  readonly #aors = new Map<string, StoredBinding[]>();
  /** owner nodeId → its bindings. */
  readonly #owners = new Map<string, Set<StoredBinding>>();
  #count = 0;
  /** Bindings by expiry; an entry is live while its binding is still stored with that expiry. */
  readonly #expiry: ExpiryQueue<StoredBinding>;
  /** ip → failures in the current window (fixed window from its first failure). */
  readonly #failures = new Map<string, Expiring<number>>();
  /** ip → ban (value unused; expiresAtMs = untilMs). */
  readonly #bans = new Map<string, Expiring<true>>();
  readonly #nonces = new Map<string, Expiring<number>>();
  readonly #banListeners = new Set<(ban: Ban) => void>();
  #secret: string | undefined;
  readonly #strings = new Map<string, string>();
  #logger: Logger | undefined;
  #closed = false;

  constructor(opts: { now?: () => number; logger?: Logger } = {}) {
    this.#now = opts.now ?? Date.now;
    this.#logger = opts.logger?.child({ component: 'registrar-store', store: 'memory' });
    this.#expiry = new ExpiryQueue<StoredBinding>({
      isLive: (b, at) => b.expiresAtMs === at && this.#aors.get(b.aor)?.includes(b) === true,
      live: () => this.#liveEntries(),
      liveCount: () => this.#count,
    });
  }

  #log(): Logger {
    this.#logger ??= createLogger({ component: 'registrar-store', store: 'memory' });
    return this.#logger;
  }

  #assertOpen(op: string): void {
    if (this.#closed) throw new SipfleetError('STORE_ERR_UNAVAILABLE', `registrar store ${op}: the store is closed`, { detail: { op } });
  }

  #nowMs(): number {
    return Math.floor(this.#now());
  }

  *#allBindings(): Iterable<StoredBinding> {
    for (const list of this.#aors.values()) yield* list;
  }
  *#liveEntries(): Iterable<ExpiryEntry<StoredBinding>> {
    for (const b of this.#allBindings()) yield { expiresAtMs: b.expiresAtMs, item: b };
  }


  // ---- users ----

  async getUser(username: string): Promise<UserRecord | undefined> {
    this.#assertOpen('getUser');
    assertUsername('username', username);
    const user = this.#users.get(username);
    return user === undefined ? undefined : { ...user };
  }

  async putUser(user: UserRecord): Promise<void> {
    this.#assertOpen('putUser');
    const record = normalizeUser(user);
    this.#users.set(record.username, record);
  }

  async removeUser(username: string): Promise<boolean> {
    this.#assertOpen('removeUser');
    assertUsername('username', username);
    const existed = this.#users.delete(username);
    const list = this.#aors.get(username);
    if (list !== undefined) for (const b of [...list]) this.#delete(b);
    return existed;
  }

  async listUsers(limit?: number): Promise<UserRecord[]> {
    this.#assertOpen('listUsers');
    const n = usersLimit(limit);
    const names = [...this.#users.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).slice(0, n);
    return names.map((name) => ({ ...(this.#users.get(name) as UserRecord) }));
  }

  async seedUsers(users: readonly UserRecord[]): Promise<number> {
    this.#assertOpen('seedUsers');
    if (!Array.isArray(users)) throw new SipfleetError('STORE_ERR_INVALID', 'registrar store: users must be an array', { detail: { field: 'users' } });
    const records = users.map((u, i) => normalizeUser(u, `users[${i}]`));
    let added = 0;
    for (const record of records) {
      if (this.#users.has(record.username)) continue;
      this.#users.set(record.username, record);
      added++;
    }
    return added;
  }

  // ---- location ----

  /**
   * One string for the values many bindings repeat (owner node, listener, owner URI, protocol,
   * user agent). Bounded: once full, values are kept as they are.
   */
  #intern<T extends string | undefined>(s: T): T {
    if (s === undefined) return s;
    const known = this.#strings.get(s);
    if (known !== undefined) return known as T;
    if (this.#strings.size < INTERN_MAX) this.#strings.set(s, s);
    return s;
  }

  /** A frozen flow of interned shared values (a fresh object: the caller's may change). */
  #flow(f: BindingFlow): BindingFlow {
    const flow: { -readonly [K in keyof BindingFlow]: BindingFlow[K] } = {
      nodeId: this.#intern(f.nodeId),
      protocol: this.#intern(f.protocol),
      address: f.address,
      port: f.port,
      localAddress: this.#intern(f.localAddress),
      localPort: f.localPort,
      ownerUri: this.#intern(f.ownerUri),
    };
    if (f.connectionId !== undefined) flow.connectionId = f.connectionId;
    return Object.freeze(flow);
  }

  #delete(b: StoredBinding): void {
    const list = this.#aors.get(b.aor);
    const i = list === undefined ? -1 : list.indexOf(b);
    if (list === undefined || i < 0) return;
    list.splice(i, 1);
    if (list.length === 0) this.#aors.delete(b.aor);
    this.#unown(b);
    this.#count--;
  }

  #own(b: StoredBinding): void {
    let set = this.#owners.get(b.flow.nodeId);
    if (set === undefined) this.#owners.set(b.flow.nodeId, (set = new Set()));
    set.add(b);
  }

  #unown(b: StoredBinding): void {
    const set = this.#owners.get(b.flow.nodeId);
    set?.delete(b);
    if (set?.size === 0) this.#owners.delete(b.flow.nodeId);
  }

  /** The stored binding when unexpired; an expired one is deleted on the way. */
  #live(aor: string, key: string, nowMs: number): StoredBinding | undefined {
    const b = this.#aors.get(aor)?.find((s) => s.key === key);
    if (b === undefined) return undefined;
    if (b.expiresAtMs > nowMs) return b;
    this.#delete(b);
    return undefined;
  }

  /** The AOR's unexpired bindings, dropping its expired ones. */
  #liveOf(aor: string, nowMs: number): StoredBinding[] {
    const list = this.#aors.get(aor);
    if (list === undefined) return [];
    const out: StoredBinding[] = [];
    for (const b of [...list]) {
      if (b.expiresAtMs > nowMs) out.push(b);
      else this.#delete(b);
    }
    return out;
  }

  async register(change: RegisterChange): Promise<RegisterResult> {
    this.#assertOpen('register');
    const c = normalizeChange(change);
    const nowMs = this.#nowMs();
    const current = this.#liveOf(c.aor, nowMs);
    const byKey = new Map(current.map((b) => [b.key, b]));

    // §10.3 step 7: a binding this request touches, from the same Call-ID with a CSeq not lower.
    const touched = c.removeAll ? current : [...c.upserts.map((u) => u.key), ...c.removals].flatMap((k) => byKey.get(k) ?? []);
    for (const b of touched) if (b.callId === c.callId && b.cseq >= c.cseq) return { ok: false, reason: 'out-of-order' };

    const removed = new Set<string>(c.removeAll ? byKey.keys() : c.removals.filter((k) => byKey.has(k)));
    let after = current.length - removed.size;
    for (const u of c.upserts) if (!byKey.has(u.key)) after++;
    if (c.upserts.length > 0 && after > c.maxContacts) return { ok: false, reason: 'too-many-contacts' };

    for (const key of removed) this.#delete(byKey.get(key) as StoredBinding);
    if (c.upserts.length === 0) return { ok: true, bindings: this.#liveOf(c.aor, nowMs).sort(bindingOrder).map(toBinding) };
    // Fresh flat copies of every string kept: the caller's are often slices of a whole SIP
    // message, which V8 would keep alive as long as the binding.
    const fresh = JSON.parse(JSON.stringify({ aor: c.aor, callId: c.callId, upserts: c.upserts })) as Pick<NormalizedChange, 'aor' | 'callId' | 'upserts'>;
    const aor = this.#aors.has(c.aor) ? c.aor : fresh.aor;
    let list = this.#aors.get(aor);
    for (const u of fresh.upserts) {
      const flow = this.#flow(u.flow);
      const path = u.path.length === 0 ? NO_PATH : Object.freeze(u.path);
      const expiresAtMs = nowMs + Math.round(u.expires * 1000);
      const old = byKey.get(u.key);
      if (old !== undefined) {
        const keepRtt = sameFlow(old.flow, flow);
        if (old.flow.nodeId !== flow.nodeId) this.#unown(old);
        old.contact = u.contact === u.key ? old.key : u.contact;
        old.q = u.q;
        old.expiresAtMs = expiresAtMs;
        old.callId = fresh.callId;
        old.cseq = c.cseq;
        old.instanceId = u.instanceId;
        old.regId = u.regId;
        old.path = path;
        old.flow = flow;
        old.userAgent = this.#intern(u.userAgent);
        if (!keepRtt) old.pingRttMs = undefined;
        this.#own(old);
        this.#expiry.push(old.expiresAtMs, old);
        continue;
      }
      const b: StoredBinding = {
        aor,
        key: u.key,
        contact: u.contact === u.key ? u.key : u.contact, // one string when they are the same text
        q: u.q,
        expiresAtMs,
        callId: fresh.callId,
        cseq: c.cseq,
        instanceId: u.instanceId,
        regId: u.regId,
        path,
        flow,
        userAgent: this.#intern(u.userAgent),
        registeredAtMs: nowMs,
        pingRttMs: undefined,
      };
      if (list === undefined) this.#aors.set(aor, (list = []));
      list.push(b);
      this.#count++;
      this.#own(b);
      this.#expiry.push(b.expiresAtMs, b);
    }
    return { ok: true, bindings: this.#liveOf(c.aor, nowMs).sort(bindingOrder).map(toBinding) };
  }

  async lookup(aor: string): Promise<Binding[]> {
    this.#assertOpen('lookup');
    assertUsername('aor', aor);
    return this.#liveOf(aor, this.#nowMs()).sort(bindingOrder).map(toBinding);
  }

  async removeBinding(ref: BindingRef, ownerNodeId?: string): Promise<boolean> {
    this.#assertOpen('removeBinding');
    assertRef('ref', ref);
    if (ownerNodeId !== undefined) assertNodeId('ownerNodeId', ownerNodeId);
    const b = this.#live(ref.aor, ref.key, this.#nowMs());
    if (b === undefined || (ownerNodeId !== undefined && b.flow.nodeId !== ownerNodeId)) return false;
    this.#delete(b);
    return true;
  }

  async bindingsOwnedBy(nodeId: string): Promise<Binding[]> {
    this.#assertOpen('bindingsOwnedBy');
    assertNodeId('nodeId', nodeId);
    const nowMs = this.#nowMs();
    const out: StoredBinding[] = [];
    for (const b of this.#owners.get(nodeId) ?? []) if (b.expiresAtMs > nowMs) out.push(b);
    return out.sort(byRef).map(toBinding);
  }

  async moveBindings(fromNodeId: string, moves: readonly BindingMove[], drops: readonly BindingRef[]): Promise<{ moved: number; dropped: number }> {
    this.#assertOpen('moveBindings');
    assertMoves(fromNodeId, moves, drops);
    const nowMs = this.#nowMs();
    let moved = 0;
    let dropped = 0;
    for (const m of moves) {
      const b = this.#live(m.aor, m.key, nowMs);
      if (b === undefined || b.flow.nodeId !== fromNodeId) continue;
      this.#unown(b);
      b.flow = this.#flow({ ...b.flow, nodeId: m.nodeId, ownerUri: m.ownerUri });
      this.#own(b);
      moved++;
    }
    for (const d of drops) {
      const b = this.#live(d.aor, d.key, nowMs);
      if (b === undefined || b.flow.nodeId !== fromNodeId) continue;
      this.#delete(b);
      dropped++;
    }
    return { moved, dropped };
  }

  async recordPingRtts(samples: readonly (BindingRef & { readonly rttMs: number })[]): Promise<void> {
    this.#assertOpen('recordPingRtts');
    assertRttSamples(samples);
    const nowMs = this.#nowMs();
    for (const s of samples) {
      const b = this.#live(s.aor, s.key, nowMs);
      if (b !== undefined) b.pingRttMs = s.rttMs;
    }
  }

  async sweepExpired(): Promise<number> {
    this.#assertOpen('sweepExpired');
    const nowMs = this.#nowMs();
    const expired = this.#expiry.popExpired(nowMs, Number.POSITIVE_INFINITY, true);
    for (const b of expired) this.#delete(b);
    pruneExpired(this.#failures, nowMs);
    pruneExpired(this.#bans, nowMs);
    pruneExpired(this.#nonces, nowMs);
    return expired.length;
  }

  async countBindings(nodeId?: string): Promise<number> {
    this.#assertOpen('countBindings');
    if (nodeId !== undefined) assertNodeId('nodeId', nodeId);
    const nowMs = this.#nowMs();
    let n = 0;
    if (nodeId === undefined) {
      for (const b of this.#allBindings()) if (b.expiresAtMs > nowMs) n++;
    } else {
      for (const b of this.#owners.get(nodeId) ?? []) if (b.expiresAtMs > nowMs) n++;
    }
    return n;
  }

  // ---- abuse ----

  #announce(ban: Ban): void {
    queueMicrotask(() => {
      if (this.#closed) return;
      for (const listener of [...this.#banListeners]) {
        try {
          const r: unknown = listener(ban);
          if (r instanceof Promise) r.catch((err: unknown) => this.#log().error({ err }, 'onBan listener failed'));
        } catch (err) {
          this.#log().error({ err }, 'onBan listener failed');
        }
      }
    });
  }

  #banUntil(ip: string, nowMs: number): number | undefined {
    const ban = this.#bans.get(ip);
    if (ban === undefined) return undefined;
    if (ban.expiresAtMs > nowMs) return ban.expiresAtMs;
    this.#bans.delete(ip);
    return undefined;
  }

  async recordAuthFailure(ip: string, policy: AuthFailurePolicy): Promise<{ readonly failures: number; readonly banned: boolean }> {
    this.#assertOpen('recordAuthFailure');
    assertIp(ip);
    assertPolicy(policy);
    const nowMs = this.#nowMs();
    pruneExpired(this.#failures, nowMs, PRUNE_STEP);
    pruneExpired(this.#bans, nowMs, PRUNE_STEP);
    let entry = this.#failures.get(ip);
    if (entry === undefined || entry.expiresAtMs <= nowMs) {
      this.#failures.delete(ip);
      entry = { value: 0, expiresAtMs: nowMs + Math.ceil(policy.windowMs) };
      this.#failures.set(ip, entry);
    }
    const failures = ++entry.value;
    if (this.#banUntil(ip, nowMs) !== undefined) return { failures, banned: true };
    if (failures < policy.threshold) return { failures, banned: false };
    const untilMs = nowMs + Math.ceil(policy.banMs);
    this.#bans.set(ip, { value: true, expiresAtMs: untilMs });
    this.#failures.delete(ip);
    this.#announce({ ip, untilMs });
    return { failures, banned: true };
  }

  async listBans(): Promise<Ban[]> {
    this.#assertOpen('listBans');
    const nowMs = this.#nowMs();
    pruneExpired(this.#bans, nowMs);
    return [...this.#bans].map(([ip, b]) => ({ ip, untilMs: b.expiresAtMs })).sort((a, b) => a.untilMs - b.untilMs || (a.ip < b.ip ? -1 : 1));
  }

  async unban(ip: string): Promise<boolean> {
    this.#assertOpen('unban');
    assertIp(ip);
    const was = this.#banUntil(ip, this.#nowMs()) !== undefined;
    this.#bans.delete(ip);
    this.#failures.delete(ip);
    if (was) this.#announce({ ip, untilMs: 0 });
    return was;
  }

  onBan(listener: (ban: Ban) => void): () => void {
    if (this.#closed) return () => {};
    this.#banListeners.add(listener);
    return () => {
      this.#banListeners.delete(listener);
    };
  }

  // ---- digest support ----

  async clusterSecret(): Promise<string> {
    this.#assertOpen('clusterSecret');
    this.#secret ??= randomBytes(32).toString('base64url');
    return this.#secret;
  }

  async acceptNonceCount(nonce: string, nc: number, ttlMs: number): Promise<boolean> {
    this.#assertOpen('acceptNonceCount');
    assertNonce(nonce);
    assertNonceCount(nc);
    assertTtlMs(ttlMs);
    const nowMs = this.#nowMs();
    pruneExpired(this.#nonces, nowMs, PRUNE_STEP);
    const seen = this.#nonces.get(nonce);
    if (seen !== undefined && seen.expiresAtMs > nowMs && nc <= seen.value) return false;
    this.#nonces.delete(nonce);
    this.#nonces.set(nonce, { value: nc, expiresAtMs: nowMs + Math.ceil(ttlMs) });
    return true;
  }

  async now(): Promise<number> {
    this.#assertOpen('now');
    return this.#nowMs();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#banListeners.clear();
  }
}
