/**
 * `GET /v1/clusters`: the cluster's settings and live totals. Its limits are the live ones from the
 * store (the config seeds them). `POST /v1/clusters/:name/resize` changes the cluster-wide CPS and
 * channel caps live: every dispatcher applies them within a second, no restart, no call dropped.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { levelKey } from '../../shared/cluster-store/cluster-store.ts';
import type { OpsDeps } from '../ops-deps.ts';
import { OpsError } from '../errors.ts';
import { ClusterList, ClusterResizeBody, ClusterView, NameParams, errors } from '../schemas.ts';
import type { ClusterLimitsRecord } from '../../shared/cluster-store/cluster-store.ts';

export const clusterRoutes: FastifyPluginAsyncTypebox<{ deps: OpsDeps }> = async (app, { deps }) => {
  const view = async () => {
    const c = deps.cluster;
    const [stats, nodes, switches, stored] = await Promise.all([
      deps.store.levelStats([levelKey('cluster', c.name)]),
      deps.store.liveNodes(),
      deps.store.listSwitches(),
      deps.store.getClusterLimits(),
    ]);
    const limits = stored ?? c.limits;
    return {
          name: c.name,
          limits: { cps: limits.cps ?? null, channels: limits.channels ?? null, burst: limits.burst ?? null },
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
    };
  };

  app.get('/v1/clusters', { config: { minRole: 'viewer' }, schema: { tags: ['clusters'], response: { 200: ClusterList, ...errors(401, 429, 503) } } }, async () => ({
    clusters: [await view()],
  }));

  app.post(
    '/v1/clusters/:name/resize',
    {
      config: { minRole: 'operator' },
      schema: { tags: ['clusters'], params: NameParams, body: ClusterResizeBody, response: { 200: ClusterView, ...errors(400, 401, 403, 404, 413, 415, 429, 503) } },
    },
    async (req) => {
      const c = deps.cluster;
      if (req.params.name !== c.name) throw new OpsError('OPS_ERR_NOT_FOUND', `no cluster ${req.params.name}`);
      const current = (await deps.store.getClusterLimits()) ?? c.limits;
      const next: { -readonly [K in keyof ClusterLimitsRecord]: ClusterLimitsRecord[K] } = { ...current };
      for (const f of ['cps', 'channels', 'burst'] as const) {
        const v = req.body[f];
        if (v !== undefined) next[f] = v ?? undefined;
      }
      await deps.store.putClusterLimits(next);
      return view();
    },
  );
};
