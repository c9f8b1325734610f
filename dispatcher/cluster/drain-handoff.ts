/**
 * The drain hand-off (docs/ops-api.md, "Drain"): while a node drains before a restart, each new
 * INVITE it gets is forwarded to a live peer rather than refused, so a carrier that only knows the
 * draining node's address sees no failed call. The peer does admission, switch selection and
 * Record-Route; the draining node is a plain stateful hop for that one transaction (no
 * Record-Route, no dialog, no call in the store), so ACK, BYE and everything later in the dialog
 * bypass it, its own calls reach 0 and it can restart.
 *
 * The peer must see the call as coming from the carrier, not from the draining node: the draining
 * node puts `Route: <sip:od-…@peer:port;lr>`, whose user part is a token naming the original
 * source (transport, address, port), stamped with the time, bound to the Call-ID and signed with
 * the cluster secret (`RegistrarStore.clusterSecret()`, the one the phone flow tokens use, under a
 * key of its own). Tokens expire after HANDOFF_TOKEN_TTL_S (an INVITE's retransmissions last 32 s;
 * a copy sniffed off the wire stops working, and only ever for that Call-ID).
 *
 * `DrainHandoff` is the `HandoffService` the proxy core sees: the tokens, once the secret is
 * loaded (retried every second until it is), and the live peers, from the store's leases (their
 * `sip` info, see registrar/owner-uri.ts), read every second.
 */
import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { ClusterStore } from '../../shared/cluster-store/cluster-store.ts';
import type { Logger } from '../../shared/log.ts';
import type { HandoffDecoded, HandoffService, HandoffSource } from '../proxy/handoff-service.ts';
import { ownerUriOf } from '../registrar/owner-uri.ts';

/** Seconds a hand-off token is accepted after it was made (either way: clocks of two nodes). */
export const HANDOFF_TOKEN_TTL_S = 60;
const PREFIX = 'od-';
const SIG_BYTES = 12;
const MAX_TOKEN = 256;
/** Fifth token field: the request reached the draining node at the floating IP. */
const FLOATING_IP_MARK = 'f';
const PROTOCOLS: ReadonlySet<string> = new Set(['udp', 'tcp', 'tls', 'ws', 'wss']);

/** Hand-off tokens: a call's original source, signed with the cluster secret and bound to its Call-ID. */
export class HandoffTokens {
  readonly #key: KeyObject;

  constructor(secret: string) {
    this.#key = createSecretKey(Buffer.from(`sipfleet-drain-handoff:${secret}`));
  }

  /** Whether a URI user part looks like a hand-off token (cheap pre-check). */
  static looksLike(user: string | undefined): boolean {
    return user !== undefined && user.startsWith(PREFIX);
  }

  encode(source: HandoffSource, callId: string, nowS: number): string {
    const fields = [source.protocol, source.address, String(source.port), Math.floor(nowS).toString(36)];
    if (source.floatingIp === true) fields.push(FLOATING_IP_MARK);
    const payload = Buffer.from(fields.join('|'), 'latin1').toString('base64url');
    return `${PREFIX}${payload}.${this.#sign(payload, callId)}`;
  }

  /** The source in a token a node of this cluster made for `callId`, not expired; else undefined. */
  decode(user: string | undefined, callId: string, nowS: number): HandoffSource | undefined {
    if (user === undefined || !user.startsWith(PREFIX) || user.length > MAX_TOKEN) return undefined;
    const dot = user.indexOf('.', PREFIX.length);
    if (dot < 0) return undefined;
    const payload = user.slice(PREFIX.length, dot);
    const sig = Buffer.from(user.slice(dot + 1), 'base64url');
    const expected = Buffer.from(this.#sign(payload, callId), 'base64url');
    if (sig.length !== expected.length || !timingSafeEqual(sig, expected)) return undefined;
    const fields = Buffer.from(payload, 'base64url').toString('latin1').split('|');
    if (fields.length !== 4 && !(fields.length === 5 && fields[4] === FLOATING_IP_MARK)) return undefined;
    const [protocol, address, portText, atText] = fields;
    if (!PROTOCOLS.has(protocol) || address === '') return undefined;
    const port = Number(portText);
    if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
    const at = parseInt(atText, 36);
    if (!Number.isFinite(at) || Math.abs(nowS - at) > HANDOFF_TOKEN_TTL_S) return undefined;
    const source = { protocol: protocol as HandoffSource['protocol'], address, port };
    return fields.length === 5 ? { ...source, floatingIp: true } : source;
  }

  #sign(payload: string, callId: string): string {
    return createHmac('sha256', this.#key).update(`${payload}\n${callId}`, 'latin1').digest().subarray(0, SIG_BYTES).toString('base64url');
  }
}

/** Where the cluster secret comes from (a registrar store); `close` once it is no longer needed. */
export interface SecretSource {
  clusterSecret(): Promise<string>;
  close?(): Promise<void>;
}

export interface DrainHandoffOptions {
  nodeId: string;
  store: Pick<ClusterStore, 'liveNodes'>;
  /** The cluster secret's store. */
  secret: SecretSource;
  /** Close `secret` once the secret is loaded (a store opened only for it). */
  closeSecretSource?: boolean;
  logger: Logger;
  /** ms between reads of the live peers, and between attempts to load the secret. Default 1000. */
  refreshMs?: number;
  /**
   * A worker's node (`node.workers`): the node id it is a worker of. Its siblings are no peers:
   * the whole node drains at once, and they share its address.
   */
  workerOf?: string | undefined;
}

/** The lease-info field naming the node a worker belongs to (absent for a node without workers). */
export const WORKER_OF_INFO = 'workerOf';

export class DrainHandoff implements HandoffService {
  readonly #o: DrainHandoffOptions;
  #tokens: HandoffTokens | undefined;
  /** Live peers' internal-hop URIs, by node id (this node excluded). */
  #peers: readonly string[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;
  #refreshing = false;
  #stopped = false;
  #sourceClosed = false;

  constructor(o: DrainHandoffOptions) {
    this.#o = o;
  }

  /** True once the cluster secret is loaded: tokens can be made and checked. */
  get ready(): boolean {
    return this.#tokens !== undefined;
  }

  /** Live peers as last read (their internal-hop URIs). */
  get peers(): readonly string[] {
    return this.#peers;
  }

  /** One attempt at the secret and the peers now, then both every `refreshMs` (the secret until loaded). */
  async start(): Promise<void> {
    await this.refresh();
    this.#timer = setInterval(() => void this.refresh(), this.#o.refreshMs ?? 1000);
    this.#timer.unref();
  }

  /** Load the secret if still missing, and read the live peers. Never throws. */
  async refresh(): Promise<void> {
    if (this.#refreshing || this.#stopped) return;
    this.#refreshing = true;
    try {
      if (this.#tokens === undefined) await this.#loadSecret();
      try {
        const leases = await this.#o.store.liveNodes();
        this.#peers = leases
          .filter((l) => l.nodeId !== this.#o.nodeId && (this.#o.workerOf === undefined || l.info?.[WORKER_OF_INFO] !== this.#o.workerOf))
          .sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0))
          .flatMap((l) => ownerUriOf(l) ?? []);
      } catch (err) {
        // Keep the last list: a peer that died meanwhile is the worst case (the call then times out
        // on it, as it would have on a dead dispatcher). The store being down also stops admission.
        this.#o.logger.debug({ err }, 'live peers not read');
      }
    } finally {
      this.#refreshing = false;
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#closeSource();
  }

  peer(callId: string): string | undefined {
    const peers = this.#peers;
    if (peers.length === 0 || this.#tokens === undefined) return undefined;
    return peers[fnv1a(callId) % peers.length];
  }

  encode(source: HandoffSource, callId: string, nowS: number): string | undefined {
    return this.#tokens?.encode(source, callId, nowS);
  }

  decode(user: string | undefined, callId: string, nowS: number): HandoffDecoded {
    if (!HandoffTokens.looksLike(user)) return undefined;
    const tokens = this.#tokens;
    if (tokens === undefined) return 'unavailable';
    return tokens.decode(user, callId, nowS) ?? 'invalid';
  }

  async #loadSecret(): Promise<void> {
    const o = this.#o;
    try {
      this.#tokens = new HandoffTokens(await o.secret.clusterSecret());
    } catch (err) {
      o.logger.debug({ err }, 'cluster secret not loaded yet: drain hands no call off until it is');
      return;
    }
    await this.#closeSource();
  }

  async #closeSource(): Promise<void> {
    if (this.#o.closeSecretSource !== true || this.#sourceClosed) return;
    this.#sourceClosed = true;
    await this.#o.secret.close?.().catch(() => undefined);
  }
}

/** FNV-1a of a string, unsigned 32 bits. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Longest wait, when a draining node closes, for the hand-offs in flight to get their final response. */
export const HANDOFF_QUIESCE_MS = 2_000;
