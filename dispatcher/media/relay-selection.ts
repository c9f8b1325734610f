/**
 * One relay selection algorithm = one small unit behind this interface (as the switch pool's
 * `routing/selection-algorithm.ts`). The relay pool does everything common (registry, admin
 * state, health, zones); an algorithm only orders the usable relays of one zone.
 */

export interface RelayCandidate {
  readonly id: string;
  /** 1..1000 */
  readonly weight: number;
  /** The relay's sessions as this node estimates them (see relay-health.ts, "Load"). */
  readonly sessions: number;
  /** Position in the registry (id order): keeps orders stable. */
  readonly index: number;
}

export interface RelaySelectionAlgorithm {
  readonly name: string;
  /**
   * Candidate ids, best first: the first takes the call, the next one is where a failed first
   * offer is retried. Returns every candidate exactly once; stateful algorithms advance their
   * state once per call. `candidates` are usable (admin `active`, health up) and never empty.
   */
  order(candidates: readonly RelayCandidate[]): string[];
}
