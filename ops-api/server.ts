/**
 * Runs the ops API: opens the cluster store and the registrar store (unless given them) and the
 * audit file, builds the app and listens. `close()` stops taking requests, lets the ones in
 * flight finish, then closes the audit file and the stores it opened. With `handleSignals`,
 * SIGINT/SIGTERM call `close()`.
 */
import type { FastifyInstance } from 'fastify';
import { createClusterStore } from '../shared/cluster-store/create-cluster-store.ts';
import type { ClusterStore } from '../shared/cluster-store/cluster-store.ts';
import type { HostPort, NodeConfig, OpsConfig } from '../shared/config/config-types.ts';
import { createRegistrarStore } from '../shared/registrar-store/create-registrar-store.ts';
import type { RegistrarStore, UserRecord } from '../shared/registrar-store/registrar-store.ts';
import { formatHostPort } from '../shared/config/host-port.ts';
import { createLogger, type Logger } from '../shared/log.ts';
import { buildApp } from './app.ts';
import { AuditLog } from './audit-log.ts';
import { LocalOrchestrator } from './orchestrator/local-orchestrator.ts';
import type { Orchestrator } from './orchestrator/orchestrator.ts';
import { ServerLifecycle } from './orchestrator/server-lifecycle.ts';

export interface StartOpsApiOptions {
  config: NodeConfig;
  /** Overrides `ops.listen`. */
  listen?: HostPort;
  /** An open store to use (and leave open); by default one is created from `config.store`. */
  store?: ClusterStore;
  /** An open registrar store to use (and leave open); by default one is created from `config.store`. */
  registrarStore?: RegistrarStore;
  logger?: Logger;
  version?: string;
  /** Close on SIGINT/SIGTERM (the CLI). */
  handleSignals?: boolean;
  /**
   * What runs deployed servers (ops-api/orchestrator/). Default: a LocalOrchestrator (child
   * processes, logs in `stateDir`), stopped with the API; a given one is left running. `false`: none
   * (lifecycle actions answer 501).
   */
  orchestrator?: Orchestrator | false;
  /** The LocalOrchestrator's state dir (logs, generated configs); default a fresh temp dir. */
  stateDir?: string;
  /** The config file's text: a deployed dispatcher reuses its `store` and `cluster` sections. */
  configText?: string;
}

export interface OpsApiHandle {
  app: FastifyInstance;
  /** `http://host:port` actually bound. */
  url: string;
  close(): Promise<void>;
  /** Resolves once closed (by `close()` or a signal). */
  closed: Promise<void>;
}

const DEFAULT_OPS: OpsConfig = { listen: { host: '127.0.0.1', port: 8080 }, tokens: [], rateLimit: { max: 100, window: 60_000 }, bodyLimit: 65_536 };

export async function startOpsApi(o: StartOpsApiOptions): Promise<OpsApiHandle> {
  const ops = o.config.ops ?? DEFAULT_OPS;
  const logger = o.logger ?? createLogger({ service: 'ops-api' });
  const store = o.store ?? createClusterStore(o.config.store, o.config.cluster.name, logger);
  // Like every dispatcher, the config seeds the switches and rtp relays the registry does not hold
  // yet (a memory store has no other source); existing records are left as the ops API last set them.
  await store.seedSwitches(o.config.cluster.switches.map(({ address: _address, ...sw }) => sw)).catch((err: unknown) => logger.warn({ err }, 'could not seed the switch registry'));
  await store.seedRelays(o.config.cluster.rtpRelays.map(({ ng: _ng, ...relay }) => relay)).catch((err: unknown) => logger.warn({ err }, 'could not seed the rtp relay registry'));
  const registrar = o.registrarStore ?? createRegistrarStore(o.config.store, o.config.cluster.name, logger);
  // Likewise the config's users (HA1 only) seed the registrar's users; existing ones are kept.
  const realm = o.config.cluster.realm;
  const users = o.config.cluster.users.map((u): UserRecord => ({ username: u.username, realm, ha1Md5: u.ha1Md5, ha1Sha256: u.ha1Sha256, cps: u.cps, channels: u.channels, zone: u.zone }));
  await registrar.seedUsers(users).catch((err: unknown) => logger.warn({ err }, 'could not seed the registrar users'));
  const closeStores = async () => {
    if (o.registrarStore === undefined) await registrar.close();
    if (o.store === undefined) await store.close();
  };
  let audit: AuditLog;
  try {
    audit = await AuditLog.open(ops.audit);
  } catch (err) {
    await closeStores();
    throw err;
  }
  if (ops.audit === undefined) logger.warn('ops.audit is not set: audit records are kept in memory only');
  if (ops.tokens.length === 0) logger.warn('ops.tokens is empty: every /v1 request will get 401');
  const orchestrator = o.orchestrator === false ? undefined : (o.orchestrator ?? new LocalOrchestrator({ stateDir: o.stateDir, logger: logger.child({ component: 'orchestrator' }) }));
  const closeOrchestrator = async () => {
    if (o.orchestrator === undefined) await orchestrator?.close();
  };
  const lifecycle =
    orchestrator === undefined
      ? undefined
      : new ServerLifecycle({ store, orchestrator, cluster: o.config.cluster, sharedStore: o.config.store.kind !== 'memory', configText: o.configText, logger });
  let app: FastifyInstance;
  try {
    app = await buildApp({
      lifecycle,
      store,
      registrar,
      cluster: o.config.cluster,
      tokens: ops.tokens,
      audit,
      logger,
      version: o.version ?? '0.0.0',
      limits: { rateLimit: { max: ops.rateLimit.max, windowMs: ops.rateLimit.window }, bodyLimit: ops.bodyLimit },
    });
    const listen = o.listen ?? ops.listen;
    await app.listen({ host: listen.host, port: listen.port });
  } catch (err) {
    await closeOrchestrator();
    await audit.close();
    await closeStores();
    throw err;
  }
  const address = app.server.address();
  const url = `http://${typeof address === 'object' && address !== null ? formatHostPort({ host: address.address, port: address.port }) : 'unknown'}`;
  logger.info({ url }, 'ops API listening');

  let resolveClosed!: () => void;
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve));
  let closing: Promise<void> | undefined;
  const onSignal = () => void close();
  async function close(): Promise<void> {
    closing ??= (async () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await app.close();
      // Running operations stop waiting, and the servers it runs stop with it.
      const operationsDone = lifecycle?.close();
      await closeOrchestrator();
      await operationsDone;
      await audit.close();
      await closeStores();
      logger.info('ops API closed');
      resolveClosed();
    })();
    return closing;
  }
  if (o.handleSignals) {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  return { app, url, close, closed };
}
