/**
 * The response context of one proxied request (RFC 3261 §16.7): the branch in flight, the best
 * final response so far, CANCEL (§16.10) and Timer C (§16.8), and capacity failover: a failure
 * that another switch could absorb (timeout, transport error, 408/500/503 by default) before any
 * provisional other than 100 is retried on the next candidate with a new branch.
 *
 * Branches are sequential (no parallel forking toward switches), so at most one client
 * transaction is live at a time.
 */
import { generateBranch, makeResponse, type SipRequest, type SipResponse } from '../../shared/sip/index.ts';
import type { Logger } from '../../shared/log.ts';
import type { ClientTransaction } from '../transaction/client-transaction.ts';
import type { ClientTransactionUser } from '../transaction/transaction-user.ts';
import type { TimerHandle } from '../transaction/clock.ts';
import type { ServerTransaction } from '../transaction/server-transaction.ts';
import type { TransactionLayer } from '../transaction/transaction-layer.ts';
import type { Target } from '../transport/transport.ts';
import type { AttemptOutcome, RouteCandidate } from '../routing/router.ts';
import { cancelFor } from './cancel-request.ts';
import type { ProxyContext } from './proxy-context.ts';

export interface BranchPlan {
  /** The request to send (already carrying our Via with `branch`). */
  request: SipRequest;
  target: Target;
  /** Set for calls routed to a switch: enables failover bookkeeping. */
  candidate?: RouteCandidate | undefined;
}

export interface ResponseContextHooks {
  /**
   * Rewrites a response before it goes upstream (the SDP through a media relay); may be async.
   * Kept for the context's whole life (2xx retransmissions are rewritten too). Upstream sends
   * keep their order; a rewrite that fails leaves the response as it was (logged).
   */
  rewrite?(res: SipResponse): Promise<void> | void;
  /** Called for each final response before it is relayed upstream (dialog bookkeeping). */
  onFinal?(res: SipResponse, relayed: boolean): void;
  /** Called for each 2xx relayed upstream. */
  on2xx?(res: SipResponse): void;
  /** A branch failed in a way failover may absorb; return the next plan, or undefined. */
  nextBranch?(failure: AttemptOutcome): Promise<BranchPlan | undefined>;
  /** Record what happened to a switch attempt. */
  report?(candidate: RouteCandidate, outcome: AttemptOutcome): void;
}

/**
 * What every response context of a proxy core shares: made once per core, not per context, so
 * that a context kept for its transactions' 32 s (see `#shed`) holds one reference to it rather
 * than a copy of its fields.
 */
export interface ResponseContextEnv {
  layer: TransactionLayer;
  log: Logger;
  failoverCodes: ReadonlySet<number>;
  /** Retry-After (seconds) on our own 503 when failover found nothing. */
  retryAfter: number;
  /**
   * ms a switch has to send any response (even 100 Trying) to an INVITE before the next switch
   * is tried (Kamailio's fr_timer): a dead switch is skipped without waiting for Timer B.
   */
  noResponseTimeoutMs?: number | undefined;
  /** Told of every response this context makes itself (for the node's counters). */
  onLocalReply?: ((status: number) => void) | undefined;
}

/** The hooks of a finished context that has none left to call (see `ResponseContext.#shed`). */
const NO_HOOKS: ResponseContextHooks = Object.freeze({});

/**
 * One branch of the context, and the user of its client transaction: the transaction calls
 * these methods, rather than three closures per branch that an INVITE's client transaction
 * would keep for its 32 s in Accepted (RFC 6026).
 */
class Branch implements ClientTransactionUser {
  /** The forwarded request: dropped once the branch is done (see `#branchDone`). */
  request: SipRequest | undefined;
  readonly target: Target;
  readonly candidate: RouteCandidate | undefined;
  txn: ClientTransaction | undefined = undefined;
  provisional = false;
  cancelPending = false;
  timerC: TimerHandle | undefined = undefined;
  /** Armed until the first response of a switch attempt (see noResponseTimeoutMs). */
  noResponse: TimerHandle | undefined = undefined;
  readonly startedAt: number;
  done = false;
  readonly #ctx: BranchEvents;

  constructor(ctx: BranchEvents, plan: BranchPlan, startedAt: number) {
    this.#ctx = ctx;
    this.request = plan.request;
    this.target = plan.target;
    this.candidate = plan.candidate;
    this.startedAt = startedAt;
  }

  onResponse(res: SipResponse): void {
    this.#ctx.branchResponse(this, res);
  }

  onTimeout(): void {
    this.#ctx.branchFailure(this, { kind: 'timeout' }, 408, 'Request Timeout');
  }

  onTransportError(): void {
    this.#ctx.branchFailure(this, { kind: 'transport-error' }, 503, 'Service Unavailable (Unreachable)');
  }
}

/**
 * Relays responses upstream through the server transaction (RFC 3261 §16.7 step 3), in order,
 * each through the context's rewrite (the SDP through a media relay) when there is one.
 *
 * Once an INVITE is answered it is also the user of that branch's client transaction, for RFC
 * 6026 Accepted (Timer M, 32 s): the only work left then is relaying 2xx retransmissions (and
 * 2xx of other forks) upstream. The branch and the context, with its hooks, routing candidate
 * and failover state, are done with: kept through the client transaction they were ~400 bytes
 * and six objects per call for the GC to trace for 32 s (BENCHMARKS.md, Session 11). The switch
 * pool is not told of a retransmission (it is not another answer, and its latency would be
 * counted from the branch's start), and the dialog was confirmed by the first 2xx.
 */
class UpstreamRelay implements ClientTransactionUser {
  readonly #server: ServerTransaction;
  readonly #log: Logger;
  /** The context's rewrite, if any; `#sending` orders the rewritten responses. */
  rewrite: ResponseContextHooks['rewrite'];
  #sending: Promise<void> | undefined;

  constructor(server: ServerTransaction, log: Logger, rewrite: ResponseContextHooks['rewrite']) {
    this.#server = server;
    this.#log = log;
    this.rewrite = rewrite;
  }

  /** Relay a response upstream without our Via. */
  relay(res: SipResponse): void {
    res.removeFirstValue('via');
    if (!res.has('via')) return; // it was addressed to us; nothing upstream
    const rewrite = this.rewrite;
    if (rewrite === undefined) return this.#server.respond(res);
    // One chain per context: a 200 rewritten after a slow 183 still goes up after it.
    this.#sending = (this.#sending ?? Promise.resolve())
      .then(() => rewrite(res))
      .catch((err: unknown) => this.#log.warn({ err, status: res.status }, 'response rewrite failed; relayed as received'))
      .then(() => this.#server.respond(res));
  }

  /** A response on an answered INVITE's client transaction (Accepted only passes 2xx up). */
  onResponse(res: SipResponse): void {
    if (res.status >= 200 && res.status < 300) this.relay(res);
  }

  // Accepted has no Timer B and sends nothing: neither is called.
  onTimeout(): void {}
  onTransportError(): void {}
}

/** What a branch reports to its context (the context's own handlers; not for other callers). */
interface BranchEvents {
  branchResponse(b: Branch, res: SipResponse): void;
  branchFailure(b: Branch, outcome: AttemptOutcome, status: number, reason: string): void;
}

export class ResponseContext implements ProxyContext, BranchEvents {
  readonly #o: ResponseContextEnv;
  readonly #server: ServerTransaction;
  /** The hooks given until finished, then only those a 2xx retransmission still calls (see `#shed`). */
  #hooks: ResponseContextHooks;
  #branch: Branch | undefined;
  #cancelled = false;
  /** A provisional other than 100 went upstream: failover is no longer allowed. */
  #relayedProvisional = false;
  #finished = false;
  /** Relays upstream with `hooks.rewrite` (kept past `#shed`); the answered INVITE's client transaction keeps it. */
  readonly #upstream: UpstreamRelay;

  constructor(env: ResponseContextEnv, server: ServerTransaction, hooks: ResponseContextHooks) {
    this.#o = env;
    this.#server = server;
    this.#hooks = hooks;
    this.#upstream = new UpstreamRelay(server, env.log, hooks.rewrite);
  }

  /**
   * Memory: a non-INVITE's context goes with its final response (its server transaction lets go
   * of its context then, and its client transaction of its user). An INVITE's goes too once its
   * 2xx went up: the client transaction keeps only the UpstreamRelay for RFC 6026 Accepted.
   * What a finished INVITE context still keeps is for a 2xx on a branch still in flight after
   * a final of our own (a CANCEL's 487 racing the switch's 200): `on2xx`, `report` and the
   * server transaction. The failover and final hooks (whose closures hold the dispatch scope:
   * request, routing context) and the spent (cancelled) timer handles are dropped; the forwarded
   * request (its fields are slices of the received datagram's text) already went when the branch
   * was done (`#branchDone`).
   */
  #shed(): void {
    const h = this.#hooks;
    // Only an INVITE sees 2xx retransmissions; a non-INVITE's context is never called again.
    if (!this.#server.isInvite) {
      this.#hooks = NO_HOOKS;
      this.#upstream.rewrite = undefined;
    } else if (h.on2xx === undefined && h.report === undefined) this.#hooks = NO_HOOKS;
    else {
      const kept: ResponseContextHooks = {};
      if (h.on2xx !== undefined) kept.on2xx = h.on2xx;
      if (h.report !== undefined) kept.report = h.report;
      this.#hooks = kept;
    }
    const b = this.#branch;
    // A branch still in flight (a local reply while it runs) keeps what Timer C and CANCEL need.
    if (b !== undefined && b.done) {
      b.timerC = undefined;
      b.noResponse = undefined;
    }
  }

  /** Set the response rewrite once it is known (the call's media relay is chosen after the context exists). */
  setRewrite(rewrite: NonNullable<ResponseContextHooks['rewrite']>): void {
    this.#upstream.rewrite = rewrite;
  }

  get finished(): boolean {
    return this.#finished;
  }

  get cancelled(): boolean {
    return this.#cancelled;
  }

  /** Start (or, on failover, continue with) a branch. */
  start(plan: BranchPlan): void {
    if (this.#finished) return;
    const branch = new Branch(this, plan, this.#o.layer.clock.now());
    this.#branch = branch;
    const isInvite = plan.request.method === 'INVITE';
    branch.txn = this.#o.layer.sendRequest(plan.request, plan.target, branch);
    if (isInvite) this.#armTimerC(branch);
    const wait = this.#o.noResponseTimeoutMs;
    if (isInvite && plan.candidate !== undefined && wait !== undefined && wait > 0) {
      branch.noResponse = this.#o.layer.clock.setTimer(wait, () => {
        if (branch.done || branch.provisional) return;
        branch.txn?.abort();
        this.branchFailure(branch, { kind: 'timeout' }, 408, 'Request Timeout');
      });
    }
  }

  /** Answer upstream ourselves (no branch, or after failover ran out). */
  respond(status: number, reason: string, headers: ReadonlyArray<readonly [string, string]> = []): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#o.onLocalReply?.(status);
    const res = makeResponse(this.#server.request, status, reason, { toTag: this.#server.localTag, headers });
    this.#hooks.onFinal?.(res, false);
    this.#shed();
    this.#server.respond(res);
  }

  /** CANCEL arrived for our INVITE (RFC 3261 §16.10). */
  cancel(): void {
    if (this.#cancelled || this.#finished) return;
    this.#cancelled = true;
    const b = this.#branch;
    if (b === undefined || b.done) {
      // Still waiting for admission/routing: the dispatch path sees `cancelled` and answers 487.
      return;
    }
    if (b.provisional) this.#sendCancel(b);
    else b.cancelPending = true; // §9.1: wait for a provisional before sending CANCEL
  }

  #armTimerC(b: Branch): void {
    b.timerC?.cancel();
    const c = this.#o.layer.timers(b.target.protocol !== 'udp').C;
    b.timerC = this.#o.layer.clock.setTimer(c, () => {
      if (b.done) return;
      // RFC 3261 §16.8: CANCEL a branch that got a provisional; otherwise act as if 408 arrived.
      if (b.provisional) this.#sendCancel(b);
      else {
        b.txn?.abort();
        this.branchFailure(b, { kind: 'timeout' }, 408, 'Request Timeout');
      }
    });
  }

  /** A response on a branch (Branch.onResponse). */
  branchResponse(b: Branch, res: SipResponse): void {
    if (b !== this.#branch && (res.status < 200 || res.status >= 300)) return;
    const status = res.status;
    b.noResponse?.cancel();
    if (status < 200) {
      b.provisional = true;
      if (b.cancelPending) {
        b.cancelPending = false;
        this.#sendCancel(b);
      }
      // 100 is hop-by-hop (RFC 3261 §16.7 step 5): we sent our own.
      if (status === 100) return;
      this.#armTimerC(b);
      this.#relayedProvisional = true;
      this.#relay(res);
      return;
    }
    if (status < 300) {
      // Every 2xx goes upstream, retransmissions included (§16.7 step 5, RFC 6026).
      this.#branchDone(b);
      b.timerC?.cancel();
      this.#report(b, { kind: 'response', status, latencyMs: this.#o.layer.clock.now() - b.startedAt });
      if (!this.#finished) {
        this.#finished = true;
        this.#hooks.onFinal?.(res, true);
        this.#shed();
      }
      this.#hooks.on2xx?.(res);
      this.#relay(res);
      // RFC 6026 Accepted: from now on the client transaction only relays 2xx upstream (UpstreamRelay).
      b.txn?.setUser(this.#upstream);
      return;
    }
    if (b.done) return;
    this.#branchDone(b);
    b.timerC?.cancel();
    this.#report(b, { kind: 'response', status, latencyMs: this.#o.layer.clock.now() - b.startedAt });
    if (this.#failoverAllowed(status)) {
      void this.#failover({ kind: 'response', status, latencyMs: 0 });
      return;
    }
    this.#finishWith(res);
  }

  /** A branch failed: timeout or transport error (Branch.onTimeout, onTransportError), or Timer C. */
  branchFailure(b: Branch, outcome: AttemptOutcome, status: number, reason: string): void {
    if (b.done) return;
    this.#branchDone(b);
    b.timerC?.cancel();
    b.noResponse?.cancel();
    this.#report(b, outcome);
    if (this.#cancelled) {
      this.respond(487, 'Request Terminated');
      return;
    }
    if (this.#failoverAllowed(status)) {
      void this.#failover(outcome);
      return;
    }
    this.respond(status, reason);
  }

  /**
   * A branch got its final (or failed): it is never CANCELled after this, so it lets go of its
   * request (an earlier branch's client transaction keeps it referenced through Timer D).
   */
  #branchDone(b: Branch): void {
    b.done = true;
    b.request = undefined;
  }

  #failoverAllowed(status: number): boolean {
    return (
      !this.#cancelled &&
      !this.#relayedProvisional &&
      this.#o.failoverCodes.has(status) &&
      this.#hooks.nextBranch !== undefined
    );
  }

  async #failover(outcome: AttemptOutcome): Promise<void> {
    let plan: BranchPlan | undefined;
    try {
      plan = await this.#hooks.nextBranch?.(outcome);
    } catch (err) {
      this.#o.log.error({ err }, 'failover: choosing the next branch failed');
    }
    if (this.#finished) return;
    if (this.#cancelled) {
      this.respond(487, 'Request Terminated');
      return;
    }
    if (plan !== undefined) {
      this.start(plan);
      return;
    }
    // Nothing left to try: a clear 503 rather than the last switch's failure (RFC 3261 §16.7 step 6
    // says a proxy should not pass a 503 upstream as if every future request would fail too).
    this.respond(503, 'No Switch Available', [['Retry-After', String(this.#o.retryAfter)]]);
  }

  #finishWith(res: SipResponse): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#hooks.onFinal?.(res, true);
    this.#shed();
    this.#relay(res);
  }

  #report(b: Branch, outcome: AttemptOutcome): void {
    if (b.candidate !== undefined) this.#hooks.report?.(b.candidate, outcome);
  }

  /** Relay a response upstream without our Via (RFC 3261 §16.7 step 3). */
  #relay(res: SipResponse): void {
    this.#upstream.relay(res);
  }

  /** CANCEL for a branch: same branch, Request-URI, Call-ID, From, To, CSeq number and Route (§9.1). */
  #sendCancel(b: Branch): void {
    const inv = b.request;
    // Only a done branch has dropped its request, and a done branch is never CANCELled.
    if (inv === undefined) return;
    const cancel = cancelFor(inv);
    this.#o.layer.sendRequest(cancel, b.target, {
      onResponse: () => {},
      onTimeout: () => this.#o.log.debug({ callId: inv.callId }, 'CANCEL timed out'),
      onTransportError: () => this.#o.log.debug({ callId: inv.callId }, 'CANCEL could not be sent'),
    });
    // RFC 3261 §9.1: no final response 64*T1 after the CANCEL → give the branch up (a 408,
    // §16.7 step 2), else the server transaction, dialog and admission would wait forever.
    b.timerC?.cancel();
    b.timerC = this.#o.layer.clock.setTimer(this.#o.layer.timers(b.target.protocol !== 'udp').B, () => {
      if (b.done) return;
      b.txn?.abort();
      this.branchFailure(b, { kind: 'timeout' }, 408, 'Request Timeout');
    });
  }
}

/** A fresh branch id with our loop-detection hash appended (see loop-detection.ts). */
export function branchWithLoopHash(hash: string): string {
  return `${generateBranch()}-${hash}`;
}
