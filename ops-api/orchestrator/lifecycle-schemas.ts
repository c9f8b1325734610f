/** TypeBox schemas of the lifecycle and operation routes (the rest are in ../schemas.ts). */
import { Type, type Static } from 'typebox';
import { Id } from '../schemas.ts';

export const OperationView = Type.Object({
  id: Type.String(),
  action: Type.String({ description: 'deploy, start, stop, restart, drain or delete' }),
  server: Type.String(),
  state: Type.Union([Type.Literal('running'), Type.Literal('succeeded'), Type.Literal('failed')]),
  startedAt: Type.String(),
  finishedAt: Type.Optional(Type.String()),
  steps: Type.Array(Type.Object({ at: Type.String(), message: Type.String() })),
  error: Type.Optional(Type.String()),
});

export const OperationList = Type.Object({ operations: Type.Array(OperationView) });

/** The answer of a long action: poll `href` until `state` is no longer `running`. */
export const Accepted = Type.Object({
  operationId: Type.String(),
  href: Type.String(),
  operation: OperationView,
});

export const OperationParams = Type.Object({ id: Type.String({ pattern: '^[0-9a-f-]{36}$' }) });
export type OperationParams = Static<typeof OperationParams>;

export const OperationQuery = Type.Object(
  { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })), server: Type.Optional(Id) },
  { additionalProperties: false },
);
export type OperationQuery = Static<typeof OperationQuery>;

const GraceS = Type.Number({ minimum: 0, maximum: 600, description: 'seconds SIGTERM gets before SIGKILL (default 10)' });

export const StopBody = Type.Object({ graceS: Type.Optional(GraceS) }, { additionalProperties: false });
export type StopBody = Static<typeof StopBody>;

export const RestartBody = Type.Object(
  {
    deadlineS: Type.Optional(Type.Number({ minimum: 0, maximum: 86_400, description: 'longest wait for its calls to end before the restart (default 30)' })),
    graceS: Type.Optional(GraceS),
  },
  { additionalProperties: false },
);
export type RestartBody = Static<typeof RestartBody>;

export const LogsQuery = Type.Object({ lines: Type.Optional(Type.Integer({ minimum: 1, maximum: 5000, default: 100 })) }, { additionalProperties: false });
export type LogsQuery = Static<typeof LogsQuery>;

export const LogsView = Type.Object({ id: Type.String(), logFile: Type.String(), lines: Type.Array(Type.String()) });
