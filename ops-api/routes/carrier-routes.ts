/**
 * `GET /v1/carriers` and `GET /v1/carriers/:id`: the carriers of the cluster config (read-only:
 * carriers live in the config only, so a change means editing it and restarting the dispatchers
 * and the ops API), with their live channel count and CPS from the store's `carrier:<id>` level.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { levelKey, type LevelStats } from '../../shared/cluster-store/cluster-store.ts';
import type { CarrierConfig } from '../../shared/config/config-types.ts';
import { OpsError } from '../errors.ts';
import type { OpsDeps } from '../ops-deps.ts';
import { Carrier, CarrierList, errors, IdParams } from '../schemas.ts';

export function carrierView(c: CarrierConfig, stats: LevelStats | undefined): Carrier {
  return {
    id: c.id,
    sources: c.sources.map((s) => s.text),
    channels: { inUse: stats?.channels ?? 0, max: c.channels ?? null },
    cps: { now: stats?.cpsNow ?? 0, max: c.cps ?? null },
    selection: c.selection,
    rejectCode: c.rejectCode ?? null,
    zone: c.zone ?? null,
  };
}

export const carrierRoutes: FastifyPluginAsyncTypebox<{ deps: OpsDeps }> = async (app, { deps }) => {
  const config = { minRole: 'viewer' } as const;
  const tags = ['carriers'];

  async function views(carriers: readonly CarrierConfig[]): Promise<Carrier[]> {
    const stats = await deps.store.levelStats(carriers.map((c) => levelKey('carrier', c.id)));
    const byLevel = new Map(stats.map((s) => [s.level, s]));
    return carriers.map((c) => carrierView(c, byLevel.get(levelKey('carrier', c.id))));
  }

  app.get('/v1/carriers', { config, schema: { tags, response: { 200: CarrierList, ...errors(401, 429, 503) } } }, async () => ({
    carriers: await views(deps.cluster.carriers),
  }));

  app.get('/v1/carriers/:id', { config, schema: { tags, params: IdParams, response: { 200: Carrier, ...errors(400, 401, 404, 429, 503) } } }, async (req) => {
    const carrier = deps.cluster.carriers.find((c) => c.id === req.params.id);
    if (carrier === undefined) throw new OpsError('OPS_ERR_NOT_FOUND', `no carrier ${req.params.id}`);
    return (await views([carrier]))[0];
  });
};
