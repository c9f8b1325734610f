/**
 * One call's media through its relay (the `MediaCall` the proxy holds): the relay chosen at the
 * call's start, its SDP offers and answers sent there, and its end.
 *
 * - Operations run one after the other (a delete never overtakes the offer that creates the
 *   session, a re-offer never overtakes the answer before it).
 * - The first offer of the call may move it once: when the chosen relay does not answer
 *   (`MEDIA_ERR_TIMEOUT`, `_CLOSED`, `_SEND`: one health failure for it) or refuses
 *   (`MEDIA_ERR_RELAY`, `_PROTOCOL`, `_OVERLOAD`), the offer is retried on the next candidate of
 *   the call's order, the stored session is moved to it, and the first relay is sent a delete in
 *   case it did create the session. Later offers and answers go to the call's relay only.
 * - `end` deletes the session (when an offer was ever sent), forgets the stored session and the
 *   call; it is idempotent, never rejects, and any offer or answer asked for after it is refused
 *   (`MEDIA_ERR_CLOSED`): a late 2xx retransmission must not re-create a deleted session. One
 *   asked for before it still runs, and the delete follows it.
 */
import type { ClusterStore } from '../../shared/cluster-store/cluster-store.ts';
import { SipfleetError, isSipfleetError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/log.ts';
import type { MediaCall } from '../proxy/media-service.ts';
import { answerOptions, isWebRtcSdp, offerOptions } from './ng-flags.ts';
import type { RelayLease } from './relay-pool.ts';
import type { SessionDeleter } from './session-deleter.ts';

/** Relay errors after which the first offer is retried on the next relay. */
const RETRY_CODES: ReadonlySet<string> = new Set(['MEDIA_ERR_TIMEOUT', 'MEDIA_ERR_CLOSED', 'MEDIA_ERR_SEND', 'MEDIA_ERR_RELAY', 'MEDIA_ERR_PROTOCOL', 'MEDIA_ERR_OVERLOAD']);
/** ...of which these also count as a failed health probe of the relay. */
const UNREACHABLE_CODES: ReadonlySet<string> = new Set(['MEDIA_ERR_TIMEOUT', 'MEDIA_ERR_CLOSED', 'MEDIA_ERR_SEND']);

/** Counters a call feeds (shared by every call of the service). */
export interface MediaCallCounters {
  offers: { ok: number; retried: number; failed: number };
  answers: { ok: number; failed: number };
}

export interface RelayCallDeps {
  readonly nodeId: string;
  readonly maxCallAgeMs: number;
  readonly store: Pick<ClusterStore, 'putMediaSession' | 'removeMediaSession'>;
  readonly deleter: SessionDeleter;
  /** The first relay of `order` not in `tried` that is still usable, leased; or undefined. */
  next(order: readonly string[], tried: ReadonlySet<string>): RelayLease | undefined;
  recordFailure(relayId: string, reason: string): void;
  notePicked(relayId: string): void;
  /** The call's end started (`done` settles when its delete is through). */
  ending(call: RelayCall, done: Promise<void>): void;
  /** The call ended (the service forgets it). */
  ended(call: RelayCall, reason: string): void;
  readonly counters: MediaCallCounters;
  readonly logger: Logger;
}

export class RelayCall implements MediaCall {
  readonly callId: string;
  readonly fromTag: string;
  /** Clock ms when the call started (for the max-age sweep). */
  readonly startedAt: number;
  readonly #d: RelayCallDeps;
  #lease: RelayLease;
  /** The call's candidates, best first (the first offer's retry takes the next one). */
  readonly #order: readonly string[];
  readonly #tried = new Set<string>();
  /** The tail of the operation chain. */
  #chain: Promise<unknown> = Promise.resolve();
  /** An offer was sent to the current relay (a session may exist there). */
  #offered = false;
  #firstOfferDone = false;
  #ended: Promise<void> | undefined;
  /** From tags whose offers came from a WebRTC endpoint (their answers get rtpengine's ICE). */
  readonly #webrtcOfferers = new Set<string>();

  constructor(callId: string, fromTag: string, lease: RelayLease, order: readonly string[], startedAt: number, deps: RelayCallDeps) {
    this.#order = order;
    this.callId = callId;
    this.fromTag = fromTag;
    this.startedAt = startedAt;
    this.#lease = lease;
    this.#tried.add(lease.relayId);
    this.#d = deps;
  }

  get relayId(): string {
    return this.#lease.relayId;
  }

  get ended(): boolean {
    return this.#ended !== undefined;
  }

  offer(fromTag: string, toTag: string | undefined, sdp: Buffer): Promise<Buffer> {
    const open = this.#ended === undefined;
    return this.#serial(async () => {
      this.#assertOpen(open, 'offer');
      if (isWebRtcSdp(sdp)) this.#webrtcOfferers.add(fromTag);
      else this.#webrtcOfferers.delete(fromTag);
      const first = !this.#firstOfferDone;
      this.#firstOfferDone = true;
      const params = { callId: this.callId, fromTag, ...(toTag === undefined ? {} : { toTag }), sdp, ...offerOptions(sdp) };
      this.#offered = true;
      try {
        const reply = await this.#lease.client.offer(params);
        this.#d.counters.offers.ok++;
        return reply.sdp;
      } catch (err) {
        if (!first || !isSipfleetError(err) || !RETRY_CODES.has(err.code)) {
          this.#d.counters.offers.failed++;
          throw err;
        }
        const next = await this.#moveOn(err);
        if (next === undefined) {
          this.#d.counters.offers.failed++;
          throw err;
        }
        try {
          const reply = await next.client.offer(params);
          this.#d.counters.offers.retried++;
          return reply.sdp;
        } catch (err2) {
          this.#d.counters.offers.failed++;
          if (isSipfleetError(err2) && UNREACHABLE_CODES.has(err2.code)) this.#d.recordFailure(next.relayId, err2.code);
          throw err2;
        }
      }
    });
  }

  answer(fromTag: string, toTag: string, sdp: Buffer): Promise<Buffer> {
    const open = this.#ended === undefined;
    return this.#serial(async () => {
      this.#assertOpen(open, 'answer');
      try {
        const reply = await this.#lease.client.answer({ callId: this.callId, fromTag, toTag, sdp, ...answerOptions(this.#webrtcOfferers.has(fromTag)) });
        this.#d.counters.answers.ok++;
        return reply.sdp;
      } catch (err) {
        this.#d.counters.answers.failed++;
        if (isSipfleetError(err) && UNREACHABLE_CODES.has(err.code)) this.#d.recordFailure(this.relayId, err.code);
        throw err;
      }
    });
  }

  end(reason: string): Promise<void> {
    if (this.#ended !== undefined) return this.#ended;
    this.#ended = this.#serial(async () => {
      try {
        if (this.#offered) await this.#d.deleter.delete({ relayId: this.relayId, callId: this.callId, fromTag: this.fromTag }, this.#lease.client);
        await this.#d.store.removeMediaSession(this.callId).catch((err: unknown) => this.#d.logger.debug({ err, callId: this.callId }, 'media session record not removed; it expires'));
      } finally {
        this.#lease.release();
        this.#d.ended(this, reason);
      }
    }).catch((err: unknown) => this.#d.logger.error({ err, callId: this.callId }, 'media call end failed'));
    this.#d.ending(this, this.#ended);
    return this.#ended;
  }

  /**
   * The first offer failed on the current relay: take the next candidate, move the stored
   * session to it, and delete on the failed one whatever the offer may have created there.
   */
  async #moveOn(err: SipfleetError): Promise<RelayLease | undefined> {
    const failed = this.#lease;
    if (UNREACHABLE_CODES.has(err.code)) this.#d.recordFailure(failed.relayId, err.code);
    const next = this.#d.next(this.#order, this.#tried);
    if (next === undefined) return undefined;
    this.#tried.add(next.relayId);
    this.#lease = next;
    this.#d.notePicked(next.relayId);
    this.#d.logger.warn({ callId: this.callId, from: failed.relayId, to: next.relayId, code: err.code }, 'first offer failed; retried on the next relay');
    void this.#d.deleter.delete({ relayId: failed.relayId, callId: this.callId, fromTag: this.fromTag }, failed.client).finally(() => failed.release());
    await this.#d.store
      .putMediaSession({ callId: this.callId, fromTag: this.fromTag, relayId: next.relayId, nodeId: this.#d.nodeId }, this.#d.maxCallAgeMs)
      .catch((e: unknown) => this.#d.logger.warn({ err: e, callId: this.callId }, 'media session record not moved'));
    return next;
  }

  /** `open`: the call had not ended when the operation was asked for (one asked before `end` still runs). */
  #assertOpen(open: boolean, op: string): void {
    if (!open) throw new SipfleetError('MEDIA_ERR_CLOSED', `media of call ${this.callId} already ended; ${op} not sent`, { detail: { command: op } });
  }

  #serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(op, op);
    this.#chain = run.catch(() => undefined);
    return run;
  }
}
