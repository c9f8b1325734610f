/**
 * One dispatcher node, wired: transport → transaction layer → proxy core → routing/admission,
 * plus the node-local HTTP endpoints. No logic of its own beyond assembly and shutdown order.
 */
import type { CarrierConfig, NodeConfig, Selection, SwitchConfig } from '../shared/config/config-types.ts';
import type { ClusterLimitsRecord, ClusterStore } from '../shared/cluster-store/cluster-store.ts';
import { createClusterStore } from '../shared/cluster-store/create-cluster-store.ts';
import { CarrierMatcher } from './admission/carrier-matcher.ts';
import { StoreAdmission } from './admission/store-admission.ts';
import { LocalCalls } from './cluster/local-calls.ts';
import { NodeMembership } from './cluster/node-membership.ts';
import { createLogger, type Logger } from '../shared/log.ts';
import type { Admission, AdmissionStats } from './admission/admission.ts';
import { startNodeHttp, type NodeHttp } from './http/node-http.ts';
import { DialogTable } from './proxy/dialog-table.ts';
import { StoreDialogState } from './proxy/dialog-state.ts';
import { LocalIdentity } from './proxy/local-identity.ts';
import { ProxyCore } from './proxy/proxy-core.ts';
import type { Router } from './routing/router.ts';
import { SwitchPool } from './routing/switch-pool.ts';
import { OptionsProber } from './health/options-prober.ts';
import { SwitchHealthTracker } from './health/switch-health-tracker.ts';
import { normalizeSwitchRecord } from '../shared/cluster-store/normalize-switch-record.ts';
import { systemClock, type Clock } from './transaction/clock.ts';
import { TransactionLayer } from './transaction/transaction-layer.ts';
import { SipTransportLayer } from './transport/index.ts';
import { SENT, type Flow, type ListenerInfo } from './transport/transport.ts';
import { createRegistrarStore } from '../shared/registrar-store/create-registrar-store.ts';
import { PhoneStack } from './registrar/phone-stack.ts';
import { internalHopUri, OWNER_URI_INFO } from './registrar/owner-uri.ts';
import { MediaStack } from './media/media-stack.ts';
import { relayRecordOf } from './media/relay-pool.ts';
import { systemCommandRunner, type CommandRunner } from './ha/command-runner.ts';
import { IpVipAddress, ownInterfaceAddress } from './ha/vip-address.ts';
import { ownHopUri } from './ha/own-hop-uri.ts';
import { VipIdentity } from './ha/vip-identity.ts';
import { VipManager } from './ha/vip-manager.ts';
import { OverloadGuard } from './admission/overload-guard.ts';
import { UdpBacklog } from './transport/udp-backlog.ts';
import { WarmUp } from './ha/warm-up.ts';
import { WorkerRelay, type WorkerRelayStats } from './cluster/worker-relay.ts';
import { DrainHandoff, HANDOFF_QUIESCE_MS, WORKER_OF_INFO } from './cluster/drain-handoff.ts';

export interface DispatcherNode {
  readonly id: string;
  readonly listeners: readonly ListenerInfo[];
  readonly httpAddress: { host: string; port: number } | undefined;
  readonly transport: SipTransportLayer;
  readonly transactions: TransactionLayer;
  readonly proxy: ProxyCore;
  readonly dialogs: DialogTable;
  readonly store: ClusterStore;
  readonly membership: NodeMembership;
  /** The switch registry as this node routes with it, and its probe-driven health. */
  readonly pool: SwitchPool;
  readonly health: SwitchHealthTracker;
  /** The OPTIONS health checks of the switches. */
  readonly prober: OptionsProber;
  /** The registrar and the rest of the softphone side; undefined when `cluster.registrar.enabled` is false. */
  readonly phones: PhoneStack | undefined;
  /** Media relays (rtpengine): the relay registry, its health and load, and each call's relay. */
  readonly media: MediaStack;
  readonly config: NodeConfig;
  admissionStats(): AdmissionStats | undefined;
  /** A worker's relay counters (node.workers > 1); undefined otherwise. */
  relayStats(): WorkerRelayStats | undefined;
  /**
   * Ready for new calls: listening, warmed up (registered in the store, registry loaded, switch
   * probes settled; or `node.warmup` passed), not draining or shutting down, and the cluster store
   * reachable (or the cluster's outage policy is fail-open).
   */
  readonly ready: boolean;
  /** True once `drain()` was called: new calls go to a live peer (else 503 Draining), `ready` is false. */
  readonly draining: boolean;
  /** The start-up warm-up (`ready` stays false until it is done): what it still waits for. */
  readonly warmUp: WarmUp;
  /** The floating IP (`node.vip`); undefined without one. */
  readonly vip: VipManager | undefined;
  /**
   * Stop taking new calls (before a restart): new INVITEs outside a dialog are handed to a live
   * peer (docs/ops-api.md, "Drain"), or get 503 (Draining) with Retry-After when there is none;
   * requests inside a dialog go on, `/readyz` answers 503. One-way until the restart.
   * `sipfleet dispatcher` calls it on SIGUSR2.
   */
  drain(): void;
  close(): Promise<void>;
}

export interface DispatcherOptions {
  logger?: Logger;
  clock?: Clock;
  router?: Router;
  admission?: Admission;
  store?: ClusterStore;
  version?: string;
  /** Runs `ip` and `arping` for the floating IP (tests inject a fake). */
  commands?: CommandRunner;
}

export async function startDispatcher(config: NodeConfig, opts: DispatcherOptions = {}): Promise<DispatcherNode> {
  const log = opts.logger ?? createLogger({ node: config.node.id });
  const clock = opts.clock ?? systemClock;
  const limits = config.node.limits;
  let layer: TransactionLayer | undefined;
  // A worker of a node (node.workers): messages on the shared UDP port go to their call's worker.
  let relay: WorkerRelay | undefined;
  const transport = new SipTransportLayer({
    listeners: config.node.listen.map((l) => ({
      protocol: l.transport,
      address: l.host,
      port: l.port,
      ...(l.path === undefined ? {} : { path: l.path }),
      ...(l.reusePort === true ? { reusePort: true } : {}),
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
      onMessage: (data: Buffer, flow: Flow) => (relay === undefined ? layer?.onMessage(data, flow) : relay.onMessage(data, flow)),
      onConnectionClosed: (flow: Flow) => {
        if (flow.connectionId !== undefined) phones?.onConnectionClosed(flow.connectionId);
      },
    },
    logger: log.child({ layer: 'transport' }),
    udpIo: config.node.udpIo,
  });
  const cluster = config.cluster;
  const store = opts.store ?? createClusterStore(config.store, cluster.name, log.child({ layer: 'store' }));
  const localCalls = new LocalCalls();
  let pool: SwitchPool | undefined;
  let overload: OverloadGuard | undefined;
  let liveLimits = (): ClusterLimitsRecord => cluster.limits;
  let phones: PhoneStack | undefined;
  let media: MediaStack | undefined;
  const info: Record<string, string> = { listen: config.node.listen.map((l) => l.url).join(' '), version: opts.version ?? '0.0.0', startedAtMs: String(Date.now()) };
  if (config.node.worker !== undefined) info[WORKER_OF_INFO] = config.node.worker.of;
  const membership = new NodeMembership({
    store,
    nodeId: config.node.id,
    ttlMs: cluster.leases.ttl,
    reapIntervalMs: cluster.leases.reapInterval,
    clock,
    logger: log.child({ layer: 'membership' }),
    localCalls,
    info,
    // Exactly one live node hears of each reaped node: it hands the dead node's bindings over
    // and deletes the relay sessions of its calls (each step on its own: one failing does not
    // stop the other).
    onReaped: async (nodeIds: readonly string[]) => {
      const steps = await Promise.allSettled([phones?.onNodesReaped(nodeIds), media?.onNodesReaped(nodeIds)]);
      for (const s of steps) if (s.status === 'rejected') log.error({ err: s.reason, nodes: nodeIds }, 'reaped nodes not fully handled');
    },
    // A store that came back empty (Redis restarted without persistence) gets the registry this
    // node last knew, live changes included; `seedSwitches` never overwrites a record it has.
    onRegistered: async () => {
      const known = pool?.snapshot() ?? [];
      await store.seedSwitches(known.length > 0 ? known : cluster.switches.map((sw) => normalizeSwitchRecord(sw)));
      const relays = media?.pool.snapshot() ?? [];
      await store.seedRelays(relays.length > 0 ? relays : cluster.rtpRelays.map((r) => relayRecordOf(r)));
      await store.seedClusterLimits(liveLimits());
    },
  });
  await transport.start();
  const worker = config.node.worker;
  if (worker !== undefined) {
    const [own, ...shared] = transport.listeners();
    relay = new WorkerRelay({
      index: worker.index,
      count: worker.count,
      portBase: worker.portBase,
      address: own.address === '0.0.0.0' ? '127.0.0.1' : own.address === '::' ? '::1' : own.address,
      sharedPorts: new Set(shared.filter((l) => l.protocol === 'udp').map((l) => l.port)),
      send: (data, target) => {
        const sent = transport.send(data, target);
        if (sent !== SENT) sent.catch((err: unknown) => log.debug({ err }, 'relay to a sibling worker failed'));
      },
      deliver: (data, flow) => layer?.onMessage(data, flow),
    });
  }
  // With a floating IP the advertised host is the floating IP (it reaches whichever node holds it):
  // peers reach this node at its own address on that interface, which is ours too.
  const vipConfig = config.node.vip;
  const commands = opts.commands ?? systemCommandRunner;
  const ownAddress = vipConfig === undefined ? undefined : await ownInterfaceAddress(commands, vipConfig.interface, vipConfig.address);
  if (vipConfig !== undefined && ownAddress === undefined) log.warn({ interface: vipConfig.interface }, 'no address of our own on the floating IP\'s interface: peers cannot reach this node directly');
  const identity = ownAddress === undefined ? new LocalIdentity(transport.listeners()) : new VipIdentity(transport.listeners(), ownAddress);
  // Other nodes send calls for phones registered here to this URI (the internal hop).
  info[OWNER_URI_INFO] = ownAddress === undefined ? internalHopUri(identity) : ownHopUri(identity, ownAddress);
  // Registering (onRegistered above) seeds the switch registry and the cluster limits from the
  // config; after that the store is the truth (the ops API changes it live, every node follows
  // within a second).
  await membership.start();
  const health = new SwitchHealthTracker({ probe: cluster.probe, clock, logger: log.child({ layer: 'health' }), nodeId: config.node.id });
  const carrierSelection = new Map<string, Selection>(cluster.carriers.filter((c) => c.selection !== cluster.selection).map((c) => [c.id, c.selection]));
  pool = new SwitchPool({
    store,
    health,
    selection: cluster.selection,
    carrierSelection,
    stickyTtlMs: cluster.stickyTtl,
    // The guard is made further down, with the transport it samples.
    selfBehind: () => overload?.behind === true,
    logger: log.child({ layer: 'switch-pool' }),
  });
  let registryLoaded = false;
  await pool.start().then(
    () => (registryLoaded = true),
    (err: unknown) => log.warn({ err }, 'switch registry not loaded yet; it loads when the store is back'),
  );
  const registry = pool;
  const switches = () => new Map(registry.snapshot().map((sw) => [sw.id, sw]));
  // The cluster's caps: seeded from the config, then live from the store (resized by the ops API;
  // every node re-reads them on the registry's change notice).
  let clusterLimits: ClusterLimitsRecord = cluster.limits;
  liveLimits = () => clusterLimits;
  const loadLimits = async (): Promise<void> => {
    const stored = await store.getClusterLimits();
    if (stored !== undefined) clusterLimits = stored;
  };
  await loadLimits().catch(() => undefined);
  const stopLimits = store.onSwitchesChanged(() => {
    loadLimits().catch((err: unknown) => log.debug({ err }, 'cluster limits not reloaded'));
  });
  const carriers = new Map<string, CarrierConfig>(cluster.carriers.map((c) => [c.id, c]));
  const admission =
    opts.admission ??
    new StoreAdmission({
      store,
      fallback: createClusterStore({ kind: 'memory' }, cluster.name),
      membership,
      localCalls,
      nodeId: config.node.id,
      cluster,
      logger: log.child({ layer: 'admission' }),
      switches,
      carriers: () => carriers,
      clusterLimits: () => clusterLimits,
    });
  const carrierMatcher = new CarrierMatcher(cluster.carriers);
  if (cluster.registrar.enabled) {
    phones = await PhoneStack.create({
      nodeId: config.node.id,
      cluster,
      store: createRegistrarStore(config.store, cluster.name, log.child({ layer: 'registrar-store' })),
      clusterStore: store,
      identity,
      transport,
      carriers: carrierMatcher,
      clock,
      logger: log.child({ layer: 'phones' }),
    });
  }
  let draining = false;
  // The drain hand-off: tokens signed with the cluster secret (the registrar store's; read from a
  // store opened for it when the registrar is off), peers from the leases.
  const phoneStack = phones;
  const handoff = new DrainHandoff({
    nodeId: config.node.id,
    store,
    secret: phoneStack?.store ?? createRegistrarStore(config.store, cluster.name, log.child({ layer: 'registrar-store' })),
    closeSecretSource: phoneStack === undefined,
    logger: log.child({ layer: 'handoff' }),
    workerOf: config.node.worker?.of,
  });
  await handoff.start();
  const mediaStack = await MediaStack.create({ nodeId: config.node.id, cluster, store, clock, logger: log.child({ layer: 'media' }) });
  media = mediaStack;
  const dialogs = new DialogTable(clock, limits.transactions * 2, cluster.maxCallAge);
  // Dialog state in the store (docs/ha.md): only behind a floating IP, where the in-dialog requests
  // of a dead node's calls reach another node. Without one they go to the dead node's own address,
  // so nobody could carry them: its calls are released when it is reaped, as before.
  const dialogState = vipConfig === undefined ? undefined : new StoreDialogState({
    nodeId: config.node.id,
    store,
    ttlMs: cluster.maxCallAge,
    logger: log.child({ layer: 'dialog-state' }),
    // A carried call's relay session: deleted from the relay its media session record names.
    endMedia: async (d) => {
      const session = await store.getMediaSession(d.callId);
      if (session === undefined) return;
      await mediaStack.deleter.delete({ relayId: session.relayId, callId: session.callId, fromTag: session.fromTag });
      await store.removeMediaSession(session.callId);
    },
  });
  // The floating IP's UDP listener (the drain hand-off answers a handed call from there once this
  // node holds the address); `vipHeld` reads the VIP manager made further down.
  const vipListener = vipConfig === undefined ? undefined : transport.listeners().find((l) => l.protocol === 'udp' && l.address === vipConfig.address);
  let vipHeld = (): boolean => false;
  const proxy = new ProxyCore({
    identity,
    router: opts.router ?? registry,
    admission,
    dialogs,
    logger: log.child({ layer: 'proxy' }),
    carriers: carrierMatcher,
    phones,
    media: mediaStack.service,
    unknownSources: cluster.unknownSources,
    failoverCodes: cluster.failover.codes,
    maxAttempts: cluster.failover.attempts,
    noResponseTimeoutMs: cluster.failover.timeout,
    isDraining: () => draining,
    handoff,
    dialogState,
    floatingIp: vipListener === undefined ? undefined : { listener: vipListener, holds: () => vipHeld() },
  });
  // Before the layer: it asks the guard about every new INVITE. Sampling starts below.
  const backlog = new UdpBacklog(transport.listeners().filter((l) => l.protocol === 'udp'));
  overload = new OverloadGuard({
    backlog: () => backlog.bytes(),
    highBytes: limits.overloadBacklog,
    log: log.child({ layer: 'overload' }),
  });
  layer = new TransactionLayer({
    shedNewCalls: () => overload.shedding,
    transport,
    user: proxy,
    logger: log.child({ layer: 'transaction' }),
    clock,
    parseLimits: { maxMessageBytes: limits.maxMessageBytes, maxHeaders: limits.maxHeaders, maxLineLength: limits.maxLineLength },
    maxTransactions: limits.transactions,
    linger: limits.transactionLinger,
  });
  proxy.bind(layer);
  overload.start();
  phones?.attach(layer);
  const transactions = layer;
  const prober = new OptionsProber({
    layer,
    identity,
    store,
    nodeId: config.node.id,
    probe: cluster.probe,
    health,
    switches: () => registry.snapshot(),
    clock,
    logger: log.child({ layer: 'prober' }),
    selfBehind: () => overload.behind,
  });
  prober.start();
  const warmUp = new WarmUp({
    clock,
    maxMs: config.node.warmup,
    fall: cluster.probe.fall,
    registered: () => membership.epoch !== undefined,
    registryLoaded: () => registryLoaded || registry.snapshot().length > 0 || cluster.switches.length === 0,
    switches: () => registry.snapshot(),
    probes: (id) => health.snapshot(id),
  });

  const warmStart = clock.now();
  const watchWarmUp = (): void => {
    if (warmUp.done) log.info({ ms: clock.now() - warmStart }, 'warmed up: store registration, switch registry and switch probes settled');
    else clock.setTimer(100, watchWarmUp);
  };
  watchWarmUp();

  let closing = false;
  let vip: VipManager | undefined;
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
    store,
    membership,
    pool: registry,
    health,
    prober,
    phones,
    media: mediaStack,
    config,
    admissionStats: () => admission.stats?.(),
    relayStats: () => relay?.stats(),
    get ready() {
      return !closing && !draining && (store.connected || cluster.redisOutage === 'fail-open') && warmUp.done;
    },
    get draining() {
      return draining;
    },
    warmUp,
    get vip() {
      return vip;
    },
    drain() {
      if (draining) return;
      draining = true;
      log.warn({ dialogs: dialogs.size, peers: handoff.peers.length }, 'draining: new calls go to a live peer (or get 503 Draining), dialogs in progress continue');
    },
    async close() {
      closing = true;
      // The floating IP first: removed and its lease released, so the peer takes it at once.
      await vip?.stop();
      // Draining: the calls handed to a peer and not answered yet get their answer relayed first.
      if (draining) await proxy.quiesce(HANDOFF_QUIESCE_MS);
      await handoff.stop();
      prober.stop();
      overload.stop();
      registry.stop();
      stopLimits();
      await http?.close();
      transactions.close();
      dialogs.endAll('shutdown');
      // The relay sessions of the calls just ended, and of any call still held, are deleted first.
      await mediaStack.close();
      await transport.close();
      await phones?.close();
      await membership.stop();
      await store.close();
    },
  };
  if (config.node.http !== undefined) {
    http = await startNodeHttp(config.node.http, node, opts.version ?? '0.0.0');
  }
  if (vipConfig !== undefined) {
    const vipLog = log.child({ layer: 'vip' });
    vip = new VipManager({
      config: vipConfig,
      nodeId: config.node.id,
      store,
      address: new IpVipAddress({
        address: vipConfig.address,
        prefixLength: vipConfig.prefixLength,
        interface: vipConfig.interface,
        runner: commands,
        logger: vipLog,
      }),
      health: () => ({ ready: node.ready, draining }),
      // Deadlines on a monotonic clock (a wall-clock step must not stretch or cut a lease).
      clock: opts.clock ?? { now: () => performance.now(), setTimer: systemClock.setTimer },
      logger: vipLog,
    });
    const manager = vip;
    vipHeld = () => manager.leader;
    await vip.start();
  }
  log.info(
    { listeners: transport.listeners().map((l) => `${l.protocol}://${l.address}:${l.port}`), http: http?.address },
    'dispatcher ready',
  );
  return node;
}

