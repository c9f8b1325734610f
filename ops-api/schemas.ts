/**
 * TypeBox schemas of every route: request validation (Fastify's Ajv), response serialisation
 * and the OpenAPI document at /docs all come from these.
 */
import { Type, type Static } from 'typebox';
import { OPS_ERRORS } from './errors.ts';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

export const ErrorBody = Type.Object(
  {
    code: Type.String({ description: `one of ${Object.keys(OPS_ERRORS).join(', ')}` }),
    message: Type.String(),
  },
  { description: 'Every error answer' },
);

/** The error answers a route may give, by status. */
export function errors(...statuses: number[]): Record<number, typeof ErrorBody> {
  return Object.fromEntries(statuses.map((s) => [s, ErrorBody]));
}

export const Id = Type.String({ pattern: '^[A-Za-z0-9._-]+$', minLength: 1, maxLength: 64 });
export const IdParams = Type.Object({ id: Id });
export type IdParams = Static<typeof IdParams>;

export const Server = Type.Object({
  id: Type.String(),
  type: Type.Union([Type.Literal('dispatcher'), Type.Literal('switch'), Type.Literal('rtp-relay')]),
  /** Switch: `host:port`; rtp relay: its ng control `host:port`; dispatcher: its listen URLs (null when it registered none). */
  address: Nullable(Type.String()),
  transport: Nullable(Type.String()),
  cluster: Type.String(),
  zone: Nullable(Type.String()),
  channels: Type.Object({ inUse: Type.Integer(), max: Nullable(Type.Integer()) }),
  cps: Type.Object({ now: Nullable(Type.Integer()), max: Nullable(Type.Number()) }),
  /**
   * Switch: its admin state when not active, else up/down/unknown from the probe reports.
   * Dispatcher: up. RTP relay: its admin state when not active, else unknown (relay health is not shared yet).
   */
  status: Type.Union([Type.Literal('up'), Type.Literal('down'), Type.Literal('unknown'), Type.Literal('disabled'), Type.Literal('draining')]),
  adminState: Nullable(Type.Union([Type.Literal('active'), Type.Literal('disabled'), Type.Literal('draining')])),
  health: Type.Object({
    up: Type.Integer({ description: 'probe reports saying up' }),
    down: Type.Integer({ description: 'probe reports saying down' }),
  }),
  latency: Type.Object({ ewmaMs: Nullable(Type.Number()), p99Ms: Nullable(Type.Number()) }),
  weight: Nullable(Type.Integer()),
  priority: Nullable(Type.Integer()),
  epoch: Nullable(Type.Integer()),
  version: Nullable(Type.String()),
  uptimeS: Nullable(Type.Number()),
  /** Present for a server this ops API's orchestrator runs (deployed through it); absent otherwise. */
  managed: Type.Optional(
    Type.Object({
      backend: Type.String(),
      state: Type.Union([
        Type.Literal('starting'),
        Type.Literal('running'),
        Type.Literal('stopping'),
        Type.Literal('stopped'),
        Type.Literal('exited'),
        Type.Literal('failed'),
      ]),
      pid: Nullable(Type.Integer()),
      startedAt: Nullable(Type.String()),
      exitCode: Nullable(Type.Integer()),
      signal: Nullable(Type.String()),
      restarts: Type.Integer(),
      draining: Type.Boolean(),
      logFile: Type.String(),
      http: Type.String(),
    }),
  ),
});
export type Server = Static<typeof Server>;

export const ServerList = Type.Object({ servers: Type.Array(Server) });

const Weight = Type.Integer({ minimum: 1, maximum: 1000 });
const Priority = Type.Integer({ minimum: -1_000_000, maximum: 1_000_000 });
const Cps = Type.Number({ minimum: 0, maximum: 1_000_000 });
const Channels = Type.Integer({ minimum: 0, maximum: 10_000_000 });
const Zone = Type.String({ minLength: 1, maxLength: 64 });

const AdminState = Type.Union([Type.Literal('active'), Type.Literal('disabled'), Type.Literal('draining')]);

export const CreateServerBody = Type.Object(
  {
    id: Id,
    type: Type.Union([Type.Literal('switch'), Type.Literal('dispatcher')]),
    address: Type.String({ minLength: 3, maxLength: 300, description: 'host:port, [IPv6]:port or name:port' }),
    transport: Type.Optional(Type.Union([Type.Literal('udp'), Type.Literal('tcp'), Type.Literal('tls')])),
    weight: Type.Optional(Weight),
    priority: Type.Optional(Priority),
    cps: Type.Optional(Cps),
    channels: Type.Optional(Channels),
    zone: Type.Optional(Zone),
    state: Type.Optional(AdminState),
    /**
     * Also run it through the orchestrator (202 + operation): a switch-sim listening on `address`
     * (udp and tcp), or a dispatcher. A dispatcher is always deployed (it registers itself).
     */
    deploy: Type.Optional(Type.Boolean()),
    /** Deployed switch-sim: its own caps (default the registry's `channels`/`cps`), control address (default a free port on the host), answer delay. */
    sim: Type.Optional(
      Type.Object(
        {
          channels: Type.Optional(Channels),
          cps: Type.Optional(Cps),
          http: Type.Optional(Type.String({ minLength: 3, maxLength: 300, description: 'host:port of its control server (GET /status)' })),
          answerMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400_000 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** Deployed dispatcher: listen URLs (default udp:// and tcp:// on `address`) and node.http (default a free port on the host). */
    node: Type.Optional(
      Type.Object(
        {
          listen: Type.Optional(Type.Array(Type.String({ minLength: 8, maxLength: 300 }), { minItems: 1, maxItems: 8 })),
          http: Type.Optional(Type.String({ minLength: 3, maxLength: 300 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type CreateServerBody = Static<typeof CreateServerBody>;

export const ResizeBody = Type.Object(
  { cps: Type.Optional(Nullable(Cps)), channels: Type.Optional(Nullable(Channels)) },
  { additionalProperties: false, minProperties: 1, description: 'null removes the cap' },
);
export type ResizeBody = Static<typeof ResizeBody>;

export const ClusterResizeBody = Type.Object(
  { cps: Type.Optional(Nullable(Cps)), channels: Type.Optional(Nullable(Channels)), burst: Type.Optional(Nullable(Cps)) },
  { additionalProperties: false, minProperties: 1, description: 'The cluster-wide caps; null removes a cap, an absent field keeps it' },
);
export type ClusterResizeBody = Static<typeof ClusterResizeBody>;
export const NameParams = Type.Object({ name: Id });

export const PatchBody = Type.Object(
  { weight: Type.Optional(Weight), priority: Type.Optional(Priority), zone: Type.Optional(Nullable(Zone)) },
  { additionalProperties: false, minProperties: 1 },
);
export type PatchBody = Static<typeof PatchBody>;

// ---- rtp relays (the media relay registry in the cluster store) ----

export const RtpRelay = Type.Object({
  id: Type.String(),
  /** The rtpengine ng control socket, `host:port` (`[v6]:port`), UDP. */
  ng: Type.String(),
  zone: Nullable(Type.String()),
  weight: Type.Integer(),
  state: AdminState,
  /** The cluster's unexpired media sessions on this relay (every node's). */
  sessions: Type.Integer(),
});
export type RtpRelay = Static<typeof RtpRelay>;
export const RtpRelayList = Type.Object({ rtpRelays: Type.Array(RtpRelay) });

export const CreateRtpRelayBody = Type.Object(
  {
    id: Id,
    ng: Type.String({ minLength: 3, maxLength: 300, description: 'the ng control socket: host:port, [IPv6]:port or name:port' }),
    zone: Type.Optional(Zone),
    weight: Type.Optional(Weight),
    state: Type.Optional(AdminState),
  },
  { additionalProperties: false },
);
export type CreateRtpRelayBody = Static<typeof CreateRtpRelayBody>;

export const PatchRtpRelayBody = Type.Object(
  { zone: Type.Optional(Nullable(Zone)), weight: Type.Optional(Weight), state: Type.Optional(AdminState) },
  { additionalProperties: false, minProperties: 1, description: '`zone: null` removes the zone; an absent field keeps it' },
);
export type PatchRtpRelayBody = Static<typeof PatchRtpRelayBody>;

// ---- carriers (config only) ----

export const Carrier = Type.Object({
  id: Type.String(),
  /** Source blocks, canonical `network/prefix`. */
  sources: Type.Array(Type.String()),
  /** The carrier's level now (`carrier:<id>`) and its caps (null = uncapped). */
  channels: Type.Object({ inUse: Type.Integer(), max: Nullable(Type.Integer()) }),
  cps: Type.Object({ now: Type.Integer(), max: Nullable(Type.Number()) }),
  selection: Type.String(),
  rejectCode: Nullable(Type.Integer()),
  zone: Nullable(Type.String()),
});
export type Carrier = Static<typeof Carrier>;
export const CarrierList = Type.Object({ carriers: Type.Array(Carrier) });

export const ClusterView = Type.Object({
  name: Type.String(),
  limits: Type.Object({ cps: Nullable(Type.Integer()), channels: Nullable(Type.Integer()), burst: Nullable(Type.Integer()) }),
  selection: Type.String(),
  probe: Type.Object({
    intervalMs: Type.Integer(),
    timeoutMs: Type.Integer(),
    fall: Type.Integer(),
    rise: Type.Integer(),
    accept: Type.Array(Type.Integer()),
    warmupMs: Type.Integer(),
    quorum: Type.Boolean(),
  }),
  redisOutage: Type.String(),
  now: Type.Object({ channels: Type.Integer(), cps: Type.Integer() }),
  dispatchers: Type.Integer(),
  switches: Type.Integer(),
});
export const ClusterList = Type.Object({ clusters: Type.Array(ClusterView) });

export const CallsQuery = Type.Object(
  {
    level: Type.Optional(Type.String({ pattern: '^(cluster|switch|carrier|user):[A-Za-z0-9._@-]+$', maxLength: 200 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  },
  { additionalProperties: false },
);
export type CallsQuery = Static<typeof CallsQuery>;

export const CallList = Type.Object({
  calls: Type.Array(
    Type.Object({
      callId: Type.String(),
      node: Type.String(),
      switch: Nullable(Type.String()),
      carrier: Nullable(Type.String()),
      /** The rtpengine relay the call's media goes through; null when it flows directly. */
      relay: Nullable(Type.String()),
      levels: Type.Array(Type.String()),
      startedAt: Type.String(),
      ageS: Type.Number(),
    }),
  ),
});

export const LimitQuery = Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })) }, { additionalProperties: false });
export type LimitQuery = Static<typeof LimitQuery>;

export const AuditList = Type.Object({
  records: Type.Array(
    Type.Object(
      {
        time: Type.String(),
        token: Nullable(Type.String()),
        role: Nullable(Type.String()),
        ip: Type.String(),
        method: Type.String(),
        path: Type.String(),
        params: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
        body: Type.Optional(Type.Unknown()),
        status: Type.Integer(),
        code: Type.Optional(Type.String()),
      },
      { additionalProperties: true },
    ),
  ),
});

export const Health = Type.Object({ status: Type.String(), store: Type.Optional(Type.String()) });

// ---- softphone users, registrations and bans (the registrar store) ----

/** Like `users[].username` in the config (validateUsers): 1-64 of `A-Za-z0-9._+-`. */
export const Username = Type.String({ pattern: '^[A-Za-z0-9._+-]+$', minLength: 1, maxLength: 64 });
export const UsernameParams = Type.Object({ username: Username });
export type UsernameParams = Static<typeof UsernameParams>;
export const AorParams = Type.Object({ aor: Username });
export type AorParams = Static<typeof AorParams>;

/** Write-only: turned into the HA1s at once, never stored, returned, logged or audited. */
const Password = Type.String({ minLength: 1, maxLength: 1024, description: 'write-only; kept as HA1 (MD5 and SHA-256) only' });
/** hex MD5(username:realm:password), for users whose password is not known here (MD5 digest only). */
const Ha1 = Type.String({ pattern: '^[0-9a-fA-F]{32}$', description: 'write-only; hex MD5(username:realm:password)' });
const UserCps = Type.Integer({ minimum: 0, maximum: 1_000_000 });
const UserChannels = Type.Integer({ minimum: 0, maximum: 10_000_000 });
/** A media zone (`none`: the user's media flows directly), docs/media.md. */
const UserZone = Type.String({ pattern: '^[A-Za-z0-9._-]+$', minLength: 1, maxLength: 64 });

export const User = Type.Object({
  username: Type.String(),
  realm: Type.String(),
  cps: Nullable(Type.Integer()),
  channels: Nullable(Type.Integer()),
  zone: Nullable(Type.String()),
  /** The digest algorithms the user can authenticate with: SHA-256 needs the password (not an MD5 ha1). */
  algorithms: Type.Array(Type.Union([Type.Literal('SHA-256'), Type.Literal('MD5')])),
});
export type User = Static<typeof User>;
export const UserList = Type.Object({ users: Type.Array(User) });

export const UserListQuery = Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 1000 })) }, { additionalProperties: false });
export type UserListQuery = Static<typeof UserListQuery>;

export const CreateUserBody = Type.Object(
  { username: Username, password: Type.Optional(Password), ha1: Type.Optional(Ha1), cps: Type.Optional(UserCps), channels: Type.Optional(UserChannels), zone: Type.Optional(UserZone) },
  { additionalProperties: false, description: 'Exactly one of password or ha1' },
);
export type CreateUserBody = Static<typeof CreateUserBody>;

export const ReplaceUserBody = Type.Object(
  { password: Type.Optional(Password), ha1: Type.Optional(Ha1), cps: Type.Optional(UserCps), channels: Type.Optional(UserChannels), zone: Type.Optional(UserZone) },
  { additionalProperties: false, description: 'The whole user: an absent cps/channels is removed; without password or ha1 the HA1s are kept' },
);
export type ReplaceUserBody = Static<typeof ReplaceUserBody>;

export const PatchUserBody = Type.Object(
  { password: Type.Optional(Password), ha1: Type.Optional(Ha1), cps: Type.Optional(Nullable(UserCps)), channels: Type.Optional(Nullable(UserChannels)), zone: Type.Optional(Nullable(UserZone)) },
  { additionalProperties: false, minProperties: 1, description: 'null removes a cap, an absent field keeps it' },
);
export type PatchUserBody = Static<typeof PatchUserBody>;

export const RegistrationView = Type.Object({
  aor: Type.String(),
  bindings: Type.Array(
    Type.Object({
      contact: Type.String(),
      q: Type.Number(),
      expiresInS: Type.Number(),
      flow: Type.Object({
        /** The owner node (holds the NAT pinhole or the connection; pings the phone). */
        node: Type.String(),
        transport: Type.String(),
        /** The REGISTER's source `address:port` as received (`[v6]:port`). */
        source: Type.String(),
        /** The owner's listener the REGISTER arrived on. */
        local: Type.String(),
      }),
      path: Type.Array(Type.String()),
      instanceId: Nullable(Type.String()),
      regId: Nullable(Type.Integer()),
      userAgent: Nullable(Type.String()),
      pingRttMs: Nullable(Type.Number()),
      registeredAt: Type.String(),
    }),
  ),
});

export const NodeQuery = Type.Object({ node: Type.Optional(Id) }, { additionalProperties: false });
export type NodeQuery = Static<typeof NodeQuery>;
export const RegistrationCounts = Type.Object({
  total: Type.Integer(),
  byNode: Type.Optional(Type.Record(Type.String(), Type.Integer())),
});

export const BanList = Type.Object({ bans: Type.Array(Type.Object({ ip: Type.String(), until: Type.String() })) });
export const IpParams = Type.Object({ ip: Type.String({ minLength: 2, maxLength: 64 }) });
export type IpParams = Static<typeof IpParams>;
