/**
 * Priority (Kamailio dispatcher algorithm 8, "first available by priority"): the lowest priority
 * value first, ties by registry order. Two switches with priorities 1 and 2 make a hot-standby
 * pair: the backup takes calls only while the primary is unavailable.
 */
import type { SelectionAlgorithm, SelectionInput } from '../selection-algorithm.ts';

export class Priority implements SelectionAlgorithm {
  readonly name = 'priority' as const;

  order(input: SelectionInput): string[] {
    return [...input.candidates].sort((a, b) => a.priority - b.priority || a.index - b.index).map((c) => c.id);
  }
}
