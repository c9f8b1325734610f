/** `GET /v1/clusters`: the cluster's settings (from config) and its live totals (from the store). */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { levelKey } from '../../shared/cluster-store/cluster-store.ts';
import type { OpsDeps } from '../ops-deps.ts';
import { ClusterList, errors } from '../schemas.ts';

export const clusterRoutes: FastifyPluginAsyncTypebox<{ deps: OpsDeps }> = async (app, { deps }) => {
  app.get('/v1/clusters', { config: { minRole: 'viewer' }, schema: { tags: ['clusters'], response: { 200: ClusterList, ...errors(401, 429, 503) } } }, async () => {
    const c = deps.cluster;
    const [stats, nodes, switches] = await Promise.all([deps.store.levelStats([levelKey('cluster', c.name)]), deps.store.liveNodes(), deps.store.listSwitches()]);
    return {
      clusters: [
        {
          name: c.name,
          limits: { cps: c.limits.cps ?? null, channels: c.limits.channels ?? null, burst: c.limits.burst ?? null },
          selection: c.selection,
          probe: {
            intervalMs: c.probe.interval,
            timeoutMs: c.probe.timeout,
            fall: c.probe.fall,
            rise: c.probe.rise,
            accept: c.probe.accept,
            warmupMs: c.probe.warmup,
            quorum: c.probe.quorum,
          },
          redisOutage: c.redisOutage,
          now: { channels: stats[0]?.channels ?? 0, cps: stats[0]?.cpsNow ?? 0 },
          dispatchers: nodes.length,
          switches: switches.length,
        },
      ],
    };
  });
};
