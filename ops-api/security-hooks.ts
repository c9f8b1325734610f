/**
 * Authentication, authorisation and audit as Fastify hooks.
 *
 * - preParsing (before the body is read): every route except the public ones needs a valid
 *   bearer token (401 otherwise), and the token's role must reach the route's `minRole` (403).
 * - onResponse: every change request under /v1 (any method but GET/HEAD/OPTIONS), allowed or
 *   refused, leaves one audit record with the token's name and role, never the token.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { OpsRole } from '../shared/config/config-types.ts';
import { summarizeBody, type AuditLog, type AuditRecord } from './audit-log.ts';
import { OpsError } from './errors.ts';
import { roleAllows } from './role-allows.ts';
import type { TokenIdentity, TokenTable } from './token-table.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The least role the route needs; absent = any valid token. */
    minRole?: OpsRole;
    /** No token needed (health probes). */
    public?: boolean;
  }
  interface FastifyRequest {
    identity?: TokenIdentity;
    /** The error code answered, for the audit record. */
    errorCode?: string;
  }
}

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function isPublic(req: FastifyRequest): boolean {
  if (req.routeOptions.config?.public === true) return true;
  const path = req.url.split('?')[0];
  return path === '/docs' || path.startsWith('/docs/');
}

export function addSecurityHooks(app: FastifyInstance, tokens: TokenTable, audit: AuditLog): void {
  app.addHook('preParsing', async (req, _reply, payload) => {
    if (isPublic(req)) return payload;
    const identity = tokens.authenticate(req.headers.authorization);
    if (identity === undefined) {
      throw new OpsError('OPS_ERR_UNAUTHORIZED', req.headers.authorization ? 'the bearer token is not valid' : 'a bearer token is required (Authorization: Bearer <token>)');
    }
    req.identity = identity;
    const needed = req.routeOptions.config?.minRole ?? 'viewer';
    if (!roleAllows(identity.role, needed)) {
      throw new OpsError('OPS_ERR_FORBIDDEN', `role ${identity.role} may not ${req.method} ${req.routeOptions.url ?? req.url.split('?')[0]} (needs ${needed})`);
    }
    return payload;
  });

  app.addHook('onResponse', async (req, reply) => {
    const path = req.url.split('?')[0];
    if (READ_METHODS.has(req.method) || !(path === '/v1' || path.startsWith('/v1/'))) return;
    const record: AuditRecord = {
      time: new Date().toISOString(),
      token: req.identity?.name ?? null,
      role: req.identity?.role ?? null,
      ip: req.ip,
      method: req.method,
      path,
      status: reply.statusCode,
    };
    const params = req.params as Record<string, unknown> | undefined;
    if (params && Object.keys(params).length > 0) record.params = summarizeBody(params) as Record<string, unknown>;
    if (req.body !== undefined && req.body !== null) record.body = summarizeBody(req.body);
    if (req.errorCode !== undefined) record.code = req.errorCode;
    await audit.append(record).catch((err: unknown) => req.log.error({ err }, 'audit write failed'));
  });
}
