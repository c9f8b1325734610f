/**
 * The typed face of the registrar's Lua scripts in `lua/`: each file is read once at startup,
 * prefixed with `lua/lib/common.lua`, registered on the ioredis client with `defineCommand`
 * (EVALSHA, falling back to EVAL when the server lost its script cache) and called through one
 * typed method that maps the raw reply to the contract's types. Nothing else sends EVAL.
 *
 * The few reads and writes that are one plain command (a user, the user list, the cluster secret,
 * TIME) are typed methods here too, so that `RedisRegistrarStore` never names a Redis command or
 * a key. This layer does no retries, loops, validation or error mapping: the store does.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { Ban, Binding, BindingFlow, BindingMove, BindingRef, UserRecord } from './registrar-store.ts';
import type { RegistrarKeys } from './registrar-keys.ts';
import type { NormalizedChange } from './validate-registrar-args.ts';

export const REGISTRAR_SCRIPT_NAMES = [
  'register',
  'lookup',
  'remove-binding',
  'owned-by',
  'move-bindings',
  'record-ping-rtts',
  'sweep-expired',
  'count-bindings',
  'remove-user',
  'put-users',
  'record-auth-failure',
  'list-bans',
  'unban',
  'accept-nonce-count',
] as const;
export type RegistrarScriptName = (typeof REGISTRAR_SCRIPT_NAMES)[number];

function readLua(path: string): string {
  return readFileSync(new URL(path, import.meta.url), 'utf8');
}

const COMMON_LUA = readLua('./lua/lib/common.lua');

/** Each script's full source as sent to Redis: common.lua, then the script. */
export const REGISTRAR_SCRIPT_SOURCES: Readonly<Record<RegistrarScriptName, string>> = Object.fromEntries(
  REGISTRAR_SCRIPT_NAMES.map((name) => [name, `${COMMON_LUA}\n${readLua(`./lua/${name}.lua`)}`]),
) as Record<RegistrarScriptName, string>;

/** The ioredis command name of a script: `sfReg` + camel case (`owned-by` → `sfRegOwnedBy`). */
function commandName(name: RegistrarScriptName): string {
  return `sfReg${name.replace(/(^|-)([a-z])/g, (_m, _dash: string, c: string) => c.toUpperCase())}`;
}

type ScriptCommand = (numKeys: number, ...args: string[]) => Promise<unknown>;

function asArray(reply: unknown, script: RegistrarScriptName): unknown[] {
  if (!Array.isArray(reply)) throw new Error(`${script}: unexpected reply ${JSON.stringify(reply)}`);
  return reply;
}

/** The part of a binding TypeScript writes and Lua never re-encodes (see registrar-keys.ts). */
interface BindingBody {
  readonly aor: string;
  readonly key: string;
  readonly contact: string;
  readonly q: number;
  readonly instanceId?: string;
  readonly regId?: number;
  readonly path: readonly string[];
  readonly userAgent?: string;
  readonly flow: Omit<BindingFlow, 'nodeId' | 'ownerUri'>;
}

/** The body JSON of a binding to write. */
export function bindingBody(aor: string, u: NormalizedChange['upserts'][number]): string {
  const f = u.flow;
  const flow: BindingBody['flow'] = {
    protocol: f.protocol,
    address: f.address,
    port: f.port,
    ...(f.connectionId === undefined ? {} : { connectionId: f.connectionId }),
    localAddress: f.localAddress,
    localPort: f.localPort,
  };
  const body: { -readonly [K in keyof BindingBody]: BindingBody[K] } = { aor, key: u.key, contact: u.contact, q: u.q, path: u.path, flow };
  if (u.instanceId !== undefined) body.instanceId = u.instanceId;
  if (u.regId !== undefined) body.regId = u.regId;
  if (u.userAgent !== undefined) body.userAgent = u.userAgent;
  return JSON.stringify(body);
}

/** A stored binding value (`<header JSON>\n<body JSON>`) as a `Binding`. */
export function parseBinding(value: string): Binding {
  const nl = value.indexOf('\n');
  const h = JSON.parse(value.slice(0, nl)) as string[];
  const body = JSON.parse(value.slice(nl + 1)) as BindingBody;
  const f = body.flow;
  const flow: BindingFlow = {
    nodeId: h[5],
    protocol: f.protocol,
    address: f.address,
    port: f.port,
    ...(f.connectionId === undefined ? {} : { connectionId: f.connectionId }),
    localAddress: f.localAddress,
    localPort: f.localPort,
    ownerUri: h[6],
  };
  const b: { -readonly [K in keyof Binding]: Binding[K] } = {
    aor: body.aor,
    key: body.key,
    contact: body.contact,
    q: body.q,
    expiresAtMs: Number(h[0]),
    callId: h[4],
    cseq: Number(h[3]),
    path: body.path,
    flow,
    registeredAtMs: Number(h[1]),
  };
  if (body.instanceId !== undefined) b.instanceId = body.instanceId;
  if (body.regId !== undefined) b.regId = body.regId;
  if (body.userAgent !== undefined) b.userAgent = body.userAgent;
  if (h[2] !== '') b.pingRttMs = Number(h[2]);
  return b;
}

export type RegisterReply = { readonly ok: true; readonly bindings: Binding[] } | { readonly ok: false; readonly reason: 'out-of-order' | 'too-many-contacts' };

/** Typed calls of every registrar script on one client, for one cluster's keys. */
export class RegistrarScripts {
  readonly #redis: Redis;
  readonly #keys: RegistrarKeys;
  readonly #commands: Record<RegistrarScriptName, ScriptCommand>;

  constructor(redis: Redis, keys: RegistrarKeys) {
    this.#redis = redis;
    this.#keys = keys;
    const commands: Partial<Record<RegistrarScriptName, ScriptCommand>> = {};
    const table = redis as unknown as Record<string, ScriptCommand>;
    for (const name of REGISTRAR_SCRIPT_NAMES) {
      const command = commandName(name);
      if (typeof table[command] !== 'function') redis.defineCommand(command, { lua: REGISTRAR_SCRIPT_SOURCES[name] });
      const fn = table[command];
      commands[name] = (numKeys, ...args) => fn.call(redis, numKeys, ...args);
    }
    this.#commands = commands as Record<RegistrarScriptName, ScriptCommand>;
  }

  #run(name: RegistrarScriptName, keys: readonly string[], argv: readonly (string | number)[]): Promise<unknown> {
    return this.#commands[name](keys.length, ...keys, ...argv.map(String));
  }

  // ---- users ----

  async getUserJson(username: string): Promise<string | null> {
    return this.#redis.hget(this.#keys.users, username);
  }

  /** `users` are validated records. Returns how many were added (seed: only missing ones are). */
  async putUsers(users: readonly UserRecord[], seed: boolean): Promise<number> {
    const k = this.#keys;
    const argv: string[] = [seed ? '1' : '0'];
    for (const u of users) argv.push(u.username, JSON.stringify(u));
    return Number(await this.#run('put-users', [k.users, k.userNames], argv));
  }

  async removeUser(username: string): Promise<boolean> {
    const k = this.#keys;
    return Number(await this.#run('remove-user', [k.users, k.userNames, k.aor(username)], [k.prefix, username])) === 1;
  }

  /** The first `limit` user records by name, as JSON (a name removed meanwhile is skipped). */
  async listUsersJson(limit: number): Promise<string[]> {
    const k = this.#keys;
    const names = await this.#redis.zrange(k.userNames, '0', String(limit - 1));
    if (names.length === 0) return [];
    const values = await this.#redis.hmget(k.users, ...names);
    return values.filter((v): v is string => v !== null);
  }

  // ---- location ----

  async register(c: NormalizedChange): Promise<RegisterReply> {
    const k = this.#keys;
    const argv: (string | number)[] = [k.prefix, c.aor, c.callId, c.cseq, c.removeAll ? '1' : '0', c.maxContacts, c.removals.length, ...c.removals, c.upserts.length];
    for (const u of c.upserts) argv.push(u.key, Math.round(u.expires * 1000), u.flow.nodeId, u.flow.ownerUri, bindingBody(c.aor, u));
    const r = asArray(await this.#run('register', [k.aor(c.aor), k.expiry], argv), 'register');
    if (r[0] === 1) return { ok: true, bindings: r.slice(1).map((v) => parseBinding(String(v))) };
    const reason = r[1] === 'out-of-order' ? 'out-of-order' : 'too-many-contacts';
    return { ok: false, reason };
  }

  async lookup(aor: string): Promise<Binding[]> {
    return asArray(await this.#run('lookup', [this.#keys.aor(aor)], []), 'lookup').map((v) => parseBinding(String(v)));
  }

  async removeBinding(ref: BindingRef, ownerNodeId: string | undefined): Promise<boolean> {
    const k = this.#keys;
    return Number(await this.#run('remove-binding', [k.aor(ref.aor)], [k.prefix, ref.aor, ref.key, ownerNodeId ?? ''])) === 1;
  }

  async ownedByPage(nodeId: string, offset: number, count: number): Promise<{ bindings: Binding[]; more: boolean }> {
    const k = this.#keys;
    const r = asArray(await this.#run('owned-by', [k.owner(nodeId)], [k.prefix, nodeId, offset, count]), 'owned-by');
    return { more: r[0] === 1, bindings: r.slice(1).map((v) => parseBinding(String(v))) };
  }

  async moveBindings(fromNodeId: string, moves: readonly BindingMove[], drops: readonly BindingRef[]): Promise<{ moved: number; dropped: number }> {
    const k = this.#keys;
    const argv: (string | number)[] = [k.prefix, fromNodeId, moves.length];
    for (const m of moves) argv.push(m.aor, m.key, m.nodeId, m.ownerUri);
    argv.push(drops.length);
    for (const d of drops) argv.push(d.aor, d.key);
    const r = asArray(await this.#run('move-bindings', [k.expiry], argv), 'move-bindings');
    return { moved: Number(r[0]), dropped: Number(r[1]) };
  }

  async recordPingRtts(samples: readonly (BindingRef & { readonly rttMs: number })[]): Promise<number> {
    const k = this.#keys;
    const argv: (string | number)[] = [k.prefix, samples.length];
    for (const s of samples) argv.push(s.aor, s.key, String(s.rttMs));
    return Number(await this.#run('record-ping-rtts', [k.expiry], argv));
  }

  async sweepExpired(budget: number): Promise<{ deleted: number; more: boolean }> {
    const k = this.#keys;
    const r = asArray(await this.#run('sweep-expired', [k.expiry], [k.prefix, budget]), 'sweep-expired');
    return { deleted: Number(r[0]), more: r[1] === 1 };
  }

  async countBindings(nodeId: string | undefined): Promise<number> {
    const k = this.#keys;
    return Number(await this.#run('count-bindings', [nodeId === undefined ? k.expiry : k.owner(nodeId)], []));
  }

  // ---- abuse ----

  async recordAuthFailure(ip: string, windowMs: number, threshold: number, banMs: number): Promise<{ failures: number; banned: boolean }> {
    const k = this.#keys;
    const r = asArray(await this.#run('record-auth-failure', [k.fail(ip), k.banned], [k.prefix, ip, windowMs, threshold, banMs]), 'record-auth-failure');
    return { failures: Number(r[0]), banned: r[1] === 1 };
  }

  /** Bans in force, unordered. */
  async listBans(): Promise<Ban[]> {
    const r = asArray(await this.#run('list-bans', [this.#keys.banned], []), 'list-bans');
    const bans: Ban[] = [];
    for (let i = 0; i + 1 < r.length; i += 2) bans.push({ ip: String(r[i]), untilMs: Number(r[i + 1]) });
    return bans;
  }

  async unban(ip: string): Promise<boolean> {
    const k = this.#keys;
    return Number(await this.#run('unban', [k.fail(ip), k.banned], [k.prefix, ip])) === 1;
  }

  // ---- digest support ----

  /** The cluster secret: set once with NX (the first node to ask creates it), then read. */
  async clusterSecret(): Promise<string> {
    const key = this.#keys.secret;
    await this.#redis.set(key, randomBytes(32).toString('base64url'), 'NX');
    const secret = await this.#redis.get(key);
    if (secret === null) throw new Error('the cluster secret vanished between SET NX and GET');
    return secret;
  }

  async acceptNonceCount(nonce: string, nc: number, ttlMs: number): Promise<boolean> {
    return Number(await this.#run('accept-nonce-count', [this.#keys.nonce(nonce)], [nc, ttlMs])) === 1;
  }

  /** The store clock, ms (Redis TIME). */
  async nowMs(): Promise<number> {
    const [sec, usec] = await this.#redis.time();
    return Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
  }
}
