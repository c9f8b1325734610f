/**
 * Least channels (Kamailio dispatcher algorithm 10, "call load"; nginx `least_conn`): the switch
 * with the fewest cluster-wide calls per unit of weight first, ties by registry order.
 */
import type { SelectionAlgorithm, SelectionInput } from '../selection-algorithm.ts';

export class LeastChannels implements SelectionAlgorithm {
  readonly name = 'least-channels' as const;

  order(input: SelectionInput): string[] {
    // channels/weight compared by cross-multiplication: exact for integers, no division.
    return [...input.candidates]
      .sort((a, b) => a.channels * b.weight - b.channels * a.weight || a.index - b.index)
      .map((c) => c.id);
  }
}
