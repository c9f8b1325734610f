/**
 * The command connection the redis adapters (cluster store, registrar store) share: one ioredis
 * client on a URL or a Sentinel master, and the rules that keep a store from blocking the event
 * loop or hanging a caller.
 *
 * Commands are not queued while disconnected (`enableOfflineQueue: false`), time out after
 * `commandTimeoutMs`, are never replayed after a reconnect, and every failure of an operation run
 * through `op` rejects with `SipfleetError` `STORE_ERR_UNAVAILABLE`. The client reconnects by
 * itself with a capped exponential backoff; an outage is logged once rather than per retry.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { SipfleetError } from '../errors.ts';
import type { Logger } from '../log.ts';

/** Where a redis adapter connects and how patiently: the part of its options this class reads. */
export interface RedisConnectionOptions {
  /** `redis://[:password@]host:port[/db]`; or give `sentinels` + `sentinelName`. */
  readonly url?: string | undefined;
  readonly sentinels?: readonly { readonly host: string; readonly port: number }[] | undefined;
  /** The Sentinel master name. */
  readonly sentinelName?: string | undefined;
  /** Password of the Redis data nodes (not of the sentinels). */
  readonly password?: string | undefined;
  /** A command without a reply after this long rejects (default 250 ms). */
  readonly commandTimeoutMs?: number | undefined;
  /** Longest wait between reconnect attempts (default 2000 ms). */
  readonly maxReconnectDelayMs?: number | undefined;
}

export interface RedisConnectionSetup {
  /** Names the store in error messages and logs: `cluster store`, `registrar store`. */
  readonly label: string;
  readonly log: Logger;
  /**
   * The store's own error for options that name no target: `url` (neither url nor sentinels) or
   * `sentinelName` (sentinels without a master name). Thrown from the constructor.
   */
  readonly invalidOptions: (field: 'url' | 'sentinelName') => Error;
  /**
   * ioredis auto-pipelining: the commands issued in one event-loop turn go out in one write,
   * each with its own reply and timeout. It pays where a turn issues many separate commands. It
   * costs where they are batched already: per flush it builds a Pipeline, a promise per command
   * and a callback chain, and the cluster store's hot path sends one script call per turn for
   * its admissions and one for its releases (turn-batcher.ts). Measured off for the cluster
   * store: 35–38 against 54–63 µs of client CPU per admitted and released call at 4 calls per
   * turn, and 6 % less dispatcher CPU at 5000–6500 cps (BENCHMARKS.md, Session 15).
   */
  readonly autoPipelining: boolean;
}

/** Status values of ioredis during which a connection attempt is under way. */
const CONNECTING = new Set(['wait', 'connecting', 'connect']);

export class RedisConnection {
  /** The command client: hand it to the store's scripts and to `ChangeSubscriber`. */
  readonly redis: Redis;
  readonly #label: string;
  readonly #log: Logger;
  readonly #timeoutMs: number;
  readonly #listeners = new Set<(connected: boolean) => void>();
  #connected = false;
  #closed = false;
  /** Time of the last logged client error, to log an outage once rather than per retry. */
  #lastErrorLogAt = 0;

  constructor(options: RedisConnectionOptions, setup: RedisConnectionSetup) {
    this.#label = setup.label;
    this.#log = setup.log;
    this.#timeoutMs = options.commandTimeoutMs ?? 250;
    const maxDelay = options.maxReconnectDelayMs ?? 2000;
    const backoff = (times: number): number => Math.min(50 * 2 ** Math.min(times, 10), maxDelay) + Math.floor(Math.random() * 50);
    const common: RedisOptions = {
      enableOfflineQueue: false,
      commandTimeout: this.#timeoutMs,
      // A command in flight when the connection drops fails at once and is never replayed: an
      // admit or a REGISTER the caller saw fail must not take effect later.
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      connectTimeout: Math.max(1000, 4 * this.#timeoutMs),
      retryStrategy: backoff,
      protocol: 2,
      disableClientInfo: true,
      // See RedisConnectionSetup.autoPipelining.
      enableAutoPipelining: setup.autoPipelining,
      password: options.password,
    };
    if (options.sentinels !== undefined && options.sentinels.length > 0) {
      if (options.sentinelName === undefined || options.sentinelName === '') throw setup.invalidOptions('sentinelName');
      this.redis = new Redis({
        ...common,
        sentinels: options.sentinels.map((s) => ({ host: s.host, port: s.port })),
        name: options.sentinelName,
        sentinelRetryStrategy: backoff,
        sentinelCommandTimeout: this.#timeoutMs,
        failoverDetector: true,
      });
    } else if (options.url !== undefined) {
      this.redis = new Redis(options.url, common);
    } else {
      throw setup.invalidOptions('url');
    }
    this.redis.on('ready', () => this.#setConnected(true));
    this.redis.on('close', () => this.#setConnected(false));
    this.redis.on('end', () => this.#setConnected(false));
    this.redis.on('error', (err: Error) => {
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

  /** True from the start of `close`. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Called on every change of `connected`; a listener that throws is logged, not propagated. */
  onConnectionChange(listener: (connected: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
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
    for (const listener of this.#listeners) {
      try {
        listener(connected);
      } catch (err) {
        this.#log.error({ err }, `${this.#label} connection listener threw`);
      }
    }
  }

  /**
   * While a connection attempt is under way (the first one after start, or one that may finish
   * any moment), waits for it, at most the command timeout. Otherwise returns at once: a command
   * sent while disconnected rejects immediately.
   */
  async #settleConnecting(): Promise<void> {
    if (this.#connected || !CONNECTING.has(this.redis.status)) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.redis.off('ready', done);
        this.redis.off('close', done);
        this.redis.off('end', done);
        resolve();
      };
      const timer = setTimeout(done, this.#timeoutMs);
      this.redis.once('ready', done);
      this.redis.once('close', done);
      this.redis.once('end', done);
    });
  }

  /**
   * Runs one store operation: STORE_ERR_UNAVAILABLE (`<label> <op>: …`) for any Redis or
   * connection failure, and once the connection is closed. A `SipfleetError` from `fn` passes
   * through unchanged.
   */
  op<T>(op: string, fn: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new SipfleetError('STORE_ERR_UNAVAILABLE', `${this.#label} ${op}: the store is closed`, { detail: { op } }));
    const fail = (err: unknown): never => this.#fail(op, err);
    // The hot path (connected): one promise chain, no extra await for a connection attempt.
    if (this.#connected || !CONNECTING.has(this.redis.status)) {
      try {
        return fn().catch(fail);
      } catch (err) {
        return Promise.reject(err).catch(fail);
      }
    }
    return this.#settleConnecting().then(fn).catch(fail);
  }

  #fail(op: string, err: unknown): never {
    if (err instanceof SipfleetError) throw err;
    const message = err instanceof Error ? err.message : String(err);
    // A reply error while connected is not an outage but a fault worth seeing (READONLY during
    // a failover, OOM, a script error); connection failures are logged once per outage.
    if (err instanceof Error && err.name === 'ReplyError') this.#log.error({ op, err: { message } }, `redis refused a ${this.#label} command`);
    throw new SipfleetError('STORE_ERR_UNAVAILABLE', `${this.#label} ${op}: ${message}`, { cause: err, detail: { op } });
  }

  /**
   * Shuts the client (QUIT when ready, else a plain disconnect), then runs `release` (where a store
   * closes what hangs off the client, such as its `ChangeSubscriber`), then reports the connection
   * lost to the listeners, without the reconnecting warning, and drops them. Once only.
   */
  async close(release?: () => void): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      if (this.redis.status === 'ready') await this.redis.quit();
      else this.redis.disconnect();
    } catch {
      this.redis.disconnect();
    }
    release?.();
    this.#setConnected(false);
    this.#listeners.clear();
  }
}
