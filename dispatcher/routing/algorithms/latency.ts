/**
 * Lowest latency (Kamailio dispatcher algorithm 13, latency-optimized): the switch with the lowest
 * OPTIONS round-trip EWMA first; switches not measured yet last; ties by registry order.
 */
import type { SelectionAlgorithm, SelectionInput } from '../selection-algorithm.ts';

export class LowestLatency implements SelectionAlgorithm {
  readonly name = 'latency' as const;

  order(input: SelectionInput): string[] {
    return [...input.candidates]
      .sort((a, b) => (a.latencyMs ?? Infinity) - (b.latencyMs ?? Infinity) || a.index - b.index)
      .map((c) => c.id);
  }
}
