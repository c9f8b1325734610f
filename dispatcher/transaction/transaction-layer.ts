/**
 * The transaction layer (RFC 3261 §17): sits on the transport, parses what arrives, matches
 * requests to server transactions and responses to client transactions, absorbs
 * retransmissions, and hands new requests to the transaction user (the proxy core).
 *
 * Safety: a message that cannot be parsed is answered with `400 <what is wrong>` (or 505/513)
 * when it is a request with a readable Via, and dropped otherwise; the tables are capped
 * (`maxTransactions`) and a full table answers 503 statelessly instead of growing.
 */
import { SipParseError, isSipfleetError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/log.ts';
import {
  DEFAULT_LIMITS,
  makeErrorResponseBytes,
  makeResponse,
  parseMessage,
  serializeMessage,
  type ParseLimits,
  type SipMessage,
  type SipRequest,
  type SipResponse,
} from '../../shared/sip/index.ts';
import { DEFAULT_TRANSACTIONS } from '../../shared/config/config-types.ts';
import { SENT, type Flow, type Target, type TransportDelegate, type TransportLayer } from '../transport/transport.ts';
import { systemClock, type Clock } from './clock.ts';
import { ExpiryLanes } from './expiry-lanes.ts';
import type { TransactionEnv } from './transaction-env.ts';
import { InviteClientTransaction, NonInviteClientTransaction, type ClientTransaction } from './client-transaction.ts';
import {
  InviteServerTransaction,
  NonInviteServerTransaction,
  type ServerTransaction,
} from './server-transaction.ts';
import { clientKey, responseClientKey, serverKey } from './transaction-key.ts';
import type { ClientTransactionUser, ServerTransactionUser } from './transaction-user.ts';
import { timersFor, T1, T2, T4, TIMER_C, type TimerValues } from './timers.ts';

export interface TransactionLayerOptions {
  transport: TransportLayer;
  user: ServerTransactionUser;
  logger: Logger;
  clock?: Clock;
  parseLimits?: ParseLimits;
  /** Server + client transactions alive at once. */
  maxTransactions?: number;
  t1?: number;
  t2?: number;
  t4?: number;
  timerC?: number;
  /** ms a finished transaction stays for retransmissions (Timers D, J, L, M); default the RFCs' 32 s. */
  linger?: number;
  /** True while new calls (INVITEs without a To-tag) are to be shed with 503 (admission/overload-guard.ts). */
  shedNewCalls?: () => boolean;
}

export interface TransactionStats {
  serverTransactions: number;
  clientTransactions: number;
  requestsIn: number;
  responsesIn: number;
  retransmissionsAbsorbed: number;
  strayResponses: number;
  parseErrors: number;
  rejectedTableFull: number;
  /** New INVITEs answered 503 while the node was overloaded. */
  rejectedOverload: number;
}

export class TransactionLayer implements TransportDelegate {
  readonly clock: Clock;
  readonly #transport: TransportLayer;
  readonly #user: ServerTransactionUser;
  readonly #log: Logger;
  readonly #limits: ParseLimits;
  readonly #max: number;
  readonly #shedNewCalls: (() => boolean) | undefined;
  /** What the transactions on UDP, and on reliable transports, share (transaction-env.ts). */
  readonly #envUdp: TransactionEnv;
  readonly #envReliable: TransactionEnv;
  /** The wait timers of finished transactions, one FIFO per duration (expiry-lanes.ts). */
  readonly #lanes: ExpiryLanes;
  readonly #servers = new Map<string, ServerTransaction & { abort(): void }>();
  /** Second keys of some server transactions (`aliasServer`), also entries of `#servers`. */
  readonly #aliases = new Map<ServerTransaction, string>();
  readonly #clients = new Map<string, ClientTransaction>();
  readonly #stats: TransactionStats = {
    serverTransactions: 0,
    clientTransactions: 0,
    requestsIn: 0,
    responsesIn: 0,
    retransmissionsAbsorbed: 0,
    strayResponses: 0,
    parseErrors: 0,
    rejectedTableFull: 0,
    rejectedOverload: 0,
  };

  // One sender each, shared by every transaction through its env (not a closure per transaction kept for 32 s).
  readonly #sendResponse = (data: Buffer, f: Flow): void => this.#sendTo(data, flowTarget(f));
  readonly #sendRequest = (data: Buffer, t: Target): Promise<void> => this.#transport.send(data, t);
  readonly #serverTerminated = (txn: ServerTransaction): void => {
    this.#servers.delete(txn.key);
    // Aliases exist only for calls handed over while a peer drains: skip the lookup otherwise.
    const alias = this.#aliases.size === 0 ? undefined : this.#aliases.get(txn);
    if (alias !== undefined) {
      this.#aliases.delete(txn);
      if (this.#servers.get(alias) === txn) this.#servers.delete(alias);
    }
    this.#user.onServerTransactionTerminated?.(txn);
  };
  readonly #clientTerminated = (txn: ClientTransaction): void => {
    if (this.#clients.get(txn.key) === txn) this.#clients.delete(txn.key);
  };

  constructor(opts: TransactionLayerOptions) {
    this.clock = opts.clock ?? systemClock;
    this.#lanes = new ExpiryLanes(this.clock);
    this.#transport = opts.transport;
    this.#user = opts.user;
    this.#log = opts.logger;
    this.#limits = opts.parseLimits ?? DEFAULT_LIMITS;
    this.#max = opts.maxTransactions ?? DEFAULT_TRANSACTIONS;
    this.#shedNewCalls = opts.shedNewCalls;
    const t1 = opts.t1 ?? T1;
    const t2 = opts.t2 ?? T2;
    const t4 = opts.t4 ?? T4;
    const timerC = opts.timerC ?? TIMER_C;
    this.#envUdp = this.#env(false, timersFor(false, t1, t2, t4, timerC, opts.linger));
    this.#envReliable = this.#env(true, timersFor(true, t1, t2, t4, timerC, opts.linger));
  }

  #env(reliable: boolean, timers: TimerValues): TransactionEnv {
    return {
      clock: this.clock,
      timers,
      reliable,
      lanes: this.#lanes,
      sendResponse: this.#sendResponse,
      sendRequest: this.#sendRequest,
      serverTerminated: this.#serverTerminated,
      clientTerminated: this.#clientTerminated,
    };
  }

  /** Timer values for a transport (the proxy core uses Timer C from here). */
  timers(reliable: boolean): TimerValues {
    return reliable ? this.#envReliable.timers : this.#envUdp.timers;
  }

  stats(): TransactionStats {
    return { ...this.#stats, serverTransactions: this.#servers.size - this.#aliases.size, clientTransactions: this.#clients.size };
  }

  /**
   * Also match `txn` under `key` until it ends: requests that reach this node another way than its
   * own, e.g. a caller's INVITE retransmission, ACK or CANCEL arriving straight from the caller
   * once a hand-off's previous hop is bypassed (server-transaction.ts, HopBypass). A key already
   * taken is left to its transaction. One alias per transaction.
   */
  aliasServer(txn: ServerTransaction, key: string): void {
    const own = this.#servers.get(txn.key);
    if (own !== txn || this.#aliases.has(txn) || this.#servers.has(key)) return;
    // `key` comes from serverKeyOf: a flat string of its own, no slice of the request's text.
    this.#servers.set(key, own);
    this.#aliases.set(txn, key);
  }

  // ---- inbound ----

  onMessage(data: Buffer, flow: Flow): void {
    let msg: SipMessage;
    try {
      msg = parseMessage(data, this.#limits);
    } catch (err) {
      this.#onParseError(data, flow, err);
      return;
    }
    try {
      if (msg.kind === 'response') this.#onResponse(msg as SipResponse);
      else this.#onRequest(msg as SipRequest, flow);
    } catch (err) {
      // A lazily-parsed header the core needed turned out malformed (e.g. Route): same as a parse error.
      if (err instanceof SipParseError) this.#onParseError(data, flow, err);
      else this.#log.error({ err, flow }, 'unexpected error while handling a message');
    }
  }

  #onParseError(data: Buffer, flow: Flow, err: unknown): void {
    this.#stats.parseErrors++;
    if (!(err instanceof SipParseError)) {
      this.#log.error({ err, flow }, 'parser threw a non-parse error');
      return;
    }
    this.#log.debug({ flow, reason: err.message }, 'unparseable message');
    // An ACK is never answered (RFC 3261 §17): drop it, whatever is wrong with it.
    if (/^(?:\r\n)*ACK /.test(data.toString('latin1', 0, 64))) return;
    const reply = makeErrorResponseBytes(data, err.status, err.reason);
    if (reply !== undefined) this.#sendTo(reply, flowTarget(flow));
  }

  #onRequest(req: SipRequest, flow: Flow): void {
    this.#stats.requestsIn++;
    stampReceived(req, flow);
    if (req.method === 'ACK') {
      const st = this.#servers.get(serverKey(req, 'INVITE', flow));
      if (st instanceof InviteServerTransaction && st.state !== 'accepted' && st.state !== 'proceeding') {
        st.receiveAck();
        return;
      }
      this.#user.onStrayAck(req, flow);
      return;
    }
    const key = serverKey(req, req.method, flow);
    const existing = this.#servers.get(key);
    if (existing !== undefined) {
      this.#stats.retransmissionsAbsorbed++;
      existing.receiveRetransmission();
      return;
    }
    if (this.#servers.size - this.#aliases.size + this.#clients.size >= this.#max) {
      this.#stats.rejectedTableFull++;
      this.#sendOverloaded(req, flow);
      return;
    }
    // Behind on input: a new call is refused at once, statelessly (a transaction would be work
    // and memory the node is short of); its ACK then matches nothing and is dropped as stray.
    if (req.method === 'INVITE' && this.#shedNewCalls?.() === true && req.toTag === undefined) {
      this.#stats.rejectedOverload++;
      this.#sendOverloaded(req, flow);
      return;
    }
    const txn = this.#createServer(key, req, flow);
    if (req.method === 'CANCEL') {
      const invite = this.#servers.get(serverKey(req, 'INVITE', flow));
      this.#user.onCancel(txn, invite);
      return;
    }
    this.#user.onRequest(txn);
  }

  /** 503 with Retry-After (RFC 3261 §21.5.4): the caller may retry here later or go elsewhere now. */
  #sendOverloaded(req: SipRequest, flow: Flow): void {
    const res = makeResponse(req, 503, 'Server Overloaded', { headers: [['Retry-After', '5']] });
    this.#sendTo(serializeMessage(res), flowTarget(flow));
  }

  #createServer(key: string, req: SipRequest, flow: Flow): ServerTransaction {
    const env = flow.protocol === 'udp' ? this.#envUdp : this.#envReliable;
    const txn = req.method === 'INVITE' ? new InviteServerTransaction(key, req, flow, env) : new NonInviteServerTransaction(key, req, flow, env);
    this.#servers.set(key, txn);
    return txn;
  }

  #onResponse(res: SipResponse): void {
    this.#stats.responsesIn++;
    const key = responseClientKey(res);
    const ct = key === undefined ? undefined : this.#clients.get(key);
    if (ct === undefined) {
      // RFC 6026 keeps client transactions alive for 2xx retransmissions, so a response that
      // matches nothing is stale or forged (RFC 4475 §3.3.10 bcast): drop it, never route by Via.
      this.#stats.strayResponses++;
      return;
    }
    ct.receiveResponse(res);
  }

  // ---- outbound ----

  /** Start a client transaction for a request that already carries our Via (with its branch). */
  sendRequest(req: SipRequest, target: Target, user: ClientTransactionUser): ClientTransaction {
    const branch = req.via.branch;
    if (branch === undefined) throw new Error('sendRequest: request has no branch');
    const key = clientKey(branch, req.method);
    const env = target.protocol === 'udp' ? this.#envUdp : this.#envReliable;
    const txn = req.method === 'INVITE' ? new InviteClientTransaction(key, req, target, user, env) : new NonInviteClientTransaction(key, req, target, user, env);
    this.#clients.set(key, txn);
    txn.start();
    return txn;
  }

  /** Send without a transaction (the ACK for a 2xx, RFC 3261 §16.6 / §17.1.1.3). */
  sendStateless(msg: SipMessage, target: Target): void {
    this.#sendTo(serializeMessage(msg), target);
  }

  #sendTo(data: Buffer, target: Target): void {
    const sent = this.#transport.send(data, target);
    if (sent === SENT) return;
    sent.catch((err: unknown) => {
      this.#log.debug({ err: isSipfleetError(err) ? err.message : err, target }, 'send failed');
    });
  }

  /** Drop every transaction (shutdown). */
  close(): void {
    for (const st of [...this.#servers.values()]) st.abort();
    for (const ct of [...this.#clients.values()]) ct.abort();
    this.#lanes.clear();
  }
}

/**
 * Where responses to a request go: back along its flow (RFC 3581 symmetric response), over UDP
 * from the socket it arrived on (RFC 3581 §4: "from the same address and port"; with several UDP
 * listeners, or a worker's own port beside the shared one, the first would be wrong).
 */
export function flowTarget(flow: Flow): Target {
  if (flow.protocol === 'udp') return { protocol: 'udp', address: flow.remoteAddress, port: flow.remotePort, connectionId: undefined, localPort: flow.localPort };
  return { protocol: flow.protocol, address: flow.remoteAddress, port: flow.remotePort, connectionId: flow.connectionId };
}

/**
 * RFC 3261 §18.2.1 and RFC 3581 §4: add `received` when the top Via's host is not the packet's
 * source address, and fill an empty `rport` with the source port (then `received` is required).
 */
export function stampReceived(req: SipRequest, flow: Flow): void {
  const via = req.via;
  const host = via.host.charCodeAt(0) === 0x5b ? via.host.slice(1, -1) : via.host;
  const wantRport = via.rport === null;
  if (!wantRport && host === flow.remoteAddress) return;
  const params = new Map(via.params);
  params.set('received', flow.remoteAddress);
  if (wantRport) params.set('rport', String(flow.remotePort));
  req.setTopVia({ ...via, params, received: flow.remoteAddress, rport: wantRport ? flow.remotePort : via.rport });
}
