/** `/healthz` (the process answers) and `/readyz` (the cluster store is reachable); no token. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { OpsDeps } from '../ops-deps.ts';
import { Health } from '../schemas.ts';

export const healthRoutes: FastifyPluginAsyncTypebox<{ deps: OpsDeps }> = async (app, { deps }) => {
  const config = { public: true, rateLimit: false } as const;
  app.get('/healthz', { config, schema: { tags: ['health'], response: { 200: Health } } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { config, schema: { tags: ['health'], response: { 200: Health, 503: Health } } }, async (_req, reply) => {
    let reachable = deps.store.connected;
    if (reachable) reachable = await deps.store.now().then(() => true, () => false);
    if (!reachable) return reply.code(503).send({ status: 'not ready', store: 'unreachable' });
    return { status: 'ready', store: 'reachable' };
  });
};
