/**
 * The ops API as a Fastify app (no listening: `server.ts` does that, tests use `app.inject()`).
 * Order of a request: rate limit (onRequest, per token or client IP) → token and role
 * (preParsing, before the body is read) → body limit and parsing → TypeBox validation →
 * handler → audit record for changes (onResponse). Every error answer is `{ code, message }`.
 */
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { TypeBoxValidatorCompiler, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import { OpsError } from './errors.ts';
import { toErrorReply } from './error-reply.ts';
import type { OpsDeps } from './ops-deps.ts';
import { auditRoutes } from './routes/audit-routes.ts';
import { callRoutes } from './routes/call-routes.ts';
import { carrierRoutes } from './routes/carrier-routes.ts';
import { clusterRoutes } from './routes/cluster-routes.ts';
import { healthRoutes } from './routes/health-routes.ts';
import { lifecycleRoutes } from './routes/lifecycle-routes.ts';
import { operationRoutes } from './routes/operation-routes.ts';
import { registrarRoutes } from './routes/registrar-routes.ts';
import { rtpRelayRoutes } from './routes/rtp-relay-routes.ts';
import { serverReadRoutes } from './routes/server-read-routes.ts';
import { switchActionRoutes } from './routes/switch-action-routes.ts';
import { userRoutes } from './routes/user-routes.ts';
import { addSecurityHooks } from './security-hooks.ts';
import { TokenTable } from './token-table.ts';

/** Log paths that never show (on top of shared/log.ts's): the token, SIP passwords and HA1s travel in these. */
export const OPS_REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  'Authorization',
  'token',
  '*.token',
  'password',
  '*.password',
  'ha1',
  '*.ha1',
  '*.ha1Md5',
  '*.ha1Sha256',
];

export async function buildApp(deps: OpsDeps): Promise<FastifyInstance> {
  const tokens = new TokenTable(deps.tokens);
  const loggerInstance = deps.logger.child({ component: 'ops-api' }, { redact: { paths: OPS_REDACT_PATHS, censor: '[redacted]' } });
  const app = Fastify({
    loggerInstance: loggerInstance as FastifyBaseLogger,
    bodyLimit: deps.limits.bodyLimit,
    return503OnClosing: true,
  }).withTypeProvider<TypeBoxTypeProvider>();
  // TypeBox validates: bodies exactly as sent (no coercion, so `null` never turns into 0 and
  // unknown fields are refused); query and path strings are converted to the schema's types.
  app.setValidatorCompiler(TypeBoxValidatorCompiler);
  // JSON only: any other body type is a 415, not a string the schema then refuses.
  app.removeContentTypeParser('text/plain');

  app.setErrorHandler((err, req, reply) => {
    const { status, body } = toErrorReply(err, deps.limits.bodyLimit);
    if (status >= 500 && status !== 501 && status !== 503) req.log.error({ err }, 'request failed');
    req.errorCode = body.code;
    if (status === 401) void reply.header('www-authenticate', 'Bearer realm="sipfleet-ops"');
    return reply.code(status).send(body);
  });
  app.setNotFoundHandler(
    {
      preHandler: async (req: FastifyRequest) => {
        // Unknown routes need a token like any other, so they reveal nothing to strangers.
        if (req.identity === undefined && !req.url.startsWith('/docs')) throw new OpsError('OPS_ERR_UNAUTHORIZED', 'a bearer token is required (Authorization: Bearer <token>)');
      },
    },
    async (req) => {
      throw new OpsError('OPS_ERR_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`);
    },
  );

  await app.register(swagger, {
    openapi: {
      info: { title: 'sipfleet ops API', version: deps.version, description: 'Bearer token with role viewer, operator or admin. Errors are { code, message }.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  await app.register(rateLimit, {
    global: true,
    max: deps.limits.rateLimit.max,
    timeWindow: deps.limits.rateLimit.windowMs,
    hook: 'onRequest',
    // Per token when one is valid; otherwise per client IP (so guessing tokens cannot dodge the limit).
    keyGenerator: (req) => {
      const id = tokens.authenticate(req.headers.authorization);
      return id === undefined ? `ip:${req.ip}` : `token:${id.name}`;
    },
    errorResponseBuilder: (_req, ctx) => new OpsError('OPS_ERR_RATE_LIMITED', `rate limit: at most ${ctx.max} requests per ${ctx.after}`),
  });
  addSecurityHooks(app, tokens, deps.audit);

  for (const routes of [healthRoutes, serverReadRoutes, switchActionRoutes, lifecycleRoutes, operationRoutes, rtpRelayRoutes, clusterRoutes, carrierRoutes, callRoutes, userRoutes, registrarRoutes, auditRoutes]) {
    await app.register(routes, { deps });
  }
  await app.ready();
  return app;
}
