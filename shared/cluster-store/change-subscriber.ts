/**
 * The redis adapter's pub/sub side: one separate connection (a connection in subscriber mode can
 * run nothing else), a `duplicate()` of the store's client with the same target (URL or Sentinel
 * master), timeouts and reconnect backoff.
 *
 * It subscribes to the cluster's `events` channel every time the connection becomes ready: the
 * first time and after every reconnect or Sentinel failover (ioredis's own auto-resubscribe is
 * off, so this is the one path). Pub/sub drops whatever was published while the connection was
 * down, so each successful SUBSCRIBE is reported through `onSubscribed`: the store then calls its
 * listeners, who re-read the registry. A SUBSCRIBE that fails on a live connection (a timeout)
 * recycles the connection so that the next `ready` tries again.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../log.ts';

export interface ChangeSubscriberHandlers {
  /** A notice arrived on the channel (`switches`: the registry changed). */
  onMessage(message: string): void;
  /** The subscription is (again) in place; notices sent before it may have been lost. */
  onSubscribed(): void;
}

export class ChangeSubscriber {
  readonly #sub: Redis;
  readonly #channel: string;
  readonly #log: Logger;
  #closed = false;
  #lastErrorLogAt = 0;

  constructor(client: Redis, channel: string, log: Logger, handlers: ChangeSubscriberHandlers) {
    this.#channel = channel;
    this.#log = log;
    this.#sub = client.duplicate({ autoResubscribe: false, lazyConnect: false, enableOfflineQueue: false });
    this.#sub.on('ready', () => this.#subscribe(handlers));
    this.#sub.on('message', (channel: string, message: string) => {
      if (channel === this.#channel) handlers.onMessage(message);
    });
    this.#sub.on('error', (err: Error) => {
      const now = Date.now();
      if (now - this.#lastErrorLogAt < 10_000) return;
      this.#lastErrorLogAt = now;
      this.#log.warn({ err: { message: err.message, code: (err as { code?: unknown }).code } }, 'redis subscriber error');
    });
  }

  #subscribe(handlers: ChangeSubscriberHandlers): void {
    if (this.#closed) return;
    this.#sub.subscribe(this.#channel).then(
      () => {
        if (this.#closed) return;
        this.#lastErrorLogAt = 0;
        this.#log.info({ channel: this.#channel }, 'subscribed to cluster store events');
        handlers.onSubscribed();
      },
      (err: unknown) => {
        if (this.#closed) return;
        this.#log.warn({ err: { message: err instanceof Error ? err.message : String(err) } }, 'subscribing to cluster store events failed');
        // Still connected but not subscribed (the reply timed out): reconnect to try again. When
        // the connection itself went away, its next `ready` retries anyway.
        if (this.#sub.status === 'ready') this.#sub.disconnect(true);
      },
    );
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#sub.disconnect();
  }
}
