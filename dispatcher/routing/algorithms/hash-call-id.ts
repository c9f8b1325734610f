/**
 * Hash over the Call-ID (Kamailio dispatcher algorithm 0), with weighted rendezvous hashing
 * instead of a modulo: every attempt of one call lands on the same switch, and a switch leaving
 * moves only its own calls.
 */
import type { SelectionAlgorithm, SelectionInput } from '../selection-algorithm.ts';
import { rendezvousOrder } from './rendezvous-order.ts';

export class HashCallId implements SelectionAlgorithm {
  readonly name = 'hash-call-id' as const;

  order(input: SelectionInput): string[] {
    return rendezvousOrder(input.callId, input.candidates);
  }
}
