/**
 * Round-robin (Kamailio dispatcher algorithm 4): each new call starts one step further along the
 * candidate list; the failover order continues around the list from there. Weights, latency and
 * load are ignored on purpose: the simplest spread, for equal switches.
 */
import type { SelectionAlgorithm, SelectionInput } from '../selection-algorithm.ts';

export class RoundRobin implements SelectionAlgorithm {
  readonly name = 'round-robin' as const;
  #next = 0;

  /** Index of the destination for the next call among `count` (-1 when there is none). */
  pick(count: number): number {
    if (count === 0) return -1;
    const i = this.#next % count;
    this.#next = (i + 1) % count;
    return i;
  }

  order(input: SelectionInput): string[] {
    const cs = input.candidates;
    const n = cs.length;
    const start = this.pick(n);
    const out = new Array<string>(n);
    for (let k = 0; k < n; k++) out[k] = cs[(start + k) % n].id;
    return out;
  }
}
