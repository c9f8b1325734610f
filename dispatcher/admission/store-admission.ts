/**
 * Admission against the cluster store: every new call checks and takes its levels (cluster,
 * carrier, switch) in one atomic step, cluster-wide. Expected outcomes are values: admitted with
 * a `release` handle (exactly once, whatever ends the call), or refused with the status, reason
 * and Retry-After the caller gets.
 *
 * - A failover re-attempt of an admitted call charges only the new switch's CPS.
 * - Spike buffer (optional): an INVITE over a CPS cap waits, up to `spikeBufferMs`, for the slot
 *   the store says is next, instead of being refused at once.
 * - Store unreachable: `fail-closed` refuses with 503; `fail-open` admits against a local store
 *   whose caps are the cluster caps divided by the live nodes last seen. Calls admitted either
 *   way are in `LocalCalls`, so they reach the store when it is back.
 */
import { ERROR_CODES, isSipfleetError } from '../../shared/errors.ts';
import type { CarrierConfig, ClusterConfig, RedisOutageMode } from '../../shared/config/config-types.ts';
import { levelKey, type AdmitResult, type LevelKind, type ClusterLimitsRecord, type ClusterStore, type LevelLimit } from '../../shared/cluster-store/cluster-store.ts';
import type { Logger } from '../../shared/log.ts';
import type { LocalCalls } from '../cluster/local-calls.ts';
import type { NodeMembership } from '../cluster/node-membership.ts';
import type { Admission, AdmissionDecision, AdmissionRequest, AdmissionStats, CallEndReason } from './admission.ts';

export interface StoreAdmissionOptions {
  store: ClusterStore;
  /** Used while the store is unreachable under `fail-open`. */
  fallback: ClusterStore;
  membership: NodeMembership;
  localCalls: LocalCalls;
  nodeId: string;
  cluster: ClusterConfig;
  logger: Logger;
  /** Live view of the switches' caps (the registry: caps change at run time). */
  switches: () => ReadonlyMap<string, { readonly cps?: number | undefined; readonly channels?: number | undefined }>;
  carriers: () => ReadonlyMap<string, CarrierConfig>;
  /** The cluster's caps as they are now (live: the ops API resizes them without a restart). */
  clusterLimits?: () => ClusterLimitsRecord;
  sleep?: (ms: number) => Promise<void>;
}

const CHANNEL_RETRY_AFTER_S = 5;
/** Level ids kept made per kind (see `StoreAdmission.#levelKey`). */
const LEVEL_KEYS_MAX = 10_000;

export class StoreAdmission implements Admission {
  readonly #o: StoreAdmissionOptions;
  readonly #sleep: (ms: number) => Promise<void>;
  /** This node's epoch in the fallback (local) store; it never reaps, so one registration lasts. */
  #fallbackEpoch: number | undefined;
  /**
   * Level ids (`kind:id`) made once per id rather than a string per call and level: they are
   * the same few for every call, and a call's strings wait with it for Redis.
   */
  readonly #levelKeys: Record<LevelKind, Map<string, string>> = { cluster: new Map(), carrier: new Map(), user: new Map(), switch: new Map() };
  readonly #stats: AdmissionStats = {
    admitted: 0,
    refusedCps: 0,
    refusedChannels: 0,
    refusedStore: 0,
    admittedLocally: 0,
    released: 0,
    releaseNotFound: 0,
  };

  constructor(opts: StoreAdmissionOptions) {
    this.#o = opts;
    this.#sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  stats(): AdmissionStats {
    return { ...this.#stats };
  }

  get policy(): RedisOutageMode {
    return this.#o.cluster.redisOutage;
  }

  async admit(req: AdmissionRequest): Promise<AdmissionDecision> {
    const levels = this.#levels(req);
    const key = admissionKey(req);
    const meta = callMeta(req);
    const carrier = req.carrierId === undefined ? undefined : this.#o.carriers().get(req.carrierId);
    const deadline = Date.now() + this.#o.cluster.spikeBuffer;
    for (;;) {
      const outcome = await this.#admitOnce(key, levels, meta);
      if (outcome.kind === 'decision') {
        this.#stats.refusedStore++;
        return outcome.decision;
      }
      const r = outcome.result;
      if (r.admitted) {
        if (outcome.store === 'local') this.#stats.admittedLocally++;
        else this.#stats.admitted++;
        return this.#admitted(key, levels, meta, r.startedAtMs, outcome.store);
      }
      if (r.reason === 'cps' && Date.now() + r.retryAfterMs <= deadline) {
        await this.#sleep(Math.max(1, r.retryAfterMs));
        continue;
      }
      if (r.reason === 'cps') this.#stats.refusedCps++;
      else if (r.reason === 'channels') this.#stats.refusedChannels++;
      return refusal(r, carrier);
    }
  }

  async #admitOnce(
    key: string,
    levels: LevelLimit[],
    meta: Record<string, string>,
  ): Promise<{ kind: 'result'; result: AdmitResult; store: 'cluster' | 'local' } | { kind: 'decision'; decision: AdmissionDecision }> {
    const o = this.#o;
    const maxAgeMs = o.cluster.maxCallAge;
    const epoch = o.membership.epoch;
    if (o.store.connected && epoch !== undefined) {
      try {
        let result = await o.store.admit({ callId: key, nodeId: o.nodeId, epoch, levels, maxAgeMs, meta });
        if (!result.admitted && result.reason === 'fenced') {
          await o.membership.register();
          const fresh = o.membership.epoch ?? epoch;
          result = await o.store.admit({ callId: key, nodeId: o.nodeId, epoch: fresh, levels, maxAgeMs, meta });
        }
        return { kind: 'result', result, store: 'cluster' };
      } catch (err) {
        if (!isSipfleetError(err) || err.code !== ERROR_CODES.STORE_ERR_UNAVAILABLE) {
          o.logger.error({ err, callId: meta.callId }, 'admission failed');
        }
      }
    }
    if (o.cluster.redisOutage === 'fail-closed') {
      return {
        kind: 'decision',
        decision: { admitted: false, status: 503, reason: 'Service Unavailable (Cluster Store Unreachable)', retryAfter: CHANNEL_RETRY_AFTER_S, limit: 'store', switchOnly: false },
      };
    }
    // fail-open: this node's share of every cap, counted locally.
    const share = o.membership.liveNodeCount;
    const local = levels.map((l) => ({
      ...l,
      cps: l.cps === undefined ? undefined : Math.max(1, Math.floor(l.cps / share)),
      channels: l.channels === undefined ? undefined : Math.max(1, Math.floor(l.channels / share)),
    }));
    this.#fallbackEpoch ??= (await o.fallback.registerNode(o.nodeId, 7 * 86_400_000)).epoch;
    const result = await o.fallback.admit({ callId: key, nodeId: o.nodeId, epoch: this.#fallbackEpoch, levels: local, maxAgeMs, meta });
    return { kind: 'result', result, store: 'local' };
  }

  #admitted(key: string, levels: LevelLimit[], meta: Record<string, string>, startedAtMs: number, where: 'cluster' | 'local'): AdmissionDecision {
    const o = this.#o;
    const call = {
      callId: key,
      levels: levels.map((l) => l.level),
      startedAtMs,
      expiresAtMs: startedAtMs + o.cluster.maxCallAge,
      meta,
    };
    o.localCalls.add(call);
    let released = false;
    return {
      admitted: true,
      release: (reason: CallEndReason) => {
        if (released) return;
        released = true;
        o.localCalls.remove(key);
        if (where === 'local') void o.fallback.release(key, o.nodeId, this.#fallbackEpoch ?? 0).catch(() => undefined);
        this.#releaseInStore(key, reason);
      },
    };
  }

  #releaseInStore(callId: string, reason: CallEndReason): void {
    const o = this.#o;
    const epoch = o.membership.epoch;
    if (epoch === undefined) return;
    o.store.release(callId, o.nodeId, epoch).then(
      (res) => {
        if (res === 'released') this.#stats.released++;
        else {
          this.#stats.releaseNotFound++;
          o.logger.debug({ callId, res, reason }, 'release found nothing to release');
        }
      },
      () => o.localCalls.deferRelease(callId, epoch),
    );
  }

  /** Cluster, carrier and switch levels of this attempt, with their current caps. */
  #levels(req: AdmissionRequest): LevelLimit[] {
    const o = this.#o;
    const chargeShared = req.reattempt !== true;
    const limits = o.clusterLimits?.() ?? o.cluster.limits;
    const levels: LevelLimit[] = [
      { level: this.#levelKey('cluster', o.cluster.name), cps: limits.cps, burst: limits.burst, channels: limits.channels, chargeCps: chargeShared },
    ];
    const carrier = req.carrierId === undefined ? undefined : o.carriers().get(req.carrierId);
    if (carrier !== undefined) {
      levels.push({ level: this.#levelKey('carrier', carrier.id), cps: carrier.cps, channels: carrier.channels, chargeCps: chargeShared });
    }
    if (req.user !== undefined) {
      levels.push({ level: this.#levelKey('user', req.user.id), cps: req.user.cps, channels: req.user.channels, chargeCps: chargeShared });
    }
    const sw = o.switches().get(req.switchId);
    levels.push({ level: this.#levelKey('switch', req.switchId), cps: sw?.cps, channels: sw?.channels, chargeCps: true });
    return levels;
  }

  #levelKey(kind: LevelKind, id: string): string {
    const cache = this.#levelKeys[kind];
    let key = cache.get(id);
    if (key === undefined) {
      key = levelKey(kind, id);
      // Ids come from the config, the registry and the registrar's users: a bound keeps a churn of them small.
      if (cache.size >= LEVEL_KEYS_MAX) cache.clear();
      cache.set(id, key);
    }
    return key;
  }
}

/**
 * The store's id for one call leg: the Call-ID with the caller's address. A call that spirals back
 * through the cluster keeps its Call-ID but arrives from a switch, so its second leg is a second
 * record instead of taking the first one over.
 */
function admissionKey(req: AdmissionRequest): string {
  return callKeyOf(req.callId, req.flow.remoteAddress);
}

/** The admission key of a call leg from its Call-ID and the caller's address (see `admissionKey`). */
export function callKeyOf(callId: string, sourceAddress: string): string {
  return `${callId}|${sourceAddress}`;
}

/** What the store keeps about the call for operators (listCalls), made once per admission. */
function callMeta(req: AdmissionRequest): Record<string, string> {
  // Assigned in place, in this order (the stored JSON's), rather than spread from a temporary object per field.
  const meta: Record<string, string> = { callId: req.callId, switch: req.switchId };
  if (req.carrierId !== undefined) meta.carrier = req.carrierId;
  if (req.user !== undefined) meta.user = req.user.id;
  if (req.relayId !== undefined) meta.relay = req.relayId;
  return meta;
}

function refusal(r: Exclude<AdmitResult, { admitted: true }>, carrier: CarrierConfig | undefined): AdmissionDecision {
  const switchOnly = r.level.startsWith('switch:');
  const status = !switchOnly && carrier?.rejectCode !== undefined ? carrier.rejectCode : 503;
  if (r.reason === 'cps') {
    return { admitted: false, status, reason: 'CPS Limit Reached', retryAfter: Math.max(1, Math.ceil(r.retryAfterMs / 1000)), limit: `${r.level}:cps`, switchOnly };
  }
  if (r.reason === 'channels') {
    return { admitted: false, status, reason: 'Channel Limit Reached', retryAfter: CHANNEL_RETRY_AFTER_S, limit: `${r.level}:channels`, switchOnly };
  }
  return { admitted: false, status: 503, reason: 'Service Unavailable (Node Fenced)', retryAfter: 1, limit: 'node', switchOnly: false };
}
