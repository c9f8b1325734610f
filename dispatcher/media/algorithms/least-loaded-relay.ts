/**
 * Least loaded (nginx `least_conn`, Kamailio's rtpengine "least-loaded" set selection): the relay
 * with the fewest sessions per unit of weight first. Ties go to the higher weight (it has more
 * room left at the same ratio), then rotate: each call starts one step further among the tied
 * relays, so equally loaded relays share a burst of calls instead of all of it going to the first
 * in id order before the next load reading.
 */
import type { RelayCandidate, RelaySelectionAlgorithm } from '../relay-selection.ts';

export class LeastLoadedRelay implements RelaySelectionAlgorithm {
  readonly name = 'least-loaded';
  #rotation = 0;

  order(candidates: readonly RelayCandidate[]): string[] {
    // sessions/weight compared by cross-multiplication: exact for integers, no division.
    const sorted = [...candidates].sort((a, b) => a.sessions * b.weight - b.sessions * a.weight || b.weight - a.weight || a.index - b.index);
    if (sorted.length < 2) return sorted.map((c) => c.id);
    // The leading run of relays tied with the best on both keys rotates.
    const best = sorted[0];
    let tied = 1;
    while (tied < sorted.length && sorted[tied].sessions * best.weight === best.sessions * sorted[tied].weight && sorted[tied].weight === best.weight) tied++;
    const start = this.#rotation % tied;
    this.#rotation = (this.#rotation + 1) % 1_000_000_007;
    const head = sorted.slice(0, tied);
    return [...head.slice(start), ...head.slice(0, start), ...sorted.slice(tied)].map((c) => c.id);
  }
}
