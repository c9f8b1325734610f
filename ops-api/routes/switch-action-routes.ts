/**
 * Live switch actions through the registry (every dispatcher applies a change within 1 s, no
 * restart): create, resize, drain, disable, enable, patch, delete. With an orchestrator
 * (`deps.lifecycle`), create with `deploy` (and any dispatcher create), drain of a dispatcher and
 * delete of a server it runs are long actions instead: 202 + an operation (lifecycle-routes.ts).
 * Without one, dispatcher lifecycle answers 501; the registry actions never apply to a dispatcher.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { SwitchAdminState, SwitchRecord } from '../../shared/cluster-store/cluster-store.ts';
import { tryParseHostPort } from '../../shared/config/host-port.ts';
import { OpsError } from '../errors.ts';
import type { OpsDeps } from '../ops-deps.ts';
import { Accepted } from '../orchestrator/lifecycle-schemas.ts';
import { CreateServerBody, ErrorBody, errors, IdParams, PatchBody, ResizeBody, Server } from '../schemas.ts';
import { switchView } from '../server-view.ts';
import { switchRecordFromBody } from '../switch-record-from-body.ts';
import { levelKey } from '../../shared/cluster-store/cluster-store.ts';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const NOT_BUILT = 'dispatcher lifecycle needs an orchestrator (this ops API runs without one)';
const NOT_A_SWITCH = 'is a dispatcher: resize, disable, enable and PATCH apply to switches (a dispatcher has drain, start, stop, restart and delete)';

export const switchActionRoutes: FastifyPluginAsyncTypebox<{ deps: OpsDeps }> = async (app, { deps }) => {
  const { store } = deps;

  /** The switch with `id`; 501 for a live dispatcher id, 404 when neither. */
  async function findSwitch(id: string): Promise<SwitchRecord> {
    const sw = (await store.listSwitches()).find((s) => s.id === id);
    if (sw !== undefined) return sw;
    if ((await store.liveNodes()).some((n) => n.nodeId === id) || (await deps.lifecycle?.isManaged(id)) === true) {
      throw new OpsError('OPS_ERR_NOT_IMPLEMENTED', deps.lifecycle === undefined ? NOT_BUILT : `${id} ${NOT_A_SWITCH}`);
    }
    if ((await store.listRelays()).some((r) => r.id === id)) throw new OpsError('OPS_ERR_NOT_FOUND', `no switch ${id}: it is an rtp relay (use /v1/rtp-relays/${id})`);
    throw new OpsError('OPS_ERR_NOT_FOUND', `no server ${id}`);
  }

  async function view(sw: SwitchRecord) {
    const [reports, stats] = await Promise.all([store.probeReports(sw.id), store.levelStats([levelKey('switch', sw.id)])]);
    return switchView(sw, deps.cluster.name, reports, stats[0]);
  }

  async function update(id: string, change: (sw: Mutable<SwitchRecord>) => void) {
    const sw: Mutable<SwitchRecord> = { ...(await findSwitch(id)) };
    change(sw);
    await store.putSwitch(sw);
    return view(sw);
  }

  const changed = { 200: Server, ...errors(400, 401, 403, 404, 413, 415, 429, 501, 503) };
  const operator = { minRole: 'operator' } as const;
  const admin = { minRole: 'admin' } as const;

  app.post(
    '/v1/servers',
    { config: admin, schema: { tags: ['switch actions'], body: CreateServerBody, response: { 201: Server, 202: Accepted, ...errors(400, 401, 403, 409, 413, 415, 429, 501, 503) } } },
    async (req, reply) => {
      const b = req.body;
      if (b.deploy === true || b.type === 'dispatcher') {
        if (deps.lifecycle === undefined) throw new OpsError('OPS_ERR_NOT_IMPLEMENTED', NOT_BUILT);
        const a = await deps.lifecycle.deploy(b);
        return reply.code(202).header('location', a.href).send(a);
      }
      if (b.sim !== undefined || b.node !== undefined) throw new OpsError('OPS_ERR_VALIDATION', `body.${b.sim !== undefined ? 'sim' : 'node'}: only with deploy: true`);
      const hp = tryParseHostPort(b.address, true);
      if (typeof hp === 'string') throw new OpsError('OPS_ERR_VALIDATION', `body.address: ${hp}`);
      const [switches, nodes, relays] = await Promise.all([store.listSwitches(), store.liveNodes(), store.listRelays()]);
      if (switches.some((s) => s.id === b.id) || nodes.some((n) => n.nodeId === b.id) || relays.some((r) => r.id === b.id)) {
        throw new OpsError('OPS_ERR_CONFLICT', `server ${b.id} already exists`);
      }
      const sw = switchRecordFromBody(b, hp);
      await store.putSwitch(sw);
      return reply.code(201).send(await view(sw));
    },
  );

  app.post(
    '/v1/servers/:id/resize',
    { config: operator, schema: { tags: ['switch actions'], params: IdParams, body: ResizeBody, response: changed } },
    async (req) =>
      update(req.params.id, (sw) => {
        // null removes a cap; an absent field keeps it.
        if (req.body.cps !== undefined) sw.cps = req.body.cps ?? undefined;
        if (req.body.channels !== undefined) sw.channels = req.body.channels ?? undefined;
      }),
  );

  // A dispatcher the orchestrator runs drains itself (SIGUSR2): a long action. A switch drains in the registry.
  app.post(
    '/v1/servers/:id/drain',
    { config: operator, schema: { tags: ['switch actions'], params: IdParams, response: { ...changed, 202: Accepted, 409: ErrorBody } } },
    async (req, reply) => {
      const a = await deps.lifecycle?.drainDispatcher(req.params.id);
      if (a !== undefined) return reply.code(202).header('location', a.href).send(a);
      return update(req.params.id, (sw) => {
        sw.state = 'draining';
      });
    },
  );

  for (const [action, state] of [
    ['disable', 'disabled'],
    ['enable', 'active'],
  ] as const satisfies readonly (readonly [string, SwitchAdminState])[]) {
    app.post(`/v1/servers/:id/${action}`, { config: operator, schema: { tags: ['switch actions'], params: IdParams, response: changed } }, async (req) =>
      update(req.params.id, (sw) => {
        sw.state = state;
      }),
    );
  }

  app.patch(
    '/v1/servers/:id',
    { config: operator, schema: { tags: ['switch actions'], params: IdParams, body: PatchBody, response: changed } },
    async (req) =>
      update(req.params.id, (sw) => {
        if (req.body.weight !== undefined) sw.weight = req.body.weight;
        if (req.body.priority !== undefined) sw.priority = req.body.priority;
        if (req.body.zone !== undefined) sw.zone = req.body.zone ?? undefined;
      }),
  );

  app.delete(
    '/v1/servers/:id',
    { config: admin, schema: { tags: ['switch actions'], params: IdParams, response: { 202: Accepted, 204: { type: 'null' }, ...errors(400, 401, 403, 404, 409, 429, 501, 503) } } },
    async (req, reply) => {
      // A server the orchestrator runs: stop it, forget it, and remove its registry entry.
      const a = await deps.lifecycle?.removeManaged(req.params.id);
      if (a !== undefined) return reply.code(202).header('location', a.href).send(a);
      await findSwitch(req.params.id);
      if (!(await store.removeSwitch(req.params.id))) throw new OpsError('OPS_ERR_NOT_FOUND', `no server ${req.params.id}`);
      return reply.code(204).send(null);
    },
  );
};
