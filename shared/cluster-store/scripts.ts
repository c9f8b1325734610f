/**
 * The typed face of the Lua scripts in `lua/`: each file is read once at startup, prefixed with
 * `lua/lib/common.lua`, registered on the ioredis client with `defineCommand` (EVALSHA, falling
 * back to EVAL when the server lost its script cache, e.g. after a restart) and called through
 * one typed method that maps the raw reply to the contract's types. Nothing else sends EVAL.
 *
 * The few reads and writes that are one plain command (the registry read, stickiness, TIME) are
 * typed methods here too, so that `RedisClusterStore` never names a Redis command or a key.
 *
 * This layer does no retries, loops, validation or error mapping: `RedisClusterStore` does.
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type {
  AdmitRequest,
  AdmitResult,
  CallRecord,
  LeaseAcquireResult,
  LeaseRenewResult,
  LeaseState,
  LevelStats,
  DialogStateRecord,
  MediaSessionRecord,
  NodeLease,
  ProbeReport,
  RelayRecord,
  ReleaseResult,
  SwitchRecord,
} from './cluster-store.ts';
import { cpsParams } from './cps-window.ts';
import type { StoreKeys } from './keys.ts';
import { ADMISSION_LOG_MAX } from './store-limits.ts';

export const SCRIPT_NAMES = [
  'register-node',
  'heartbeat-node',
  'deregister-node',
  'drain-fenced',
  'admit-call',
  'admit-calls',
  'release-call',
  'release-calls',
  'resync-calls',
  'reap',
  'level-stats',
  'list-calls',
  'list-nodes',
  'put-switch',
  'remove-switch',
  'seed-switches',
  'put-cluster-limits',
  'put-probe-report',
  'list-probe-reports',
  'put-relay',
  'remove-relay',
  'seed-relays',
  'put-media-session',
  'get-media-session',
  'remove-media-session',
  'list-media-sessions',
  'relay-session-counts',
  'acquire-lease',
  'renew-lease',
  'release-lease',
  'get-lease',
  'put-dialog',
  'get-dialog',
  'remove-dialog',
  'release-orphan',
] as const;
export type ScriptName = (typeof SCRIPT_NAMES)[number];

function readLua(path: string): string {
  return readFileSync(new URL(path, import.meta.url), 'utf8');
}

const COMMON_LUA = readLua('./lua/lib/common.lua');

/** Each script's full source as sent to Redis: common.lua, then the script. */
export const SCRIPT_SOURCES: Readonly<Record<ScriptName, string>> = Object.fromEntries(
  SCRIPT_NAMES.map((name) => [name, `${COMMON_LUA}\n${readLua(`./lua/${name}.lua`)}`]),
) as Record<ScriptName, string>;

/** The ioredis command name of a script: `sf` + camel case (`admit-call` → `sfAdmitCall`). */
function commandName(name: ScriptName): string {
  return `sf${name.replace(/(^|-)([a-z])/g, (_m, _dash: string, c: string) => c.toUpperCase())}`;
}

type ScriptCommand = (numKeys: number, ...args: string[]) => Promise<unknown>;

export interface ReapStep {
  readonly nodes: string[];
  readonly calls: number;
  /** More work was left for another step. */
  readonly more: boolean;
}

export interface DrainStep {
  readonly calls: number;
  readonly more: boolean;
}

type ResyncCall = Omit<CallRecord, 'nodeId' | 'epoch'>;

function asArray(reply: unknown, script: ScriptName): unknown[] {
  if (!Array.isArray(reply)) throw new Error(`${script}: unexpected reply ${JSON.stringify(reply)}`);
  return reply;
}

/** An admit-call reply as the contract's result. */
function admitReply(reply: unknown, script: ScriptName = 'admit-call'): AdmitResult {
  const r = asArray(reply, script);
  if (r[0] === 1) return { admitted: true, startedAtMs: Number(r[1]) };
  if (r[1] === 'fenced') return { admitted: false, level: 'node', reason: 'fenced', retryAfterMs: 0 };
  const reason = r[1] === 'cps' ? 'cps' : 'channels';
  return { admitted: false, level: String(r[2]), reason, retryAfterMs: Number(r[3]) };
}

function parseMeta(text: string): Record<string, string> {
  if (text === '') return {};
  const value: unknown = JSON.parse(text);
  return typeof value === 'object' && value !== null ? (value as Record<string, string>) : {};
}

/** Typed calls of every script on one client, for one cluster's keys. */
export class StoreScripts {
  readonly #redis: Redis;
  readonly #keys: StoreKeys;
  readonly #commands: Record<ScriptName, ScriptCommand>;

  constructor(redis: Redis, keys: StoreKeys) {
    this.#redis = redis;
    this.#keys = keys;
    const commands: Partial<Record<ScriptName, ScriptCommand>> = {};
    const table = redis as unknown as Record<string, ScriptCommand>;
    for (const name of SCRIPT_NAMES) {
      const command = commandName(name);
      // Without numberOfKeys: every call passes its own key count (levels vary).
      if (typeof table[command] !== 'function') redis.defineCommand(command, { lua: SCRIPT_SOURCES[name] });
      const fn = table[command];
      commands[name] = (numKeys, ...args) => fn.call(redis, numKeys, ...args);
    }
    this.#commands = commands as Record<ScriptName, ScriptCommand>;
  }

  #run(name: ScriptName, keys: readonly string[], argv: readonly (string | number)[]): Promise<unknown> {
    return this.#commands[name](keys.length, ...keys, ...argv.map(String));
  }

  async registerNode(nodeId: string, ttlMs: number, info: Readonly<Record<string, string>>, budget: number): Promise<NodeLease & DrainStep> {
    const k = this.#keys;
    const pairs = Object.entries(info).flat();
    const r = asArray(
      await this.#run('register-node', [k.nodeEpoch(nodeId), k.nodes, k.nodeInfo(nodeId), k.fenced], [k.prefix, nodeId, Math.ceil(ttlMs), budget, ...pairs]),
      'register-node',
    );
    return { nodeId, epoch: Number(r[0]), expiresAtMs: Number(r[1]), calls: Number(r[2]), more: r[3] === 1 };
  }

  async heartbeatNode(nodeId: string, epoch: number, ttlMs: number): Promise<'ok' | 'fenced'> {
    const k = this.#keys;
    const r = await this.#run('heartbeat-node', [k.nodeEpoch(nodeId), k.nodes], [nodeId, epoch, Math.ceil(ttlMs)]);
    return r === 'ok' ? 'ok' : 'fenced';
  }

  /** Undefined when the epoch was stale (nothing done). */
  async deregisterNode(nodeId: string, epoch: number, budget: number): Promise<DrainStep | undefined> {
    const k = this.#keys;
    const r = asArray(
      await this.#run('deregister-node', [k.nodeEpoch(nodeId), k.nodes, k.nodeInfo(nodeId), k.fenced], [k.prefix, nodeId, epoch, budget]),
      'deregister-node',
    );
    return r[0] === 1 ? { calls: Number(r[1]), more: r[2] === 1 } : undefined;
  }

  async drainFenced(budget: number): Promise<DrainStep> {
    const k = this.#keys;
    const r = asArray(await this.#run('drain-fenced', [k.fenced], [k.prefix, budget]), 'drain-fenced');
    return { calls: Number(r[0]), more: r[1] === 1 };
  }

  async admitCall(req: AdmitRequest): Promise<AdmitResult> {
    const k = this.#keys;
    const keys = [k.call(req.callId), k.nodeEpoch(req.nodeId), k.callsByStart, k.callsByExpiry, k.nodeCalls(req.nodeId, req.epoch)];
    const argv: (string | number)[] = [
      k.prefix,
      req.callId,
      req.nodeId,
      req.epoch,
      req.maxAgeMs,
      JSON.stringify(req.levels.map((l) => l.level)),
      JSON.stringify(req.meta ?? {}),
      ADMISSION_LOG_MAX,
      req.levels.length,
    ];
    for (const l of req.levels) {
      keys.push(k.levelCalls(l.level), k.levelAdmits(l.level));
      argv.push(l.level, l.channels ?? -1, cpsParams(l)?.windowCap ?? -1, l.chargeCps === false ? 0 : 1);
    }
    return admitReply(await this.#run('admit-call', keys, argv));
  }

  /**
   * admit-call for several calls of one node and epoch, in order, in one script call: one reply
   * per request, as `admitCall` would give for each in turn.
   */
  async admitCalls(nodeId: string, epoch: number, reqs: readonly AdmitRequest[]): Promise<AdmitResult[]> {
    const k = this.#keys;
    const argv: string[] = [k.prefix, nodeId, String(epoch), String(ADMISSION_LOG_MAX), String(reqs.length)];
    for (const req of reqs) {
      argv.push(req.callId, String(req.maxAgeMs), JSON.stringify(req.levels.map((l) => l.level)), JSON.stringify(req.meta ?? {}), String(req.levels.length));
      for (const l of req.levels) argv.push(l.level, String(l.channels ?? -1), String(cpsParams(l)?.windowCap ?? -1), l.chargeCps === false ? '0' : '1');
    }
    const r = asArray(await this.#commands['admit-calls'](1, k.nodeEpoch(nodeId), ...argv), 'admit-calls');
    if (r.length !== reqs.length) throw new Error(`admit-calls: ${r.length} replies for ${reqs.length} calls`);
    return r.map((x) => admitReply(x, 'admit-calls'));
  }

  async releaseCall(callId: string, nodeId: string, epoch: number): Promise<ReleaseResult> {
    const k = this.#keys;
    const r = await this.#run('release-call', [k.call(callId), k.nodeEpoch(nodeId)], [k.prefix, callId, nodeId, epoch]);
    if (r === 'released' || r === 'not-found' || r === 'fenced') return r;
    throw new Error(`release-call: unexpected reply ${JSON.stringify(r)}`);
  }
  /** release-call for several calls of one node and epoch, in one script call: one reply each, in order. */
  async releaseCalls(nodeId: string, epoch: number, callIds: readonly string[]): Promise<ReleaseResult[]> {
    const k = this.#keys;
    const r = asArray(await this.#commands['release-calls'](1, k.nodeEpoch(nodeId), k.prefix, nodeId, String(epoch), ...callIds), 'release-calls');
    if (r.length !== callIds.length) throw new Error(`release-calls: ${r.length} replies for ${callIds.length} calls`);
    return r.map((x) => {
      if (x === 'released' || x === 'not-found' || x === 'fenced') return x;
      throw new Error(`release-calls: unexpected reply ${JSON.stringify(x)}`);
    });
  }


  /** One batch; -1 when the epoch is stale. */
  async resyncCalls(nodeId: string, epoch: number, calls: readonly ResyncCall[]): Promise<number> {
    const k = this.#keys;
    const argv: (string | number)[] = [k.prefix, nodeId, epoch, calls.length];
    for (const c of calls) {
      argv.push(c.callId, JSON.stringify(c.levels), Math.floor(c.startedAtMs), Math.floor(c.expiresAtMs), JSON.stringify(c.meta));
    }
    return Number(await this.#run('resync-calls', [k.nodeEpoch(nodeId), k.callsByStart, k.callsByExpiry, k.nodeCalls(nodeId, epoch)], argv));
  }

  async reap(budget: number): Promise<ReapStep> {
    const k = this.#keys;
    const r = asArray(await this.#run('reap', [k.nodes, k.fenced, k.callsByExpiry], [k.prefix, budget]), 'reap');
    return { calls: Number(r[0]), more: r[1] === 1, nodes: r.slice(2).map(String) };
  }

  async levelStats(levels: readonly string[]): Promise<LevelStats[]> {
    const k = this.#keys;
    const r = asArray(await this.#run('level-stats', levels.flatMap((l) => [k.levelCalls(l), k.levelAdmits(l)]), []), 'level-stats');
    return levels.map((level, i) => ({ level, channels: Number(r[2 * i]), cpsNow: Number(r[2 * i + 1]) }));
  }

  async listCalls(level: string | undefined, limit: number): Promise<CallRecord[]> {
    const k = this.#keys;
    const index = level === undefined ? k.callsByStart : k.levelCalls(level);
    const r = asArray(await this.#run('list-calls', [index], [k.prefix, limit]), 'list-calls');
    const calls: CallRecord[] = [];
    for (let i = 0; i + 6 < r.length; i += 7) {
      calls.push({
        callId: String(r[i]),
        nodeId: String(r[i + 1]),
        epoch: Number(r[i + 2]),
        levels: JSON.parse(String(r[i + 3])) as string[],
        startedAtMs: Number(r[i + 4]),
        expiresAtMs: Number(r[i + 5]),
        meta: parseMeta(String(r[i + 6])),
      });
    }
    return calls;
  }

  async listNodes(): Promise<NodeLease[]> {
    const k = this.#keys;
    const r = asArray(await this.#run('list-nodes', [k.nodes], [k.prefix]), 'list-nodes');
    const nodes: NodeLease[] = [];
    for (let i = 0; i + 3 < r.length; i += 4) {
      const flat = Array.isArray(r[i + 3]) ? (r[i + 3] as unknown[]).map(String) : [];
      const info: Record<string, string> = {};
      for (let j = 0; j + 1 < flat.length; j += 2) info[flat[j]] = flat[j + 1];
      nodes.push({ nodeId: String(r[i]), epoch: Number(r[i + 1]), expiresAtMs: Number(r[i + 2]), info });
    }
    return nodes;
  }

  /** Every stored switch record as JSON, by id (unordered; the caller parses and sorts). */
  async switchesJson(): Promise<Record<string, string>> {
    return this.#redis.hgetall(this.#keys.switches);
  }

  /** `sw` is canonical (normalizeSwitchRecord). True when the registry changed (a notice went out). */
  async putSwitch(sw: SwitchRecord): Promise<boolean> {
    const k = this.#keys;
    return (await this.#run('put-switch', [k.switches], [k.prefix, sw.id, JSON.stringify(sw)])) === 1;
  }

  async removeSwitch(id: string): Promise<boolean> {
    const k = this.#keys;
    return (await this.#run('remove-switch', [k.switches], [k.prefix, id])) === 1;
  }

  /** `json` is canonical (clusterLimitsJson). True when the caps changed (a notice went out). */
  async putClusterLimits(json: string, seed: boolean): Promise<boolean> {
    const k = this.#keys;
    return (await this.#run('put-cluster-limits', [k.clusterLimits], [k.prefix, json, seed ? '1' : '0'])) === 1;
  }

  async clusterLimitsJson(): Promise<string | null> {
    return this.#redis.get(this.#keys.clusterLimits);
  }

  /** `switches` are canonical and their ids distinct. Returns how many were added. */
  async seedSwitches(switches: readonly SwitchRecord[]): Promise<number> {
    const k = this.#keys;
    const argv: string[] = [k.prefix];
    for (const sw of switches) argv.push(sw.id, JSON.stringify(sw));
    return Number(await this.#run('seed-switches', [k.switches], argv));
  }

  // ---- media relays ----

  /** Every stored relay record as JSON, by id (unordered; the caller parses and sorts). */
  async relaysJson(): Promise<Record<string, string>> {
    return this.#redis.hgetall(this.#keys.relays);
  }

  /** `relay` is canonical (normalizeRelayRecord). True when the registry changed (a notice went out). */
  async putRelay(relay: RelayRecord): Promise<boolean> {
    const k = this.#keys;
    return (await this.#run('put-relay', [k.relays], [k.prefix, relay.id, JSON.stringify(relay)])) === 1;
  }

  async removeRelay(id: string): Promise<boolean> {
    const k = this.#keys;
    return (await this.#run('remove-relay', [k.relays], [k.prefix, id])) === 1;
  }

  /** `relays` are canonical and their ids distinct. Returns how many were added. */
  async seedRelays(relays: readonly RelayRecord[]): Promise<number> {
    const k = this.#keys;
    const argv: string[] = [k.prefix];
    for (const relay of relays) argv.push(relay.id, JSON.stringify(relay));
    return Number(await this.#run('seed-relays', [k.relays], argv));
  }

  // ---- dialog state ----

  async putDialog(dialog: DialogStateRecord, ttlMs: number): Promise<void> {
    const k = this.#keys;
    await this.#run('put-dialog', [k.dialog(dialog.callId), k.call(dialog.callKey)], [dialog.callKey, JSON.stringify(dialog), Math.max(1, Math.ceil(ttlMs)), dialog.callId]);
  }

  async getDialog(callId: string): Promise<DialogStateRecord | undefined> {
    const r = await this.#run('get-dialog', [this.#keys.dialog(callId)], []);
    if (typeof r !== 'string') return undefined;
    return JSON.parse(r) as DialogStateRecord;
  }

  async removeDialog(callId: string): Promise<boolean> {
    return (await this.#run('remove-dialog', [this.#keys.dialog(callId)], [])) === 1;
  }

  async releaseOrphan(callKey: string): Promise<'released' | 'not-found'> {
    const k = this.#keys;
    const r = await this.#run('release-orphan', [k.call(callKey)], [k.prefix, callKey]);
    if (r === 'released' || r === 'not-found') return r;
    throw new Error(`release-orphan: unexpected reply ${JSON.stringify(r)}`);
  }

  // ---- media sessions ----

  /** Returns the session's start (store clock ms). */
  async putMediaSession(session: Omit<MediaSessionRecord, 'startedAtMs'>, ttlMs: number, pruneBudget: number): Promise<number> {
    const k = this.#keys;
    const keys = [k.mediaSession(session.callId), k.mediaByStart, k.mediaByExpiry, k.mediaRelays, k.relayMedia(session.relayId)];
    const argv = [k.prefix, session.callId, session.fromTag, session.relayId, session.nodeId, ttlMs, pruneBudget];
    return Number(await this.#run('put-media-session', keys, argv));
  }

  async getMediaSession(callId: string): Promise<MediaSessionRecord | undefined> {
    const r = asArray(await this.#run('get-media-session', [this.#keys.mediaSession(callId)], []), 'get-media-session');
    if (r.length < 4) return undefined;
    return { callId, fromTag: String(r[0]), relayId: String(r[1]), nodeId: String(r[2]), startedAtMs: Number(r[3]) };
  }

  /** True when a live session was removed. */
  async removeMediaSession(callId: string, pruneBudget: number): Promise<boolean> {
    const k = this.#keys;
    const keys = [k.mediaSession(callId), k.mediaByStart, k.mediaByExpiry, k.mediaRelays];
    return (await this.#run('remove-media-session', keys, [k.prefix, callId, pruneBudget])) === 1;
  }

  /** Live sessions, oldest first. */
  async listMediaSessions(limit: number, pruneBudget: number): Promise<MediaSessionRecord[]> {
    const k = this.#keys;
    const r = asArray(await this.#run('list-media-sessions', [k.mediaByStart, k.mediaByExpiry, k.mediaRelays], [k.prefix, limit, pruneBudget]), 'list-media-sessions');
    const sessions: MediaSessionRecord[] = [];
    for (let i = 0; i + 4 < r.length; i += 5) {
      sessions.push({ callId: String(r[i]), fromTag: String(r[i + 1]), relayId: String(r[i + 2]), nodeId: String(r[i + 3]), startedAtMs: Number(r[i + 4]) });
    }
    return sessions;
  }

  /** relayId → live sessions, for relays with at least one (unordered). */
  async relaySessionCounts(): Promise<Array<[string, number]>> {
    const k = this.#keys;
    const r = asArray(await this.#run('relay-session-counts', [k.mediaRelays], [k.prefix]), 'relay-session-counts');
    const counts: Array<[string, number]> = [];
    for (let i = 0; i + 1 < r.length; i += 2) counts.push([String(r[i]), Number(r[i + 1])]);
    return counts;
  }

  /** Returns the write time (store clock ms). */
  async putProbeReport(report: Omit<ProbeReport, 'atMs'>, ttlMs: number): Promise<number> {
    const k = this.#keys;
    const { switchId, nodeId } = report;
    const argv = [`${switchId}:${nodeId}`, Math.max(1, Math.ceil(ttlMs)), report.up ? '1' : '0', report.latencyMs ?? '', report.p99Ms ?? ''];
    return Number(await this.#run('put-probe-report', [k.probes, k.probe(switchId, nodeId)], argv));
  }

  /** Live reports, unordered. */
  async listProbeReports(switchId: string | undefined): Promise<ProbeReport[]> {
    const k = this.#keys;
    const r = asArray(await this.#run('list-probe-reports', [k.probes], [k.prefix, switchId ?? '']), 'list-probe-reports');
    const reports: ProbeReport[] = [];
    for (let i = 0; i + 5 < r.length; i += 6) {
      const report: { -readonly [K in keyof ProbeReport]: ProbeReport[K] } = {
        switchId: String(r[i]),
        nodeId: String(r[i + 1]),
        up: r[i + 2] === '1',
        atMs: Number(r[i + 5]),
      };
      if (r[i + 3] !== '') report.latencyMs = Number(r[i + 3]);
      if (r[i + 4] !== '') report.p99Ms = Number(r[i + 4]);
      reports.push(report);
    }
    return reports;
  }

  async stickyGet(key: string): Promise<string | undefined> {
    return (await this.#redis.get(this.#keys.sticky(key))) ?? undefined;
  }

  async stickySet(key: string, switchId: string, ttlMs: number): Promise<void> {
    await this.#redis.set(this.#keys.sticky(key), switchId, 'PX', Math.max(1, Math.ceil(ttlMs)));
  }

  // ---- named leases ----

  async acquireLease(name: string, holder: string, ttlMs: number, priority: number): Promise<LeaseAcquireResult> {
    const r = asArray(await this.#run('acquire-lease', [this.#keys.lease(name)], [holder, Math.ceil(ttlMs), priority]), 'acquire-lease');
    if (r[0] === 1) {
      const lapsedHolder = String(r[3]);
      const base = { acquired: true as const, epoch: Number(r[1]), expiresAtMs: Number(r[2]) };
      return lapsedHolder === '' ? base : { ...base, lapsed: { holder: lapsedHolder, agoMs: Number(r[4]) } };
    }
    const liveHolder = String(r[1]);
    const reservedFor = String(r[4]);
    return {
      acquired: false,
      holder: liveHolder === '' ? undefined : liveHolder,
      ...(reservedFor === '' ? {} : { reservedFor }),
      epoch: Number(r[2]),
      remainingMs: Number(r[3]),
    };
  }

  async renewLease(name: string, holder: string, epoch: number, ttlMs: number): Promise<LeaseRenewResult> {
    const r = asArray(await this.#run('renew-lease', [this.#keys.lease(name)], [holder, epoch, Math.ceil(ttlMs)]), 'renew-lease');
    if (r[0] !== 1) return { renewed: false };
    const claimant = String(r[2]);
    return { renewed: true, expiresAtMs: Number(r[1]), ...(claimant === '' ? {} : { wantedBy: { holder: claimant, priority: Number(r[3]) } }) };
  }

  async releaseLease(name: string, holder: string, epoch: number): Promise<boolean> {
    return (await this.#run('release-lease', [this.#keys.lease(name)], [holder, epoch])) === 1;
  }

  async getLease(name: string): Promise<LeaseState | undefined> {
    const r = asArray(await this.#run('get-lease', [this.#keys.lease(name)], []), 'get-lease');
    if (r.length === 0) return undefined;
    const holder = String(r[0]);
    const claimant = String(r[3]);
    return {
      name,
      holder: holder === '' ? undefined : holder,
      epoch: Number(r[1]),
      expiresAtMs: Number(r[2]),
      ...(claimant === '' ? {} : { wantedBy: { holder: claimant, priority: Number(r[4]) } }),
    };
  }

  /** The store clock, ms (Redis TIME). */
  async nowMs(): Promise<number> {
    const [sec, usec] = await this.#redis.time();
    return Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
  }
}
