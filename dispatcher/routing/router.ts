/**
 * The routing API the proxy core sees (Kamailio dispatcher's api.h in four verbs): `select` a
 * first destination for a new call, `next` after a failure, `report` what happened, and
 * `isFromKnownPeer` to tell a trusted source. Everything else about switches (lists, health,
 * algorithms) stays behind it.
 */
import type { SipRequest } from '../../shared/sip/index.ts';
import type { Flow, Target } from '../transport/transport.ts';

/** A place a new call can go: a switch. */
export interface RouteCandidate {
  readonly id: string;
  readonly target: Target;
}

export interface RoutingContext {
  readonly request: SipRequest;
  readonly flow: Flow;
  /** Carrier id when the source matched one. */
  readonly carrierId?: string | undefined;
  /**
   * The router's failover order for this call, from `select` for `next`: a slot on the call's
   * context, written by the router. (A WeakMap keyed by the request cost an ephemeron entry per
   * call, which the GC traces and clears; BENCHMARKS.md, Session 17.)
   */
  order?: readonly string[] | undefined;
}

/** Outcome of one attempt, for health and latency bookkeeping. */
export type AttemptOutcome =
  | { readonly kind: 'response'; readonly status: number; readonly latencyMs: number }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'transport-error' };

type MaybePromise<T> = T | Promise<T>;

export interface Router {
  /** The first candidate for a new call (may consult the store, e.g. hash-source stickiness). */
  select(ctx: RoutingContext): MaybePromise<RouteCandidate | undefined>;
  /** The next candidate, skipping every id in `tried`; undefined when none is left. */
  next(ctx: RoutingContext, tried: ReadonlySet<string>): MaybePromise<RouteCandidate | undefined>;
  report(candidate: RouteCandidate, outcome: AttemptOutcome): void;
  /**
   * Where a Call-ID's requests go when the selection is deterministic in it (hash-call-id): lets
   * a node that did not set the call up route its in-dialog requests. Undefined otherwise.
   */
  locate?(callId: string): RouteCandidate | undefined;
  isFromKnownPeer(address: string): boolean;
}
