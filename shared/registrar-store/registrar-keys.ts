/**
 * Every Redis key the registrar store uses, built here and nowhere else on the TypeScript side.
 *
 * All keys of one cluster's registrar share the prefix `sf:{<cluster>}:reg:`: the cluster store's
 * hash tag (`{<cluster>}`), so every key of a cluster, the cluster store's included, sits in one
 * Redis Cluster slot and a Lua script may touch any of them. The scripts build the keys they
 * cannot receive in KEYS (the owner index of an existing binding, the AOR of an expired binding)
 * with the builders in `lua/lib/common.lua`, which mirror the ones below character for character;
 * `test/redis-registrar-store.test.ts` checks the two agree.
 *
 * A binding reference `<aor>:<key>` is unambiguous: an AOR (a user name) never holds ':'.
 *
 * | key                         | type   | holds                                                          |
 * | --------------------------- | ------ | -------------------------------------------------------------- |
 * | `reg:users`                 | hash   | username → the `UserRecord` as JSON (HA1 only)                 |
 * | `reg:user-names`            | zset   | username, score 0 (lexical order for `listUsers`)              |
 * | `reg:aor:<aor>`             | hash   | binding key → the binding (header JSON `\n` body JSON, below)  |
 * | `reg:expiry`                | zset   | `<aor>:<key>` → the binding's expiry (ms, store clock)         |
 * | `reg:owner:<nodeId>`        | zset   | `<aor>:<key>` of the bindings the node owns → their expiry (ms) |
 * | `reg:fail:<ip>`             | string | failed authentications in the current window; PX = the window  |
 * | `reg:banned`                | zset   | ip → ban end (ms, store clock); ended bans pruned when touched |
 * | `reg:secret`                | string | the cluster secret (32 random bytes, base64url), set once (NX) |
 * | `reg:nonce:<nonce>`         | string | the highest nonce count accepted; PX = the caller's ttl        |
 * | `reg:bans` (pub/sub channel) | -     | ban notices `{"ip":…,"untilMs":…}` (0 = lifted) for every node |
 *
 * A stored binding is `<header>\n<body>`. The header is a JSON array of strings
 * `[expiresAtMs, registeredAtMs, pingRttMs or "", cseq, callId, owner nodeId, ownerUri]`: what the
 * scripts read and rewrite (as strings, so Lua's number formatting never rounds them). The body is
 * the rest of the binding as JSON written by TypeScript (aor, key, contact, q, instanceId, regId,
 * path, userAgent, and the flow without nodeId/ownerUri), never re-encoded by Lua.
 */
import { SipfleetError } from '../errors.ts';

export interface RegistrarKeys {
  /** `sf:{<cluster>}:reg:`, passed to every script that builds keys as ARGV[1]. */
  readonly prefix: string;
  readonly users: string;
  readonly userNames: string;
  readonly expiry: string;
  readonly banned: string;
  readonly secret: string;
  /** The pub/sub channel of ban notices (not a key; same prefix for readability). */
  readonly bans: string;
  aor(aor: string): string;
  owner(nodeId: string): string;
  fail(ip: string): string;
  nonce(nonce: string): string;
}

/**
 * The key builders of one cluster's registrar.
 *
 * @throws SipfleetError `STORE_ERR_INVALID` when the cluster name is empty or holds `{`/`}`.
 */
export function registrarKeys(cluster: string): RegistrarKeys {
  if (typeof cluster !== 'string' || cluster === '' || /[{}]/.test(cluster)) {
    throw new SipfleetError('STORE_ERR_INVALID', 'cluster name must be non-empty and contain no "{" or "}"', { detail: { field: 'cluster' } });
  }
  const prefix = `sf:{${cluster}}:reg:`;
  return {
    prefix,
    users: `${prefix}users`,
    userNames: `${prefix}user-names`,
    expiry: `${prefix}expiry`,
    banned: `${prefix}banned`,
    secret: `${prefix}secret`,
    bans: `${prefix}bans`,
    aor: (aor) => `${prefix}aor:${aor}`,
    owner: (nodeId) => `${prefix}owner:${nodeId}`,
    fail: (ip) => `${prefix}fail:${ip}`,
    nonce: (nonce) => `${prefix}nonce:${nonce}`,
  };
}

/** `<aor>:<key>`: a binding's member in the expiry and owner indexes. */
export function bindingRef(aor: string, key: string): string {
  return `${aor}:${key}`;
}
