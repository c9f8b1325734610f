/**
 * The relay sessions of dead nodes: a node that crashed cannot delete the sessions of its calls,
 * so the live nodes do it from the cluster store's session records.
 *
 * - `onNodesReaped(ids)`: the node membership reaped those nodes (exactly one live node hears of
 *   each): their sessions are deleted on their relays and their records removed.
 * - `sweep()` every `sweepIntervalMs` (10 s) on every node: any session whose node has no live
 *   lease (a reap this node missed, a store that came back) gets the same. Sessions are listed
 *   before the live nodes are read, so a node that joined between the two reads is never taken
 *   for dead. Two nodes sweeping the same session is harmless (an unknown call is a warning).
 *
 * Sessions of live nodes are theirs: the owner ends each call (BYE, CANCEL, failure, dialog reap
 * at `maxCallAge`) and its media service ends any call older than `maxCallAge` it still holds,
 * before the store record expires. A session the store has lost track of (its record expired or
 * the store was wiped) is left to rtpengine's own no-media timeout.
 *
 * Calls carried on (issue 9 point 2, dispatcher/proxy/dialog-state.ts): a dead node's session
 * whose call still has a dialog record in the store is left alone; the node that carries the
 * call's BYE deletes it (or rtpengine's timeout / the record's expiry at `maxCallAge` does).
 *
 * Each round looks at the oldest `batch` sessions (the store lists 10 000 at most); a dead node's
 * sessions among newer ones are found in the next rounds as the dead ones ahead of them go.
 */
import type { ClusterStore, MediaSessionRecord } from '../../shared/cluster-store/cluster-store.ts';
import type { Logger } from '../../shared/log.ts';
import type { Clock, TimerHandle } from '../transaction/clock.ts';
import type { SessionDeleter } from './session-deleter.ts';

export const MEDIA_SWEEP_INTERVAL_MS = 10_000;

export interface MediaReaperOptions {
  store: Pick<ClusterStore, 'listMediaSessions' | 'liveNodes' | 'removeMediaSession'> & Partial<Pick<ClusterStore, 'getDialog'>>;
  deleter: Pick<SessionDeleter, 'delete'>;
  nodeId: string;
  clock: Clock;
  logger: Logger;
  /** Default MEDIA_SWEEP_INTERVAL_MS. */
  sweepIntervalMs?: number;
  /** Sessions listed per round (default 10 000, the store's cap). */
  batch?: number;
  /** Deletes in flight at once (default 32). */
  concurrency?: number;
}

export interface MediaReaperStats {
  /** Sessions of dead nodes deleted (or found gone) and forgotten. */
  reaped: number;
  sweeps: number;
}

export class MediaReaper {
  readonly #o: MediaReaperOptions;
  #timer: TimerHandle | undefined;
  #sweeping: Promise<number> | undefined;
  #reaped = 0;
  #sweeps = 0;

  constructor(o: MediaReaperOptions) {
    this.#o = o;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    const arm = (): void => {
      this.#timer = this.#o.clock.setTimer(this.#o.sweepIntervalMs ?? MEDIA_SWEEP_INTERVAL_MS, () => {
        arm();
        void this.sweep();
      });
    };
    arm();
  }

  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  /** The sessions of nodes the membership just reaped. Never rejects; returns how many went. */
  async onNodesReaped(nodeIds: readonly string[]): Promise<number> {
    const dead = new Set(nodeIds);
    dead.delete(this.#o.nodeId);
    if (dead.size === 0) return 0;
    try {
      const sessions = await this.#o.store.listMediaSessions(this.#o.batch ?? 10_000);
      return await this.#reap(sessions.filter((s) => dead.has(s.nodeId)));
    } catch (err) {
      this.#o.logger.warn({ err, nodes: nodeIds }, 'media sessions of reaped nodes not listed; the sweep retries');
      return 0;
    }
  }

  /** One sweep for sessions of nodes without a live lease. Never rejects; returns how many went. */
  sweep(): Promise<number> {
    this.#sweeping ??= this.#sweepOnce().finally(() => {
      this.#sweeping = undefined;
    });
    return this.#sweeping;
  }

  stats(): MediaReaperStats {
    return { reaped: this.#reaped, sweeps: this.#sweeps };
  }

  async #sweepOnce(): Promise<number> {
    this.#sweeps++;
    try {
      // Sessions first, then the live nodes: a node that registers in between is counted live.
      const sessions = await this.#o.store.listMediaSessions(this.#o.batch ?? 10_000);
      if (sessions.length === 0) return 0;
      const live = new Set((await this.#o.store.liveNodes()).map((l) => l.nodeId));
      live.add(this.#o.nodeId);
      return await this.#reap(sessions.filter((s) => !live.has(s.nodeId)));
    } catch (err) {
      this.#o.logger.debug({ err }, 'media session sweep skipped');
      return 0;
    }
  }

  /** The sessions whose call has no dialog record (a store error keeps the session for the next sweep). */
  async #notCarried(sessions: readonly MediaSessionRecord[]): Promise<MediaSessionRecord[]> {
    const getDialog = this.#o.store.getDialog?.bind(this.#o.store);
    if (getDialog === undefined || sessions.length === 0) return [...sessions];
    const kept = await Promise.all(sessions.map((s) => getDialog(s.callId).then((d) => d === undefined, () => false)));
    return sessions.filter((_s, i) => kept[i]);
  }

  async #reap(all: readonly MediaSessionRecord[]): Promise<number> {
    const sessions = await this.#notCarried(all);
    if (sessions.length === 0) return 0;
    this.#o.logger.warn({ sessions: sessions.length, nodes: [...new Set(sessions.map((s) => s.nodeId))] }, 'deleting the relay sessions of dead nodes');
    const width = Math.max(1, this.#o.concurrency ?? 32);
    let n = 0;
    for (let i = 0; i < sessions.length; i += width) {
      const done = await Promise.all(
        sessions.slice(i, i + width).map(async (s) => {
          await this.#o.deleter.delete({ relayId: s.relayId, callId: s.callId, fromTag: s.fromTag });
          return this.#o.store.removeMediaSession(s.callId).then(
            () => 1,
            () => 0,
          );
        }),
      );
      for (const d of done) n += d;
    }
    this.#reaped += n;
    return n;
  }
}
