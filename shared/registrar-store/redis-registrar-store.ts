/**
 * The `redis` adapter of the registrar store: every multi-key decision is one Lua script on Redis
 * (or a Redis Sentinel master), timed on Redis TIME so that every node shares one clock. See
 * docs/registrar-store.md for the key layout and scripts.
 *
 * Like the cluster store it never blocks the event loop or hangs a caller: commands are not queued
 * while disconnected (`enableOfflineQueue: false`), time out after `commandTimeoutMs`, are never
 * replayed after a reconnect, and every failure rejects with `SipfleetError`
 * `STORE_ERR_UNAVAILABLE`. Bad arguments reject with `STORE_ERR_INVALID` before anything is sent.
 *
 * Ban notices travel over pub/sub on a second connection (`ChangeSubscriber`, channel
 * `sf:{<cluster>}:reg:bans`), opened by the first `onBan` and closed with the store. Pub/sub
 * drops what is published while a connection is down: after every re-subscription (not the
 * first) the bans in force are announced again to the local listeners.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { ChangeSubscriber } from '../cluster-store/change-subscriber.ts';
import { SipfleetError } from '../errors.ts';
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

export interface RedisRegistrarStoreOptions {
  /** The cluster name: every key lives under `sf:{<cluster>}:reg:`. */
  readonly cluster: string;
  /** `redis://[:password@]host:port[/db]`; or give `sentinels` + `sentinelName`. */
  readonly url?: string | undefined;
  readonly sentinels?: readonly { readonly host: string; readonly port: number }[] | undefined;
  /** The Sentinel master name. */
  readonly sentinelName?: string | undefined;
  /** Password of the Redis data nodes (not of the sentinels). */
  readonly password?: string | undefined;
  readonly logger?: Logger | undefined;
  /** A command without a reply after this long rejects (default 250 ms). */
  readonly commandTimeoutMs?: number | undefined;
  /** Longest wait between reconnect attempts (default 2000 ms). */
  readonly maxReconnectDelayMs?: number | undefined;
}

/** Status values of ioredis during which a connection attempt is under way. */
const CONNECTING = new Set(['wait', 'connecting', 'connect']);
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
  readonly #redis: Redis;
  readonly #keys: RegistrarKeys;
  readonly #scripts: RegistrarScripts;
  readonly #log: Logger;
  readonly #timeoutMs: number;
  readonly #banListeners = new Set<(ban: Ban) => void>();
  /** Opened by the first `onBan`. */
  #subscriber: ChangeSubscriber | undefined;
  #subscribedOnce = false;
  #connected = false;
  #closed = false;
  #lastErrorLogAt = 0;

  constructor(options: RedisRegistrarStoreOptions) {
    const keys = registrarKeys(options.cluster);
    this.#keys = keys;
    this.#timeoutMs = options.commandTimeoutMs ?? 250;
    this.#log = (options.logger ?? createLogger()).child({ component: 'registrar-store', store: 'redis', cluster: options.cluster });
    const maxDelay = options.maxReconnectDelayMs ?? 2000;
    const backoff = (times: number): number => Math.min(50 * 2 ** Math.min(times, 10), maxDelay) + Math.floor(Math.random() * 50);
    const common: RedisOptions = {
      enableOfflineQueue: false,
      commandTimeout: this.#timeoutMs,
      // A command in flight when the connection drops fails at once and is never replayed: a
      // REGISTER the caller saw fail must not take effect later.
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      connectTimeout: Math.max(1000, 4 * this.#timeoutMs),
      retryStrategy: backoff,
      protocol: 2,
      disableClientInfo: true,
      password: options.password,
    };
    if (options.sentinels !== undefined && options.sentinels.length > 0) {
      if (options.sentinelName === undefined || options.sentinelName === '') throw invalid('sentinelName', 'is required with sentinels');
      this.#redis = new Redis({
        ...common,
        sentinels: options.sentinels.map((s) => ({ host: s.host, port: s.port })),
        name: options.sentinelName,
        sentinelRetryStrategy: backoff,
        sentinelCommandTimeout: this.#timeoutMs,
        failoverDetector: true,
      });
    } else if (options.url !== undefined) {
      this.#redis = new Redis(options.url, common);
    } else {
      throw invalid('url', 'or sentinels must be given');
    }
    this.#scripts = new RegistrarScripts(this.#redis, keys);
    this.#redis.on('ready', () => this.#setConnected(true));
    this.#redis.on('close', () => this.#setConnected(false));
    this.#redis.on('end', () => this.#setConnected(false));
    this.#redis.on('error', (err: Error) => {
      const now = Date.now();
      if (now - this.#lastErrorLogAt < 10_000) return;
      this.#lastErrorLogAt = now;
      this.#log.warn({ err: { message: err.message, code: (err as { code?: unknown }).code } }, 'redis client error');
    });
  }

  /** True while the command connection is ready. */
  get connected(): boolean {
    return this.#connected;
  }

  #setConnected(connected: boolean): void {
    if (this.#connected === connected) return;
    this.#connected = connected;
    if (connected) {
      this.#lastErrorLogAt = 0;
      this.#log.info('redis ready');
    } else if (!this.#closed) {
      this.#log.warn('redis connection lost; reconnecting');
    }
  }

  /** While a connection attempt is under way, waits for it, at most the command timeout. */
  async #settleConnecting(): Promise<void> {
    if (this.#connected || !CONNECTING.has(this.#redis.status)) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#redis.off('ready', done);
        this.#redis.off('close', done);
        this.#redis.off('end', done);
        resolve();
      };
      const timer = setTimeout(done, this.#timeoutMs);
      this.#redis.once('ready', done);
      this.#redis.once('close', done);
      this.#redis.once('end', done);
    });
  }

  /** Runs one store operation: STORE_ERR_UNAVAILABLE for any Redis or connection failure. */
  async #op<T>(op: string, fn: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new SipfleetError('STORE_ERR_UNAVAILABLE', `registrar store ${op}: the store is closed`, { detail: { op } });
    await this.#settleConnecting();
    try {
      return await fn();
    } catch (err) {
      if (err instanceof SipfleetError) throw err;
      const message = err instanceof Error ? err.message : String(err);
      if (err instanceof Error && err.name === 'ReplyError') this.#log.error({ op, err: { message } }, 'redis refused a registrar store command');
      throw new SipfleetError('STORE_ERR_UNAVAILABLE', `registrar store ${op}: ${message}`, { cause: err, detail: { op } });
    }
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
        if (!this.#closed) for (const ban of bans) this.#notify(ban);
      },
      (err: unknown) => this.#log.warn({ err: { message: err instanceof Error ? err.message : String(err) } }, 'could not re-read the bans after a reconnect'),
    );
  }

  onBan(listener: (ban: Ban) => void): () => void {
    if (this.#closed) return () => {};
    this.#banListeners.add(listener);
    this.#subscriber ??= new ChangeSubscriber(this.#redis, this.#keys.bans, this.#log, {
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
    if (this.#closed) return;
    this.#closed = true;
    try {
      if (this.#redis.status === 'ready') await this.#redis.quit();
      else this.#redis.disconnect();
    } catch {
      this.#redis.disconnect();
    }
    this.#subscriber?.close();
    this.#banListeners.clear();
    this.#setConnected(false);
  }
}
