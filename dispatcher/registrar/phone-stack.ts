/**
 * The softphone side of one dispatcher node, assembled: the registrar store, digest
 * authentication, the abuse guard, the REGISTER handler, NAT keep-alive and the hand-over of a
 * dead node's bindings. It is the `PhoneServices` the proxy core sees.
 *
 * Built in two steps because the transaction layer is built after the proxy core (the core is its
 * user): `createPhoneStack` before the proxy, `attach(layer)` after the layer exists (keep-alive
 * pings go through it).
 */
import type { ClusterStore } from '../../shared/cluster-store/cluster-store.ts';
import type { ClusterConfig } from '../../shared/config/config-types.ts';
import type { Logger } from '../../shared/log.ts';
import type { Binding, RegistrarStore } from '../../shared/registrar-store/registrar-store.ts';
import type { SipRequest } from '../../shared/sip/index.ts';
import type { CarrierMatcher } from '../admission/carrier-matcher.ts';
import type { LocalIdentity } from '../proxy/local-identity.ts';
import type { PhoneAuthResult, PhoneServices } from '../proxy/phone-services.ts';
import type { Clock } from '../transaction/clock.ts';
import type { ServerTransaction } from '../transaction/server-transaction.ts';
import type { TransactionLayer } from '../transaction/transaction-layer.ts';
import type { SipTransportLayer } from '../transport/index.ts';
import { AbuseGuard } from './abuse-guard.ts';
import { handOverBindings } from './binding-handover.ts';
import { DigestAuthenticator } from './digest-authenticator.ts';
import { NatKeepalive } from './nat-keepalive.ts';
import { PhoneFlowTokens } from './owner-hop.ts';
import { internalHopUri, ownerUriOf } from './owner-uri.ts';
import { Registrar } from './registrar.ts';
import { isValidUsername } from '../../shared/registrar-store/validate-registrar-args.ts';

/** ms between sweeps of expired bindings (every node sweeps; the store makes it idempotent). */
const SWEEP_INTERVAL_MS = 10_000;
/** ms between attempts to load the cluster secret and bans when the store was down at start. */
const LOAD_RETRY_MS = 1000;

export interface PhoneStackOptions {
  nodeId: string;
  cluster: ClusterConfig;
  store: RegistrarStore;
  clusterStore: ClusterStore;
  identity: LocalIdentity;
  transport: SipTransportLayer;
  carriers: CarrierMatcher;
  clock: Clock;
  logger: Logger;
}

export interface PhoneStats {
  registrar: ReturnType<Registrar['stats']>;
  abuse: ReturnType<AbuseGuard['stats']>;
  keepalive: ReturnType<NatKeepalive['stats']> | undefined;
}

export class PhoneStack implements PhoneServices {
  readonly nodeId: string;
  readonly tokens: PhoneFlowTokens;
  readonly store: RegistrarStore;
  readonly #o: PhoneStackOptions;
  readonly #auth: DigestAuthenticator;
  readonly #guard: AbuseGuard;
  readonly #registrar: Registrar;
  #keepalive: NatKeepalive | undefined;
  #sweep: ReturnType<typeof setInterval> | undefined;
  #retry: ReturnType<typeof setInterval> | undefined;

  private constructor(o: PhoneStackOptions, tokens: PhoneFlowTokens) {
    this.#o = o;
    this.nodeId = o.nodeId;
    this.store = o.store;
    this.tokens = tokens;
    const reg = o.cluster.registrar;
    this.#auth = new DigestAuthenticator({ store: o.store, realm: o.cluster.realm, algorithms: reg.algorithms, nonceTtlMs: reg.nonceTtl, clock: o.clock });
    this.#guard = new AbuseGuard({
      store: o.store,
      policy: reg.abuse,
      isCarrier: (ip: string) => o.carriers.match(ip) !== undefined,
      clock: o.clock,
      logger: o.logger.child({ part: 'abuse' }),
    });
    this.#registrar = new Registrar({
      store: o.store,
      config: reg,
      nodeId: o.nodeId,
      auth: this.#auth,
      guard: this.#guard,
      ownerUri: internalHopUri(o.identity),
      clock: o.clock,
      logger: o.logger.child({ part: 'registrar' }),
      onBound: (bindings: readonly Binding[]) => this.#keepalive?.track(bindings),
      onUnbound: (refs) => this.#keepalive?.untrack(refs),
    });
  }

  /**
   * Loads the cluster secret (nonces and flow tokens), the bans and the configured users. A node
   * may start while the store is down (like its membership): it then retries every second in the
   * background, and meanwhile REGISTERs and phones' calls get 503 (the store is needed anyway).
   */
  static async create(o: PhoneStackOptions): Promise<PhoneStack> {
    const stack = new PhoneStack(o, new PhoneFlowTokens());
    if (!(await stack.#load())) {
      o.logger.warn('registrar store unreachable at start; retrying every second');
      stack.#retry = setInterval(() => {
        void stack.#load().then((ok) => {
          if (ok && stack.#retry !== undefined) {
            clearInterval(stack.#retry);
            stack.#retry = undefined;
            o.logger.info('registrar store reachable: phones served');
          }
        });
      }, LOAD_RETRY_MS);
      stack.#retry.unref();
    }
    return stack;
  }

  /** True once the secret, the bans and the seed users are loaded. */
  async #load(): Promise<boolean> {
    const o = this.#o;
    try {
      this.tokens.setSecret(await o.store.clusterSecret());
      await this.#auth.start();
      await this.#guard.start();
      const users = o.cluster.users.map((u) => ({ username: u.username, realm: o.cluster.realm, ha1Md5: u.ha1Md5, ha1Sha256: u.ha1Sha256, cps: u.cps, channels: u.channels, zone: u.zone }));
      if (users.length > 0) await o.store.seedUsers(users);
      return true;
    } catch (err) {
      o.logger.debug({ err }, 'registrar store not loaded');
      return false;
    }
  }

  /** Start keep-alive pings (through the transaction layer) and the expiry sweep. */
  attach(layer: TransactionLayer): void {
    const o = this.#o;
    this.#keepalive = new NatKeepalive({
      store: o.store,
      nodeId: o.nodeId,
      layer,
      transport: o.transport,
      identity: o.identity,
      config: o.cluster.registrar.keepalive,
      clock: o.clock,
      logger: o.logger.child({ part: 'keepalive' }),
    });
    this.#keepalive.start();
    this.#sweep = setInterval(() => {
      o.store.sweepExpired().catch((err: unknown) => o.logger.debug({ err }, 'binding sweep failed'));
    }, SWEEP_INTERVAL_MS);
    this.#sweep.unref();
  }

  /** A stream connection closed: its bindings go (RFC 5626 §5.3: the flow is gone). */
  onConnectionClosed(connectionId: number): void {
    this.#keepalive?.onConnectionClosed(connectionId);
  }

  /** Nodes this node reaped: their UDP bindings move to live nodes, their stream bindings go. */
  async onNodesReaped(nodeIds: readonly string[]): Promise<void> {
    const live = (await this.#o.clusterStore.liveNodes())
      .map((l) => ({ nodeId: l.nodeId, ownerUri: ownerUriOf(l) }))
      .filter((l): l is { nodeId: string; ownerUri: string } => l.ownerUri !== undefined && !nodeIds.includes(l.nodeId));
    for (const dead of nodeIds) {
      const res = await handOverBindings({ store: this.#o.store, deadNodeId: dead, liveNodes: live });
      if (res.moved > 0 || res.dropped > 0) this.#o.logger.warn({ dead, ...res }, 'bindings of a dead node handed over');
    }
  }

  shouldDrop(req: SipRequest, sourceIp: string): boolean {
    return this.#guard.shouldDrop(req, sourceIp);
  }

  register(txn: ServerTransaction): void {
    void this.#registrar.handle(txn);
  }

  async authenticate(req: SipRequest, sourceIp: string): Promise<PhoneAuthResult> {
    const r = await this.#auth.authenticate(req, sourceIp, 'proxy');
    if (r.ok) return { ok: true, user: { id: r.user.username, cps: r.user.cps, channels: r.user.channels, zone: r.user.zone } };
    if (r.failure) await this.#guard.authFailed(sourceIp);
    return { ok: false, status: r.status, reason: r.reason, headers: r.headers, toTag: r.toTag };
  }

  async lookup(aor: string): Promise<readonly Binding[] | undefined> {
    // A dialled number such as `*98` or `%2B1555` can never be a user name.
    if (!isValidUsername(aor)) return undefined;
    const bindings = await this.#o.store.lookup(aor);
    if (bindings.length > 0) return bindings;
    return (await this.#o.store.getUser(aor)) === undefined ? undefined : [];
  }

  stats(): PhoneStats {
    return { registrar: this.#registrar.stats(), abuse: this.#guard.stats(), keepalive: this.#keepalive?.stats() };
  }

  async close(): Promise<void> {
    if (this.#sweep !== undefined) clearInterval(this.#sweep);
    if (this.#retry !== undefined) clearInterval(this.#retry);
    this.#keepalive?.stop();
    this.#guard.stop();
    await this.#o.store.close();
  }
}
