/**
 * The `memory` adapter of the cluster store: one node, in process, the embedded default. Same
 * semantics as the redis adapter (the same contract suite runs against both): each method is one
 * synchronous step, hence atomic; CPS is an exact sliding 1 s window (`cps-window.ts`) on the store clock.
 *
 * Bounded: state is O(live calls + levels + nodes + switches + live probe reports + live sticky
 * keys). Released calls leave nothing behind; idle GCRA and admission-log entries, expired probe
 * reports and expired sticky keys are dropped by `reap()` (and lazily when read or written); the
 * expiry heap compacts itself.
 *
 * Registry listeners run in a microtask after each change (never inside the mutating call), once
 * per change that changed something; the "peer" of a single-node store is the store itself.
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
  LeaseClaim,
  LeaseRenewResult,
  LeaseState,
  LevelStats,
  MediaSessionRecord,
  NodeLease,
  ProbeReport,
  ReapResult,
  RelayRecord,
  ReleaseResult,
  SwitchRecord,
} from './cluster-store.ts';
import { ORPHAN_NODE, type DialogStateRecord } from './cluster-store.ts';
import { AdmissionLog } from './admission-log.ts';
import { ChangeListeners } from './change-listeners.ts';
import { clusterLimitsJson, parseClusterLimits } from './cluster-limits-record.ts';
import { normalizeRelayRecord, normalizeRelaySeed } from './normalize-relay-record.ts';
import { normalizeSeed, normalizeSwitchRecord } from './normalize-switch-record.ts';
import { byId, byReport } from './record-order.ts';
import { ExpiryQueue } from './expiry-queue.ts';
import { cpsParams, cpsStep } from './cps-window.ts';
import {
  assertAdmitRequest,
  normalizeDialogRecord,
  assertEpoch,
  assertId,
  assertLeaseEpoch,
  assertLeaseName,
  assertLeasePriority,
  assertMediaSession,
  assertProbeReport,
  assertResyncCalls,
  assertStickyKey,
  assertSwitchId,
  assertTtl,
  callsLimit,
} from './validate-store-args.ts';

/** Where the memory store reads time: ms since the epoch, sub-ms precision welcome. */
export interface StoreClock {
  nowMs(): number;
}

/** Wall-clock time that never steps back within the process. */
export const performanceClock: StoreClock = { nowMs: () => performance.timeOrigin + performance.now() };

interface MemoryCall {
  readonly callId: string;
  readonly nodeId: string;
  readonly epoch: number;
  readonly levels: readonly string[];
  readonly startedAtMs: number;
  readonly expiresAtMs: number;
  readonly meta: Readonly<Record<string, string>>;
}

function byStart(a: MemoryCall, b: MemoryCall): number {
  return a.startedAtMs - b.startedAtMs || (a.callId < b.callId ? -1 : a.callId > b.callId ? 1 : 0);
}

interface MemoryMediaSession extends MediaSessionRecord {
  /** Store-clock ms (sub-ms precision); the session is live while the clock is at or before it. */
  readonly expiresAtMs: number;
}

function byMediaStart(a: MemoryMediaSession, b: MemoryMediaSession): number {
  return a.startedAtMs - b.startedAtMs || (a.callId < b.callId ? -1 : a.callId > b.callId ? 1 : 0);
}

function toMediaRecord(m: MemoryMediaSession): MediaSessionRecord {
  return { callId: m.callId, fromTag: m.fromTag, relayId: m.relayId, nodeId: m.nodeId, startedAtMs: m.startedAtMs };
}

function toRecord(c: MemoryCall): CallRecord {
  return { ...c, levels: [...c.levels], meta: { ...c.meta } };
}

/** Expired sticky keys dropped by one `stickySet`, oldest first (`reap()` sweeps the rest). */
const STICKY_PRUNE_STEP = 100;

interface Expiring<T> {
  readonly value: T;
  /** Store-clock ms (sub-ms precision) from which the entry is gone. */
  readonly expiresAtMs: number;
}

/** Drops the expired entries of a map; with `max`, only that many from the front (oldest written). */
function pruneExpired<T>(map: Map<string, Expiring<T>>, nowMs: number, max = Infinity): void {
  let seen = 0;
  for (const [key, entry] of map) {
    if (seen++ >= max) break;
    if (entry.expiresAtMs <= nowMs) map.delete(key);
  }
}

/** One named lease: the grant (holder '' when free) and the live claim of another holder. */
interface MemoryLease {
  holder: string;
  epoch: number;
  /** Store-clock ms; the grant is live while now < expiresAtMs. */
  expiresAtMs: number;
  claim: (LeaseClaim & { expiresAtMs: number }) | undefined;
}

export class MemoryClusterStore implements ClusterStore {
  readonly #clock: StoreClock;
  readonly #epochs = new Map<string, number>();
  /** nodeId → lease expiry ms. */
  readonly #leases = new Map<string, number>();
  readonly #info = new Map<string, Readonly<Record<string, string>>>();
  readonly #calls = new Map<string, MemoryCall>();
  /** level → callIds holding it; the size is the level's channel count. */
  readonly #levelCalls = new Map<string, Set<string>>();
  /** nodeId → its callIds (all under its current epoch: an epoch bump releases the rest at once). */
  readonly #nodeCalls = new Map<string, Set<string>>();
  readonly #admits = new Map<string, AdmissionLog>();
  readonly #expiry: ExpiryQueue<MemoryCall>;
  readonly #listeners = new Set<(connected: boolean) => void>();
  /** The registry: id → canonical record. */
  readonly #switches = new Map<string, SwitchRecord>();
  readonly #switchListeners: ChangeListeners;
  /** The relay registry: id → canonical record. */
  readonly #relays = new Map<string, RelayRecord>();
  /** callId → its media session (expired ones are dropped before any media read or write). */
  readonly #media = new Map<string, MemoryMediaSession>();
  /** relayId → callIds of its sessions; the size is the relay's session count. */
  readonly #relayMedia = new Map<string, Set<string>>();
  readonly #mediaExpiry: ExpiryQueue<MemoryMediaSession>;
  /** The cluster's caps, canonical JSON (undefined until seeded or set). */
  #clusterLimits: string | undefined;
  /** `<switchId>:<nodeId>` → report. */
  readonly #probes = new Map<string, Expiring<ProbeReport>>();
  /** Source key → switch id; re-inserted on every set, so roughly oldest expiry first. */
  readonly #sticky = new Map<string, Expiring<string>>();
  /** Made on first use: most memory stores (tests) never log. */
  /** Named leases (a few per cluster: one per floating IP); kept for their epoch counter. */
  readonly #namedLeases = new Map<string, MemoryLease>();
  /** Call-ID → its dialog record (dropped when expired, lazily and by `reap()`). */
  readonly #dialogs = new Map<string, Expiring<DialogStateRecord>>();
  /** Admission key → the Call-ID of the dialog record naming it (checked against the record when read). */
  readonly #dialogKeys = new Map<string, string>();
  #logger: Logger | undefined;
  #closed = false;

  constructor(options: { clock?: StoreClock; logger?: Logger } = {}) {
    this.#clock = options.clock ?? performanceClock;
    this.#logger = options.logger?.child({ component: 'cluster-store', store: 'memory' });
    this.#switchListeners = new ChangeListeners((err, why) => this.#log().error({ err, why }, 'switches-changed listener failed'));
    this.#expiry = new ExpiryQueue<MemoryCall>({
      isLive: (c) => this.#calls.get(c.callId) === c,
      live: () => [...this.#calls.values()].map((c) => ({ expiresAtMs: c.expiresAtMs, item: c })),
      liveCount: () => this.#calls.size,
    });
    this.#mediaExpiry = new ExpiryQueue<MemoryMediaSession>({
      isLive: (m) => this.#media.get(m.callId) === m,
      live: () => [...this.#media.values()].map((m) => ({ expiresAtMs: m.expiresAtMs, item: m })),
      liveCount: () => this.#media.size,
    });
  }

  get connected(): boolean {
    return !this.#closed;
  }

  onConnectionChange(listener: (connected: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #log(): Logger {
    this.#logger ??= createLogger({ component: 'cluster-store', store: 'memory' });
    return this.#logger;
  }

  #nowUs(): number {
    return Math.floor(this.#clock.nowMs() * 1000);
  }

  #assertOpen(op: string): void {
    if (this.#closed) throw new SipfleetError('STORE_ERR_UNAVAILABLE', `cluster store ${op}: the store is closed`, { detail: { op } });
  }

  #release(call: MemoryCall): void {
    this.#calls.delete(call.callId);
    for (const level of call.levels) {
      const set = this.#levelCalls.get(level);
      set?.delete(call.callId);
      if (set?.size === 0) this.#levelCalls.delete(level);
    }
    const own = this.#nodeCalls.get(call.nodeId);
    own?.delete(call.callId);
    if (own?.size === 0) this.#nodeCalls.delete(call.nodeId);
  }

  /** Whether a live dialog record names this call's admission key. */
  #hasDialog(callKey: string, nowMs: number): boolean {
    const id = this.#dialogKeys.get(callKey);
    const d = id === undefined ? undefined : this.#dialogs.get(id);
    return d !== undefined && d.expiresAtMs > nowMs && d.value.callKey === callKey;
  }

  /** `owned` false: an orphan, in no node's call set (like Redis, where it is in no `node:calls:` set). */
  #insert(call: MemoryCall, owned = true): void {
    this.#calls.set(call.callId, call);
    for (const level of call.levels) {
      let set = this.#levelCalls.get(level);
      if (set === undefined) this.#levelCalls.set(level, (set = new Set()));
      set.add(call.callId);
    }
    if (owned) {
      let own = this.#nodeCalls.get(call.nodeId);
      if (own === undefined) this.#nodeCalls.set(call.nodeId, (own = new Set()));
      own.add(call.callId);
    }
    this.#expiry.push(call.expiresAtMs, call);
  }

  /**
   * Fencing: a new epoch, max(old + 1, now ms), and every call of the node released, except those
   * with a live dialog record: they become orphans (node ORPHAN_NODE, epoch 0, same levels and
   * expiry) until `releaseOrphan` or their maximum age. Returns how many were released.
   */
  #bumpEpoch(nodeId: string, nowMs: number): { epoch: number; released: number } {
    const epoch = Math.max((this.#epochs.get(nodeId) ?? 0) + 1, Math.floor(nowMs));
    this.#epochs.set(nodeId, epoch);
    let released = 0;
    for (const callId of [...(this.#nodeCalls.get(nodeId) ?? [])]) {
      const call = this.#calls.get(callId);
      if (call === undefined) continue;
      this.#release(call);
      if (this.#hasDialog(callId, this.#clock.nowMs())) this.#insert({ ...call, nodeId: ORPHAN_NODE, epoch: 0 }, false);
      else released++;
    }
    this.#nodeCalls.delete(nodeId);
    return { epoch, released };
  }

  #isCurrent(nodeId: string, epoch: number): boolean {
    return this.#epochs.get(nodeId) === epoch;
  }

  async registerNode(nodeId: string, ttlMs: number, info: Readonly<Record<string, string>> = {}): Promise<NodeLease> {
    this.#assertOpen('registerNode');
    assertId('nodeId', nodeId);
    assertTtl(ttlMs);
    const nowMs = Math.floor(this.#nowUs() / 1000);
    const { epoch } = this.#bumpEpoch(nodeId, nowMs);
    const expiresAtMs = nowMs + Math.ceil(ttlMs);
    this.#leases.set(nodeId, expiresAtMs);
    this.#info.set(nodeId, { ...info });
    return { nodeId, epoch, expiresAtMs };
  }

  async heartbeat(nodeId: string, epoch: number, ttlMs: number): Promise<'ok' | 'fenced'> {
    this.#assertOpen('heartbeat');
    assertId('nodeId', nodeId);
    assertEpoch(epoch);
    assertTtl(ttlMs);
    if (!this.#isCurrent(nodeId, epoch) || !this.#leases.has(nodeId)) return 'fenced';
    this.#leases.set(nodeId, Math.floor(this.#nowUs() / 1000) + Math.ceil(ttlMs));
    return 'ok';
  }

  async deregisterNode(nodeId: string, epoch: number): Promise<void> {
    this.#assertOpen('deregisterNode');
    assertId('nodeId', nodeId);
    assertEpoch(epoch);
    if (!this.#isCurrent(nodeId, epoch)) return;
    this.#bumpEpoch(nodeId, Math.floor(this.#nowUs() / 1000));
    this.#leases.delete(nodeId);
    this.#info.delete(nodeId);
  }

  async liveNodes(): Promise<NodeLease[]> {
    this.#assertOpen('liveNodes');
    const nowMs = Math.floor(this.#nowUs() / 1000);
    const nodes: NodeLease[] = [];
    for (const [nodeId, expiresAtMs] of this.#leases) {
      if (expiresAtMs >= nowMs) nodes.push({ nodeId, epoch: this.#epochs.get(nodeId) ?? 0, expiresAtMs, info: { ...(this.#info.get(nodeId) ?? {}) } });
    }
    return nodes.sort((a, b) => a.expiresAtMs - b.expiresAtMs || (a.nodeId < b.nodeId ? -1 : 1));
  }

  async admit(req: AdmitRequest): Promise<AdmitResult> {
    this.#assertOpen('admit');
    assertAdmitRequest(req);
    const nowUs = this.#nowUs();
    const nowMs = Math.floor(nowUs / 1000);
    if (!this.#isCurrent(req.nodeId, req.epoch)) return { admitted: false, level: 'node', reason: 'fenced', retryAfterMs: 0 };

    // A re-attempt (or a takeover) releases the call's old levels first; a refusal leaves it released.
    const old = this.#calls.get(req.callId);
    if (old !== undefined) this.#release(old);

    for (const l of req.levels) {
      if (l.channels !== undefined && (this.#levelCalls.get(l.level)?.size ?? 0) >= l.channels) {
        return { admitted: false, level: l.level, reason: 'channels', retryAfterMs: 0 };
      }
      const cps = l.chargeCps === false ? undefined : cpsParams(l);
      if (cps !== undefined) {
        const log = this.#admits.get(l.level);
        const step = cpsStep(nowUs, cps, { count: log?.count(nowUs) ?? 0, oldestUs: log?.oldest(nowUs) });
        if (!step.ok) return { admitted: false, level: l.level, reason: 'cps', retryAfterMs: Math.ceil(step.retryAfterUs / 1000) };
      }
    }

    for (const l of req.levels) {
      if (l.chargeCps === false) continue;
      let log = this.#admits.get(l.level);
      if (log === undefined) this.#admits.set(l.level, (log = new AdmissionLog()));
      log.add(nowUs);
    }
    this.#insert({
      callId: req.callId,
      nodeId: req.nodeId,
      epoch: req.epoch,
      levels: req.levels.map((l) => l.level),
      startedAtMs: nowMs,
      expiresAtMs: Math.round(nowMs + req.maxAgeMs),
      meta: { ...req.meta },
    });
    return { admitted: true, startedAtMs: nowMs };
  }

  async release(callId: string, nodeId: string, epoch: number): Promise<ReleaseResult> {
    this.#assertOpen('release');
    assertId('callId', callId);
    assertId('nodeId', nodeId);
    assertEpoch(epoch);
    if (!this.#isCurrent(nodeId, epoch)) return 'fenced';
    const call = this.#calls.get(callId);
    if (call === undefined || call.nodeId !== nodeId || call.epoch !== epoch) return 'not-found';
    this.#release(call);
    return 'released';
  }

  async resyncCalls(nodeId: string, epoch: number, calls: readonly Omit<CallRecord, 'nodeId' | 'epoch'>[]): Promise<number> {
    this.#assertOpen('resyncCalls');
    assertId('nodeId', nodeId);
    assertEpoch(epoch);
    assertResyncCalls(calls);
    if (!this.#isCurrent(nodeId, epoch)) return 0;
    let added = 0;
    for (const c of calls) {
      if (this.#calls.has(c.callId)) continue;
      this.#insert({
        callId: c.callId,
        nodeId,
        epoch,
        levels: [...c.levels],
        startedAtMs: Math.floor(c.startedAtMs),
        expiresAtMs: Math.floor(c.expiresAtMs),
        meta: { ...c.meta },
      });
      added++;
    }
    return added;
  }

  async reap(): Promise<ReapResult> {
    this.#assertOpen('reap');
    const nowUs = this.#nowUs();
    const nowMs = Math.floor(nowUs / 1000);
    const nodes: string[] = [];
    let calls = 0;
    for (const [nodeId, expiresAtMs] of [...this.#leases]) {
      if (expiresAtMs >= nowMs) continue;
      calls += this.#bumpEpoch(nodeId, nowMs).released;
      this.#leases.delete(nodeId);
      this.#info.delete(nodeId);
      nodes.push(nodeId);
    }
    for (;;) {
      const expired = this.#expiry.popExpired(nowMs, 1000);
      for (const call of expired) this.#release(call);
      calls += expired.length;
      if (expired.length < 1000) break;
    }
    // Forget idle CPS state: a TAT in the past means the same as none, an old log counts nothing.
    for (const [level, log] of this.#admits) {
      log.trim(nowUs);
      if (log.size === 0) this.#admits.delete(level);
    }
    pruneExpired(this.#probes, this.#clock.nowMs());
    pruneExpired(this.#sticky, this.#clock.nowMs());
    this.#pruneDialogs(this.#clock.nowMs());
    this.#pruneMedia(this.#clock.nowMs());
    return { nodes, calls };
  }

  // ---- dialog state ----

  #pruneDialogs(nowMs: number): void {
    for (const [id, d] of this.#dialogs) {
      if (d.expiresAtMs > nowMs) continue;
      this.#dialogs.delete(id);
      if (this.#dialogKeys.get(d.value.callKey) === id) this.#dialogKeys.delete(d.value.callKey);
    }
  }

  async putDialog(dialog: DialogStateRecord, ttlMs: number): Promise<void> {
    this.#assertOpen('putDialog');
    const value = normalizeDialogRecord(dialog);
    assertTtl(ttlMs);
    const old = this.#dialogs.get(dialog.callId);
    if (old !== undefined && this.#dialogKeys.get(old.value.callKey) === dialog.callId) this.#dialogKeys.delete(old.value.callKey);
    // Re-inserted: the map stays roughly in expiry order.
    this.#dialogs.delete(dialog.callId);
    this.#dialogs.set(dialog.callId, { value, expiresAtMs: this.#clock.nowMs() + ttlMs });
    this.#dialogKeys.set(dialog.callKey, dialog.callId);
  }

  async getDialog(callId: string): Promise<DialogStateRecord | undefined> {
    this.#assertOpen('getDialog');
    assertId('callId', callId);
    const d = this.#dialogs.get(callId);
    if (d === undefined || d.expiresAtMs <= this.#clock.nowMs()) return undefined;
    return { ...d.value, caller: { ...d.value.caller }, switch: { ...d.value.switch } };
  }

  async removeDialog(callId: string): Promise<boolean> {
    this.#assertOpen('removeDialog');
    assertId('callId', callId);
    const d = this.#dialogs.get(callId);
    if (d === undefined) return false;
    this.#dialogs.delete(callId);
    if (this.#dialogKeys.get(d.value.callKey) === callId) this.#dialogKeys.delete(d.value.callKey);
    return d.expiresAtMs > this.#clock.nowMs();
  }

  async releaseOrphan(callKey: string): Promise<'released' | 'not-found'> {
    this.#assertOpen('releaseOrphan');
    assertId('callKey', callKey);
    const call = this.#calls.get(callKey);
    if (call === undefined || call.nodeId !== ORPHAN_NODE || call.epoch !== 0) return 'not-found';
    this.#release(call);
    return 'released';
  }

  async levelStats(levels: readonly string[]): Promise<LevelStats[]> {
    this.#assertOpen('levelStats');
    for (const level of levels) assertId('level', level);
    const nowUs = this.#nowUs();
    return levels.map((level) => ({
      level,
      channels: this.#levelCalls.get(level)?.size ?? 0,
      cpsNow: this.#admits.get(level)?.count(nowUs) ?? 0,
    }));
  }

  async calls(level?: string, limit?: number): Promise<CallRecord[]> {
    this.#assertOpen('calls');
    if (level !== undefined) assertId('level', level);
    const n = callsLimit(limit);
    const ids = level === undefined ? this.#calls.keys() : (this.#levelCalls.get(level) ?? new Set<string>()).values();
    const calls: MemoryCall[] = [];
    for (const id of ids) {
      const call = this.#calls.get(id);
      if (call !== undefined) calls.push(call);
    }
    return calls.sort(byStart).slice(0, n).map(toRecord);
  }

  async now(): Promise<number> {
    this.#assertOpen('now');
    return Math.floor(this.#clock.nowMs());
  }

  // ---- switch registry ----

  /** After a change: the listeners run once the mutating call has returned (a microtask). */
  #changed(): void {
    queueMicrotask(() => {
      if (!this.#closed) this.#switchListeners.notify('change');
    });
  }

  async listSwitches(): Promise<SwitchRecord[]> {
    this.#assertOpen('listSwitches');
    return [...this.#switches.values()].sort(byId).map((sw) => ({ ...sw }));
  }

  async putSwitch(sw: SwitchRecord): Promise<void> {
    this.#assertOpen('putSwitch');
    const record = normalizeSwitchRecord(sw);
    const old = this.#switches.get(record.id);
    if (old !== undefined && JSON.stringify(old) === JSON.stringify(record)) return;
    this.#switches.set(record.id, record);
    this.#changed();
  }

  async removeSwitch(id: string): Promise<boolean> {
    this.#assertOpen('removeSwitch');
    assertSwitchId('id', id);
    if (!this.#switches.delete(id)) return false;
    this.#changed();
    return true;
  }

  async getClusterLimits(): Promise<ClusterLimitsRecord | undefined> {
    this.#assertOpen('getClusterLimits');
    return parseClusterLimits(this.#clusterLimits);
  }

  async putClusterLimits(limits: ClusterLimitsRecord): Promise<void> {
    this.#assertOpen('putClusterLimits');
    const json = clusterLimitsJson(limits);
    if (json === this.#clusterLimits) return;
    this.#clusterLimits = json;
    this.#changed();
  }

  async seedClusterLimits(limits: ClusterLimitsRecord): Promise<boolean> {
    this.#assertOpen('seedClusterLimits');
    const json = clusterLimitsJson(limits);
    if (this.#clusterLimits !== undefined) return false;
    this.#clusterLimits = json;
    this.#changed();
    return true;
  }

  async seedSwitches(switches: readonly SwitchRecord[]): Promise<number> {
    this.#assertOpen('seedSwitches');
    let added = 0;
    for (const record of normalizeSeed(switches)) {
      if (this.#switches.has(record.id)) continue;
      this.#switches.set(record.id, record);
      added++;
    }
    if (added > 0) this.#changed();
    return added;
  }

  onSwitchesChanged(listener: () => void): () => void {
    if (this.#closed) return () => {};
    return this.#switchListeners.add(listener);
  }

  // ---- media relays ----

  async listRelays(): Promise<RelayRecord[]> {
    this.#assertOpen('listRelays');
    return [...this.#relays.values()].sort(byId).map((relay) => ({ ...relay }));
  }

  async putRelay(relay: RelayRecord): Promise<void> {
    this.#assertOpen('putRelay');
    const record = normalizeRelayRecord(relay);
    const old = this.#relays.get(record.id);
    if (old !== undefined && JSON.stringify(old) === JSON.stringify(record)) return;
    this.#relays.set(record.id, record);
    this.#changed();
  }

  async removeRelay(id: string): Promise<boolean> {
    this.#assertOpen('removeRelay');
    assertSwitchId('id', id);
    if (!this.#relays.delete(id)) return false;
    this.#changed();
    return true;
  }

  async seedRelays(relays: readonly RelayRecord[]): Promise<number> {
    this.#assertOpen('seedRelays');
    let added = 0;
    for (const record of normalizeRelaySeed(relays)) {
      if (this.#relays.has(record.id)) continue;
      this.#relays.set(record.id, record);
      added++;
    }
    if (added > 0) this.#changed();
    return added;
  }

  // ---- media sessions ----

  #dropMedia(m: MemoryMediaSession): void {
    this.#media.delete(m.callId);
    const set = this.#relayMedia.get(m.relayId);
    set?.delete(m.callId);
    if (set?.size === 0) this.#relayMedia.delete(m.relayId);
  }

  /** Drops every session whose expiry is before `nowMs` (live while `nowMs <= expiresAtMs`, like a Redis PEXPIRE). */
  #pruneMedia(nowMs: number): void {
    for (;;) {
      const expired = this.#mediaExpiry.popExpired(nowMs, 1000);
      for (const m of expired) this.#dropMedia(m);
      if (expired.length < 1000) return;
    }
  }

  async putMediaSession(session: Omit<MediaSessionRecord, 'startedAtMs'>, ttlMs: number): Promise<void> {
    this.#assertOpen('putMediaSession');
    assertMediaSession(session);
    assertTtl(ttlMs);
    const nowMs = this.#clock.nowMs();
    this.#pruneMedia(nowMs);
    const old = this.#media.get(session.callId);
    if (old !== undefined) this.#dropMedia(old);
    const m: MemoryMediaSession = {
      callId: session.callId,
      fromTag: session.fromTag,
      relayId: session.relayId,
      nodeId: session.nodeId,
      startedAtMs: Math.floor(nowMs),
      expiresAtMs: nowMs + ttlMs,
    };
    this.#media.set(m.callId, m);
    let set = this.#relayMedia.get(m.relayId);
    if (set === undefined) this.#relayMedia.set(m.relayId, (set = new Set()));
    set.add(m.callId);
    this.#mediaExpiry.push(m.expiresAtMs, m);
  }

  async getMediaSession(callId: string): Promise<MediaSessionRecord | undefined> {
    this.#assertOpen('getMediaSession');
    assertId('callId', callId);
    this.#pruneMedia(this.#clock.nowMs());
    const m = this.#media.get(callId);
    return m === undefined ? undefined : toMediaRecord(m);
  }

  async removeMediaSession(callId: string): Promise<boolean> {
    this.#assertOpen('removeMediaSession');
    assertId('callId', callId);
    this.#pruneMedia(this.#clock.nowMs());
    const m = this.#media.get(callId);
    if (m === undefined) return false;
    this.#dropMedia(m);
    return true;
  }

  async listMediaSessions(limit?: number): Promise<MediaSessionRecord[]> {
    this.#assertOpen('listMediaSessions');
    const n = callsLimit(limit);
    this.#pruneMedia(this.#clock.nowMs());
    return [...this.#media.values()].sort(byMediaStart).slice(0, n).map(toMediaRecord);
  }

  async relaySessionCounts(): Promise<Record<string, number>> {
    this.#assertOpen('relaySessionCounts');
    this.#pruneMedia(this.#clock.nowMs());
    const counts: Record<string, number> = {};
    for (const relayId of [...this.#relayMedia.keys()].sort()) counts[relayId] = this.#relayMedia.get(relayId)?.size ?? 0;
    return counts;
  }

  // ---- probe reports and stickiness ----

  async putProbeReport(report: Omit<ProbeReport, 'atMs'>, ttlMs: number): Promise<void> {
    this.#assertOpen('putProbeReport');
    assertProbeReport(report);
    assertTtl(ttlMs);
    const nowMs = this.#clock.nowMs();
    const stored: { -readonly [K in keyof ProbeReport]: ProbeReport[K] } = {
      switchId: report.switchId,
      nodeId: report.nodeId,
      up: report.up,
      atMs: Math.floor(nowMs),
    };
    if (report.latencyMs !== undefined) stored.latencyMs = report.latencyMs;
    if (report.p99Ms !== undefined) stored.p99Ms = report.p99Ms;
    pruneExpired(this.#probes, nowMs);
    this.#probes.set(`${report.switchId}:${report.nodeId}`, { value: stored, expiresAtMs: nowMs + ttlMs });
  }

  async probeReports(switchId?: string): Promise<ProbeReport[]> {
    this.#assertOpen('probeReports');
    if (switchId !== undefined) assertSwitchId('switchId', switchId);
    pruneExpired(this.#probes, this.#clock.nowMs());
    const reports: ProbeReport[] = [];
    for (const { value } of this.#probes.values()) if (switchId === undefined || value.switchId === switchId) reports.push({ ...value });
    return reports.sort(byReport);
  }

  async stickyGet(key: string): Promise<string | undefined> {
    this.#assertOpen('stickyGet');
    assertStickyKey(key);
    const entry = this.#sticky.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAtMs > this.#clock.nowMs()) return entry.value;
    this.#sticky.delete(key);
    return undefined;
  }

  async stickySet(key: string, switchId: string, ttlMs: number): Promise<void> {
    this.#assertOpen('stickySet');
    assertStickyKey(key);
    assertSwitchId('switchId', switchId);
    assertTtl(ttlMs);
    const nowMs = this.#clock.nowMs();
    pruneExpired(this.#sticky, nowMs, STICKY_PRUNE_STEP);
    this.#sticky.delete(key);
    this.#sticky.set(key, { value: switchId, expiresAtMs: nowMs + ttlMs });
  }

  // ---- named leases ----

  async acquireLease(name: string, holder: string, ttlMs: number, priority = 0): Promise<LeaseAcquireResult> {
    this.#assertOpen('acquireLease');
    assertLeaseName(name);
    assertId('holder', holder);
    assertTtl(ttlMs);
    assertLeasePriority(priority);
    const nowMs = Math.floor(this.#clock.nowMs());
    let lease = this.#namedLeases.get(name);
    if (lease === undefined) this.#namedLeases.set(name, (lease = { holder: '', epoch: 0, expiresAtMs: 0, claim: undefined }));
    const live = lease.holder !== '' && lease.expiresAtMs > nowMs;
    const claim = lease.claim !== undefined && lease.claim.expiresAtMs > nowMs ? lease.claim : undefined;
    if (live && lease.holder !== holder) {
      if (claim === undefined || claim.holder === holder || priority > claim.priority) {
        lease.claim = { holder, priority, expiresAtMs: nowMs + Math.ceil(ttlMs) };
      }
      return { acquired: false, holder: lease.holder, epoch: lease.epoch, remainingMs: lease.expiresAtMs - nowMs };
    }
    if (claim !== undefined && claim.holder !== holder && claim.priority > priority) {
      return { acquired: false, holder: undefined, reservedFor: claim.holder, epoch: lease.epoch, remainingMs: 0 };
    }
    const lapsed = lease.holder !== '' && !live ? { holder: lease.holder, agoMs: nowMs - lease.expiresAtMs } : undefined;
    lease.holder = holder;
    lease.epoch += 1;
    lease.expiresAtMs = nowMs + Math.ceil(ttlMs);
    if (claim === undefined || claim.holder === holder) lease.claim = undefined;
    return { acquired: true, epoch: lease.epoch, expiresAtMs: lease.expiresAtMs, ...(lapsed === undefined ? {} : { lapsed }) };
  }

  async renewLease(name: string, holder: string, epoch: number, ttlMs: number): Promise<LeaseRenewResult> {
    this.#assertOpen('renewLease');
    assertLeaseName(name);
    assertId('holder', holder);
    assertLeaseEpoch(epoch);
    assertTtl(ttlMs);
    const nowMs = Math.floor(this.#clock.nowMs());
    const lease = this.#namedLeases.get(name);
    if (lease === undefined || lease.holder !== holder || lease.epoch !== epoch || lease.expiresAtMs <= nowMs) return { renewed: false };
    lease.expiresAtMs = nowMs + Math.ceil(ttlMs);
    const claim = lease.claim !== undefined && lease.claim.expiresAtMs > nowMs && lease.claim.holder !== holder ? lease.claim : undefined;
    return { renewed: true, expiresAtMs: lease.expiresAtMs, ...(claim === undefined ? {} : { wantedBy: { holder: claim.holder, priority: claim.priority } }) };
  }

  async releaseLease(name: string, holder: string, epoch: number): Promise<boolean> {
    this.#assertOpen('releaseLease');
    assertLeaseName(name);
    assertId('holder', holder);
    assertLeaseEpoch(epoch);
    const lease = this.#namedLeases.get(name);
    if (lease === undefined || lease.holder !== holder || lease.epoch !== epoch) return false;
    lease.holder = '';
    lease.expiresAtMs = 0;
    return true;
  }

  async getLease(name: string): Promise<LeaseState | undefined> {
    this.#assertOpen('getLease');
    assertLeaseName(name);
    const lease = this.#namedLeases.get(name);
    if (lease === undefined) return undefined;
    const nowMs = Math.floor(this.#clock.nowMs());
    const live = lease.holder !== '' && lease.expiresAtMs > nowMs;
    const claim = lease.claim !== undefined && lease.claim.expiresAtMs > nowMs ? lease.claim : undefined;
    return {
      name,
      holder: live ? lease.holder : undefined,
      epoch: lease.epoch,
      expiresAtMs: live ? lease.expiresAtMs : 0,
      ...(claim === undefined ? {} : { wantedBy: { holder: claim.holder, priority: claim.priority } }),
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#switchListeners.clear();
    for (const listener of this.#listeners) listener(false);
    this.#listeners.clear();
  }
}
