/**
 * Deletes relay sessions (ng `delete` by Call-ID and the caller's From tag, which removes the
 * whole call on rtpengine: every branch, and a late offer made from the callee's tag too). Used by
 * the end of every call and by the reaper of dead nodes' sessions. Never rejects.
 *
 * A delete that got no answer (`MEDIA_ERR_TIMEOUT`, `_CLOSED`, `_SEND`, `_OVERLOAD`) is queued and
 * retried every `retryIntervalMs` while the relay is up, for `maxAgeMs` at most; past that (or
 * when the queue is full, or the relay left the registry) it is dropped and rtpengine's own
 * timeout (`--timeout`, no media for 60 s by default) ends the session. A relay that was killed
 * has lost its sessions anyway.
 */
import { isSipfleetError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/log.ts';
import type { Clock, TimerHandle } from '../transaction/clock.ts';
import type { RelayClient } from './relay-pool.ts';

export interface SessionRef {
  readonly relayId: string;
  readonly callId: string;
  readonly fromTag: string;
}

export interface SessionDeleterOptions {
  /** The current client of a relay (undefined when it left the registry). */
  clientOf: (relayId: string) => Pick<RelayClient, 'delete'> | undefined;
  /** Whether the relay is up (queued deletes wait for it). */
  isUp: (relayId: string) => boolean;
  clock: Clock;
  logger: Logger;
  /** Default 5000 ms. */
  retryIntervalMs?: number;
  /** Default 600 000 ms (10 min). */
  maxAgeMs?: number;
  /** Default 10 000. */
  maxQueued?: number;
}

export type DeleteOutcome = 'deleted' | 'unknown' | 'queued' | 'failed';

export interface SessionDeleterStats {
  /** The relay deleted the session. */
  deleted: number;
  /** The relay did not know the session (already gone; a warning, not an error). */
  unknown: number;
  /** The relay refused the delete, or it could not be sent and was not queued. */
  failed: number;
  /** Unanswered deletes queued for a retry (each retry that fails again is not counted again). */
  queued: number;
  /** Queued deletes given up (too old, queue full, relay gone). */
  dropped: number;
  /** Deletes waiting in the queue now. */
  waiting: number;
}

interface Queued {
  readonly ref: SessionRef;
  readonly since: number;
}

const RETRYABLE = new Set(['MEDIA_ERR_TIMEOUT', 'MEDIA_ERR_CLOSED', 'MEDIA_ERR_SEND', 'MEDIA_ERR_OVERLOAD']);

export class SessionDeleter {
  readonly #o: SessionDeleterOptions;
  readonly #retryMs: number;
  readonly #maxAgeMs: number;
  readonly #maxQueued: number;
  /** `relayId callId` → the delete waiting for a retry. */
  readonly #queue = new Map<string, Queued>();
  readonly #stats = { deleted: 0, unknown: 0, failed: 0, queued: 0, dropped: 0 };
  #timer: TimerHandle | undefined;
  #retrying = false;

  constructor(o: SessionDeleterOptions) {
    this.#o = o;
    this.#retryMs = o.retryIntervalMs ?? 5000;
    this.#maxAgeMs = o.maxAgeMs ?? 600_000;
    this.#maxQueued = o.maxQueued ?? 10_000;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    const arm = (): void => {
      this.#timer = this.#o.clock.setTimer(this.#retryMs, () => {
        arm();
        void this.retryQueued();
      });
    };
    arm();
  }

  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  /** Delete the session on its relay, through `client` when given (a call's leased one), else the relay's current one. */
  async delete(ref: SessionRef, client?: Pick<RelayClient, 'delete'>): Promise<DeleteOutcome> {
    const outcome = await this.#attempt(ref, client ?? this.#o.clientOf(ref.relayId));
    if (outcome !== 'retry') return outcome;
    return this.#enqueue({ ref, since: this.#o.clock.now() }) ? 'queued' : 'failed';
  }

  /** One retry of every queued delete whose relay is up; the rest wait or are dropped. */
  async retryQueued(): Promise<void> {
    if (this.#retrying || this.#queue.size === 0) return;
    this.#retrying = true;
    try {
      const now = this.#o.clock.now();
      const due: Array<[string, Queued]> = [];
      for (const [key, q] of this.#queue) {
        if (now - q.since > this.#maxAgeMs || this.#o.clientOf(q.ref.relayId) === undefined) {
          this.#queue.delete(key);
          this.#stats.dropped++;
          this.#o.logger.warn({ ...q.ref }, 'relay session delete given up; the relay times the session out itself');
        } else if (this.#o.isUp(q.ref.relayId)) due.push([key, q]);
      }
      // A bounded burst per round.
      for (const [key, q] of due.slice(0, 500)) {
        const outcome = await this.#attempt(q.ref, this.#o.clientOf(q.ref.relayId));
        if (outcome !== 'retry') this.#queue.delete(key);
      }
    } finally {
      this.#retrying = false;
    }
  }

  stats(): SessionDeleterStats {
    return { ...this.#stats, waiting: this.#queue.size };
  }

  async #attempt(ref: SessionRef, client: Pick<RelayClient, 'delete'> | undefined): Promise<DeleteOutcome | 'retry'> {
    if (client === undefined) {
      this.#stats.failed++;
      this.#o.logger.warn({ ...ref }, 'relay session not deleted: the relay left the registry');
      return 'failed';
    }
    try {
      const reply = await client.delete({ callId: ref.callId, fromTag: ref.fromTag });
      if (reply.warning !== undefined) {
        this.#stats.unknown++;
        return 'unknown';
      }
      this.#stats.deleted++;
      return 'deleted';
    } catch (err) {
      if (isSipfleetError(err) && RETRYABLE.has(err.code)) return 'retry';
      this.#stats.failed++;
      this.#o.logger.warn({ err, ...ref }, 'relay session delete refused');
      return 'failed';
    }
  }

  #enqueue(q: Queued): boolean {
    const key = `${q.ref.relayId} ${q.ref.callId}`;
    if (this.#queue.has(key)) return true;
    if (this.#queue.size >= this.#maxQueued) {
      this.#stats.dropped++;
      this.#o.logger.warn({ ...q.ref }, 'relay session delete queue full; the relay times the session out itself');
      return false;
    }
    this.#queue.set(key, q);
    this.#stats.queued++;
    return true;
  }
}
