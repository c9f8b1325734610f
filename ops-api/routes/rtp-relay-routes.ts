/**
 * The rtp relay registry (rtpengine media relays) in the cluster store: list, get, create, patch,
 * drain, disable, enable, delete. Like switch actions, a change reaches every dispatcher within
 * 1 s (the registry's change notice), with no restart; each answer is the relay's new view, with
 * `sessions` = the cluster's unexpired media sessions on it. Roles follow the switches: operator
 * changes existing relays, admin creates and deletes them.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { RelayAdminState, RelayRecord } from '../../shared/cluster-store/cluster-store.ts';
import { tryParseHostPort } from '../../shared/config/host-port.ts';
import { OpsError } from '../errors.ts';
import type { OpsDeps } from '../ops-deps.ts';
import { CreateRtpRelayBody, errors, IdParams, PatchRtpRelayBody, RtpRelay, RtpRelayList } from '../schemas.ts';
import { rtpRelayView } from '../server-view.ts';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export const rtpRelayRoutes: FastifyPluginAsyncTypebox<{ deps: OpsDeps }> = async (app, { deps }) => {
  const { store } = deps;
  const tags = ['rtp relays'];
  const viewer = { minRole: 'viewer' } as const;
  const operator = { minRole: 'operator' } as const;
  const admin = { minRole: 'admin' } as const;

  async function findRelay(id: string): Promise<RelayRecord> {
    const relay = (await store.listRelays()).find((r) => r.id === id);
    if (relay === undefined) throw new OpsError('OPS_ERR_NOT_FOUND', `no rtp relay ${id}`);
    return relay;
  }

  async function view(relay: RelayRecord): Promise<RtpRelay> {
    const counts = await store.relaySessionCounts();
    return rtpRelayView(relay, counts[relay.id] ?? 0);
  }

  async function update(id: string, change: (relay: Mutable<RelayRecord>) => void): Promise<RtpRelay> {
    const relay: Mutable<RelayRecord> = { ...(await findRelay(id)) };
    change(relay);
    await store.putRelay(relay);
    return view(relay);
  }

  app.get('/v1/rtp-relays', { config: viewer, schema: { tags, response: { 200: RtpRelayList, ...errors(401, 429, 503) } } }, async () => {
    const [relays, counts] = await Promise.all([store.listRelays(), store.relaySessionCounts()]);
    return { rtpRelays: relays.map((r) => rtpRelayView(r, counts[r.id] ?? 0)) };
  });

  app.get(
    '/v1/rtp-relays/:id',
    { config: viewer, schema: { tags, params: IdParams, response: { 200: RtpRelay, ...errors(400, 401, 404, 429, 503) } } },
    async (req) => view(await findRelay(req.params.id)),
  );

  app.post(
    '/v1/rtp-relays',
    { config: admin, schema: { tags, body: CreateRtpRelayBody, response: { 201: RtpRelay, ...errors(400, 401, 403, 409, 413, 415, 429, 503) } } },
    async (req, reply) => {
      const b = req.body;
      const hp = tryParseHostPort(b.ng, true);
      if (typeof hp === 'string') throw new OpsError('OPS_ERR_VALIDATION', `body.ng: ${hp}`);
      // Ids are unique among all servers, so that /v1/servers/:id names one.
      const [relays, switches, nodes] = await Promise.all([store.listRelays(), store.listSwitches(), store.liveNodes()]);
      if (relays.some((r) => r.id === b.id)) throw new OpsError('OPS_ERR_CONFLICT', `rtp relay ${b.id} already exists`);
      if (switches.some((s) => s.id === b.id)) throw new OpsError('OPS_ERR_CONFLICT', `server ${b.id} already exists (a switch)`);
      if (nodes.some((n) => n.nodeId === b.id)) throw new OpsError('OPS_ERR_CONFLICT', `server ${b.id} already exists (a dispatcher)`);
      const relay: Mutable<RelayRecord> = { id: b.id, host: hp.host, port: hp.port, weight: b.weight ?? 1, state: b.state ?? 'active' };
      if (b.zone !== undefined) relay.zone = b.zone;
      await store.putRelay(relay);
      return reply.code(201).send(await view(relay));
    },
  );

  const changed = { 200: RtpRelay, ...errors(400, 401, 403, 404, 413, 415, 429, 503) };

  app.patch('/v1/rtp-relays/:id', { config: operator, schema: { tags, params: IdParams, body: PatchRtpRelayBody, response: changed } }, async (req) =>
    update(req.params.id, (relay) => {
      const b = req.body;
      if (b.zone !== undefined) relay.zone = b.zone ?? undefined;
      if (b.weight !== undefined) relay.weight = b.weight;
      if (b.state !== undefined) relay.state = b.state;
    }),
  );

  for (const [action, state] of [
    ['drain', 'draining'],
    ['disable', 'disabled'],
    ['enable', 'active'],
  ] as const satisfies readonly (readonly [string, RelayAdminState])[]) {
    app.post(`/v1/rtp-relays/:id/${action}`, { config: operator, schema: { tags, params: IdParams, response: changed } }, async (req) =>
      update(req.params.id, (relay) => {
        relay.state = state;
      }),
    );
  }

  app.delete(
    '/v1/rtp-relays/:id',
    { config: admin, schema: { tags, params: IdParams, response: { 204: { type: 'null' }, ...errors(400, 401, 403, 404, 429, 503) } } },
    async (req, reply) => {
      if (!(await store.removeRelay(req.params.id))) throw new OpsError('OPS_ERR_NOT_FOUND', `no rtp relay ${req.params.id}`);
      return reply.code(204).send(null);
    },
  );
};
