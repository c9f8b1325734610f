/**
 * The registrar's live state in the registrar store: an AOR's bindings with their flows
 * (`GET /v1/registrations/:aor`), binding counts per owner node (`GET /v1/registrations?node=`),
 * and the source IPs banned for failed authentications (`GET /v1/bans`, `DELETE /v1/bans/:ip`).
 */
import { isIP } from 'node:net';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { formatHostPort } from '../../shared/config/host-port.ts';
import type { Binding } from '../../shared/registrar-store/registrar-store.ts';
import { OpsError } from '../errors.ts';
import type { OpsDeps } from '../ops-deps.ts';
import { AorParams, BanList, errors, IpParams, NodeQuery, RegistrationCounts, RegistrationView } from '../schemas.ts';

function bindingView(b: Binding, now: number) {
  return {
    contact: b.contact,
    q: b.q,
    expiresInS: Math.max(0, Math.round((b.expiresAtMs - now) / 1000)),
    flow: {
      node: b.flow.nodeId,
      transport: b.flow.protocol,
      source: formatHostPort({ host: b.flow.address, port: b.flow.port }),
      local: formatHostPort({ host: b.flow.localAddress, port: b.flow.localPort }),
    },
    path: [...b.path],
    instanceId: b.instanceId ?? null,
    regId: b.regId ?? null,
    userAgent: b.userAgent ?? null,
    pingRttMs: b.pingRttMs ?? null,
    registeredAt: new Date(b.registeredAtMs).toISOString(),
  };
}

export const registrarRoutes: FastifyPluginAsyncTypebox<{ deps: OpsDeps }> = async (app, { deps }) => {
  const { registrar } = deps;
  const viewer = { minRole: 'viewer' } as const;

  app.get(
    '/v1/registrations',
    { config: viewer, schema: { tags: ['registrations'], querystring: NodeQuery, response: { 200: RegistrationCounts, ...errors(400, 401, 429, 503) } } },
    async (req) => {
      const { node } = req.query;
      if (node !== undefined) return { total: await registrar.countBindings(node) };
      const [total, nodes] = await Promise.all([registrar.countBindings(), deps.store.liveNodes()]);
      const counts = await Promise.all(nodes.map(async (n) => [n.nodeId, await registrar.countBindings(n.nodeId)] as const));
      return { total, byNode: Object.fromEntries(counts) };
    },
  );

  app.get(
    '/v1/registrations/:aor',
    { config: viewer, schema: { tags: ['registrations'], params: AorParams, response: { 200: RegistrationView, ...errors(400, 401, 404, 429, 503) } } },
    async (req) => {
      const { aor } = req.params;
      const [user, bindings, now] = await Promise.all([registrar.getUser(aor), registrar.lookup(aor), registrar.now()]);
      if (user === undefined) throw new OpsError('OPS_ERR_NOT_FOUND', `no user ${aor}`);
      return { aor, bindings: bindings.map((b) => bindingView(b, now)) };
    },
  );

  app.get('/v1/bans', { config: viewer, schema: { tags: ['bans'], response: { 200: BanList, ...errors(401, 429, 503) } } }, async () => ({
    bans: (await registrar.listBans()).map((b) => ({ ip: b.ip, until: new Date(b.untilMs).toISOString() })),
  }));

  app.delete(
    '/v1/bans/:ip',
    { config: { minRole: 'operator' }, schema: { tags: ['bans'], params: IpParams, response: { 204: { type: 'null' }, ...errors(400, 401, 403, 404, 429, 503) } } },
    async (req, reply) => {
      const { ip } = req.params;
      if (isIP(ip) === 0) throw new OpsError('OPS_ERR_VALIDATION', 'params.ip: must be an IPv4 or IPv6 address');
      if (!(await registrar.unban(ip))) throw new OpsError('OPS_ERR_NOT_FOUND', `no ban for ${ip}`);
      return reply.code(204).send(null);
    },
  );
};
