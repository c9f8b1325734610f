/** What the ops API is built from: everything it reads or writes comes through here. */
import type { Logger } from '../shared/log.ts';
import type { ClusterStore } from '../shared/cluster-store/cluster-store.ts';
import type { ClusterConfig, OpsTokenConfig } from '../shared/config/config-types.ts';
import type { RegistrarStore } from '../shared/registrar-store/registrar-store.ts';
import type { AuditLog } from './audit-log.ts';
import type { ServerLifecycle } from './orchestrator/server-lifecycle.ts';

export interface OpsLimits {
  /** At most `max` requests per token (or client IP without one) per `windowMs`. */
  rateLimit: { max: number; windowMs: number };
  /** Largest request body, bytes. */
  bodyLimit: number;
}

export interface OpsDeps {
  store: ClusterStore;
  /** Softphone users, registrations and bans (the registrar's shared state). */
  registrar: RegistrarStore;
  cluster: ClusterConfig;
  /** Hashed tokens only (`ops.tokens`). */
  tokens: readonly OpsTokenConfig[];
  audit: AuditLog;
  /** Fastify logs through a child of it, with the ops API's redaction added. */
  logger: Logger;
  version: string;
  limits: OpsLimits;
  /**
   * Server lifecycle through the orchestrator (deploy, start, stop, restart, drain of a dispatcher,
   * operations). Absent: those actions answer 501 and only the registry actions exist.
   */
  lifecycle?: ServerLifecycle | undefined;
}
