/**
 * The response context of a request forked in parallel (RFC 3261 §16.7), for calls to a user's
 * registered contacts: every contact of one q group is tried at once, one client transaction each;
 * the groups are tried one after another, highest q first (§16.6, §16.7 step 4 "new branches").
 *
 *   - a provisional other than 100 from any branch goes upstream (§16.7 step 5); Timer C runs per
 *     INVITE branch (§16.8);
 *   - every 2xx goes upstream (§16.7 step 5), the first one ends the context and CANCELs every
 *     branch still pending (§16.7 step 10);
 *   - a 6xx CANCELs every pending branch and stops new groups (§16.7 step 10); per §16.7 step 5 it
 *     is *not* forwarded at once: it goes upstream as the best response when the CANCELled branches
 *     have answered (normally 487), unless one of them answered 2xx first, which wins;
 *   - otherwise, when a group is done the next one starts; when none is left (or after a 6xx or an
 *     upstream CANCEL) the best final response goes upstream (§16.7 step 6, see `#conclude`), with
 *     the challenges of every 401/407 gathered into it (§16.7 step 7).
 *
 * A branch that times out (Timer B, or Timer C before any provisional) counts as a 408, one whose
 * request could not be sent as a 503 (§16.9), as in §16.7 step 6; a branch that never answers its
 * CANCEL is given up 64*T1 later (§9.1).
 */
import { makeResponse, type SipRequest, type SipResponse } from '../../shared/sip/index.ts';
import type { Logger } from '../../shared/log.ts';
import type { ClientTransaction } from '../transaction/client-transaction.ts';
import type { TimerHandle } from '../transaction/clock.ts';
import type { ServerTransaction } from '../transaction/server-transaction.ts';
import type { TransactionLayer } from '../transaction/transaction-layer.ts';
import type { Target } from '../transport/transport.ts';
import type { ProxyContext } from './proxy-context.ts';
import { cancelFor } from './cancel-request.ts';
import type { BranchPlan } from './response-context.ts';

export interface ForkContextHooks {
  /**
   * Rewrites a response before it goes upstream (the SDP through a media relay); may be async.
   * Kept for the context's whole life (2xx retransmissions are rewritten too). Upstream sends
   * keep their order; a rewrite that fails leaves the response as it was (logged).
   */
  rewrite?(res: SipResponse): Promise<void> | void;
  /** Each 2xx relayed upstream (the first and later ones, from any branch, retransmissions too). */
  on2xx?(res: SipResponse): void;
  /** The final response that goes upstream, once, just before it is sent; `relayed` false when we made it. */
  onFinal?(res: SipResponse, relayed: boolean): void;
}

export interface ForkContextOptions {
  layer: TransactionLayer;
  server: ServerTransaction;
  log: Logger;
  /** Told of every response this context makes itself (for the node's counters). */
  onLocalReply?: ((status: number) => void) | undefined;
  hooks: ForkContextHooks;
}

/** What a finished or running context still holds (diagnostics and memory tests). */
export interface ForkContextRetained {
  /** Forwarded requests held: by branches in flight and by plans of groups not started. */
  requests: number;
  /** Final responses kept for choosing the best one (none once finished). */
  responses: number;
  /** Branches started so far. */
  branches: number;
  /** Branches without a final response yet. */
  pending: number;
}

interface Branch {
  /** The forwarded request, needed for CANCEL: dropped once the branch is done. */
  request: SipRequest | undefined;
  readonly target: Target;
  txn: ClientTransaction | undefined;
  /** Any provisional (100 included) arrived: CANCEL may be sent (§9.1). */
  provisional: boolean;
  /** CANCEL wanted before any provisional: sent when the first one arrives. */
  cancelPending: boolean;
  cancelSent: boolean;
  /** Timer C, then (after our CANCEL) the 64*T1 guard. */
  timer: TimerHandle | undefined;
  done: boolean;
}

/** 4xx that tell the caller how to resubmit (§16.7 step 6): preferred within the 4xx class. */
const RESUBMIT = new Set([401, 407, 415, 420, 484]);

export class ForkContext implements ProxyContext {
  readonly #layer: TransactionLayer;
  readonly #server: ServerTransaction;
  readonly #log: Logger;
  /** `hooks.rewrite`, kept past `#shed`; `#sending` orders the rewritten responses. */
  readonly #rewrite: ForkContextHooks['rewrite'];
  #sending: Promise<void> = Promise.resolve();
  readonly #onLocalReply: ((status: number) => void) | undefined;
  readonly #isInvite: boolean;
  /** The caller's hooks until finished, then only `on2xx` when a 2xx went upstream. */
  #hooks: ForkContextHooks;
  /** Groups not started yet. */
  #groups: Array<ReadonlyArray<BranchPlan>> = [];
  readonly #branches: Branch[] = [];
  /** Branches not done. */
  #open = 0;
  /** Final responses (>= 300) received, in arrival order; dropped when finished. */
  #finals: SipResponse[] = [];
  #timeouts = 0;
  #transportErrors = 0;
  #started = false;
  /** Inside `#startGroup`: the group is not complete until every branch of it was sent. */
  #starting = false;
  #cancelled = false;
  #got6xx = false;
  #finished = false;
  /** The final response sent upstream was a 2xx (later 2xx still go upstream). */
  #answered = false;

  constructor(opts: {
    layer: TransactionLayer;
    server: ServerTransaction;
    log: Logger;
    onLocalReply?: ((status: number) => void) | undefined;
    hooks: ForkContextHooks;
  }) {
    this.#layer = opts.layer;
    this.#server = opts.server;
    this.#log = opts.log;
    this.#rewrite = opts.hooks.rewrite;
    this.#onLocalReply = opts.onLocalReply;
    this.#isInvite = opts.server.isInvite;
    this.#hooks = opts.hooks;
  }

  get finished(): boolean {
    return this.#finished;
  }

  get cancelled(): boolean {
    return this.#cancelled;
  }

  /** What the context still holds (see ForkContextRetained). */
  retained(): ForkContextRetained {
    let requests = 0;
    for (const b of this.#branches) if (b.request !== undefined) requests++;
    for (const g of this.#groups) requests += g.length;
    return { requests, responses: this.#finals.length, branches: this.#branches.length, pending: this.#open };
  }

  /**
   * Fork: `groups` in q order, highest first, each branch with its own request (our Via with a
   * fresh branch on top) and target. Called once; empty groups are skipped.
   */
  start(groups: ReadonlyArray<ReadonlyArray<BranchPlan>>): void {
    if (this.#finished) return;
    if (this.#started) {
      this.#log.error({}, 'ForkContext.start called twice; ignored');
      return;
    }
    this.#started = true;
    if (this.#cancelled) return this.respond(487, 'Request Terminated');
    this.#groups = groups.filter((g) => g.length > 0);
    if (this.#groups.length === 0) return this.respond(480, 'Temporarily Unavailable');
    this.#startGroup(this.#groups.shift() as ReadonlyArray<BranchPlan>);
  }

  /**
   * Answer upstream ourselves (before or instead of forking). Branches still pending are CANCELled
   * (§16.7 step 10: a final went upstream); what they answer is not relayed.
   */
  respond(status: number, reason: string, headers: ReadonlyArray<readonly [string, string]> = []): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#onLocalReply?.(status);
    const res = makeResponse(this.#server.request, status, reason, { toTag: this.#server.localTag, headers });
    this.#hooks.onFinal?.(res, false);
    this.#cancelPendingBranches();
    this.#shed();
    this.#server.respond(res);
  }

  /**
   * CANCEL from upstream (§16.10): CANCEL every pending branch (one without a provisional yet when
   * its first one arrives, §9.1) and start no new group. The final upstream is the best of what the
   * branches answer, normally 487. Before `start`, only marks the context: the caller answers 487
   * (or `start` does).
   */
  cancel(): void {
    if (this.#cancelled || this.#finished) return;
    this.#cancelled = true;
    this.#cancelPendingBranches();
  }

  // ---- branches ----

  #startGroup(plans: ReadonlyArray<BranchPlan>): void {
    const fresh: Branch[] = plans.map((p) => ({
      request: p.request,
      target: p.target,
      txn: undefined,
      provisional: false,
      cancelPending: false,
      cancelSent: false,
      timer: undefined,
      done: false,
    }));
    this.#branches.push(...fresh);
    this.#open += fresh.length;
    this.#starting = true;
    try {
      for (const b of fresh) this.#send(b);
    } finally {
      this.#starting = false;
    }
    this.#advance();
  }

  #send(b: Branch): void {
    const req = b.request as SipRequest;
    try {
      b.txn = this.#layer.sendRequest(req, b.target, {
        onResponse: (res) => this.#onResponse(b, res),
        onTimeout: () => this.#onFailure(b, 'timeout'),
        onTransportError: () => this.#onFailure(b, 'transport-error'),
      });
    } catch (err) {
      this.#log.error({ err, target: b.target }, 'fork: branch could not be started');
      this.#onFailure(b, 'transport-error');
      return;
    }
    if (this.#isInvite && !b.done) this.#armTimerC(b);
  }

  #armTimerC(b: Branch): void {
    b.timer?.cancel();
    b.timer = this.#layer.clock.setTimer(this.#layer.timers(b.target.protocol !== 'udp').C, () => {
      if (b.done) return;
      // §16.8: CANCEL a branch that had a provisional, else act as if it answered 408.
      if (b.provisional) this.#sendCancel(b);
      else {
        b.txn?.abort();
        this.#onFailure(b, 'timeout');
      }
    });
  }

  #onResponse(b: Branch, res: SipResponse): void {
    const status = res.status;
    if (status < 200) {
      if (b.done) return;
      b.provisional = true;
      if (b.cancelPending) {
        b.cancelPending = false;
        this.#sendCancel(b);
      }
      // 100 is hop-by-hop (§16.7 step 5): the caller got ours.
      if (status === 100) return;
      // Timer C restarts on a provisional (§16.8), unless the branch is CANCELled: then the
      // 64*T1 guard runs and a late 180 must not push it back.
      if (this.#isInvite && !b.cancelSent) this.#armTimerC(b);
      if (!this.#finished) this.#relay(res);
      return;
    }
    if (status < 300) {
      // Every 2xx goes upstream (§16.7 step 5), retransmissions and other branches' included,
      // unless a non-2xx final already went (the server transaction could not send it anyway).
      if (!b.done) this.#branchDone(b);
      if (this.#finished && !this.#answered) return;
      if (!this.#finished) {
        this.#finished = true;
        this.#answered = true;
        this.#hooks.onFinal?.(res, true);
        this.#cancelPendingBranches();
        this.#shed();
      }
      this.#hooks.on2xx?.(res);
      this.#relay(res);
      return;
    }
    if (b.done) return;
    this.#branchDone(b);
    if (this.#finished) return;
    this.#finals.push(res);
    if (status >= 600 && !this.#got6xx) {
      this.#got6xx = true;
      this.#cancelPendingBranches();
    }
    this.#advance();
  }

  #onFailure(b: Branch, kind: 'timeout' | 'transport-error'): void {
    if (b.done) return;
    this.#branchDone(b);
    if (this.#finished) return;
    if (kind === 'timeout') this.#timeouts++;
    else this.#transportErrors++;
    this.#advance();
  }

  /** A branch got its final (or failed): it is never CANCELled after this, so it lets go of its request. */
  #branchDone(b: Branch): void {
    b.done = true;
    b.request = undefined;
    b.txn = undefined;
    b.cancelPending = false;
    b.timer?.cancel();
    b.timer = undefined;
    this.#open--;
  }

  /** A branch ended: start the next group, or conclude, once every branch of this one is done. */
  #advance(): void {
    if (this.#finished || this.#starting || this.#open > 0) return;
    if (!this.#cancelled && !this.#got6xx) {
      const next = this.#groups.shift();
      if (next !== undefined) return this.#startGroup(next);
    }
    this.#conclude();
  }

  /**
   * §16.7 step 6, every branch done and no 2xx. Timeouts count as 408 and transport errors as 503
   * (§16.9), but a response a branch really sent is preferred within its class.
   *   - a 6xx if any (the first received);
   *   - no response at all: 487 when CANCELled from upstream; 480 Temporarily Unavailable when every
   *     branch failed at the transport (the phones' flows are gone: the callee is unreachable, and
   *     a 5xx would blame this proxy); else 408 Request Timeout;
   *   - else the lowest class: in 4xx the resubmission responses first (401, 407, 415, 420, 484),
   *     then the lowest code, a timeout's 408 only when no branch sent a 4xx; in 5xx the lowest
   *     code other than 503, and when only 503s (or transport errors) are left a 500 of our own
   *     (step 6: a proxy SHOULD NOT forward a 503, and sends 500 when that is all it got); in 3xx
   *     the lowest code. Ties go to the first received;
   *   - a 401/407 carries every WWW-Authenticate and Proxy-Authenticate of the other 401/407s (step 7).
   */
  #conclude(): void {
    const finals = this.#finals;
    const six = finals.find((r) => r.status >= 600);
    if (six !== undefined) return this.#relayFinal(six);
    if (finals.length === 0) {
      if (this.#cancelled) return this.respond(487, 'Request Terminated');
      if (this.#timeouts === 0 && this.#transportErrors > 0) return this.respond(480, 'Temporarily Unavailable');
      return this.respond(408, 'Request Timeout');
    }
    let cls = 6;
    for (const r of finals) cls = Math.min(cls, Math.floor(r.status / 100));
    if (this.#timeouts > 0) cls = Math.min(cls, 4);
    const inClass = finals.filter((r) => Math.floor(r.status / 100) === cls);
    let pool = inClass;
    if (cls === 4) {
      const resubmit = inClass.filter((r) => RESUBMIT.has(r.status));
      if (resubmit.length > 0) pool = resubmit;
    } else if (cls === 5) {
      pool = inClass.filter((r) => r.status !== 503);
    }
    if (pool.length === 0) {
      // Only our synthetic 408s in 4xx, or only 503s (received or transport errors) in 5xx.
      if (cls === 4) return this.respond(408, 'Request Timeout');
      return this.respond(500, 'Server Internal Error');
    }
    let best = pool[0];
    for (const r of pool) if (r.status < best.status) best = r;
    if (best.status === 401 || best.status === 407) this.#gatherChallenges(best);
    this.#relayFinal(best);
  }

  /** §16.7 step 7: the other 401/407s' challenges, unmodified, into the chosen one. */
  #gatherChallenges(best: SipResponse): void {
    for (const r of this.#finals) {
      if (r === best || (r.status !== 401 && r.status !== 407)) continue;
      for (const v of r.getAll('www-authenticate')) best.append('WWW-Authenticate', v);
      for (const v of r.getAll('proxy-authenticate')) best.append('Proxy-Authenticate', v);
    }
  }

  #relayFinal(res: SipResponse): void {
    this.#finished = true;
    this.#hooks.onFinal?.(res, true);
    this.#shed();
    this.#relay(res);
  }

  /**
   * Memory: calls to phones are long-lived and the context lives as long as its server
   * transaction (32 s after a 2xx, RFC 6026). Once finished it keeps only what relaying later 2xx
   * needs: `on2xx` (when a 2xx went upstream) and the server transaction. Plans of groups never
   * started and the stored final responses (whose fields are slices of the received datagrams)
   * are dropped; done branches dropped their requests already (`#branchDone`); a branch still
   * pending keeps its request until it answers our CANCEL.
   */
  #shed(): void {
    const on2xx = this.#hooks.on2xx;
    this.#hooks = this.#answered && on2xx !== undefined ? { on2xx } : {};
    this.#groups = [];
    this.#finals = [];
  }

  /** §16.7 step 10 / §16.10: CANCEL each pending branch (held until its first provisional, §9.1). */
  #cancelPendingBranches(): void {
    if (!this.#isInvite) return;
    for (const b of this.#branches) {
      if (b.done || b.cancelSent) continue;
      if (b.provisional) this.#sendCancel(b);
      else b.cancelPending = true;
    }
  }

  /** Relay a response upstream without our Via (§16.7 step 3). */
  #relay(res: SipResponse): void {
    res.removeFirstValue('via');
    if (!res.has('via')) return; // it was addressed to us; nothing upstream
    const rewrite = this.#rewrite;
    if (rewrite === undefined) return this.#server.respond(res);
    // One chain per context: a 200 rewritten after a slow 183 still goes up after it.
    this.#sending = this.#sending
      .then(() => rewrite(res))
      .catch((err: unknown) => this.#log.warn({ err, status: res.status }, 'response rewrite failed; relayed as received'))
      .then(() => this.#server.respond(res));
  }

  /** CANCEL for a branch: same branch, Request-URI, Call-ID, From, To, CSeq number and Route (§9.1). */
  #sendCancel(b: Branch): void {
    const inv = b.request;
    if (inv === undefined || b.cancelSent) return;
    b.cancelSent = true;
    const cancel = cancelFor(inv);
    const log = this.#log;
    const callId = inv.callId;
    try {
      this.#layer.sendRequest(cancel, b.target, {
        onResponse: () => {},
        onTimeout: () => log.debug({ callId }, 'CANCEL timed out'),
        onTransportError: () => log.debug({ callId }, 'CANCEL could not be sent'),
      });
    } catch (err) {
      log.debug({ err, callId }, 'CANCEL not sent');
    }
    // §9.1: no final 64*T1 after the CANCEL → give the branch up (as a timeout).
    b.timer?.cancel();
    b.timer = this.#layer.clock.setTimer(this.#layer.timers(b.target.protocol !== 'udp').B, () => {
      if (b.done) return;
      b.txn?.abort();
      this.#onFailure(b, 'timeout');
    });
  }
}
