/**
 * The `redis` adapter of the cluster store: every decision is one Lua script on Redis (or a Redis
 * Sentinel master), timed on Redis TIME. See docs/cluster-store.md for the key layout, scripts,
 * CPS bound and fencing rules.
 *
 * It never blocks the event loop or hangs a caller: commands are not queued while disconnected
 * (`enableOfflineQueue: false`), time out after `commandTimeoutMs`, are never replayed after a
 * reconnect, and every failure rejects with `SipfleetError` `STORE_ERR_UNAVAILABLE`. The client
 * reconnects by itself with a capped exponential backoff. All of that is `RedisConnection`, which
 * the registrar store shares.
 *
 * Registry change notices travel over pub/sub on a second connection (`ChangeSubscriber`), opened
 * by the first `onSwitchesChanged` and closed with the store.
 */
import { SipfleetError } from '../errors.ts';
import { createLogger, type Logger } from '../log.ts';
import type {
  AdmitRequest,
  AdmitResult,
  CallRecord,
  ClusterLimitsRecord,
  ClusterStore,
  LeaseAcquireResult,
  LeaseRenewResult,
  LeaseState,
  LevelStats,
  DialogStateRecord,
  MediaSessionRecord,
  NodeLease,
  ProbeReport,
  ReapResult,
  RelayRecord,
  ReleaseResult,
  SwitchRecord,
} from './cluster-store.ts';
import { ChangeListeners } from './change-listeners.ts';
import { clusterLimitsJson, parseClusterLimits } from './cluster-limits-record.ts';
import { ChangeSubscriber } from './change-subscriber.ts';
import { storeKeys, type StoreKeys } from './keys.ts';
import { normalizeRelayRecord, normalizeRelaySeed, parseRelayRecord } from './normalize-relay-record.ts';
import { normalizeSeed, normalizeSwitchRecord, parseSwitchRecord } from './normalize-switch-record.ts';
import { byId, byReport } from './record-order.ts';
import { RedisConnection, type RedisConnectionOptions } from './redis-connection.ts';
import { StoreScripts } from './scripts.ts';
import { TurnBatcher } from './turn-batcher.ts';
import { MEDIA_PRUNE_STEP, REAP_BATCH, RESYNC_BATCH } from './store-limits.ts';
import {
  assertAdmitRequest,
  assertEpoch,
  assertId,
  assertLeaseEpoch,
  assertLeaseName,
  assertLeasePriority,
  normalizeDialogRecord,
  assertMediaSession,
  assertProbeReport,
  assertResyncCalls,
  assertStickyKey,
  assertSwitchId,
  assertTtl,
  callsLimit,
} from './validate-store-args.ts';

/** Where and how to connect (url or sentinels, password, timeouts): see `RedisConnectionOptions`. */
export interface RedisClusterStoreOptions extends RedisConnectionOptions {
  /** The cluster name: every key lives under `sf:{<cluster>}:`. */
  readonly cluster: string;
  readonly logger?: Logger | undefined;
}

/** The batch a call's admission or release joins: its node and epoch (a node id never holds a NUL). */
function batchGroup(nodeId: string, epoch: number): string {
  return `${nodeId}\0${epoch}`;
}

function splitBatchGroup(group: string): [string, number] {
  const i = group.lastIndexOf('\0');
  return [group.slice(0, i), Number(group.slice(i + 1))];
}

/** Upper bound on loop steps (reap, drain, resync) in one store call. */
const MAX_STEPS = 10_000;

export class RedisClusterStore implements ClusterStore {
  /** The command client, its connected state and the STORE_ERR_UNAVAILABLE mapping of `op`. */
  readonly #conn: RedisConnection;
  readonly #keys: StoreKeys;
  readonly #scripts: StoreScripts;
  readonly #admits: TurnBatcher<AdmitRequest, AdmitResult>;
  readonly #releases: TurnBatcher<string, ReleaseResult>;
  /** Batches sent and not yet answered: `close` lets them finish (each is bounded by the command timeout). */
  readonly #inFlight = new Set<Promise<unknown>>();
  /** One flush per turn for both batchers (see the constructor). */
  #turnScheduled = false;
  readonly #flushTurn = (): void => {
    this.#turnScheduled = false;
    this.#releases.flush();
    this.#admits.flush();
  };
  readonly #log: Logger;
  readonly #switchListeners: ChangeListeners;
  /** Opened by the first `onSwitchesChanged`. */
  #subscriber: ChangeSubscriber | undefined;

  constructor(options: RedisClusterStoreOptions) {
    const keys = storeKeys(options.cluster);
    this.#keys = keys;
    this.#log = (options.logger ?? createLogger()).child({ component: 'cluster-store', store: 'redis', cluster: options.cluster });
    this.#switchListeners = new ChangeListeners((err, why) => this.#log.error({ err, why }, 'switches-changed listener failed'));
    this.#conn = new RedisConnection(options, {
      label: 'cluster store',
      // Its hot path batches each turn's admissions and releases itself (RedisConnectionSetup).
      autoPipelining: false,
      log: this.#log,
      invalidOptions: (field) =>
        new SipfleetError(
          'STORE_ERR_INVALID',
          field === 'url' ? 'cluster store: give url or sentinels' : 'cluster store: sentinelName is required with sentinels',
          { detail: { field } },
        ),
    });
    this.#scripts = new StoreScripts(this.#conn.redis, keys);
    const scripts = this.#scripts;
    // One flush per turn, releases before admissions: a failover re-attempt releases its call
    // and admits it again in the same turn, and the admission must not be undone by the
    // release (both name the same call, node and epoch). Any other release in the turn is of a
    // call admitted in an earlier turn, so sending releases first never overtakes an admission.
    const schedule = (): void => {
      if (this.#turnScheduled) return;
      this.#turnScheduled = true;
      setImmediate(this.#flushTurn);
    };
    // A batch of one goes as the single-call script (its keys declared); more as the batch script.
    this.#admits = new TurnBatcher<AdmitRequest, AdmitResult>(
      (group, reqs) =>
        this.#track(
          this.#op('admit', async () => {
            if (reqs.length === 1) return [await scripts.admitCall(reqs[0])];
            const [nodeId, epoch] = splitBatchGroup(group);
            return scripts.admitCalls(nodeId, epoch, reqs);
          }),
        ),
      { schedule },
    );
    this.#releases = new TurnBatcher<string, ReleaseResult>(
      (group, callIds) =>
        this.#track(
          this.#op('release', async () => {
            const [nodeId, epoch] = splitBatchGroup(group);
            if (callIds.length === 1) return [await scripts.releaseCall(callIds[0], nodeId, epoch)];
            return scripts.releaseCalls(nodeId, epoch, callIds);
          }),
        ),
      { schedule },
    );
  }

  get connected(): boolean {
    return this.#conn.connected;
  }

  onConnectionChange(listener: (connected: boolean) => void): () => void {
    return this.#conn.onConnectionChange(listener);
  }

  /** Runs one store operation: STORE_ERR_UNAVAILABLE for any Redis or connection failure. */
  #op<T>(op: string, fn: () => Promise<T>): Promise<T> {
    return this.#conn.op(op, fn);
  }

  /** Remembers a batch in flight until it settles (see `#inFlight`). */
  #track<T>(p: Promise<T>): Promise<T> {
    this.#inFlight.add(p);
    const done = (): void => {
      this.#inFlight.delete(p);
    };
    p.then(done, done);
    return p;
  }

  /** Releases calls of fenced epochs until none is left (bounded steps). */
  async #drain(more: boolean): Promise<void> {
    for (let step = 0; more && step < MAX_STEPS; step++) more = (await this.#scripts.drainFenced(REAP_BATCH)).more;
  }

  async registerNode(nodeId: string, ttlMs: number, info: Readonly<Record<string, string>> = {}): Promise<NodeLease> {
    assertId('nodeId', nodeId);
    assertTtl(ttlMs);
    return this.#op('registerNode', async () => {
      const r = await this.#scripts.registerNode(nodeId, ttlMs, info, REAP_BATCH);
      await this.#drain(r.more);
      return { nodeId, epoch: r.epoch, expiresAtMs: r.expiresAtMs };
    });
  }

  async heartbeat(nodeId: string, epoch: number, ttlMs: number): Promise<'ok' | 'fenced'> {
    assertId('nodeId', nodeId);
    assertEpoch(epoch);
    assertTtl(ttlMs);
    return this.#op('heartbeat', () => this.#scripts.heartbeatNode(nodeId, epoch, ttlMs));
  }

  async deregisterNode(nodeId: string, epoch: number): Promise<void> {
    assertId('nodeId', nodeId);
    assertEpoch(epoch);
    return this.#op('deregisterNode', async () => {
      const r = await this.#scripts.deregisterNode(nodeId, epoch, REAP_BATCH);
      if (r !== undefined) await this.#drain(r.more);
    });
  }

  async liveNodes(): Promise<NodeLease[]> {
    return this.#op('liveNodes', () => this.#scripts.listNodes());
  }

  /**
   * Batched per event-loop turn (turn-batcher.ts): one script call for the turn's admissions. Not
   * an async function: the batch's promise is the caller's, without one more around it per call.
   */
  admit(req: AdmitRequest): Promise<AdmitResult> {
    try {
      assertAdmitRequest(req);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return this.#admits.add(batchGroup(req.nodeId, req.epoch), req);
  }

  /** Batched per event-loop turn, like `admit`. */
  release(callId: string, nodeId: string, epoch: number): Promise<ReleaseResult> {
    try {
      assertId('callId', callId);
      assertId('nodeId', nodeId);
      assertEpoch(epoch);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return this.#releases.add(batchGroup(nodeId, epoch), callId);
  }

  async resyncCalls(nodeId: string, epoch: number, calls: readonly Omit<CallRecord, 'nodeId' | 'epoch'>[]): Promise<number> {
    assertId('nodeId', nodeId);
    assertEpoch(epoch);
    assertResyncCalls(calls);
    return this.#op('resyncCalls', async () => {
      let added = 0;
      for (let i = 0; i < calls.length; i += RESYNC_BATCH) {
        const n = await this.#scripts.resyncCalls(nodeId, epoch, calls.slice(i, i + RESYNC_BATCH));
        if (n < 0) break; // fenced: nothing more may be written under this epoch
        added += n;
      }
      return added;
    });
  }

  async reap(): Promise<ReapResult> {
    return this.#op('reap', async () => {
      const nodes: string[] = [];
      let calls = 0;
      for (let step = 0; step < MAX_STEPS; step++) {
        const r = await this.#scripts.reap(REAP_BATCH);
        nodes.push(...r.nodes);
        calls += r.calls;
        if (!r.more) break;
      }
      return { nodes, calls };
    });
  }

  async levelStats(levels: readonly string[]): Promise<LevelStats[]> {
    for (const level of levels) assertId('level', level);
    if (levels.length === 0) return [];
    return this.#op('levelStats', () => this.#scripts.levelStats(levels));
  }

  async calls(level?: string, limit?: number): Promise<CallRecord[]> {
    if (level !== undefined) assertId('level', level);
    const n = callsLimit(limit);
    if (n === 0) return [];
    return this.#op('calls', () => this.#scripts.listCalls(level, n));
  }

  async now(): Promise<number> {
    return this.#op('now', () => this.#scripts.nowMs());
  }

  // ---- switch registry ----

  async listSwitches(): Promise<SwitchRecord[]> {
    return this.#op('listSwitches', async () => {
      const switches: SwitchRecord[] = [];
      for (const [id, json] of Object.entries(await this.#scripts.switchesJson())) {
        const sw = parseSwitchRecord(json);
        // Only this adapter writes the hash; a record it cannot read was written by something else.
        if (sw === undefined || sw.id !== id) this.#log.error({ switchId: id }, 'skipping an unreadable switch record in the registry');
        else switches.push(sw);
      }
      return switches.sort(byId);
    });
  }

  async putSwitch(sw: SwitchRecord): Promise<void> {
    const record = normalizeSwitchRecord(sw);
    await this.#op('putSwitch', () => this.#scripts.putSwitch(record));
  }

  async removeSwitch(id: string): Promise<boolean> {
    assertSwitchId('id', id);
    return this.#op('removeSwitch', () => this.#scripts.removeSwitch(id));
  }

  async getClusterLimits(): Promise<ClusterLimitsRecord | undefined> {
    return this.#op('getClusterLimits', async () => parseClusterLimits(await this.#scripts.clusterLimitsJson()));
  }

  async putClusterLimits(limits: ClusterLimitsRecord): Promise<void> {
    const json = clusterLimitsJson(limits);
    await this.#op('putClusterLimits', () => this.#scripts.putClusterLimits(json, false));
  }

  async seedClusterLimits(limits: ClusterLimitsRecord): Promise<boolean> {
    const json = clusterLimitsJson(limits);
    return this.#op('seedClusterLimits', () => this.#scripts.putClusterLimits(json, true));
  }

  async seedSwitches(switches: readonly SwitchRecord[]): Promise<number> {
    const records = normalizeSeed(switches);
    if (records.length === 0) return 0;
    return this.#op('seedSwitches', () => this.#scripts.seedSwitches(records));
  }

  /**
   * At least once per change, on every instance subscribed: also after the subscription is first
   * in place and after every reconnect (notices sent meanwhile were lost), with no change behind it.
   */
  onSwitchesChanged(listener: () => void): () => void {
    if (this.#conn.closed) return () => {};
    const unsubscribe = this.#switchListeners.add(listener);
    this.#subscriber ??= new ChangeSubscriber(this.#conn.redis, this.#keys.events, this.#log, {
      onMessage: (message) => {
        if (message === 'switches') this.#switchListeners.notify('notice');
      },
      onSubscribed: () => this.#switchListeners.notify('subscribed'),
    });
    return unsubscribe;
  }

  // ---- media relays ----

  async listRelays(): Promise<RelayRecord[]> {
    return this.#op('listRelays', async () => {
      const relays: RelayRecord[] = [];
      for (const [id, json] of Object.entries(await this.#scripts.relaysJson())) {
        const relay = parseRelayRecord(json);
        // Only this adapter writes the hash; a record it cannot read was written by something else.
        if (relay === undefined || relay.id !== id) this.#log.error({ relayId: id }, 'skipping an unreadable relay record in the registry');
        else relays.push(relay);
      }
      return relays.sort(byId);
    });
  }

  async putRelay(relay: RelayRecord): Promise<void> {
    const record = normalizeRelayRecord(relay);
    await this.#op('putRelay', () => this.#scripts.putRelay(record));
  }

  async removeRelay(id: string): Promise<boolean> {
    assertSwitchId('id', id);
    return this.#op('removeRelay', () => this.#scripts.removeRelay(id));
  }

  async seedRelays(relays: readonly RelayRecord[]): Promise<number> {
    const records = normalizeRelaySeed(relays);
    if (records.length === 0) return 0;
    return this.#op('seedRelays', () => this.#scripts.seedRelays(records));
  }

  // ---- dialog state ----

  async putDialog(dialog: DialogStateRecord, ttlMs: number): Promise<void> {
    const record = normalizeDialogRecord(dialog);
    assertTtl(ttlMs);
    await this.#op('putDialog', () => this.#scripts.putDialog(record, ttlMs));
  }

  async getDialog(callId: string): Promise<DialogStateRecord | undefined> {
    assertId('callId', callId);
    return this.#op('getDialog', () => this.#scripts.getDialog(callId));
  }

  async removeDialog(callId: string): Promise<boolean> {
    assertId('callId', callId);
    return this.#op('removeDialog', () => this.#scripts.removeDialog(callId));
  }

  async releaseOrphan(callKey: string): Promise<'released' | 'not-found'> {
    assertId('callKey', callKey);
    return this.#op('releaseOrphan', () => this.#scripts.releaseOrphan(callKey));
  }

  // ---- media sessions ----

  async putMediaSession(session: Omit<MediaSessionRecord, 'startedAtMs'>, ttlMs: number): Promise<void> {
    assertMediaSession(session);
    assertTtl(ttlMs);
    await this.#op('putMediaSession', () => this.#scripts.putMediaSession(session, ttlMs, MEDIA_PRUNE_STEP));
  }

  async getMediaSession(callId: string): Promise<MediaSessionRecord | undefined> {
    assertId('callId', callId);
    return this.#op('getMediaSession', () => this.#scripts.getMediaSession(callId));
  }

  async removeMediaSession(callId: string): Promise<boolean> {
    assertId('callId', callId);
    return this.#op('removeMediaSession', () => this.#scripts.removeMediaSession(callId, MEDIA_PRUNE_STEP));
  }

  async listMediaSessions(limit?: number): Promise<MediaSessionRecord[]> {
    const n = callsLimit(limit);
    if (n === 0) return [];
    return this.#op('listMediaSessions', () => this.#scripts.listMediaSessions(n, MEDIA_PRUNE_STEP));
  }

  async relaySessionCounts(): Promise<Record<string, number>> {
    const counts = await this.#op('relaySessionCounts', () => this.#scripts.relaySessionCounts());
    const out: Record<string, number> = {};
    for (const [relayId, n] of counts.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) out[relayId] = n;
    return out;
  }

  // ---- probe reports and stickiness ----

  async putProbeReport(report: Omit<ProbeReport, 'atMs'>, ttlMs: number): Promise<void> {
    assertProbeReport(report);
    assertTtl(ttlMs);
    await this.#op('putProbeReport', () => this.#scripts.putProbeReport(report, ttlMs));
  }

  async probeReports(switchId?: string): Promise<ProbeReport[]> {
    if (switchId !== undefined) assertSwitchId('switchId', switchId);
    const reports = await this.#op('probeReports', () => this.#scripts.listProbeReports(switchId));
    return reports.sort(byReport);
  }

  async stickyGet(key: string): Promise<string | undefined> {
    assertStickyKey(key);
    return this.#op('stickyGet', () => this.#scripts.stickyGet(key));
  }

  async stickySet(key: string, switchId: string, ttlMs: number): Promise<void> {
    assertStickyKey(key);
    assertSwitchId('switchId', switchId);
    assertTtl(ttlMs);
    await this.#op('stickySet', () => this.#scripts.stickySet(key, switchId, ttlMs));
  }

  // ---- named leases ----

  async acquireLease(name: string, holder: string, ttlMs: number, priority = 0): Promise<LeaseAcquireResult> {
    assertLeaseName(name);
    assertId('holder', holder);
    assertTtl(ttlMs);
    assertLeasePriority(priority);
    return this.#op('acquireLease', () => this.#scripts.acquireLease(name, holder, ttlMs, priority));
  }

  async renewLease(name: string, holder: string, epoch: number, ttlMs: number): Promise<LeaseRenewResult> {
    assertLeaseName(name);
    assertId('holder', holder);
    assertLeaseEpoch(epoch);
    assertTtl(ttlMs);
    return this.#op('renewLease', () => this.#scripts.renewLease(name, holder, epoch, ttlMs));
  }

  async releaseLease(name: string, holder: string, epoch: number): Promise<boolean> {
    assertLeaseName(name);
    assertId('holder', holder);
    assertLeaseEpoch(epoch);
    return this.#op('releaseLease', () => this.#scripts.releaseLease(name, holder, epoch));
  }

  async getLease(name: string): Promise<LeaseState | undefined> {
    assertLeaseName(name);
    return this.#op('getLease', () => this.#scripts.getLease(name));
  }

  async close(): Promise<void> {
    // What this turn queued (a release made just before shutting down) still goes out, ahead of QUIT.
    if (this.#turnScheduled) this.#flushTurn();
    await Promise.allSettled([...this.#inFlight]);
    await this.#conn.close(() => {
      this.#subscriber?.close();
      this.#switchListeners.clear();
    });
  }
}

