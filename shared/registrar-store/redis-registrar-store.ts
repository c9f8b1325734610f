/**
 * The `redis` adapter of the registrar store: every multi-key decision is one Lua script on Redis
 * (or a Redis Sentinel master), timed on Redis TIME so that every node shares one clock. See
 * docs/registrar-store.md for the key layout and scripts.
 *
 * Like the cluster store (through the same `RedisConnection`) it never blocks the event loop or
 * hangs a caller: commands are not queued while disconnected (`enableOfflineQueue: false`), time
 * out after `commandTimeoutMs`, are never replayed after a reconnect, and every failure rejects
 * with `SipfleetError` `STORE_ERR_UNAVAILABLE`. Bad arguments reject with `STORE_ERR_INVALID`
 * before anything is sent.
 *
 * Ban notices travel over pub/sub on a second connection (`ChangeSubscriber`, channel
 * `sf:{<cluster>}:reg:bans`), opened by the first `onBan` and closed with the store. Pub/sub
 * drops what is published while a connection is down: after every re-subscription (not the
 * first) the bans in force are announced again to the local listeners.
 */
import { ChangeSubscriber } from '../cluster-store/change-subscriber.ts';
import { RedisConnection, type RedisConnectionOptions } from '../cluster-store/redis-connection.ts';
import { createLogger, type Logger } from '../log.ts';
import { RegistrarScripts } from './registrar-scripts.ts';
import { bindingRef, registrarKeys, type RegistrarKeys } from './registrar-keys.ts';
import type {
  AuthFailurePolicy,
  Ban,
  Binding,
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
  invalid,
  normalizeChange,
  normalizeUser,
  usersLimit,
} from './validate-registrar-args.ts';

/** Where and how to connect (url or sentinels, password, timeouts): see `RedisConnectionOptions`. */
export interface RedisRegistrarStoreOptions extends RedisConnectionOptions {
  /** The cluster name: every key lives under `sf:{<cluster>}:reg:`. */
  readonly cluster: string;
  readonly logger?: Logger | undefined;
}

/** Upper bound on loop steps (sweep, owner pages) in one store call. */
const MAX_STEPS = 10_000;
/** Bindings one script call touches at most (sweep, owner page, move/ping batches). */
const BATCH = 500;

function byRef(a: Binding, b: Binding): number {
  return a.aor < b.aor ? -1 : a.aor > b.aor ? 1 : a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

function parseBan(message: string): Ban | undefined {
  try {
    const v = JSON.parse(message) as { ip?: unknown; untilMs?: unknown };
    if (typeof v.ip === 'string' && typeof v.untilMs === 'number') return { ip: v.ip, untilMs: v.untilMs };
  } catch {
    // fall through
  }
  return undefined;
}

export class RedisRegistrarStore implements RegistrarStore {
  /** The command client, its connected state and the STORE_ERR_UNAVAILABLE mapping of `op`. */
  readonly #conn: RedisConnection;
  readonly #keys: RegistrarKeys;
  readonly #scripts: RegistrarScripts;
  readonly #log: Logger;
  readonly #banListeners = new Set<(ban: Ban) => void>();
  /** Opened by the first `onBan`. */
  #subscriber: ChangeSubscriber | undefined;
  #subscribedOnce = false;

  constructor(options: RedisRegistrarStoreOptions) {
    const keys = registrarKeys(options.cluster);
    this.#keys = keys;
    this.#log = (options.logger ?? createLogger()).child({ component: 'registrar-store', store: 'redis', cluster: options.cluster });
    this.#conn = new RedisConnection(options, {
      label: 'registrar store',
      // A REGISTER issues its commands one by one; without it, the same CPU per registration and more
      // of Redis's (BENCHMARKS.md, Session 15).
      autoPipelining: true,
      log: this.#log,
      invalidOptions: (field) => (field === 'url' ? invalid('url', 'or sentinels must be given') : invalid('sentinelName', 'is required with sentinels')),
    });
    this.#scripts = new RegistrarScripts(this.#conn.redis, keys);
  }

  /** True while the command connection is ready. */
  get connected(): boolean {
    return this.#conn.connected;
  }

  /** Runs one store operation: STORE_ERR_UNAVAILABLE for any Redis or connection failure. */
  #op<T>(op: string, fn: () => Promise<T>): Promise<T> {
    return this.#conn.op(op, fn);
  }

  #parseUser(json: string): UserRecord | undefined {
    try {
      return normalizeUser(JSON.parse(json) as UserRecord);
    } catch {
      this.#log.error('skipping an unreadable user record');
      return undefined;
    }
  }

  // ---- users ----

  async getUser(username: string): Promise<UserRecord | undefined> {
    assertUsername('username', username);
    const json = await this.#op('getUser', () => this.#scripts.getUserJson(username));
    return json === null ? undefined : this.#parseUser(json);
  }

  async putUser(user: UserRecord): Promise<void> {
    const record = normalizeUser(user);
    await this.#op('putUser', () => this.#scripts.putUsers([record], false));
  }

  async removeUser(username: string): Promise<boolean> {
    assertUsername('username', username);
    return this.#op('removeUser', () => this.#scripts.removeUser(username));
  }

  async listUsers(limit?: number): Promise<UserRecord[]> {
    const n = usersLimit(limit);
    const values = await this.#op('listUsers', () => this.#scripts.listUsersJson(n));
    return values.flatMap((json) => this.#parseUser(json) ?? []);
  }

  async seedUsers(users: readonly UserRecord[]): Promise<number> {
    if (!Array.isArray(users)) throw invalid('users', 'must be an array');
    const records = users.map((u, i) => normalizeUser(u, `users[${i}]`));
    if (records.length === 0) return 0;
    return this.#op('seedUsers', async () => {
      let added = 0;
      for (let i = 0; i < records.length; i += BATCH) added += await this.#scripts.putUsers(records.slice(i, i + BATCH), true);
      return added;
    });
  }

  // ---- location ----

  async register(change: RegisterChange): Promise<RegisterResult> {
    const c = normalizeChange(change);
    const r = await this.#op('register', () => this.#scripts.register(c));
    return r.ok ? { ok: true, bindings: r.bindings.sort(bindingOrder) } : r;
  }

  async lookup(aor: string): Promise<Binding[]> {
    assertUsername('aor', aor);
    return (await this.#op('lookup', () => this.#scripts.lookup(aor))).sort(bindingOrder);
  }

  async removeBinding(ref: BindingRef, ownerNodeId?: string): Promise<boolean> {
    assertRef('ref', ref);
    if (ownerNodeId !== undefined) assertNodeId('ownerNodeId', ownerNodeId);
    return this.#op('removeBinding', () => this.#scripts.removeBinding(ref, ownerNodeId));
  }

  /** Read in pages of BATCH (one script each, so Redis is never held long); deduplicated, by AOR then key. */
  async bindingsOwnedBy(nodeId: string): Promise<Binding[]> {
    assertNodeId('nodeId', nodeId);
    return this.#op('bindingsOwnedBy', async () => {
      const found = new Map<string, Binding>();
      for (let step = 0, offset = 0; step < MAX_STEPS; step++, offset += BATCH) {
        const page = await this.#scripts.ownedByPage(nodeId, offset, BATCH);
        for (const b of page.bindings) found.set(bindingRef(b.aor, b.key), b);
        if (!page.more) break;
      }
      return [...found.values()].sort(byRef);
    });
  }

  async moveBindings(fromNodeId: string, moves: readonly BindingMove[], drops: readonly BindingRef[]): Promise<{ moved: number; dropped: number }> {
    assertMoves(fromNodeId, moves, drops);
    if (moves.length === 0 && drops.length === 0) return { moved: 0, dropped: 0 };
    return this.#op('moveBindings', async () => {
      let moved = 0;
      let dropped = 0;
      for (let i = 0; i < Math.max(moves.length, drops.length); i += BATCH) {
        const r = await this.#scripts.moveBindings(fromNodeId, moves.slice(i, i + BATCH), drops.slice(i, i + BATCH));
        moved += r.moved;
        dropped += r.dropped;
      }
      return { moved, dropped };
    });
  }

  async recordPingRtts(samples: readonly (BindingRef & { readonly rttMs: number })[]): Promise<void> {
    assertRttSamples(samples);
    if (samples.length === 0) return;
    await this.#op('recordPingRtts', async () => {
      for (let i = 0; i < samples.length; i += BATCH) await this.#scripts.recordPingRtts(samples.slice(i, i + BATCH));
    });
  }

  async sweepExpired(): Promise<number> {
    return this.#op('sweepExpired', async () => {
      let deleted = 0;
      for (let step = 0; step < MAX_STEPS; step++) {
        const r = await this.#scripts.sweepExpired(BATCH);
        deleted += r.deleted;
        if (!r.more) break;
      }
      return deleted;
    });
  }

  async countBindings(nodeId?: string): Promise<number> {
    if (nodeId !== undefined) assertNodeId('nodeId', nodeId);
    return this.#op('countBindings', () => this.#scripts.countBindings(nodeId));
  }

  // ---- abuse ----

  async recordAuthFailure(ip: string, policy: AuthFailurePolicy): Promise<{ readonly failures: number; readonly banned: boolean }> {
    assertIp(ip);
    assertPolicy(policy);
    return this.#op('recordAuthFailure', () =>
      this.#scripts.recordAuthFailure(ip, Math.ceil(policy.windowMs), policy.threshold, Math.ceil(policy.banMs)),
    );
  }

  async listBans(): Promise<Ban[]> {
    const bans = await this.#op('listBans', () => this.#scripts.listBans());
    return bans.sort((a, b) => a.untilMs - b.untilMs || (a.ip < b.ip ? -1 : 1));
  }

  async unban(ip: string): Promise<boolean> {
    assertIp(ip);
    return this.#op('unban', () => this.#scripts.unban(ip));
  }

  #notify(ban: Ban): void {
    for (const listener of [...this.#banListeners]) {
      try {
        const r: unknown = listener(ban);
        if (r instanceof Promise) r.catch((err: unknown) => this.#log.error({ err }, 'onBan listener failed'));
      } catch (err) {
        this.#log.error({ err }, 'onBan listener failed');
      }
    }
  }

  /** After a re-subscription: the bans in force again (notices published meanwhile were lost). */
  #replayBans(): void {
    this.listBans().then(
      (bans) => {
        if (!this.#conn.closed) for (const ban of bans) this.#notify(ban);
      },
      (err: unknown) => this.#log.warn({ err: { message: err instanceof Error ? err.message : String(err) } }, 'could not re-read the bans after a reconnect'),
    );
  }

  onBan(listener: (ban: Ban) => void): () => void {
    if (this.#conn.closed) return () => {};
    this.#banListeners.add(listener);
    this.#subscriber ??= new ChangeSubscriber(this.#conn.redis, this.#keys.bans, this.#log, {
      onMessage: (message) => {
        const ban = parseBan(message);
        if (ban === undefined) this.#log.error('ignoring an unreadable ban notice');
        else this.#notify(ban);
      },
      onSubscribed: () => {
        if (this.#subscribedOnce) this.#replayBans();
        this.#subscribedOnce = true;
      },
    });
    return () => {
      this.#banListeners.delete(listener);
    };
  }

  // ---- digest support ----

  async clusterSecret(): Promise<string> {
    return this.#op('clusterSecret', () => this.#scripts.clusterSecret());
  }

  async acceptNonceCount(nonce: string, nc: number, ttlMs: number): Promise<boolean> {
    assertNonce(nonce);
    assertNonceCount(nc);
    assertTtlMs(ttlMs);
    return this.#op('acceptNonceCount', () => this.#scripts.acceptNonceCount(nonce, nc, Math.ceil(ttlMs)));
  }

  async now(): Promise<number> {
    return this.#op('now', () => this.#scripts.nowMs());
  }

  async close(): Promise<void> {
    await this.#conn.close(() => {
      this.#subscriber?.close();
      this.#banListeners.clear();
    });
  }
}
