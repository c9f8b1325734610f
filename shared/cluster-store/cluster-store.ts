/**
 * The cluster store: the one contract every dispatcher (and the ops API) uses for shared state.
 * Two adapters implement it and pass the same contract suite: `memory` (a single node, in
 * process, the embedded default) and `redis` (a real cluster; Redis Sentinel for failover).
 *
 * Admission is exact and crash-safe:
 * - Each admitted call is a lease record (Call-ID → owner node + epoch, levels held, start,
 *   expiry). A level's channel count IS the number of call records holding it (no separate
 *   counter that could drift or wrap), so a count always equals the calls it lists.
 * - CPS uses GCRA per level on the store's own clock (Redis TIME): in any half-open 1 s window
 *   [t, t+1 s) a level admits at most `cps + burst` calls.
 * - Check-and-take over every level happens in one atomic step (one Lua script in Redis).
 * - Every node holds a liveness lease with an epoch. A node whose lease expired is reaped by any
 *   live node: its calls are released and its epoch is bumped (fencing), so a node that was
 *   paused and comes back cannot release anything twice. Release is idempotent.
 * - Dialog state (issue 9 point 2): a confirmed call may have a dialog record (`putDialog`). When
 *   its node is fenced (reaped, re-registered, deregistered), such a call is not released but
 *   kept as an orphan (node `ORPHAN_NODE`, epoch 0) in every level count, until a node carrying
 *   its BYE releases it (`releaseOrphan`, exactly once) or its maximum age passes.
 */

/** One level an admitted call holds: cluster, switch, carrier or user. */
export interface LevelLimit {
  /** Stable level id, built with `levelKey` (e.g. `switch:sw1`). */
  readonly level: string;
  /** Calls per second; undefined = no CPS cap at this level. */
  readonly cps?: number | undefined;
  /** Extra calls allowed above the rate at once (GCRA burst tolerance); default 0. */
  readonly burst?: number | undefined;
  /** Concurrent calls; undefined = no channel cap. */
  readonly channels?: number | undefined;
  /**
   * Whether this attempt takes a CPS slot at this level (default true). A failover re-attempt
   * of the same call charges only the new switch's CPS, not the cluster's or carrier's again.
   */
  readonly chargeCps?: boolean | undefined;
}

export type LevelKind = 'cluster' | 'switch' | 'carrier' | 'user';

export function levelKey(kind: LevelKind, id: string): string {
  return `${kind}:${id}`;
}

export interface AdmitRequest {
  readonly callId: string;
  readonly nodeId: string;
  readonly epoch: number;
  readonly levels: readonly LevelLimit[];
  /** The call's lease ends at this age unless released before (maximum call age). */
  readonly maxAgeMs: number;
  /** Free-form facts kept with the call for the API (switch id, carrier id, relay...). */
  readonly meta?: Readonly<Record<string, string>>;
}

export type AdmitResult =
  | { readonly admitted: true; readonly startedAtMs: number }
  | {
      readonly admitted: false;
      /** The first level that refused, and why. */
      readonly level: string;
      readonly reason: 'cps' | 'channels';
      /** When a CPS refusal would next be admitted at that level (0 for channel refusals). */
      readonly retryAfterMs: number;
    }
  /** The node's epoch is stale (it was reaped while paused): it must re-register. */
  | { readonly admitted: false; readonly level: 'node'; readonly reason: 'fenced'; readonly retryAfterMs: 0 };

export type ReleaseResult = 'released' | 'not-found' | 'fenced';

/** The owner of an orphaned call (its node was fenced while the call had a dialog record); epoch 0. */
export const ORPHAN_NODE = '-';

/** One end of a dialog: where requests to that side go (symmetric: the address its INVITE came from). */
export interface DialogSide {
  readonly protocol: 'udp' | 'tcp' | 'tls';
  /** Bare host (IPv6 without brackets). */
  readonly address: string;
  readonly port: number;
}

/**
 * A confirmed call as any node needs it to carry its in-dialog requests when the node that set it
 * up is gone (docs/ha.md): both ends, the switch, the relay and the admission key of its lease.
 */
export interface DialogStateRecord {
  /** The SIP Call-ID (the record's key). */
  readonly callId: string;
  readonly fromTag: string;
  readonly toTag: string;
  /** The caller side (the INVITE's source). */
  readonly caller: DialogSide;
  /** The switch side. */
  readonly switch: DialogSide & { readonly switchId: string };
  /** The media relay holding the call's session, if any. */
  readonly relayId?: string | undefined;
  /** The call's admission key (`admit`'s `callId`: `Call-ID|source`). */
  readonly callKey: string;
  /** The node that set the call up. */
  readonly nodeId: string;
}

export interface NodeLease {
  readonly nodeId: string;
  readonly epoch: number;
  /** Store-clock ms when the lease ends unless renewed. */
  readonly expiresAtMs: number;
  /** What the node said about itself at registration (listen addresses, version, start time); `liveNodes` fills it. */
  readonly info?: Readonly<Record<string, string>> | undefined;
}

export interface CallRecord {
  readonly callId: string;
  readonly nodeId: string;
  readonly epoch: number;
  readonly levels: readonly string[];
  readonly startedAtMs: number;
  readonly expiresAtMs: number;
  readonly meta: Readonly<Record<string, string>>;
}

export interface LevelStats {
  readonly level: string;
  /** Calls holding the level right now. */
  readonly channels: number;
  /** Calls admitted at this level in the last 1 s (store clock). */
  readonly cpsNow: number;
}

export interface ReapResult {
  /** Nodes whose lease had expired and were reaped (epoch bumped). */
  readonly nodes: readonly string[];
  /** Calls released because their node was reaped or their maximum age passed. */
  readonly calls: number;
}

/** Admin state of a switch: admin always wins over any probe result. */
export type SwitchAdminState = 'active' | 'disabled' | 'draining';

/** A switch as the cluster knows it (the registry). Seeded from config; changed live by the ops API. */
export interface SwitchRecord {
  readonly id: string;
  /** Bare host (IPv6 without brackets) and port. */
  readonly host: string;
  readonly port: number;
  readonly transport: 'udp' | 'tcp' | 'tls';
  /** 1..1000 */
  readonly weight: number;
  /** Lower is preferred (priority selection). */
  readonly priority: number;
  readonly cps?: number | undefined;
  readonly channels?: number | undefined;
  readonly zone?: string | undefined;
  /** `active`: takes calls; `draining`: no new calls, dialogs continue; `disabled`: nothing new, not probed. */
  readonly state: SwitchAdminState;
}

/** Admin state of an rtpengine relay: `draining` takes no new sessions, existing ones continue. */
export type RelayAdminState = 'active' | 'draining' | 'disabled';

/** An rtpengine media relay as the cluster knows it. Seeded from `cluster.rtp-relays`; changed live by the ops API. */
export interface RelayRecord {
  readonly id: string;
  /** The ng control socket: bare host (IPv6 without brackets) and UDP port. */
  readonly host: string;
  readonly port: number;
  /** Zone the relay serves (e.g. `eu`); absent = no zone (used only when nothing zoned is left). */
  readonly zone?: string | undefined;
  /** 1..1000: share of new sessions among equally loaded relays of a zone. */
  readonly weight: number;
  readonly state: RelayAdminState;
}

/**
 * The relay chosen for one call, kept with the call so that any node can send the later
 * `answer`/`delete` to the same relay, and so that the sessions of a dead node are deleted.
 */
export interface MediaSessionRecord {
  readonly callId: string;
  /** The caller's From tag (rtpengine's `from-tag` of the offer). */
  readonly fromTag: string;
  readonly relayId: string;
  /** The node that created the session (and relays its in-dialog offers and answers). */
  readonly nodeId: string;
  /** Store-clock ms. */
  readonly startedAtMs: number;
}

/** The cluster-wide caps (the `cluster` level): live, changed by the ops API without a restart. */
export interface ClusterLimitsRecord {
  readonly cps?: number | undefined;
  readonly channels?: number | undefined;
  readonly burst?: number | undefined;
}

/** One node's latest view of one switch, from its OPTIONS probes. */
export interface ProbeReport {
  readonly switchId: string;
  readonly nodeId: string;
  readonly up: boolean;
  /** EWMA of the OPTIONS round trip, ms (undefined before the first answer). */
  readonly latencyMs?: number | undefined;
  /** p99 of the recent OPTIONS round trips, ms. */
  readonly p99Ms?: number | undefined;
  /** Store-clock ms when the report was written. */
  readonly atMs: number;
}

/**
 * A claim on a named lease by a holder that does not hold it (it is held by another, or reserved
 * for a higher claim): kept with the lease until now + ttl, renewed by every acquire attempt.
 */
export interface LeaseClaim {
  readonly holder: string;
  readonly priority: number;
}

export type LeaseAcquireResult =
  | {
      readonly acquired: true;
      /** A new epoch for every grant (fencing every earlier grant of the lease). */
      readonly epoch: number;
      /** Store-clock ms when the grant ends unless renewed. */
      readonly expiresAtMs: number;
      /**
       * Set when the grant before this one lapsed (expired without being released): its holder,
       * and how long ago it expired. That holder may still be acting on it (docs/ha.md, "Guard").
       */
      readonly lapsed?: { readonly holder: string; readonly agoMs: number } | undefined;
    }
  | {
      readonly acquired: false;
      /** The live holder; undefined when the lease is free but reserved for a higher claim. */
      readonly holder: string | undefined;
      /** The claim the free lease is reserved for (`holder` is then undefined). */
      readonly reservedFor?: string | undefined;
      /** The current (or last) grant's epoch; 0 when never granted. */
      readonly epoch: number;
      /** ms until the live grant ends unless renewed (0 when reserved). */
      readonly remainingMs: number;
    };

export type LeaseRenewResult =
  | {
      readonly renewed: true;
      readonly expiresAtMs: number;
      /** The highest live claim of another holder, if any (the holder may yield to it). */
      readonly wantedBy?: LeaseClaim | undefined;
    }
  | { readonly renewed: false };

/** A named lease as the store knows it now (`getLease`). */
export interface LeaseState {
  readonly name: string;
  /** The live holder; undefined when free (released, lapsed or never granted). */
  readonly holder: string | undefined;
  /** The current (or last) grant's epoch; 0 when never granted. */
  readonly epoch: number;
  /** Store-clock ms when the live grant ends (0 when free). */
  readonly expiresAtMs: number;
  readonly wantedBy?: LeaseClaim | undefined;
}

export interface ClusterStore {
  /** Join the cluster: a new epoch for this node id (fencing every earlier one) and a lease. */
  registerNode(nodeId: string, ttlMs: number, info?: Readonly<Record<string, string>>): Promise<NodeLease>;
  /** Renew the lease; 'fenced' when the epoch is no longer this node's (it was reaped). */
  heartbeat(nodeId: string, epoch: number, ttlMs: number): Promise<'ok' | 'fenced'>;
  /** Leave cleanly: release the node's calls and drop its lease. */
  deregisterNode(nodeId: string, epoch: number): Promise<void>;
  /** Nodes with a live lease. */
  liveNodes(): Promise<NodeLease[]>;

  /**
   * Check every level and, when all allow it, take them all: one atomic step. A `callId` names
   * one call leg cluster-wide: an existing record for it is released first within the same step
   * (a failover re-attempt moves the call; a record of another node or epoch is taken over), and
   * stays released if this attempt is refused.
   */
  admit(req: AdmitRequest): Promise<AdmitResult>;
  /**
   * Release a call exactly once; later calls (or a stale epoch) change nothing: 'fenced' when
   * `epoch` is not the node's current one (whatever the record), 'not-found' when there is no
   * record or it is held by another node or epoch, else 'released'.
   */
  release(callId: string, nodeId: string, epoch: number): Promise<ReleaseResult>;
  /**
   * After a store outage or failover: re-assert this node's calls (those the store lost) so the
   * counts converge to the truth. Calls already present are left as they are; caps are not
   * checked (the calls exist). Returns how many were added back; 0 when `epoch` is not the node's
   * current one (after the store lost everything the heartbeat says 'fenced': register again and
   * resync under the new epoch).
   */
  resyncCalls(nodeId: string, epoch: number, calls: readonly Omit<CallRecord, 'nodeId' | 'epoch'>[]): Promise<number>;

  /**
   * Reap nodes whose lease expired and calls past their maximum age; safe on every node at once.
   * A fenced node's call whose dialog record exists is kept as an orphan (`ORPHAN_NODE`, epoch 0,
   * still in every level count) instead of being released; the others are released.
   */
  reap(): Promise<ReapResult>;

  // ---- dialog state (confirmed calls another node can carry) ----

  /**
   * Record (or replace) a confirmed call's dialog until now + ttl (store clock). From then on, a
   * fencing of the call's node (`callKey`'s record) orphans the call instead of releasing it.
   */
  putDialog(dialog: DialogStateRecord, ttlMs: number): Promise<void>;
  /** The live dialog record of a Call-ID. */
  getDialog(callId: string): Promise<DialogStateRecord | undefined>;
  /** Forget a dialog record (the call ended); false when there was none. Remove it BEFORE `releaseOrphan`. */
  removeDialog(callId: string): Promise<boolean>;
  /**
   * Release an orphaned call (admission key) exactly once: 'released' when it was an orphan,
   * 'not-found' when there is no record or it is held by a node (released, expired, taken over,
   * or its node not reaped yet: a call whose dialog record is gone is then released by the reap).
   */
  releaseOrphan(callKey: string): Promise<'released' | 'not-found'>;

  levelStats(levels: readonly string[]): Promise<LevelStats[]>;
  /** Calls holding a level (or all calls), oldest first, at most `limit`. */
  calls(level?: string, limit?: number): Promise<CallRecord[]>;
  /** The store's clock, ms since the epoch (Redis TIME). */
  now(): Promise<number>;

  // ---- switch registry (live; every node applies a change within 1 s) ----

  listSwitches(): Promise<SwitchRecord[]>;
  /** Add or replace a switch, and notify every node. */
  putSwitch(sw: SwitchRecord): Promise<void>;
  /** Remove a switch (its calls in progress are untouched); false when it did not exist. */
  removeSwitch(id: string): Promise<boolean>;
  /** Add the switches that are not in the registry yet (a node's config seeds its cluster); returns how many. */
  seedSwitches(switches: readonly SwitchRecord[]): Promise<number>;
  /**
   * Called (on every node, within ~1 s) after any registry change made through any node (the
   * switches, the media relays or the cluster limits); the listener re-reads what it needs. Returns an unsubscribe
   * function.
   */
  onSwitchesChanged(listener: () => void): () => void;

  /** The cluster's caps as last set (undefined when never set: the config's apply). */
  getClusterLimits(): Promise<ClusterLimitsRecord | undefined>;
  /** Replace the cluster's caps and notify every node (`onSwitchesChanged`). */
  putClusterLimits(limits: ClusterLimitsRecord): Promise<void>;
  /** Set the caps only when none are stored yet (a node's config seeds its cluster); true when set. */
  seedClusterLimits(limits: ClusterLimitsRecord): Promise<boolean>;

  // ---- media relays (live like the switch registry: changes notify `onSwitchesChanged`) ----

  /** The relays, sorted by id. */
  listRelays(): Promise<RelayRecord[]>;
  /**
   * Add or replace a relay, and notify every node (only when the record changed).
   *
   * @throws SipfleetError `STORE_ERR_INVALID` naming the field (`relay.port`).
   */
  putRelay(relay: RelayRecord): Promise<void>;
  /** Remove a relay (its sessions are left to end); false when it did not exist. */
  removeRelay(id: string): Promise<boolean>;
  /** Add the relays that are not in the registry yet (never overwrites one); returns how many. */
  seedRelays(relays: readonly RelayRecord[]): Promise<number>;

  // ---- media sessions (one per call that goes through a relay) ----

  /**
   * Record (or replace) a call's media session; it expires after `ttlMs` (the maximum call age).
   * `startedAtMs` is the store clock now, also for a replacement (a replacement is a new session
   * and moves the call to its relay's count atomically). A session is live while the store clock
   * is at or before start + ttl. The relay id is not checked against the registry.
   */
  putMediaSession(session: Omit<MediaSessionRecord, 'startedAtMs'>, ttlMs: number): Promise<void>;
  getMediaSession(callId: string): Promise<MediaSessionRecord | undefined>;
  /** Forget a call's media session; false when there was none. */
  removeMediaSession(callId: string): Promise<boolean>;
  /**
   * Unexpired sessions, oldest first (ties by call id), at most `limit` (default 1000, clamped to
   * 10 000 like `calls()`), for the reaper of dead nodes' sessions.
   */
  listMediaSessions(limit?: number): Promise<MediaSessionRecord[]>;
  /**
   * Unexpired sessions per relay id (the load the cluster put on each relay): only relays with at
   * least one session appear (a missing relay has 0), keys in id order. A relay removed from the
   * registry keeps its count until its sessions end.
   */
  relaySessionCounts(): Promise<Record<string, number>>;

  // ---- shared probe results ----

  /** Store this node's view of a switch; it expires after `ttlMs` (a dead node's views vanish). */
  putProbeReport(report: Omit<ProbeReport, 'atMs'>, ttlMs: number): Promise<void>;
  /** Every live report (of every node), optionally for one switch. */
  probeReports(switchId?: string): Promise<ProbeReport[]>;

  // ---- named leases (one holder at a time, fenced by epoch: e.g. a floating IP, docs/ha.md) ----

  /**
   * Take lease `name` for `ttlMs` (store clock). Granted, with a new epoch, when the lease is free
   * (never granted, released, or expired) or already the caller's, unless it is free but another
   * holder's live claim has a higher `priority` (the lease is then reserved for that claim).
   * Refused while another holder's grant is live: the caller's claim (`holder`, `priority`) is
   * then recorded until now + ttl when there is no live claim yet, the live claim is the caller's,
   * or the caller's priority is higher. A grant clears the caller's own claim.
   *
   * @throws SipfleetError `STORE_ERR_INVALID` naming the field (`name`, `holder`, `ttlMs`, `priority` 0-1000000).
   */
  acquireLease(name: string, holder: string, ttlMs: number, priority?: number): Promise<LeaseAcquireResult>;
  /**
   * Extend the grant to now + ttl: only while `holder` and `epoch` are the live grant's (an
   * expired grant is not renewed, even when nobody took it: acquire again for a new epoch).
   */
  renewLease(name: string, holder: string, epoch: number, ttlMs: number): Promise<LeaseRenewResult>;
  /** Give the grant up (the lease is free at once); false when `holder`/`epoch` are not the current grant's. */
  releaseLease(name: string, holder: string, epoch: number): Promise<boolean>;
  /** The lease now: holder (undefined when free), epoch, expiry and the live claim; undefined when never granted nor claimed. */
  getLease(name: string): Promise<LeaseState | undefined>;

  // ---- source affinity (hash-source selection) ----

  /** The switch a source key sticks to, if its stickiness has not expired. */
  stickyGet(key: string): Promise<string | undefined>;
  /** Stick a source key to a switch for `ttlMs` (refreshes the TTL when called again). */
  stickySet(key: string, switchId: string, ttlMs: number): Promise<void>;

  /** Whether the store is reachable right now (false while Redis is down). */
  readonly connected: boolean;
  /** Subscribe to connectivity changes. Returns an unsubscribe function. */
  onConnectionChange(listener: (connected: boolean) => void): () => void;
  close(): Promise<void>;
}
