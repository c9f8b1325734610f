/** `GET /v1/audit?limit=`: the latest audit records, newest first. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { OpsDeps } from '../ops-deps.ts';
import { AuditList, errors, LimitQuery } from '../schemas.ts';

export const auditRoutes: FastifyPluginAsyncTypebox<{ deps: OpsDeps }> = async (app, { deps }) => {
  app.get(
    '/v1/audit',
    { config: { minRole: 'viewer' }, schema: { tags: ['audit'], querystring: LimitQuery, response: { 200: AuditList, ...errors(400, 401, 429) } } },
    async (req) => ({ records: deps.audit.recent(req.query.limit ?? 100) }),
  );
};
