/**
 * Lifecycle of the servers the orchestrator runs: `POST /v1/servers/:id/start|stop|restart` (202 +
 * an operation to poll) and `GET /v1/servers/:id/logs`. Deploy (`POST /v1/servers` with `deploy`),
 * the drain of a dispatcher and the delete of a managed server answer through the switch action
 * routes, which hand them to the same `ServerLifecycle`. 404 for an unknown id, 409 for a server
 * this orchestrator does not run, 501 without an orchestrator.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { OpsError } from '../errors.ts';
import type { OpsDeps } from '../ops-deps.ts';
import { Accepted, LogsQuery, LogsView, RestartBody, StopBody } from '../orchestrator/lifecycle-schemas.ts';
import type { ServerLifecycle } from '../orchestrator/server-lifecycle.ts';
import { errors, IdParams } from '../schemas.ts';

export function requireLifecycle(deps: OpsDeps): ServerLifecycle {
  if (deps.lifecycle === undefined) throw new OpsError('OPS_ERR_NOT_IMPLEMENTED', 'this ops API runs without an orchestrator: servers cannot be started or stopped through it');
  return deps.lifecycle;
}

export const lifecycleRoutes: FastifyPluginAsyncTypebox<{ deps: OpsDeps }> = async (app, { deps }) => {
  const operator = { minRole: 'operator' } as const;
  const accepted = { 202: Accepted, ...errors(400, 401, 403, 404, 409, 413, 415, 429, 501, 503) };
  const tags = ['lifecycle'];
  // The body of stop and restart is optional: none is `{}` (validated like any other).
  const optionalBody = async (req: { body: unknown }) => {
    req.body ??= {};
  };

  app.post('/v1/servers/:id/start', { config: operator, schema: { tags, params: IdParams, response: accepted } }, async (req, reply) => {
    const a = await requireLifecycle(deps).start(req.params.id);
    return reply.code(202).header('location', a.href).send(a);
  });

  app.post('/v1/servers/:id/stop', { config: operator, preValidation: optionalBody, schema: { tags, params: IdParams, body: StopBody, response: accepted } }, async (req, reply) => {
    const a = await requireLifecycle(deps).stop(req.params.id, req.body.graceS);
    return reply.code(202).header('location', a.href).send(a);
  });

  app.post('/v1/servers/:id/restart', { config: operator, preValidation: optionalBody, schema: { tags, params: IdParams, body: RestartBody, response: accepted } }, async (req, reply) => {
    const a = await requireLifecycle(deps).restart(req.params.id, { deadlineS: req.body.deadlineS, graceS: req.body.graceS });
    return reply.code(202).header('location', a.href).send(a);
  });

  app.get(
    '/v1/servers/:id/logs',
    { config: operator, schema: { tags, params: IdParams, querystring: LogsQuery, response: { 200: LogsView, ...errors(400, 401, 403, 404, 409, 429, 501) } } },
    async (req) => requireLifecycle(deps).logs(req.params.id, req.query.lines ?? 100),
  );
};
