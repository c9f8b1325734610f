/**
 * Every Redis key the cluster store uses, built here and nowhere else on the TypeScript side.
 *
 * All keys of one cluster share the prefix `sf:{<cluster>}:`. The braces are a Redis Cluster hash
 * tag: every key of a cluster hashes to one slot, so a Lua script may touch any of them. The Lua
 * scripts build the keys they cannot receive in KEYS (the levels of an existing call record, the
 * call sets of a reaped node) with the builders in `lua/lib/common.lua`, which mirror the ones
 * below character for character; `test/redis-cluster-store-keys.test.ts` checks the two agree.
 *
 * | key                                   | type   | holds                                            |
 * | ------------------------------------- | ------ | ------------------------------------------------ |
 * | `nodes`                               | zset   | nodeId → lease expiry (ms, store clock)          |
 * | `node:epoch:<nodeId>`                 | string | the node's current epoch                         |
 * | `node:info:<nodeId>`                  | hash   | free-form facts given at registration            |
 * | `node:calls:<epoch>:<nodeId>`         | set    | callIds admitted by that node under that epoch   |
 * | `fenced`                              | zset   | `<epoch>:<nodeId>` call sets still to release → fenced-at ms |
 * | `call:<callId>`                       | hash   | node, epoch, levels (JSON), start, exp (ms), meta (JSON) |
 * | `calls:by-start`                      | zset   | callId → start ms (every call, oldest first)     |
 * | `calls:by-expiry`                     | zset   | callId → expiry ms (maximum age)                 |
 * | `level:calls:<level>`                 | zset   | callId → start ms; ZCARD is the level's channels |
 * | `level:admits:<level>`                | zset   | `<µs>:<callId>` → admission µs, last 1 s (cpsNow) |
 * | `switches`                            | hash   | switchId → the `SwitchRecord` as canonical JSON  |
 * | `cluster-limits`                      | string | the cluster's caps (`ClusterLimitsRecord`), canonical JSON |
 * | `relays`                              | hash   | relayId → the `RelayRecord` as canonical JSON    |
 * | `media:session:<callId>`              | hash   | from (tag), relay, node, start (ms), exp (ms, 3 decimals); PEXPIREAT just after exp |
 * | `media:by-start`                      | zset   | callId → start ms (every media session, oldest first) |
 * | `media:by-expiry`                     | zset   | callId → expiry ms (pruned when past)            |
 * | `media:relays`                        | set    | relay ids whose `relay:media:` set is non-empty  |
 * | `relay:media:<relayId>`               | zset   | callId → expiry ms; unexpired members = the relay's sessions |
 * | `probes`                              | zset   | `<switchId>:<nodeId>` → report expiry (ms)       |
 * | `probe:<switchId>:<nodeId>`           | hash   | up, lat, p99, at (ms); expires with the report   |
 * | `sticky:<source key>`                 | string | the switchId the source sticks to; PX = its ttl  |
 * | `dialog:<callId>`                     | hash   | key (the call's admission key), json (`DialogStateRecord`); PEXPIRE = its ttl |
 * | `call:<callId>` field `dlg`           | -      | the Call-ID of the call's dialog record (set by put-dialog): fencing orphans the call |
 * | `lease:<name>`                        | hash   | holder ('' when free), epoch, exp (ms), claim: wholder, wprio, wexp (ms) |
 * | `events` (a pub/sub channel, no key)  | -      | change notices (`switches`: switches, relays or caps) for every node |
 */
import { SipfleetError } from '../errors.ts';

export interface StoreKeys {
  /** `sf:{<cluster>}:`, passed to every script as ARGV[1]. */
  readonly prefix: string;
  readonly nodes: string;
  readonly fenced: string;
  readonly callsByStart: string;
  readonly callsByExpiry: string;
  nodeEpoch(nodeId: string): string;
  nodeInfo(nodeId: string): string;
  nodeCalls(nodeId: string, epoch: number): string;
  call(callId: string): string;
  levelCalls(level: string): string;
  levelAdmits(level: string): string;
  /** The switch registry. */
  readonly switches: string;
  /** The cluster's caps (JSON): the live `cluster` level limits. */
  readonly clusterLimits: string;
  /** The pub/sub channel of change notices (not a key; same prefix for readability). */
  readonly events: string;
  /** Index of live probe reports. */
  readonly probes: string;
  probe(switchId: string, nodeId: string): string;
  sticky(sourceKey: string): string;
  /** The media relay registry. */
  readonly relays: string;
  /** One call's media session (relay, from tag, node, start, expiry). */
  mediaSession(callId: string): string;
  /** Media sessions by start (oldest first). */
  readonly mediaByStart: string;
  /** Media sessions by expiry (pruning). */
  readonly mediaByExpiry: string;
  /** Relay ids that have media sessions. */
  readonly mediaRelays: string;
  /** One relay's media sessions, scored by expiry. */
  relayMedia(relayId: string): string;
  /** One named lease (a floating IP's): its grant, epoch counter and claim. */
  lease(name: string): string;
  /** One confirmed call's dialog record, by SIP Call-ID. */
  dialog(callId: string): string;
}

/**
 * The key builders of one cluster.
 *
 * @throws SipfleetError `STORE_ERR_INVALID` when the cluster name is empty or holds `{`/`}` (it
 *   would break the hash tag and spread the cluster over several slots).
 */
export function storeKeys(cluster: string): StoreKeys {
  if (cluster === '' || /[{}]/.test(cluster)) {
    throw new SipfleetError('STORE_ERR_INVALID', 'cluster name must be non-empty and contain no "{" or "}"', {
      detail: { field: 'cluster' },
    });
  }
  const prefix = `sf:{${cluster}}:`;
  return {
    prefix,
    nodes: `${prefix}nodes`,
    fenced: `${prefix}fenced`,
    callsByStart: `${prefix}calls:by-start`,
    callsByExpiry: `${prefix}calls:by-expiry`,
    nodeEpoch: (nodeId) => `${prefix}node:epoch:${nodeId}`,
    nodeInfo: (nodeId) => `${prefix}node:info:${nodeId}`,
    // Epoch first: the node id may hold ':' and stays the unambiguous tail.
    nodeCalls: (nodeId, epoch) => `${prefix}node:calls:${epoch}:${nodeId}`,
    call: (callId) => `${prefix}call:${callId}`,
    levelCalls: (level) => `${prefix}level:calls:${level}`,
    levelAdmits: (level) => `${prefix}level:admits:${level}`,
    switches: `${prefix}switches`,
    clusterLimits: `${prefix}cluster-limits`,
    events: `${prefix}events`,
    probes: `${prefix}probes`,
    // Switch ids hold no ':' (validated), so the node id (which may) is the unambiguous tail.
    probe: (switchId, nodeId) => `${prefix}probe:${switchId}:${nodeId}`,
    // A source key may hold ':' (IPv6) or braces: only the first {...} of a name is its hash tag.
    sticky: (sourceKey) => `${prefix}sticky:${sourceKey}`,
    relays: `${prefix}relays`,
    // Under `media:session:`, so that no call id can name an index (`media:by-start`).
    mediaSession: (callId) => `${prefix}media:session:${callId}`,
    mediaByStart: `${prefix}media:by-start`,
    mediaByExpiry: `${prefix}media:by-expiry`,
    mediaRelays: `${prefix}media:relays`,
    relayMedia: (relayId) => `${prefix}relay:media:${relayId}`,
    lease: (name) => `${prefix}lease:${name}`,
    dialog: (callId) => `${prefix}dialog:${callId}`,
  };
}
