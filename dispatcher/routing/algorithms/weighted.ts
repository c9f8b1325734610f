/**
 * Smooth weighted round-robin (nginx's `ngx_http_upstream_get_peer`; Kamailio dispatcher
 * algorithm 9 spreads by weight too, but in runs). Every call, each candidate's current weight
 * grows by its effective weight; the largest wins and gives back the total. Over any window of
 * sum(weights) calls each switch gets exactly its weight, interleaved (1:2:3 → c b a c b c), never
 * in bursts.
 *
 * Effective weight = weight × share, so a switch warming up after recovery (slow start) gets its
 * reduced share here directly; the pool does not apply its random slow-start step to this
 * algorithm.
 */
import type { SelectionAlgorithm, SelectionInput } from '../selection-algorithm.ts';

export class SmoothWeighted implements SelectionAlgorithm {
  readonly name = 'weighted' as const;
  /** Current weight per switch id. */
  #current = new Map<string, number>();

  order(input: SelectionInput): string[] {
    const cs = input.candidates;
    const n = cs.length;
    const current = new Array<number>(n);
    let total = 0;
    let best = 0;
    for (let i = 0; i < n; i++) {
      const c = cs[i];
      const effective = c.weight * c.share;
      total += effective;
      current[i] = (this.#current.get(c.id) ?? 0) + effective;
      // Strictly greater: the first (registry order) wins a tie, as in nginx.
      if (current[i] > current[best]) best = i;
    }
    current[best] -= total;
    for (let i = 0; i < n; i++) this.#current.set(cs[i].id, current[i]);
    // A switch that was not a candidate this time (down, disabled, removed) starts again at 0.
    if (this.#current.size > n) {
      const present = new Set(cs.map((c) => c.id));
      for (const id of this.#current.keys()) if (!present.has(id)) this.#current.delete(id);
    }
    // Failover order after the winner: who would win next (largest current weight), then registry order.
    const rest: number[] = [];
    for (let i = 0; i < n; i++) if (i !== best) rest.push(i);
    rest.sort((a, b) => current[b] - current[a] || a - b);
    const out = [cs[best].id];
    for (const i of rest) out.push(cs[i].id);
    return out;
  }
}
