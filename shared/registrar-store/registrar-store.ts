/**
 * The registrar store: the shared state of the registrar (RFC 3261 §10) for every dispatcher
 * node and the ops API. Two adapters implement it and pass one contract suite
 * (`registrar-store-contract.ts`): `memory` (single node, in process) and `redis` (a cluster;
 * the same Redis or Sentinel master as the cluster store, keys under `sf:{<cluster>}:reg:`).
 *
 * - Users: SIP credentials kept as HA1 only (RFC 7616 §3.4.2), never a password.
 * - Location: an AOR's bindings. A REGISTER's changes are applied in one atomic step with the
 *   RFC 3261 §10.3 step 7 Call-ID/CSeq rule, so a binding is visible to every node once the
 *   step returns (before the 200 OK goes out). Each binding records its flow: the node that owns
 *   it (holds the NAT pinhole or the connection) and how that node reaches the phone.
 * - Keep-alive ownership: each binding has exactly one owner node; only the owner pings it. A dead
 *   owner's UDP bindings are moved to live nodes (`moveBindings`), its stream bindings removed.
 * - Abuse: failed authentications counted per source IP cluster-wide, bans with a TTL announced
 *   to every node.
 * - Digest support: the cluster secret that signs nonces (any node verifies any node's nonce) and
 *   nonce-count replay protection.
 *
 * Times are ms on the store's clock (Redis TIME), like the cluster store.
 */

/** SIP credentials of one user. The AOR of a user is its `username` (one domain per cluster). */
export interface UserRecord {
  /** 1-64 of `A-Za-z0-9._+-`. */
  readonly username: string;
  /** The digest realm the HA1 values were computed with. */
  readonly realm: string;
  /** Lower-case hex MD5(username:realm:password). */
  readonly ha1Md5: string;
  /** Lower-case hex SHA-256(username:realm:password); absent when only an MD5 HA1 was given. */
  readonly ha1Sha256?: string | undefined;
  /** The user's account limits for calls it places (levels `user:<username>`). */
  readonly cps?: number | undefined;
  readonly channels?: number | undefined;
  /** Media zone of the user's calls (`none`: media flows directly); see docs/media.md. */
  readonly zone?: string | undefined;
}

export type FlowProtocol = 'udp' | 'tcp' | 'tls' | 'ws' | 'wss';

/** How the owner node reaches a phone: the REGISTER's source as received (RFC 3581 rport). */
export interface BindingFlow {
  /** The node that received the REGISTER and holds the NAT pinhole or the connection. */
  readonly nodeId: string;
  readonly protocol: FlowProtocol;
  /** Source address and port of the REGISTER as received. */
  readonly address: string;
  readonly port: number;
  /** Stream transports: the owner's connection id (meaningful on the owner only). */
  readonly connectionId?: number | undefined;
  /** The owner's listener the REGISTER arrived on (where pings and calls leave from). */
  readonly localAddress: string;
  readonly localPort: number;
  /**
   * The owner's SIP URI other nodes send calls for this binding to (an internal hop), e.g.
   * `sip:127.0.0.11:5060`; rewritten when the binding moves to another node.
   */
  readonly ownerUri: string;
}

export interface Binding {
  /** The AOR (the user name). */
  readonly aor: string;
  /**
   * What identifies the binding within its AOR: `<+sip.instance>;reg-id=<n>` for RFC 5626
   * outbound registrations (a new flow of the same instance and reg-id replaces the old one),
   * else the Contact URI as registered (compared as text, case-insensitive scheme and host).
   */
  readonly key: string;
  /** The Contact URI (without header params); the Request-URI of calls to this binding. */
  readonly contact: string;
  /** 0..1 (RFC 3261 §10.2.1.2), default 1. */
  readonly q: number;
  readonly expiresAtMs: number;
  readonly callId: string;
  readonly cseq: number;
  readonly instanceId?: string | undefined;
  readonly regId?: number | undefined;
  /** Path header values of the REGISTER (RFC 3327), top first: the route set toward the phone. */
  readonly path: readonly string[];
  readonly flow: BindingFlow;
  readonly userAgent?: string | undefined;
  /** When this binding was first registered (store clock). */
  readonly registeredAtMs: number;
  /** EWMA of the keep-alive OPTIONS round trip, ms (undefined before the first answer). */
  readonly pingRttMs?: number | undefined;
}

/** A binding to add or refresh: `expiresAtMs`/`registeredAtMs` are set by the store. */
export type BindingInput = Omit<Binding, 'expiresAtMs' | 'registeredAtMs' | 'pingRttMs' | 'aor' | 'callId' | 'cseq'> & {
  /** Seconds granted (> 0). */
  readonly expires: number;
};

/** The effect of one REGISTER (RFC 3261 §10.3 steps 6-8), applied atomically. */
export interface RegisterChange {
  readonly aor: string;
  readonly callId: string;
  readonly cseq: number;
  /** `Contact: *` with `Expires: 0`: remove every binding (each subject to the Call-ID/CSeq rule). */
  readonly removeAll: boolean;
  /** Bindings to add or refresh. */
  readonly upserts: readonly BindingInput[];
  /** Keys of bindings to remove (their expires was 0). */
  readonly removals: readonly string[];
  /** Most bindings an AOR may hold after the change. */
  readonly maxContacts: number;
}

export type RegisterResult =
  /** Applied: the AOR's bindings afterwards (unexpired, highest q first). */
  | { readonly ok: true; readonly bindings: readonly Binding[] }
  /**
   * Refused, nothing changed. `out-of-order`: an existing binding has the same Call-ID and a
   * CSeq not lower than this one (§10.3 step 7: the request fails). `too-many-contacts`: the AOR
   * would hold more than `maxContacts`.
   */
  | { readonly ok: false; readonly reason: 'out-of-order' | 'too-many-contacts' };

/** A binding moved from a dead owner to a live node. */
export interface BindingMove {
  readonly aor: string;
  readonly key: string;
  readonly nodeId: string;
  /** The new owner's internal-hop URI. */
  readonly ownerUri: string;
}

export interface BindingRef {
  readonly aor: string;
  readonly key: string;
}

/** Failed-authentication policy (per source IP, cluster-wide). */
export interface AuthFailurePolicy {
  /** Failures counted within this window (ms)... */
  readonly windowMs: number;
  /** ...and at this many the IP is banned... */
  readonly threshold: number;
  /** ...for this long (ms). */
  readonly banMs: number;
}

export interface Ban {
  readonly ip: string;
  /** Store-clock ms when the ban ends. */
  readonly untilMs: number;
}

export interface RegistrarStore {
  // ---- users (HA1 only) ----

  getUser(username: string): Promise<UserRecord | undefined>;
  /** Add or replace a user. */
  putUser(user: UserRecord): Promise<void>;
  /** Remove a user and every binding of its AOR; false when there was no such user. */
  removeUser(username: string): Promise<boolean>;
  /** Users by name, at most `limit` (default 1000). */
  listUsers(limit?: number): Promise<UserRecord[]>;
  /** Add the users that do not exist yet (a node's config seeds its cluster); returns how many. */
  seedUsers(users: readonly UserRecord[]): Promise<number>;

  // ---- location ----

  /** Apply one REGISTER's changes in one atomic step (see `RegisterChange`). */
  register(change: RegisterChange): Promise<RegisterResult>;
  /** The AOR's unexpired bindings, highest q first (ties: most recently registered first). */
  lookup(aor: string): Promise<Binding[]>;
  /**
   * Remove one binding; when `ownerNodeId` is given, only if that node still owns it (a keep-alive
   * miss or a closed connection must not remove a binding that moved or re-registered elsewhere).
   * True when something was removed.
   */
  removeBinding(ref: BindingRef, ownerNodeId?: string): Promise<boolean>;
  /** Every unexpired binding owned by a node (its keep-alive work list, or a dead node's hand-over). */
  bindingsOwnedBy(nodeId: string): Promise<Binding[]>;
  /**
   * Hand a dead owner's bindings over: each move happens only if `fromNodeId` still owns the
   * binding; each drop removes the binding under the same condition. Returns what changed.
   */
  moveBindings(fromNodeId: string, moves: readonly BindingMove[], drops: readonly BindingRef[]): Promise<{ moved: number; dropped: number }>;
  /** Record keep-alive round trips (ms) measured by the owner; unknown bindings are ignored. */
  recordPingRtts(samples: readonly (BindingRef & { readonly rttMs: number })[]): Promise<void>;
  /** Delete expired bindings; returns how many. Safe on every node at once. */
  sweepExpired(): Promise<number>;
  /** Number of unexpired bindings (of one owner, or all). */
  countBindings(nodeId?: string): Promise<number>;

  // ---- abuse ----

  /**
   * Count one failed authentication from `ip`. When the count within `windowMs` reaches
   * `threshold`, the IP is banned for `banMs` and every node's `onBan` listener hears of it.
   */
  recordAuthFailure(ip: string, policy: AuthFailurePolicy): Promise<{ readonly failures: number; readonly banned: boolean }>;
  /** Bans in force. */
  listBans(): Promise<Ban[]>;
  /** Lift a ban (and reset its failure count); false when there was none. */
  unban(ip: string): Promise<boolean>;
  /** Called on every node (within ~1 s) when any node bans or unbans an IP (`untilMs` 0 = lifted). Returns an unsubscribe function. */
  onBan(listener: (ban: Ban) => void): () => void;

  // ---- digest support ----

  /** The cluster-wide secret (32+ random bytes, base64url) that signs nonces; created on first use. */
  clusterSecret(): Promise<string>;
  /**
   * Nonce-count replay protection (RFC 7616 §3.3): true when `nc` is higher than every nc seen for
   * this nonce (and records it); false for a replayed or reordered nc. The record lives `ttlMs`.
   */
  acceptNonceCount(nonce: string, nc: number, ttlMs: number): Promise<boolean>;

  /** The store's clock, ms. */
  now(): Promise<number>;
  close(): Promise<void>;
}
