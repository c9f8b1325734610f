/**
 * One selection algorithm = one small unit behind this interface (undici's pool-per-policy,
 * Kamailio's "compute an index, then one common step"). The switch pool does everything common
 * (registry, admin state, health, slow start, stickiness, failover list); an algorithm only
 * orders the available candidates.
 */
import type { Selection } from '../../shared/config/config-types.ts';

export interface SelectionCandidate {
  readonly id: string;
  /** 1..1000 */
  readonly weight: number;
  /** Lower is preferred. */
  readonly priority: number;
  /**
   * Slow start: the share of its weight a switch gets while it warms up after recovering
   * (0 < share ≤ 1; 1 = full share).
   */
  readonly share: number;
  /** OPTIONS round trip EWMA, ms; undefined when not measured yet. */
  readonly latencyMs: number | undefined;
  /** Calls holding the switch cluster-wide (from the cluster store). */
  readonly channels: number;
  /** Position in the registry (config order): the tie-breaker that keeps orders stable. */
  readonly index: number;
}

export interface SelectionInput {
  readonly callId: string;
  /** The caller's source address (hash-source). */
  readonly source: string;
  /** The available candidates (admin active, health up), in registry order; never empty. */
  readonly candidates: readonly SelectionCandidate[];
}

export interface SelectionAlgorithm {
  readonly name: Selection;
  /**
   * Candidate ids, best first: the first takes the call, the rest are the failover order. Must
   * return every candidate exactly once. Stateful algorithms (round-robin, weighted) advance
   * their state once per call.
   */
  order(input: SelectionInput): string[];
}
