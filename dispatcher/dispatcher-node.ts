/**
 * One dispatcher node, wired: transport → transaction layer → proxy core → routing/admission,
 * plus the node-local HTTP endpoints. No logic of its own beyond assembly and shutdown order.
 */
import type { NodeConfig } from '../shared/config/config-types.ts';
import { createLogger, type Logger } from '../shared/log.ts';
import { alwaysAdmit, type Admission } from './admission/admission.ts';
import { startNodeHttp, type NodeHttp } from './http/node-http.ts';
import { DialogTable } from './proxy/dialog-table.ts';
import { LocalIdentity } from './proxy/local-identity.ts';
import { ProxyCore } from './proxy/proxy-core.ts';
import type { Router } from './routing/router.ts';
import { StaticRouter } from './routing/static-router.ts';
import { systemClock, type Clock } from './transaction/clock.ts';
import { TransactionLayer } from './transaction/transaction-layer.ts';
import { SipTransportLayer } from './transport/index.ts';
import type { Flow, ListenerInfo } from './transport/transport.ts';

export interface DispatcherNode {
  readonly id: string;
  readonly listeners: readonly ListenerInfo[];
  readonly httpAddress: { host: string; port: number } | undefined;
  readonly transport: SipTransportLayer;
  readonly transactions: TransactionLayer;
  readonly proxy: ProxyCore;
  readonly dialogs: DialogTable;
  /** True from listening until `close()` starts. */
  readonly ready: boolean;
  close(): Promise<void>;
}

export interface DispatcherOptions {
  logger?: Logger;
  clock?: Clock;
  router?: Router;
  admission?: Admission;
  version?: string;
}

export async function startDispatcher(config: NodeConfig, opts: DispatcherOptions = {}): Promise<DispatcherNode> {
  const log = opts.logger ?? createLogger({ node: config.node.id });
  const clock = opts.clock ?? systemClock;
  const limits = config.node.limits;
  let layer: TransactionLayer | undefined;
  const transport = new SipTransportLayer({
    listeners: config.node.listen.map((l) => ({
      protocol: l.transport,
      address: l.host,
      port: l.port,
      ...(l.path === undefined ? {} : { path: l.path }),
    })),
    ...(config.node.advertise === undefined ? {} : { advertise: config.node.advertise }),
    ...(config.node.tls === undefined ? {} : { tls: config.node.tls }),
    limits: {
      maxMessageBytes: limits.maxMessageBytes,
      maxHeaders: limits.maxHeaders,
      maxLineLength: limits.maxLineLength,
      maxConnections: limits.maxConnections,
      connectionsPerIp: limits.connectionsPerIp,
      idleTimeout: limits.idleTimeout,
      headerTimeout: limits.headerTimeout,
    },
    delegate: {
      onMessage: (data: Buffer, flow: Flow) => layer?.onMessage(data, flow),
    },
    logger: log.child({ layer: 'transport' }),
  });
  await transport.start();
  const identity = new LocalIdentity(transport.listeners());
  const dialogs = new DialogTable(clock, limits.transactions * 2);
  const proxy = new ProxyCore({
    identity,
    router: opts.router ?? new StaticRouter(config.cluster.switches),
    admission: opts.admission ?? alwaysAdmit,
    dialogs,
    logger: log.child({ layer: 'proxy' }),
  });
  layer = new TransactionLayer({
    transport,
    user: proxy,
    logger: log.child({ layer: 'transaction' }),
    clock,
    parseLimits: { maxMessageBytes: limits.maxMessageBytes, maxHeaders: limits.maxHeaders, maxLineLength: limits.maxLineLength },
    maxTransactions: limits.transactions,
  });
  proxy.bind(layer);
  const transactions = layer;

  let ready = true;
  let http: NodeHttp | undefined;
  const node: DispatcherNode = {
    id: config.node.id,
    listeners: transport.listeners(),
    get httpAddress() {
      return http?.address;
    },
    transport,
    transactions,
    proxy,
    dialogs,
    get ready() {
      return ready;
    },
    async close() {
      ready = false;
      await http?.close();
      transactions.close();
      dialogs.endAll('shutdown');
      await transport.close();
    },
  };
  if (config.node.http !== undefined) {
    http = await startNodeHttp(config.node.http, node, opts.version ?? '0.0.0');
  }
  log.info(
    { listeners: transport.listeners().map((l) => `${l.protocol}://${l.address}:${l.port}`), http: http?.address },
    'dispatcher ready',
  );
  return node;
}
