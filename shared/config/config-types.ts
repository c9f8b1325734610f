/**
 * The typed node configuration that `loadConfig`/`parseConfig` return: every default applied,
 * durations in milliseconds, addresses parsed. Hosts are bare (an IPv6 host has no brackets);
 * `url`/`address`/`ng` keep the canonical text form for logs.
 */
import type { Cidr } from './cidr.ts';

export const LISTEN_TRANSPORTS = ['udp', 'tcp', 'tls', 'ws', 'wss'] as const;
export type ListenTransport = (typeof LISTEN_TRANSPORTS)[number];

export const SWITCH_TRANSPORTS = ['udp', 'tcp', 'tls'] as const;
export type SwitchTransport = (typeof SWITCH_TRANSPORTS)[number];

export const SELECTIONS = ['round-robin', 'weighted', 'hash-call-id', 'hash-source', 'least-channels', 'priority', 'latency'] as const;
export type Selection = (typeof SELECTIONS)[number];

export const REDIS_OUTAGE_MODES = ['fail-closed', 'fail-open'] as const;

export const UNKNOWN_SOURCE_MODES = ['reject', 'drop'] as const;

export const SWITCH_STATES = ['active', 'disabled', 'draining'] as const;
export type SwitchState = (typeof SWITCH_STATES)[number];
export type UnknownSourceMode = (typeof UNKNOWN_SOURCE_MODES)[number];
export type RedisOutageMode = (typeof REDIS_OUTAGE_MODES)[number];

export interface HostPort {
  host: string;
  port: number;
}

export interface ListenAddress {
  transport: ListenTransport;
  /** IPv4 or IPv6 literal, without brackets; may be a wildcard (0.0.0.0, ::). */
  host: string;
  port: number;
  /** ws/wss only: the HTTP upgrade path, default "/". */
  path?: string;
  /** Canonical form, e.g. `udp://127.0.0.1:5060`, `wss://[::1]:8443/sip`. */
  url: string;
  /**
   * Bound with SO_REUSEPORT beside the node's other workers (set by `workerNodeConfig` on a
   * worker's copy of the config, never read from the file).
   */
  reusePort?: boolean;
}

export interface TlsConfig {
  /** Absolute paths (relative ones are resolved against the config file's directory). */
  cert: string;
  key: string;
  ca?: string;
}

/**
 * `node.limits.transactions` by default. A call holds four transactions (INVITE and BYE, each a
 * server and a client one) for the linger after it ends, so the table holds ≈ 128 × cps at 32 s:
 * a million is ≈ 7800 calls/s sustained (≈ 50 000 at a 5 s linger), ≈ 0.5 GB of heap when full.
 */
export const DEFAULT_TRANSACTIONS = 1_000_000;

/** Default `node.warmupCalls`: about 0.4 s of CPU at start (BENCHMARKS.md, Session 13). */
export const DEFAULT_WARMUP_CALLS = 2000;

export interface NodeLimits {
  maxMessageBytes: number;
  maxHeaders: number;
  maxLineLength: number;
  maxConnections: number;
  connectionsPerIp: number;
  /** ms */
  idleTimeout: number;
  /** ms */
  headerTimeout: number;
  transactions: number;
  /** ms a finished transaction is kept to absorb retransmissions (RFC 3261 Timers D, J; RFC 6026 L, M). */
  transactionLinger: number;
  /**
   * Bytes waiting in a UDP socket's receive queue at which new calls are shed with 503
   * (admission/overload-guard.ts); 0 turns shedding off.
   */
  overloadBacklog: number;
}

/** `node.vip.priority` words: the numbers they stand for (VRRP-style, higher wins). */
export const VIP_PRIORITIES = { primary: 200, backup: 100 } as const;

/** A floating IP this node may hold (docs/ha.md): one holder at a time, fenced by a store lease. */
export interface VipConfig {
  /** The address (IPv4 literal), e.g. `198.51.100.10`. */
  address: string;
  /** Prefix length it is added with (`ip addr add <address>/<prefixLength>`). */
  prefixLength: number;
  /** Canonical `address/prefixLength`. */
  cidr: string;
  /** Network interface it is added to (e.g. `eth0`). */
  interface: string;
  /** 1-255, higher wins: `primary` = 200, `backup` = 100. */
  priority: number;
  /** Consecutive ready checks before the node claims the address. */
  rise: number;
  /** Consecutive not-ready checks before the holder lets the address go (draining: at once). */
  fall: number;
  /** Give the address back to a ready higher-priority node by itself (else on SIGHUP only). */
  autoReturn: boolean;
  /** ms: the store lease's ttl (renewed every third of it). */
  leaseTtl: number;
  /** ms between readiness checks (and claim attempts). */
  checkInterval: number;
  /** Gratuitous ARPs sent when the address is taken (0: none). */
  garp: number;
}

/** A worker process of a node (`node.workers` > 1). */
export interface WorkerIdentity {
  /** The node id it is a worker of (the file's `node.id`). */
  of: string;
  index: number;
  count: number;
  /** Worker k's own UDP port is `portBase + k`. */
  portBase: number;
}

export interface NodeSection {
  id: string;
  listen: ListenAddress[];
  /** Host for Via/Record-Route instead of the listen host (bare, no brackets); defaults to the VIP with `vip`. */
  advertise?: string;
  tls?: TlsConfig;
  http?: HostPort;
  limits: NodeLimits;
  /** ms a starting node waits at most for its switch probes to settle before it is ready (0: no warm-up). */
  warmup: number;
  /**
   * Calls run end to end through a private copy of the proxy path before the listeners open, so
   * that V8 has optimised it before real traffic arrives (dispatcher/proxy-warm-up.ts); 0: none.
   */
  warmupCalls: number;
  vip?: VipConfig;
  /** Worker processes sharing the listen sockets (SO_REUSEPORT), each a cluster node of its own; 1 = none. */
  workers: number;
  /**
   * UDP socket implementation: `native` the batched I/O addon (recvmmsg, built by scripts/build-native.sh),
   * `node` node:dgram, `auto` (default) native when built.
   */
  udpIo: 'auto' | 'native' | 'node';
  /** Worker k's own UDP port is `workerPortBase + k` (Via, switch-facing Record-Route, internal hop). */
  workerPortBase: number;
  /** Set on a worker's copy of the config only (`workerNodeConfig`): which worker of which node it is. */
  worker?: WorkerIdentity;
}

export type StoreConfig =
  | { kind: 'memory' }
  | { kind: 'redis'; url: string }
  | { kind: 'sentinel'; sentinels: HostPort[]; name: string; password?: string };

export interface ClusterLimits {
  /** Absent = unlimited. */
  cps?: number;
  channels?: number;
  burst?: number;
}

export interface ProbeConfig {
  /** ms */
  interval: number;
  /** ms, always < interval */
  timeout: number;
  fall: number;
  rise: number;
  /** OPTIONS reply codes that count as healthy. */
  accept: number[];
  /** ms over which a recovered switch's share ramps from a tenth to full (slow start); 0 = at once. */
  warmup: number;
  /** Mark a switch down only when most live nodes see it down. */
  quorum: boolean;
}

export interface SwitchConfig {
  id: string;
  /** Canonical `host:port` (`[v6]:port`). */
  address: string;
  host: string;
  port: number;
  transport: SwitchTransport;
  weight: number;
  priority: number;
  cps?: number;
  channels?: number;
  zone?: string;
  /** Admin state seeded into the registry: active (default), disabled or draining. */
  state: SwitchState;
}

export interface CarrierConfig {
  id: string;
  sources: Cidr[];
  cps?: number;
  channels?: number;
  /** Defaults to `cluster.selection`. */
  selection: Selection;
  rejectCode?: number;
  zone?: string;
}

export interface UserConfig {
  username: string;
  /** hex MD5(username:realm:password) */
  ha1Md5: string;
  /** hex SHA-256(username:realm:password); absent when the file gave only an MD5 `ha1`. */
  ha1Sha256?: string;
  channels?: number;
  cps?: number;
  /** Media zone of this user's calls (`none`: media flows directly). */
  zone?: string;
}

export interface RtpRelayConfig {
  id: string;
  /** Admin state seeded into the relay registry (default active). */
  state: SwitchState;
  /** Canonical `host:port` of the rtpengine ng control socket. */
  ng: string;
  host: string;
  port: number;
  zone?: string;
  weight: number;
}

export const DIGEST_ALGORITHMS = ['SHA-256', 'MD5'] as const;
export type DigestAlgorithm = (typeof DIGEST_ALGORITHMS)[number];

/** The zone value that means "no relay": the call's media flows directly between the ends. */
export const NO_MEDIA_ZONE = 'none';

/** How each call's media relay (rtpengine) is chosen; see docs/media.md. */
export interface MediaConfig {
  /** Zones by the INVITE's source address, checked after the carrier's and the user's zone. */
  zones: Array<{ sources: Cidr[]; zone: string }>;
  /** The zone of a call no carrier, user or source rule names; absent = any relay. */
  defaultZone?: string;
  /** Zones tried after the call's own, in order; absent = every other zone, in registry order. */
  zoneOrder?: string[];
  /** true: a call that needs a relay and finds none gets 503; false: its media flows directly. */
  required: boolean;
  /** ng `ping` health checks of every relay, by every node. */
  probe: { interval: number; timeout: number; fall: number; rise: number };
  /** ms between `statistics` reads (each relay's own session count). */
  statsInterval: number;
}

/** The registrar (RFC 3261 §10) every dispatcher runs for softphones; see docs/registrar.md. */
export interface RegistrarConfig {
  /** false: REGISTER is proxied to the switches like any request, and phones cannot call. */
  enabled: boolean;
  /** Expires bounds in seconds: below `minExpires` → 423 with Min-Expires; above `maxExpires` → lowered. */
  minExpires: number;
  maxExpires: number;
  /** Granted when the REGISTER names none. */
  defaultExpires: number;
  /** Bindings one AOR may hold; more → 403. */
  maxContacts: number;
  /** Challenge algorithms, most preferred first (one WWW-Authenticate each, RFC 8760 §2.4). */
  algorithms: DigestAlgorithm[];
  /** ms a nonce stays valid; a later one gets a fresh challenge with `stale=true`. */
  nonceTtl: number;
  /** NAT keep-alive pings by each binding's owner node. */
  keepalive: {
    enabled: boolean;
    /** ms between pings of one contact (jittered ±10 %). */
    interval: number;
    /** ms a ping may take before it counts as missed (≤ interval). */
    timeout: number;
    /** Consecutive missed pings that remove the binding. */
    misses: number;
  };
  /** Failed authentications per source IP, cluster-wide; carrier sources are never banned. */
  abuse: {
    /** Failures within `window` ms that ban the IP... */
    threshold: number;
    window: number;
    /** ...for `banTime` ms (silent drop on every node). */
    banTime: number;
    /** User-Agent substrings (case-insensitive) of SIP scanners: dropped and counted. */
    scanners: string[];
  };
}

export interface ClusterConfig {
  name: string;
  /** Digest realm; defaults to the cluster name. */
  realm: string;
  limits: ClusterLimits;
  selection: Selection;
  probe: ProbeConfig;
  redisOutage: RedisOutageMode;
  /** What an INVITE from no carrier and no authenticated user gets: 403, or silence. */
  unknownSources: UnknownSourceMode;
  /** ms an over-CPS INVITE may wait for a free slot (with 100 Trying); 0 = reject at once. */
  spikeBuffer: number;
  /** ms after which a call's lease ends even without a BYE. */
  maxCallAge: number;
  /** Node liveness leases: a node silent for `ttl` ms is reaped; live nodes reap every `reapInterval` ms. */
  leases: { ttl: number; reapInterval: number };
  /** ms a source address sticks to its switch under hash-source selection. */
  stickyTtl: number;
  /** Response failover: the final codes that try the next switch, and the switches tried per call at most. */
  failover: { codes: number[]; attempts: number; timeout: number };
  switches: SwitchConfig[];
  carriers: CarrierConfig[];
  users: UserConfig[];
  registrar: RegistrarConfig;
  media: MediaConfig;
  /** YAML key `rtp-relays`. */
  rtpRelays: RtpRelayConfig[];
}

export const OPS_ROLES = ['viewer', 'operator', 'admin'] as const;
export type OpsRole = (typeof OPS_ROLES)[number];

/** One ops API bearer token, kept only as the hex SHA-256 of its text. */
export interface OpsTokenConfig {
  name: string;
  role: OpsRole;
  /** Lower-case hex SHA-256 of the token text (64 characters). */
  sha256: string;
}

/** The optional `ops:` section: the ops API's listener, tokens, limits and audit file. */
export interface OpsConfig {
  /** Default 127.0.0.1:8080. */
  listen: HostPort;
  tokens: OpsTokenConfig[];
  /** At most `max` requests per token (or per IP without a token) in each `window` ms. */
  rateLimit: { max: number; window: number };
  /** Largest request body in bytes. */
  bodyLimit: number;
  /** Absolute path of the JSON-lines audit file; absent = kept in memory only. */
  audit?: string;
}

export interface NodeConfig {
  node: NodeSection;
  store: StoreConfig;
  cluster: ClusterConfig;
  /** Present when the file has an `ops:` section or `SIPFLEET_OPS_TOKEN` is set. */
  ops?: OpsConfig;
}
