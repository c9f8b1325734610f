/** `GET /v1/operations` and `GET /v1/operations/:id`: the long lifecycle actions and their steps. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { OpsError } from '../errors.ts';
import type { OpsDeps } from '../ops-deps.ts';
import { OperationList, OperationParams, OperationQuery, OperationView } from '../orchestrator/lifecycle-schemas.ts';
import { errors } from '../schemas.ts';

export const operationRoutes: FastifyPluginAsyncTypebox<{ deps: OpsDeps }> = async (app, { deps }) => {
  const viewer = { minRole: 'viewer' } as const;
  const tags = ['lifecycle'];
  app.get('/v1/operations', { config: viewer, schema: { tags, querystring: OperationQuery, response: { 200: OperationList, ...errors(400, 401, 429) } } }, async (req) => ({
    operations: deps.lifecycle?.operations.list(req.query.limit ?? 100, req.query.server) ?? [],
  }));
  app.get(
    '/v1/operations/:id',
    { config: viewer, schema: { tags, params: OperationParams, response: { 200: OperationView, ...errors(400, 401, 404, 429) } } },
    async (req) => {
      const op = deps.lifecycle?.operations.get(req.params.id);
      if (op === undefined) throw new OpsError('OPS_ERR_NOT_FOUND', `no operation ${req.params.id} (the latest 1000 are kept)`);
      return op;
    },
  );
};
