/** `GET /v1/calls?level=&limit=`: the calls counted now (oldest first), with node, switch, carrier, relay and age. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { OpsDeps } from '../ops-deps.ts';
import { CallList, CallsQuery, errors } from '../schemas.ts';

export const callRoutes: FastifyPluginAsyncTypebox<{ deps: OpsDeps }> = async (app, { deps }) => {
  app.get(
    '/v1/calls',
    { config: { minRole: 'viewer' }, schema: { tags: ['calls'], querystring: CallsQuery, response: { 200: CallList, ...errors(400, 401, 429, 503) } } },
    async (req) => {
      const [calls, now] = await Promise.all([deps.store.calls(req.query.level, req.query.limit ?? 100), deps.store.now()]);
      return {
        calls: calls.map((c) => ({
          callId: c.meta.callId ?? c.callId,
          node: c.nodeId,
          switch: c.meta.switch ?? null,
          carrier: c.meta.carrier ?? null,
          relay: c.meta.relay ?? null,
          levels: [...c.levels],
          startedAt: new Date(c.startedAtMs).toISOString(),
          ageS: Math.max(0, (now - c.startedAtMs) / 1000),
        })),
      };
    },
  );
};
