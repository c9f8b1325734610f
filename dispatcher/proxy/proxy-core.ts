/**
 * The proxy core: the transaction user of a transaction-stateful proxy (RFC 3261 §16).
 *
 * Request pipeline, in order (each stage may answer and stop):
 *   1. §16.3 validation: URI scheme (416), Proxy-Require (420)
 *   2. §16.4 route preprocessing: strict-routed Request-URI restored, our own Route values removed
 *   3. requests for this node: OPTIONS → 200 (carriers' keep-alive)
 *   4. Max-Forwards (483), loop detection (482)
 *   5. INVITE: 100 Trying at once (§16.2: within 200 ms)
 *   6. target: a Route left → loose routing (§16.12); in-dialog without Route → the dialog's
 *      other side (found by Call-ID here, else in the cluster store's dialog state when another
 *      node set the call up: dialog-state.ts); out-of-dialog → router + admission, with failover
 *   7. forward (§16.6): Max-Forwards−1, Record-Route (double when the transport/interface
 *      changes, RFC 5658), our Via with a fresh branch carrying the loop hash
 * Responses are handled by the request's ResponseContext.
 *
 * Drain hand-off (handoff-service.ts): a draining node forwards a new INVITE to a live peer with a
 * signed Route token naming its source, as a plain stateful hop (no Record-Route, no dialog, no
 * admission); on the peer, stage 2 recognises the token and every later stage takes the request
 * as coming from that source (`#sourceOf`).
 */
import { ERROR_CODES, isSipfleetError, SipParseError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/log.ts';
import {
  bareHost,
  formatNameAddr,
  isSipUri,
  makeResponse,
  parseUri,
  SipRequest,
  type SipResponse,
  type SipUri,
} from '../../shared/sip/index.ts';
import type { Admission, CallEndReason } from '../admission/admission.ts';
import type { CarrierMatcher } from '../admission/carrier-matcher.ts';
import type { AttemptOutcome, RouteCandidate, Router, RoutingContext } from '../routing/router.ts';
import { ownString } from '../transaction/own-copy.ts';
import { InviteServerTransaction, type ServerTransaction } from '../transaction/server-transaction.ts';
import { serverKeyOf } from '../transaction/transaction-key.ts';
import { flowTarget, type TransactionLayer } from '../transaction/transaction-layer.ts';
import type { ServerTransactionUser } from '../transaction/transaction-user.ts';
import type { Flow, Target } from '../transport/transport.ts';
import { sameSide, type DialogRecord, type DialogTable } from './dialog-table.ts';
import { dialogSide, storedTarget, type DialogState } from './dialog-state.ts';
import type { DialogStateRecord } from '../../shared/cluster-store/cluster-store.ts';
import { callKeyOf } from '../admission/store-admission.ts';
import { decodeFlowToken, encodeFlowToken } from './flow-token.ts';
import type { LocalIdentity } from './local-identity.ts';
import type { PhoneServices, PhoneUser } from './phone-services.ts';
import type { MediaCall, MediaService } from './media-service.ts';
import type { Binding } from '../../shared/registrar-store/registrar-store.ts';
import { ForkContext } from './fork-context.ts';
import { isProxyContext } from './proxy-context.ts';
import { isLooped, loopHash } from './loop-detection.ts';
import { branchWithLoopHash, ResponseContext, type BranchPlan, type ResponseContextEnv, type ResponseContextHooks } from './response-context.ts';
import { resolveUriTarget, uriProtocol } from './route-target.ts';
import { PhoneFlowTokens } from '../registrar/owner-hop.ts';
import type { HandoffService, HandoffSource } from './handoff-service.ts';

/** Request-URI schemes this proxy will route (RFC 4475 §3.3.2: anything else is 416). */
const SCHEMES = new Set(['sip', 'sips', 'tel']);
/** Methods that create a dialog, so the proxy Record-Routes them. */
const DIALOG_CREATING = new Set(['INVITE', 'SUBSCRIBE', 'REFER', 'NOTIFY']);
export const ALLOW = 'INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, PRACK, REFER, NOTIFY, SUBSCRIBE, MESSAGE, REGISTER';
const SERVER = 'sipfleet';

export interface ProxyCoreOptions {
  identity: LocalIdentity;
  router: Router;
  admission: Admission;
  dialogs: DialogTable;
  logger: Logger;
  /** Final responses that make an INVITE try the next switch (before any 1xx other than 100). */
  failoverCodes?: readonly number[];
  /** Switches tried per call at most. */
  maxAttempts?: number;
  /** Retry-After (s) on our own 503s. */
  retryAfter?: number;
  /** ms a switch has to answer an INVITE at all (even 100) before the next is tried; 0 = Timer B only. */
  noResponseTimeoutMs?: number;
  /** Trunks by source address; when it has carriers, new requests from elsewhere are unknown sources. */
  carriers?: CarrierMatcher | undefined;
  /** What an unknown source's new request gets: 403, or silence (without a registrar). */
  unknownSources?: 'reject' | 'drop';
  /**
   * Softphones (the registrar is on): REGISTERs are answered here, requests from sources that are
   * neither carriers nor switches are digest-authenticated as phone users, and requests for a
   * registered user are delivered to its bindings (through their owner node).
   */
  phones?: PhoneServices | undefined;
  /** Media relays (rtpengine): each new INVITE's SDP goes through the relay chosen for its call. */
  media?: MediaService | undefined;
  /**
   * The node is draining (before a restart): a new INVITE outside a dialog gets 503 (Draining)
   * with Retry-After, so the carrier tries its next dispatcher; requests inside a dialog, and
   * calls relayed here by another node for a phone this node holds, go on as usual.
   * With `handoff`, the new INVITE goes to a live peer instead, when there is one.
   */
  isDraining?: (() => boolean) | undefined;
  /**
   * The drain hand-off (handoff-service.ts): while draining, a new INVITE from a carrier or a
   * switch over UDP goes to a live peer instead of 503 (Draining); and a request another draining
   * node hands this one is taken as coming from the source its token names.
   */
  handoff?: HandoffService | undefined;
  /**
   * Dialog state in the cluster store (dialog-state.ts): confirmed calls are recorded so that
   * another node can carry their in-dialog requests, and this node carries those of calls set up
   * by a node that is gone (a request naming no next hop but us, for a call it does not hold).
   */
  dialogState?: DialogState | undefined;
  /**
   * Behind a floating IP (docs/ha.md): its UDP listener, and whether this node holds the address
   * now. A call a draining peer handed here is answered straight from the floating IP once this
   * node holds it (the peer has let go of it by then and could not): see `#bypassHandingPeer`.
   */
  floatingIp?: FloatingIp | undefined;
}

/** See ProxyCoreOptions.floatingIp. */
export interface FloatingIp {
  readonly listener: { readonly address: string; readonly port: number };
  holds(): boolean;
}

export interface ProxyStats {
  invites: number;
  forwarded: number;
  unknownSources: number;
  localReplies: Record<number, number>;
  /** Requests forwarded to each switch (first attempts and failovers). */
  attempts: Record<string, number>;
  /** New INVITEs this node handed to a peer while draining. */
  handedOff: number;
  /** Requests a draining peer handed this node (with a valid token). */
  handedIn: number;
}

/** A call's media through a relay: the call, and the INVITE's SDP as the relay offers it. */
type StartedMedia = { call: MediaCall; body: Buffer | undefined };

export class ProxyCore implements ServerTransactionUser {
  readonly #o: Required<Omit<ProxyCoreOptions, 'carriers' | 'phones' | 'media' | 'isDraining' | 'handoff' | 'dialogState' | 'floatingIp'>> & {
    dialogState: DialogState | undefined;
    floatingIp: FloatingIp | undefined;
    carriers: CarrierMatcher | undefined;
    phones: PhoneServices | undefined;
    media: MediaService | undefined;
    isDraining: (() => boolean) | undefined;
    handoff: HandoffService | undefined;
  };
  readonly #failoverCodes: ReadonlySet<number>;
  /** Shared by every response context of this core; made by `bind` (it holds the layer). */
  #contextEnv: ResponseContextEnv | undefined;
  #layer: TransactionLayer | undefined;
  readonly #stats: ProxyStats = { invites: 0, forwarded: 0, unknownSources: 0, localReplies: {}, attempts: {}, handedOff: 0, handedIn: 0 };
  /** Requests handed here by a draining peer: the source their token names (see `#sourceOf`). */
  readonly #handedSources = new WeakMap<ServerTransaction, Flow>();
  /** Hand-offs whose final response has not gone upstream yet; `quiesce` waits for them. */
  #handoffsInFlight = 0;
  #quiescing = false;
  #onIdle: Array<() => void> = [];

  // Shared by every response context (one closure each per call would live as long as the call's
  // transactions: 32 s).
  readonly #reportAttempt = (c: RouteCandidate, outcome: AttemptOutcome): void => this.#o.router.report(c, outcome);
  readonly #countLocalReply = (status: number): void => {
    this.#stats.localReplies[status] = (this.#stats.localReplies[status] ?? 0) + 1;
  };

  constructor(opts: ProxyCoreOptions) {
    this.#o = {
      failoverCodes: [408, 500, 503],
      maxAttempts: 3,
      retryAfter: 5,
      noResponseTimeoutMs: 0,
      carriers: undefined,
      unknownSources: 'reject',
      phones: undefined,
      media: undefined,
      isDraining: undefined,
      handoff: undefined,
      dialogState: undefined,
      floatingIp: undefined,
      ...opts,
    };
    this.#failoverCodes = new Set(this.#o.failoverCodes);
  }

  /** Wire the transaction layer (it is built with this core as its user). */
  bind(layer: TransactionLayer): void {
    this.#layer = layer;
    this.#contextEnv = {
      layer,
      log: this.#o.logger,
      failoverCodes: this.#failoverCodes,
      retryAfter: this.#o.retryAfter,
      noResponseTimeoutMs: this.#o.noResponseTimeoutMs,
      onLocalReply: this.#countLocalReply,
    };
  }

  get #tl(): TransactionLayer {
    if (this.#layer === undefined) throw new Error('ProxyCore used before bind()');
    return this.#layer;
  }

  stats(): ProxyStats {
    return { ...this.#stats, localReplies: { ...this.#stats.localReplies }, attempts: { ...this.#stats.attempts } };
  }

  /**
   * A draining node is about to close: the INVITEs it would hand off from now on are dropped
   * unanswered (the caller retransmits them, to the restarted process), and the hand-offs in
   * flight get their final response relayed. Resolves once none is left, or after `maxMs`.
   */
  quiesce(maxMs: number): Promise<void> {
    this.#quiescing = true;
    if (this.#handoffsInFlight === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = this.#tl.clock.setTimer(maxMs, () => resolve());
      this.#onIdle.push(() => {
        timer.cancel();
        resolve();
      });
    });
  }

  // ---- ServerTransactionUser ----

  onRequest(txn: ServerTransaction): void {
    try {
      this.#onRequest(txn);
    } catch (err) {
      // A header parsed on demand (Route, Contact...) was malformed: answer through the
      // transaction so it completes normally (RFC 4475 §3.1.2.13 regbadct → 400).
      if (err instanceof SipParseError) this.#reply(txn, err.status, err.reason);
      else throw err;
    }
  }

  #onRequest(txn: ServerTransaction): void {
    const req = txn.request;
    const phones = this.#o.phones;
    // Banned sources and scanners get nothing at all, not even a parse error.
    if (phones !== undefined && phones.shouldDrop(req, txn.flow.remoteAddress)) return txn.abort();
    if (req.method === 'INVITE') this.#stats.invites++;
    const uri = req.requestUri;
    if (!SCHEMES.has(uri.scheme) && !req.has('route')) return this.#reply(txn, 416, 'Unsupported URI Scheme');
    const proxyRequire = req.get('proxy-require');
    if (proxyRequire !== undefined) return this.#reply(txn, 420, 'Bad Extension', [['Unsupported', proxyRequire]]);
    // Contact is forwarded as is, but a malformed one would break the dialog downstream.
    if (req.has('contact')) req.contacts();
    const handedIn: { token?: HandoffSource | 'invalid' | 'unavailable' } = {};
    const flowConnection = this.#preprocessRoutes(req, txn.flow, handedIn);
    // A draining peer handed this request over: from here on it comes from the source the token
    // names. A token that does not check out gives no bypass: the request is refused (or dropped,
    // as unknown sources are).
    const token = handedIn.token;
    if (token === 'invalid') {
      if (this.#o.unknownSources === 'drop') return txn.abort();
      return this.#reply(txn, 403, 'Forbidden (Invalid Hand-off Token)');
    }
    if (token === 'unavailable') return this.#reply(txn, 503, 'Service Unavailable (Cluster Secret Not Loaded)', [['Retry-After', String(this.#o.retryAfter)]]);
    let source = txn.flow;
    if (token !== undefined) {
      source = { ...txn.flow, protocol: token.protocol, remoteAddress: token.address, remotePort: token.port, connectionId: undefined };
      this.#handedSources.set(txn, source);
      this.#stats.handedIn++;
      this.#bypassHandingPeer(txn, token);
      if (phones !== undefined && phones.shouldDrop(req, source.remoteAddress)) return txn.abort();
    }
    // Out-of-dialog requests go to the switch pool; a Route set aimed elsewhere would make this
    // node an open relay, so it is refused (in-dialog Route sets come from our Record-Route).
    const hop = flowConnection?.hop === true;
    if (req.toTag === undefined && req.has('route') && req.method !== 'ACK' && !hop) {
      return this.#reply(txn, 403, 'Forbidden (Preloaded Route Not Allowed)');
    }
    const toUs = !req.has('route') && this.#o.identity.isLocalUri(req.requestUri);
    if (toUs && req.method === 'OPTIONS' && req.toTag === undefined) {
      return this.#reply(txn, 200, 'OK', [['Allow', ALLOW], ['Accept', 'application/sdp'], ['Server', SERVER]]);
    }
    if (req.maxForwards === 0) return this.#reply(txn, 483, 'Too Many Hops');
    const hash = loopHash(req);
    if (isLooped(req, this.#o.identity, hash)) return this.#reply(txn, 482, 'Loop Detected');
    // RFC 3261 §10.3: this node is the registrar for every REGISTER outside a dialog.
    if (phones !== undefined && req.method === 'REGISTER' && req.toTag === undefined && !req.has('route') && !hop) return phones.register(txn);
    // RFC 3261 §16.3 step 5 (proxy authorization), by source: a new request must come from a
    // carrier or a known peer, or (with the registrar on) be a phone's, digest-authenticated in
    // #route. Checked before 100 Trying so that a silent drop stays silent.
    let carrierId: string | undefined;
    let origin: Origin = 'carrier';
    if (hop) origin = 'node';
    else if (req.toTag === undefined && !req.has('route')) {
      const address = source.remoteAddress;
      const carriers = this.#o.carriers;
      // A switch is a switch even inside a carrier's range (a loopback lab, a shared subnet).
      const fromSwitch = this.#o.router.isFromKnownPeer(address);
      carrierId = fromSwitch && phones !== undefined ? undefined : carriers?.match(address)?.id;
      // Without carriers configured nobody is checked (the single-node default): every source is
      // a trunk. With carriers, anyone else is a phone (registrar on) or an unknown source.
      const checked = carriers !== undefined && carriers.size > 0;
      if (fromSwitch) origin = phones !== undefined ? 'switch' : 'carrier';
      else if (carrierId === undefined && checked && phones !== undefined) origin = 'phone';
      else if (carrierId === undefined && checked) {
        this.#stats.unknownSources++;
        if (this.#o.unknownSources === 'drop') return txn.abort();
        return this.#reply(txn, 403, 'Forbidden (Unknown Source)');
      }
    }
    // A draining node takes no new calls (checked after the source check: a drop stays silent):
    // it hands them to a live peer, else answers 503. A call handed here is never handed on, and a
    // phone's is not handed off (its NAT binding leads to this node only).
    if (req.method === 'INVITE' && req.toTag === undefined && !req.has('route') && !hop && this.#o.isDraining?.() === true) {
      if (token === undefined && origin !== 'phone' && this.#handOff(txn, hash)) return;
      return this.#reply(txn, 503, 'Service Unavailable (Draining)', [['Retry-After', String(this.#o.retryAfter)]]);
    }
    if (req.method === 'INVITE') txn.respond(makeResponse(req, 100, 'Trying'));
    this.#route(txn, flowConnection, hash, toUs, carrierId, origin).catch((err: unknown) => {
      // The shared store is down (a phone's location, its credentials): a retryable 503, not a fault of ours.
      if (isSipfleetError(err) && err.code === ERROR_CODES.STORE_ERR_UNAVAILABLE) {
        const ctx = txn.context;
        const headers: Array<[string, string]> = [['Retry-After', String(this.#o.retryAfter)]];
        if (isProxyContext(ctx)) return ctx.respond(503, 'Service Unavailable (Cluster Store Unreachable)', headers);
        return this.#reply(txn, 503, 'Service Unavailable (Cluster Store Unreachable)', headers);
      }
      this.#o.logger.error({ err, callId: req.callId }, 'routing failed');
      const ctx = txn.context;
      if (isProxyContext(ctx)) ctx.respond(500, 'Server Internal Error (Routing Failed)');
      else this.#reply(txn, 500, 'Server Internal Error (Routing Failed)');
    });
  }

  onCancel(txn: ServerTransaction, invite: ServerTransaction | undefined): void {
    if (invite === undefined) return this.#reply(txn, 481, 'Call/Transaction Does Not Exist');
    // §16.10: answer the CANCEL at once, then cancel the pending branch.
    this.#reply(txn, 200, 'OK');
    const ctx = invite.context;
    if (isProxyContext(ctx)) ctx.cancel();
  }

  onStrayAck(ack: SipRequest, flow: Flow): void {
    // The ACK for a 2xx travels end to end (RFC 3261 §13.2.2.4); forward it statelessly, at once
    // when its next hop is known without a lookup (no promise: one such ACK per call).
    const flowConnection = this.#preprocessRoutes(ack, flow);
    try {
      const target = this.#inDialogTarget(ack, flow, flowConnection);
      if (target instanceof Promise) {
        target.then((t) => this.#forwardAck(ack, flow, t)).catch(this.#ackNotForwarded);
        return;
      }
      this.#forwardAck(ack, flow, target);
    } catch (err) {
      this.#ackNotForwarded(err);
    }
  }

  readonly #ackNotForwarded = (err: unknown): void => this.#o.logger.debug({ err }, 'ACK not forwarded');

  #forwardAck(ack: SipRequest, flow: Flow, target: Target | undefined): void {
    if (target === undefined) return;
    // A late offer's answer travels in the ACK: the callee offered in its 2xx (see media-service.ts).
    const call = hasSdp(ack) ? this.#o.media?.find(ack.callId) : undefined;
    if (call === undefined) {
      this.#tl.sendStateless(this.#forwardCopy(ack, flow, target, loopHash(ack), false, undefined, undefined), target);
      return;
    }
    call
      .answer(ack.toTag ?? '', ack.fromTag ?? '', ack.body)
      .catch(() => undefined)
      .then((body) => this.#tl.sendStateless(this.#forwardCopy(ack, flow, target, loopHash(ack), false, undefined, body), target))
      .catch(this.#ackNotForwarded);
  }

  // ---- pipeline stages ----

  /** Where a new request came from: its flow, or for one a draining peer handed over, the source its token names. */
  #sourceOf(txn: ServerTransaction): Flow {
    return this.#handedSources.get(txn) ?? txn.flow;
  }

  /**
   * Draining: hand a new INVITE to a live peer, as a plain stateful hop (no Record-Route, so the
   * dialog's route set names the peer only; no dialog-table leg, no admission, no failover), with
   * a Route token naming its source. False when it cannot be (no handoff service, not over UDP,
   * no live peer or no cluster secret yet): the caller answers 503 (Draining).
   *
   * UDP only: the peer reaches the caller directly at the address the token names (in-dialog
   * requests toward it); a caller on a stream connection is reachable through this node only.
   */
  #handOff(txn: ServerTransaction, hash: string): boolean {
    const handoff = this.#o.handoff;
    const flow = txn.flow;
    if (handoff === undefined || flow.protocol !== 'udp') return false;
    const req = txn.request;
    const peerUri = handoff.peer(req.callId);
    if (peerUri === undefined) return false;
    let peer;
    try {
      peer = parseUri(peerUri, 'peer');
    } catch {
      return false;
    }
    if (!isSipUri(peer)) return false;
    // Reached at the floating IP: once the peer holds it, the peer answers from there (`#bypassHandingPeer`).
    const floatingIp = this.#o.floatingIp !== undefined && flow.localAddress === this.#o.floatingIp.listener.address;
    const source: HandoffSource = { protocol: flow.protocol, address: flow.remoteAddress, port: flow.remotePort, ...(floatingIp ? { floatingIp } : {}) };
    const token = handoff.encode(source, req.callId, Date.now() / 1000);
    if (token === undefined) return false;
    // Closing: the caller's retransmission will reach the restarted process.
    if (this.#quiescing) {
      txn.abort();
      return true;
    }
    const target = hopTarget(peer);
    const fwd = this.#forwardCopy(req, flow, target, hash, false);
    fwd.append('Route', tokenRoute(peer, token));
    txn.respond(makeResponse(req, 100, 'Trying'));
    this.#handoffsInFlight++;
    const ctx = this.#context(txn, { onFinal: () => this.#handoffDone() });
    this.#stats.handedOff++;
    this.#stats.forwarded++;
    ctx.start({ request: fwd, target });
    return true;
  }

  /**
   * A new INVITE a draining peer handed here, which the caller sent over UDP to the floating IP:
   * the peer is its previous hop, and the caller got 100 Trying from it, from the floating IP.
   * The peer lets go of the address before this node takes it, and a caller with a provisional
   * does not retransmit (RFC 3261 §17.1.1.2), so an answer that reaches the peer after the move
   * would be lost and the call would hang. Once this node holds the floating IP, its answers go straight to the caller from there,
   * without the peer's Via (HopBypass); and the caller's own retransmissions, CANCEL and ACK,
   * which reach this node then, match the transaction under the key they would have had at the peer.
   */
  #bypassHandingPeer(txn: ServerTransaction, token: HandoffSource): void {
    const fip = this.#o.floatingIp;
    const layer = this.#layer;
    if (fip === undefined || layer === undefined || token.floatingIp !== true || token.protocol !== 'udp' || !(txn instanceof InviteServerTransaction)) return;
    const req = txn.request;
    const hopBranch = req.via.branch;
    const vias = req.vias();
    if (hopBranch === undefined || vias.length < 2) return;
    const flow: Flow = {
      protocol: 'udp',
      localAddress: fip.listener.address,
      localPort: fip.listener.port,
      remoteAddress: token.address,
      remotePort: token.port,
      connectionId: undefined,
    };
    txn.bypass = { flow, hopBranch: ownString(hopBranch), active: () => fip.holds() };
    layer.aliasServer(txn, serverKeyOf(req, vias[1], 'INVITE', flow));
  }

  #handoffDone(): void {
    this.#handoffsInFlight--;
    if (this.#handoffsInFlight > 0) return;
    const waiters = this.#onIdle;
    this.#onIdle = [];
    for (const w of waiters) w();
  }

  #reply(txn: ServerTransaction, status: number, reason: string, headers: ReadonlyArray<readonly [string, string]> = [], toTag = txn.localTag): void {
    // Already answered (an error after the final): nothing more to say, and the request is released.
    if (txn.finalSent) return;
    this.#stats.localReplies[status] = (this.#stats.localReplies[status] ?? 0) + 1;
    txn.respond(makeResponse(txn.request, status, reason, { toTag, headers }));
  }

  /**
   * RFC 3261 §16.4. Returns the connection id from a flow token in a Route value we removed, when
   * it points somewhere other than where the request came from. With `handedIn`, a hand-off token
   * in one of them (a new request only) is decoded into `handedIn.token`.
   */
  #preprocessRoutes(req: SipRequest, flow: Flow, handedIn?: { token?: HandoffSource | 'invalid' | 'unavailable' }): FlowHint | undefined {
    if (!req.has('route')) return undefined;
    const identity = this.#o.identity;
    const ruri = req.requestUri;
    // The previous hop was a strict router: our Record-Route URI is in the Request-URI and the
    // real one is the last Route value.
    if (isSipUri(ruri) && ruri.params.has('lr') && identity.isLocalUri(ruri)) {
      const routes = req.routes();
      const last = routes[routes.length - 1];
      req.setUri(last.uri);
      req.remove('route');
      for (const r of routes.slice(0, -1)) req.append('Route', formatNameAddr(r));
    }
    let viaFlow: FlowHint | undefined;
    while (req.has('route')) {
      const uri = parseUri(req.routes()[0].uri, 'Route');
      if (!identity.isLocalUri(uri)) break;
      const user = isSipUri(uri) ? uri.user : undefined;
      const handoff = this.#o.handoff;
      if (handedIn !== undefined && handoff !== undefined && req.toTag === undefined) {
        const token = handoff.decode(user, req.callId, Date.now() / 1000);
        if (token !== undefined) {
          handedIn.token = token;
          req.removeFirstValue('route');
          continue;
        }
      }
      const phone = this.#phoneHint(user, flow, req.toTag !== undefined);
      if (phone !== undefined) viaFlow = phone;
      else {
        const id = decodeFlowToken(user);
        const protocol = uriProtocol(uri);
        if (id !== undefined && id !== flow.connectionId && protocol !== undefined) viaFlow = { connectionId: id, protocol, hop: false };
      }
      req.removeFirstValue('route');
    }
    return viaFlow;
  }

  /**
   * A phone flow token in one of our Route values (see registrar/owner-hop.ts): a hop token
   * (another node sends us a call for a phone whose flow we hold), or, inside a dialog, a
   * Record-Route token naming the phone's flow when the request is not coming from it.
   */
  #phoneHint(user: string | undefined, flow: Flow, inDialog: boolean): FlowHint | undefined {
    const phones = this.#o.phones;
    if (phones === undefined || !PhoneFlowTokens.looksLike(user)) return undefined;
    const nowS = Date.now() / 1000;
    const hop = phones.tokens.decode(user, 'hop', nowS);
    if (hop !== undefined) return { ...hop, hop: true };
    if (!inDialog) return undefined;
    const rr = phones.tokens.decode(user, 'rr', nowS);
    if (rr === undefined) return undefined;
    const fromPhone =
      rr.connectionId !== undefined ? rr.connectionId === flow.connectionId : rr.address === flow.remoteAddress && rr.port === flow.remotePort && flow.protocol === 'udp';
    return fromPhone ? undefined : { ...rr, hop: false };
  }

  async #route(txn: ServerTransaction, flowConnection: FlowHint | undefined, hash: string, toUs: boolean, carrierId: string | undefined, origin: Origin): Promise<void> {
    const req = txn.request;
    if (flowConnection?.hop === true) return this.#relayToPhone(txn, flowConnection, hash);
    const inDialog = req.toTag !== undefined || req.has('route');
    const phones = this.#o.phones;
    if (!inDialog && phones !== undefined && origin !== 'carrier') {
      let user: PhoneUser | undefined;
      if (origin === 'phone') {
        const auth = await phones.authenticate(req, this.#sourceOf(txn).remoteAddress);
        if (!auth.ok) return this.#reply(txn, auth.status, auth.reason, auth.headers, auth.toTag);
        user = auth.user;
      }
      // A switch calls a phone; a phone calls another registered phone, else the switches.
      const aor = isSipUri(req.requestUri) ? req.requestUri.user : undefined;
      const bindings = aor === undefined || aor === '' ? undefined : await phones.lookup(aor);
      if (bindings !== undefined && bindings.length > 0) return this.#deliverToBindings(txn, bindings, hash, carrierId, user);
      if (origin === 'switch') {
        if (bindings === undefined) return this.#reply(txn, 404, 'Not Found');
        return this.#reply(txn, 480, 'Temporarily Unavailable');
      }
      return this.#dispatchNew(txn, hash, carrierId, user);
    }
    if (!inDialog) return this.#dispatchNew(txn, hash, carrierId);
    const stored: { dialog?: DialogStateRecord } = {};
    const next = this.#inDialogTarget(req, txn.flow, flowConnection, stored);
    const target = next instanceof Promise ? await next : next;
    if (target === undefined) {
      // No dialog and the Request-URI is us: nothing to continue (481). Otherwise the next hop
      // named by Route or Request-URI could not be resolved (RFC 3263 §4.3: 503).
      if (toUs) return this.#reply(txn, 481, 'Call/Transaction Does Not Exist');
      return this.#reply(txn, 503, 'Service Unavailable (Next Hop Unresolvable)');
    }
    const leg = req.method === 'BYE' ? this.#o.dialogs.find(req.callId, txn.flow) : undefined;
    // A BYE of a call this node does not hold: a call another node set up may end here.
    const carried = req.method === 'BYE' && leg === undefined ? this.#o.dialogState : undefined;
    const tags = carried === undefined ? undefined : { callId: ownString(req.callId), from: req.fromTag === undefined ? undefined : ownString(req.fromTag), to: req.toTag === undefined ? undefined : ownString(req.toTag) };
    const call = this.#o.media?.find(req.callId);
    let body: Buffer | undefined;
    const offers = call !== undefined && (req.method === 'INVITE' || req.method === 'UPDATE');
    if (offers && hasSdp(req)) body = await call.offer(req.fromTag ?? '', req.toTag, req.body);
    const ctx = this.#context(txn, {
      onFinal: () => {
        if (leg !== undefined) this.#o.dialogs.end(leg, 'bye');
        // A call without a dialog-table leg (delivered to a phone) ends its media here.
        else if (req.method === 'BYE') void call?.end('bye');
        if (carried !== undefined && tags !== undefined) void finishCarried(carried, stored.dialog, tags);
      },
      ...(offers ? { rewrite: mediaRewrite(call, hasSdp(req)) } : {}),
    });
    this.#stats.forwarded++;
    ctx.start({ request: this.#forwardCopy(req, txn.flow, target, hash, false, undefined, body), target });
  }

  /**
   * Next hop for a request inside a dialog: Route, else the dialog table, else the Request-URI.
   * At once when nothing must be looked up (a Route with an IP literal, a dialog of this node):
   * a promise only for a host name or the store, so an ACK or BYE through our Record-Route costs
   * no promise and no microtask.
   */
  #inDialogTarget(req: SipRequest, flow: Flow, viaFlow: FlowHint | undefined, stored?: { dialog?: DialogStateRecord }): Target | undefined | Promise<Target | undefined> {
    if (viaFlow?.address !== undefined && viaFlow.port !== undefined) {
      return { protocol: viaFlow.protocol, address: viaFlow.address, port: viaFlow.port, connectionId: viaFlow.connectionId };
    }
    if (viaFlow !== undefined) return this.#phoneFlowTarget(req, viaFlow);
    if (req.has('route')) {
      const top = req.routes()[0];
      const uri = parseUri(top.uri, 'Route');
      // §16.6 step 6: the next hop is a strict router; it wants its URI in the Request-URI.
      if (isSipUri(uri) && !uri.params.has('lr')) {
        const original = req.uri;
        req.removeFirstValue('route');
        req.append('Route', `<${original}>`);
        req.setUri(top.uri);
      }
      return resolveUriTarget(uri);
    }
    const dialog = this.#o.dialogs.find(req.callId, flow);
    if (dialog !== undefined) return sameSide(dialog.switchTarget, flow) ? dialog.callerTarget : dialog.switchTarget;
    if (this.#o.identity.isLocalUri(req.requestUri)) return this.#storedDialogTarget(req, flow, stored);
    return resolveUriTarget(req.requestUri);
  }

  /** A phone's flow: the phone's Contact may be unreachable (`*.invalid`, RFC 7118); its connection is not. */
  async #phoneFlowTarget(req: SipRequest, viaFlow: FlowHint): Promise<Target> {
    let base: Target | undefined;
    try {
      base = await resolveUriTarget(req.requestUri);
    } catch {
      base = undefined;
    }
    return { protocol: viaFlow.protocol, address: base?.address ?? '', port: base?.port ?? 0, connectionId: viaFlow.connectionId };
  }

  /**
   * A dialog another node set up (and is gone, or the request came here anyway): its dialog state
   * in the store names both sides.
   */
  async #storedDialogTarget(req: SipRequest, flow: Flow, stored: { dialog?: DialogStateRecord } | undefined): Promise<Target | undefined> {
    const d = await this.#o.dialogState?.find(req.callId, req.fromTag, req.toTag);
    const fromStore = d === undefined ? undefined : storedTarget(d, req.fromTag, req.toTag);
    if (d !== undefined && fromStore !== undefined) {
      if (stored !== undefined) stored.dialog = d;
      return fromStore;
    }
    // Another node set this call up. Under hash-call-id the Call-ID still names its switch.
    if (this.#o.router.isFromKnownPeer(flow.remoteAddress)) return undefined;
    return this.#o.router.locate?.(req.callId)?.target;
  }

  /** A new out-of-dialog request: pick a switch (INVITEs also pass admission), with failover. */
  async #dispatchNew(txn: ServerTransaction, hash: string, carrierId: string | undefined, user?: PhoneUser): Promise<void> {
    const req = txn.request;
    const o = this.#o;
    const isInvite = req.method === 'INVITE';
    // A copy of its own: the Call-ID is kept by the dialog table and admission for the whole call,
    // and as a slice it would keep the INVITE's decoded text alive with it.
    const callId = ownString(req.callId);
    // The caller's flow: a call handed over by a draining peer keeps its original source for
    // hash-source, the admission key and the dialog's caller side.
    const source = this.#sourceOf(txn);
    const routing: RoutingContext = { request: req, flow: source, carrierId, order: undefined };
    const tried = new Set<string>();
    let attempts = 0;
    let lastRefusal: { status: number; reason: string; retryAfter?: number | undefined } | undefined;
    /** This call's leg in the dialog table (the current attempt's). */
    const call: CallLeg = { leg: undefined };
    /** An earlier attempt was admitted (and failed over): shared levels are not charged again. */
    let admittedBefore = false;

    const hooks = this.#answeredHooks(call, isInvite);
    hooks.nextBranch = async () => {
      if (call.leg !== undefined) o.dialogs.end(call.leg, 'failover');
      call.leg = undefined;
      return nextPlan();
    };
    if (isInvite) {
      hooks.onFinal = (res) => {
        if (res.status >= 300 && call.leg !== undefined) o.dialogs.end(call.leg, ctx.cancelled ? 'cancel' : 'rejected');
      };
    }
    const ctx = this.#context(txn, hooks);
    // Direct media (or no media service) is known at once: an await is a promise and a microtask.
    const started = isInvite ? this.#startMedia(txn, carrierId, user?.id, user?.zone) : undefined;
    const media = started instanceof Promise ? await started : started;
    if (media === 'failed') return;
    const mediaCall = media?.call;
    if (mediaCall !== undefined) {
      ctx.setRewrite(mediaRewrite(mediaCall, hasSdp(req)));
      // A call refused before any leg was admitted has no leg to end its media.
      const onFinal = hooks.onFinal;
      hooks.onFinal = (res, relayed) => {
        onFinal?.(res, relayed);
        if (res.status >= 300 && call.leg === undefined) void mediaCall.end('rejected');
      };
    }

    const nextPlan = async (): Promise<BranchPlan | undefined> => {
      while (attempts < o.maxAttempts) {
        // The switch pool answers at once except under hash-source (a store lookup): await only a promise.
        const picked = tried.size === 0 ? o.router.select(routing) : o.router.next(routing, tried);
        const candidate = picked instanceof Promise ? await picked : picked;
        if (candidate === undefined) return undefined;
        tried.add(candidate.id);
        if (isInvite) {
          const decision = await o.admission.admit({ callId, request: req, flow: source, carrierId, user, switchId: candidate.id, relayId: mediaCall?.relayId, reattempt: admittedBefore });
          if (ctx.cancelled || ctx.finished) {
            if (decision.admitted) decision.release('cancel');
            return undefined;
          }
          if (!decision.admitted) {
            lastRefusal = decision;
            if (decision.switchOnly) continue;
            return undefined;
          }
          const fromTag = req.fromTag;
          const release = mediaCall === undefined ? decision.release : releaseWithMedia(decision.release, mediaCall);
          const state = o.dialogState;
          const record: DialogRecord = {
            callId,
            fromTag: fromTag === undefined ? undefined : ownString(fromTag),
            toTag: undefined,
            state: 'early',
            switchTarget: candidate.target,
            switchId: candidate.id,
            callerTarget: flowTarget(source),
            createdAt: this.#tl.clock.now(),
            callKey: callKeyOf(callId, source.remoteAddress),
            relayId: mediaCall?.relayId,
            release:
              state === undefined
                ? release
                : (reason: CallEndReason) => {
                    // The call ended here: its dialog state goes (a failover moves the leg, not the call).
                    if (reason !== 'failover' && record.stored === true && record.callKey !== undefined) state.ended(callId, record.callKey);
                    release(reason);
                  },
          };
          call.leg = record;
          admittedBefore = true;
          if (!o.dialogs.add(record)) {
            call.leg = undefined;
            decision.release('rejected');
            lastRefusal = { status: 503, reason: 'Service Unavailable (Dialog Table Full)' };
            return undefined;
          }
        }
        attempts++;
        this.#stats.forwarded++;
        this.#stats.attempts[candidate.id] = (this.#stats.attempts[candidate.id] ?? 0) + 1;
        return {
          request: this.#forwardCopy(req, source, candidate.target, hash, DIALOG_CREATING.has(req.method), undefined, media?.body),
          target: candidate.target,
          candidate,
        };
      }
      return undefined;
    };

    const first = await nextPlan();
    if (ctx.finished) return;
    if (ctx.cancelled) return ctx.respond(487, 'Request Terminated');
    if (first === undefined) {
      const r = lastRefusal ?? { status: 503, reason: 'No Switch Available', retryAfter: o.retryAfter };
      const retry = r.retryAfter ?? (r.status === 503 ? o.retryAfter : undefined);
      return ctx.respond(r.status, r.reason, retry === undefined ? [] : [['Retry-After', String(retry)]]);
    }
    ctx.start(first);
  }

  /**
   * A request for a registered user: forked to its bindings, highest q first, in parallel within
   * one q value (RFC 3261 §16.6). A binding owned by this node goes out over its flow; one owned
   * by another node goes to that node with a hop token (registrar/owner-hop.ts), which relays it.
   */
  async #deliverToBindings(txn: ServerTransaction, bindings: readonly Binding[], hash: string, carrierId: string | undefined, user: PhoneUser | undefined): Promise<void> {
    const req = txn.request;
    const phones = this.#o.phones;
    if (phones === undefined) return;
    const media = await this.#startMedia(txn, carrierId, user?.id ?? bindings[0]?.aor, user?.zone);
    if (media === 'failed') return;
    const groups: BranchPlan[][] = [];
    let q = Number.NaN;
    for (const b of bindings) {
      const plan = this.#bindingPlan(req, this.#sourceOf(txn), b, hash, phones, media?.body);
      if (plan === undefined) continue;
      if (b.q !== q) groups.push([]);
      q = b.q;
      groups[groups.length - 1].push(plan);
    }
    if (groups.length === 0) {
      void media?.call.end('rejected');
      return this.#reply(txn, 480, 'Temporarily Unavailable');
    }
    const call = media?.call;
    const hooks =
      call === undefined
        ? {}
        : {
            rewrite: mediaRewrite(call, hasSdp(req)),
            onFinal: (res: SipResponse) => {
              if (res.status >= 300) void call.end('rejected');
            },
          };
    const ctx = new ForkContext({ layer: this.#tl, server: txn, log: this.#o.logger, onLocalReply: this.#countLocalReply, hooks });
    txn.context = ctx;
    this.#stats.forwarded += bindings.length;
    ctx.start(groups);
  }

  #bindingPlan(req: SipRequest, flow: Flow, b: Binding, hash: string, phones: PhoneServices, body: Buffer | undefined): BranchPlan | undefined {
    const rr = DIALOG_CREATING.has(req.method);
    if (b.flow.nodeId === phones.nodeId) {
      const target: Target = { protocol: b.flow.protocol, address: b.flow.address, port: b.flow.port, connectionId: b.flow.connectionId };
      const fwd = this.#forwardCopy(req, flow, target, hash, rr, phones.tokens.encode('rr', b.flow, Date.now() / 1000), body);
      fwd.setUri(b.contact);
      for (const p of b.path) fwd.append('Route', p);
      return { request: fwd, target };
    }
    let owner;
    try {
      owner = parseUri(b.flow.ownerUri, 'ownerUri');
    } catch {
      return undefined;
    }
    if (!isSipUri(owner)) return undefined;
    const target = hopTarget(owner);
    const fwd = this.#forwardCopy(req, flow, target, hash, rr, undefined, body);
    fwd.setUri(b.contact);
    fwd.append('Route', tokenRoute(owner, phones.tokens.encode('hop', b.flow, Date.now() / 1000)));
    for (const p of b.path) fwd.append('Route', p);
    return { request: fwd, target };
  }

  /** The owner's side of the internal hop: relay the request over the phone's flow. */
  #relayToPhone(txn: ServerTransaction, hint: FlowHint, hash: string): void {
    const req = txn.request;
    const phones = this.#o.phones;
    if (phones === undefined || hint.address === undefined || hint.port === undefined) return this.#reply(txn, 480, 'Temporarily Unavailable');
    const target: Target = { protocol: hint.protocol, address: hint.address, port: hint.port, connectionId: hint.connectionId };
    const token = phones.tokens.encode('rr', { protocol: hint.protocol, address: hint.address, port: hint.port, connectionId: hint.connectionId }, Date.now() / 1000);
    const fwd = this.#forwardCopy(req, txn.flow, target, hash, DIALOG_CREATING.has(req.method), token);
    const ctx = new ForkContext({ layer: this.#tl, server: txn, log: this.#o.logger, onLocalReply: this.#countLocalReply, hooks: {} });
    txn.context = ctx;
    this.#stats.forwarded++;
    ctx.start([[{ request: fwd, target }]]);
  }

  /**
   * A new INVITE's media: the relay for the call (chosen once, by zone, health and load) and its
   * SDP offer through it. 'failed' when a relay was required and none could take the call: the
   * caller has been answered 503.
   */
  #startMedia(
    txn: ServerTransaction,
    carrierId: string | undefined,
    userId: string | undefined,
    userZone?: string,
  ): StartedMedia | undefined | 'failed' | Promise<StartedMedia | undefined | 'failed'> {
    const media = this.#o.media;
    if (media === undefined) return undefined;
    const req = txn.request;
    let started: MediaCall | undefined | Promise<MediaCall | undefined>;
    try {
      started = media.startCall({ callId: ownString(req.callId), fromTag: req.fromTag ?? '', carrierId, userId, userZone, sourceIp: this.#sourceOf(txn).remoteAddress });
    } catch (err) {
      return this.#noMediaRelay(txn, req, err, undefined);
    }
    // Direct media (no relay configured, a direct zone) is known at once: nothing to await.
    if (started === undefined) return undefined;
    return this.#offerThroughRelay(txn, req, started);
  }

  async #offerThroughRelay(txn: ServerTransaction, req: SipRequest, started: MediaCall | Promise<MediaCall | undefined>): Promise<StartedMedia | undefined | 'failed'> {
    let call: MediaCall | undefined;
    try {
      call = await started;
      if (call === undefined) return undefined;
      const body = hasSdp(req) ? await call.offer(req.fromTag ?? '', undefined, req.body) : undefined;
      return { call, body };
    } catch (err) {
      return this.#noMediaRelay(txn, req, err, call);
    }
  }

  /** No relay could take a call that needs one: the caller is answered 503. */
  #noMediaRelay(txn: ServerTransaction, req: SipRequest, err: unknown, call: MediaCall | undefined): 'failed' {
    void call?.end('failed');
    this.#o.logger.warn({ err, callId: req.callId }, 'no media relay for the call');
    const ctx = txn.context;
    const headers: Array<[string, string]> = [['Retry-After', String(this.#o.retryAfter)]];
    if (isProxyContext(ctx)) ctx.respond(503, 'Service Unavailable (No Media Relay)', headers);
    else this.#reply(txn, 503, 'Service Unavailable (No Media Relay)', headers);
    return 'failed';
  }

  /**
   * The hooks a response context keeps after the call is answered, for 2xx retransmissions
   * (RFC 6026: 32 s): made here rather than in #dispatchNew because every closure made there
   * shares its scope, which holds the request and the routing context.
   */
  #answeredHooks(call: CallLeg, isInvite: boolean): ResponseContextHooks {
    const o = this.#o;
    const hooks: ResponseContextHooks = { report: this.#reportAttempt };
    if (isInvite) {
      hooks.on2xx = (res: SipResponse) => {
        // Confirmed once; for a retransmitted 2xx confirm() was a no-op, so the leg (with its
        // admission release and whatever that holds) is let go here rather than kept for 32 s.
        const leg = call.leg;
        call.leg = undefined;
        if (leg === undefined) return;
        o.dialogs.confirm(leg, res.toTag);
        if (o.dialogState !== undefined) storeDialog(o.dialogState, leg);
      };
    }
    return hooks;
  }

  #context(txn: ServerTransaction, hooks: ResponseContextHooks): ResponseContext {
    const env = this.#contextEnv;
    if (env === undefined) throw new Error('ProxyCore used before bind()');
    const ctx = new ResponseContext(env, txn, hooks);
    txn.context = ctx;
    return ctx;
  }

  /** RFC 3261 §16.6: the copy we send, with Max-Forwards−1, Record-Route and our Via. */
  #forwardCopy(req: SipRequest, flow: Flow, target: Target, hash: string, recordRoute: boolean, phoneToken?: string, body?: Buffer): SipRequest {
    const fwd = new SipRequest(req.method, req.uri, req.headers.slice(), body ?? req.body);
    const mf = req.maxForwards;
    if (mf === undefined) fwd.append('Max-Forwards', '70');
    else fwd.set('Max-Forwards', String(mf - 1));
    const identity = this.#o.identity;
    if (recordRoute) {
      const inbound = identity.listenerOf(flow);
      const outbound = identity.listenerFor(target.protocol);
      const token = flow.connectionId === undefined ? undefined : encodeFlowToken(flow.connectionId);
      // RFC 5658: two Record-Route values when the request changes transport or interface, the
      // top one facing the next hop, the other facing the previous hop. A phone token (a request
      // toward a phone) goes in the value facing the phone.
      if (inbound !== outbound) {
        fwd.prepend('Record-Route', identity.recordRouteValue(inbound, token));
        fwd.prepend('Record-Route', identity.recordRouteValue(outbound, phoneToken));
      } else {
        fwd.prepend('Record-Route', identity.recordRouteValue(inbound, phoneToken ?? token));
      }
    }
    fwd.prepend('Via', identity.viaValue(target.protocol, branchWithLoopHash(hash)));
    return fwd;
  }
}

/** The dialog-table leg of the current attempt of a call (shared by its dispatch and its hooks). */
interface CallLeg {
  leg: DialogRecord | undefined;
}

/**
 * The flow named by a token in one of our Route values: a connection of ours (a stream flow
 * token), or a phone's flow (address and port as received, maybe a connection), `hop` when
 * another node relays a call for a phone we hold.
 */
interface FlowHint {
  connectionId?: number | undefined;
  protocol: Target['protocol'];
  address?: string | undefined;
  port?: number | undefined;
  hop: boolean;
}

/** Where a new request came from: a carrier trunk (or anyone, without a registrar), a switch, a phone, another node's hop. */
type Origin = 'carrier' | 'switch' | 'phone' | 'node';

/** A body the media relay must see: SDP (multipart bodies are left alone). */
function hasSdp(msg: SipRequest | SipResponse): boolean {
  if (msg.body.length === 0) return false;
  const type = msg.get('content-type');
  return type !== undefined && type.toLowerCase().startsWith('application/sdp');
}

/**
 * Rewrites the SDP of the responses to a request that offered (answer through the relay) or did
 * not offer (a late offer: the response's SDP is the offer, from the answering side's tag).
 */
function mediaRewrite(call: MediaCall, requestOffered: boolean): (res: SipResponse) => Promise<void> | void {
  return (res: SipResponse) => {
    if (!hasSdp(res) || res.status >= 300) return;
    const fromTag = res.fromTag ?? '';
    const toTag = res.toTag ?? '';
    const sdp = requestOffered ? call.answer(fromTag, toTag, res.body) : call.offer(toTag, fromTag, res.body);
    return sdp.then((body) => {
      res.body = body;
    });
  };
}

/** A confirmed leg's dialog state, written to the cluster store (once; only when both sides can be reached from another node). */
function storeDialog(state: DialogState, leg: DialogRecord): void {
  if (leg.state !== 'confirmed' || leg.stored === true || leg.fromTag === undefined || leg.toTag === undefined || leg.callKey === undefined) return;
  const caller = dialogSide(leg.callerTarget);
  const sw = dialogSide(leg.switchTarget);
  if (caller === undefined || sw === undefined) return;
  leg.stored = true;
  state.confirmed({
    callId: leg.callId,
    fromTag: leg.fromTag,
    toTag: leg.toTag,
    caller,
    switch: { ...sw, switchId: leg.switchId },
    relayId: leg.relayId,
    callKey: leg.callKey,
  });
}

/** A BYE of a call set up by another node got its final response: the call ends in the store (and its media). */
async function finishCarried(state: DialogState, found: DialogStateRecord | undefined, tags: { callId: string; from: string | undefined; to: string | undefined }): Promise<void> {
  const d = found ?? (await state.find(tags.callId, tags.from, tags.to));
  if (d !== undefined) await state.finish(d);
}

/** The admission release of a call leg, which also ends the call's media (but not on failover: the call goes on). */
function releaseWithMedia(release: (reason: CallEndReason) => void, media: MediaCall): (reason: CallEndReason) => void {
  return (reason: CallEndReason) => {
    release(reason);
    if (reason !== 'failover') void media.end(reason);
  };
}

/** The owner node's address for the internal hop (no DNS: owner URIs carry IP literals). */
function hopTarget(owner: SipUri): Target {
  const protocol = uriProtocol(owner) ?? 'udp';
  return { protocol, address: bareHost(owner.host), port: owner.port ?? (protocol === 'tls' ? 5061 : 5060) };
}

/** A loose Route to another node's internal-hop URI, a token of ours in its user part. */
function tokenRoute(node: SipUri, token: string): string {
  const host = node.host.includes(':') && !node.host.startsWith('[') ? `[${node.host}]` : node.host;
  return `<${node.scheme}:${token}@${host}${node.port === undefined ? '' : `:${node.port}`}${uriTransportParam(node)};lr>`;
}

function uriTransportParam(uri: SipUri): string {
  const t = uri.params.get('transport');
  return t === undefined ? '' : `;transport=${t}`;
}

