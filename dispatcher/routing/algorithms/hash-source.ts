/**
 * Hash over the caller's source address (Kamailio dispatcher algorithm 2, nginx `ip_hash`), with
 * weighted rendezvous hashing: one carrier trunk keeps to one switch. The pool adds cluster-wide
 * stickiness on top (the store's sticky table), so a trunk stays put even when the registry
 * changes, until its stickiness expires.
 */
import type { SelectionAlgorithm, SelectionInput } from '../selection-algorithm.ts';
import { rendezvousOrder } from './rendezvous-order.ts';

export class HashSource implements SelectionAlgorithm {
  readonly name = 'hash-source' as const;

  order(input: SelectionInput): string[] {
    return rendezvousOrder(input.source, input.candidates);
  }
}
