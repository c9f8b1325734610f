/**
 * Softphone users (the registrar's SIP credentials) in the registrar store: list, get, create,
 * replace, patch, delete. A password is write-only: it is turned into the HA1s (MD5 and SHA-256
 * of `username:realm:password`, realm `cluster.realm`) at once and never stored, returned,
 * logged or audited; no answer ever carries an HA1. Deleting a user removes its bindings too.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { digestHa1 } from '../../shared/config/digest-ha1.ts';
import type { UserRecord } from '../../shared/registrar-store/registrar-store.ts';
import { OpsError } from '../errors.ts';
import type { OpsDeps } from '../ops-deps.ts';
import { CreateUserBody, errors, PatchUserBody, ReplaceUserBody, User, UserList, UserListQuery, UsernameParams } from '../schemas.ts';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** What the API shows of a user: never an HA1. */
export function userView(u: UserRecord): User {
  return {
    username: u.username,
    realm: u.realm,
    cps: u.cps ?? null,
    channels: u.channels ?? null,
    zone: u.zone ?? null,
    algorithms: u.ha1Sha256 !== undefined ? ['SHA-256', 'MD5'] : ['MD5'],
  };
}

/** The HA1s from a password (both algorithms) or an MD5 ha1; undefined when neither was given. */
function credentials(username: string, realm: string, body: { password?: string; ha1?: string }): Pick<UserRecord, 'realm' | 'ha1Md5' | 'ha1Sha256'> | undefined {
  if (body.password !== undefined && body.ha1 !== undefined) throw new OpsError('OPS_ERR_VALIDATION', 'body.ha1: give either password or ha1, not both');
  if (body.password !== undefined) {
    return { realm, ha1Md5: digestHa1('md5', username, realm, body.password), ha1Sha256: digestHa1('sha256', username, realm, body.password) };
  }
  if (body.ha1 !== undefined) return { realm, ha1Md5: body.ha1.toLowerCase(), ha1Sha256: undefined };
  return undefined;
}

/** The record without undefined optional fields (stores compare and serialise it as given). */
function compact(u: Mutable<UserRecord>): UserRecord {
  const out: Mutable<UserRecord> = { username: u.username, realm: u.realm, ha1Md5: u.ha1Md5 };
  if (u.ha1Sha256 !== undefined) out.ha1Sha256 = u.ha1Sha256;
  if (u.cps !== undefined) out.cps = u.cps;
  if (u.channels !== undefined) out.channels = u.channels;
  if (u.zone !== undefined) out.zone = u.zone;
  return out;
}

export const userRoutes: FastifyPluginAsyncTypebox<{ deps: OpsDeps }> = async (app, { deps }) => {
  const { registrar } = deps;
  const viewer = { minRole: 'viewer' } as const;
  const operator = { minRole: 'operator' } as const;
  const admin = { minRole: 'admin' } as const;
  const tags = ['users'];

  async function findUser(username: string): Promise<UserRecord> {
    const user = await registrar.getUser(username);
    if (user === undefined) throw new OpsError('OPS_ERR_NOT_FOUND', `no user ${username}`);
    return user;
  }

  app.get('/v1/users', { config: viewer, schema: { tags, querystring: UserListQuery, response: { 200: UserList, ...errors(400, 401, 429, 503) } } }, async (req) => ({
    users: (await registrar.listUsers(req.query.limit ?? 1000)).map(userView),
  }));

  app.get(
    '/v1/users/:username',
    { config: viewer, schema: { tags, params: UsernameParams, response: { 200: User, ...errors(400, 401, 404, 429, 503) } } },
    async (req) => userView(await findUser(req.params.username)),
  );

  app.post(
    '/v1/users',
    { config: operator, schema: { tags, body: CreateUserBody, response: { 201: User, ...errors(400, 401, 403, 409, 413, 415, 429, 503) } } },
    async (req, reply) => {
      const b = req.body;
      const creds = credentials(b.username, deps.cluster.realm, b);
      if (creds === undefined) throw new OpsError('OPS_ERR_VALIDATION', 'body.password: is required (or give ha1, the hex MD5 of username:realm:password)');
      if ((await registrar.getUser(b.username)) !== undefined) throw new OpsError('OPS_ERR_CONFLICT', `user ${b.username} already exists`);
      const user = compact({ username: b.username, ...creds, cps: b.cps, channels: b.channels, zone: b.zone });
      await registrar.putUser(user);
      return reply.code(201).send(userView(user));
    },
  );

  const changed = { 200: User, ...errors(400, 401, 403, 404, 413, 415, 429, 503) };

  app.put('/v1/users/:username', { config: operator, schema: { tags, params: UsernameParams, body: ReplaceUserBody, response: changed } }, async (req) => {
    const { username } = req.params;
    const creds = credentials(username, deps.cluster.realm, req.body);
    const current = await findUser(username);
    const user = compact({
      username,
      ...(creds ?? { realm: current.realm, ha1Md5: current.ha1Md5, ha1Sha256: current.ha1Sha256 }),
      cps: req.body.cps,
      channels: req.body.channels,
      zone: req.body.zone,
    });
    await registrar.putUser(user);
    return userView(user);
  });

  app.patch('/v1/users/:username', { config: operator, schema: { tags, params: UsernameParams, body: PatchUserBody, response: changed } }, async (req) => {
    const { username } = req.params;
    const b = req.body;
    const creds = credentials(username, deps.cluster.realm, b);
    const user: Mutable<UserRecord> = { ...(await findUser(username)), ...creds };
    if (b.cps !== undefined) user.cps = b.cps ?? undefined;
    if (b.channels !== undefined) user.channels = b.channels ?? undefined;
    if (b.zone !== undefined) user.zone = b.zone ?? undefined;
    const next = compact(user);
    await registrar.putUser(next);
    return userView(next);
  });

  app.delete(
    '/v1/users/:username',
    { config: admin, schema: { tags, params: UsernameParams, response: { 204: { type: 'null' }, ...errors(400, 401, 403, 404, 429, 503) } } },
    async (req, reply) => {
      if (!(await registrar.removeUser(req.params.username))) throw new OpsError('OPS_ERR_NOT_FOUND', `no user ${req.params.username}`);
      return reply.code(204).send(null);
    },
  );
};
