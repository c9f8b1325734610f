import { describe, expect, it } from 'vitest';
import { cand } from '../routing-test-kit.ts';
import { RoundRobin } from './round-robin.ts';

const cands = [cand('a', 0), cand('b', 1), cand('c', 2)];

describe('RoundRobin', () => {
  it('rotates the first pick call by call and keeps every candidate once in the order', () => {
    const rr = new RoundRobin();
    const orders = [1, 2, 3, 4].map(() => rr.order({ callId: 'x', source: 's', candidates: cands }));
    expect(orders).toEqual([
      ['a', 'b', 'c'],
      ['b', 'c', 'a'],
      ['c', 'a', 'b'],
      ['a', 'b', 'c'],
    ]);
  });

  it('spreads evenly when the candidate list shrinks', () => {
    const rr = new RoundRobin();
    rr.order({ callId: 'x', source: 's', candidates: cands });
    const two = [cands[0], cands[2]];
    const firsts = [1, 2, 3, 4].map(() => rr.order({ callId: 'x', source: 's', candidates: two })[0]);
    expect(firsts.filter((id) => id === 'a')).toHaveLength(2);
    expect(firsts.filter((id) => id === 'c')).toHaveLength(2);
  });

  it('pick(count) still serves index-based callers', () => {
    const rr = new RoundRobin();
    expect([rr.pick(2), rr.pick(2), rr.pick(2), rr.pick(0)]).toEqual([0, 1, 0, -1]);
  });
});
