/** `GET /v1/servers` and `GET /v1/servers/:id`: dispatchers, switches and rtp relays as the store sees them. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { OpsError } from '../errors.ts';
import type { OpsDeps } from '../ops-deps.ts';
import { errors, IdParams, Server, ServerList } from '../schemas.ts';
import { listServers } from '../server-view.ts';
import { withManaged } from '../orchestrator/managed-view.ts';

export const serverReadRoutes: FastifyPluginAsyncTypebox<{ deps: OpsDeps }> = async (app, { deps }) => {
  const config = { minRole: 'viewer' } as const;
  // With an orchestrator, the servers it runs carry `managed` (process state, pid, restarts).
  const list = async () => {
    const servers = await listServers(deps.store, deps.cluster.name);
    return deps.lifecycle === undefined ? servers : withManaged(servers, await deps.lifecycle.instances(), deps.cluster.name);
  };
  app.get('/v1/servers', { config, schema: { tags: ['servers'], response: { 200: ServerList, ...errors(401, 429, 503) } } }, async () => ({
    servers: await list(),
  }));
  app.get(
    '/v1/servers/:id',
    { config, schema: { tags: ['servers'], params: IdParams, response: { 200: Server, ...errors(400, 401, 404, 429, 503) } } },
    async (req) => {
      const found = (await list()).find((s) => s.id === req.params.id);
      if (found === undefined) throw new OpsError('OPS_ERR_NOT_FOUND', `no server ${req.params.id}`);
      return found;
    },
  );
};
