import { describe, expect, it } from 'vitest';
import type { RelayCandidate } from '../relay-selection.ts';
import { LeastLoadedRelay } from './least-loaded-relay.ts';

const c = (id: string, index: number, sessions: number, weight = 1): RelayCandidate => ({ id, index, sessions, weight });

describe('LeastLoadedRelay', () => {
  it('orders by sessions per unit of weight', () => {
    const alg = new LeastLoadedRelay();
    expect(alg.order([c('a', 0, 10), c('b', 1, 30, 5), c('d', 2, 0), c('e', 3, 8, 2)])).toEqual(['d', 'e', 'b', 'a']);
  });

  it('breaks a tie in load by the higher weight', () => {
    const alg = new LeastLoadedRelay();
    // 2/1 = 4/2: the weight-2 relay first, every time (no rotation between them).
    for (let i = 0; i < 3; i++) expect(alg.order([c('a', 0, 2, 1), c('b', 1, 4, 2)])).toEqual(['b', 'a']);
  });

  it('rotates among relays tied on load and weight, the rest after them', () => {
    const alg = new LeastLoadedRelay();
    const cands = [c('a', 0, 0), c('b', 1, 0), c('c', 2, 0), c('z', 3, 5)];
    const firsts = [0, 1, 2, 3, 4, 5].map(() => alg.order(cands));
    expect(firsts.map((o) => o[0])).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
    for (const o of firsts) {
      expect(o).toHaveLength(4);
      expect(new Set(o).size).toBe(4);
      expect(o[3]).toBe('z');
    }
  });

  it('returns a single candidate and an empty list as they are', () => {
    const alg = new LeastLoadedRelay();
    expect(alg.order([c('a', 0, 3)])).toEqual(['a']);
    expect(alg.order([])).toEqual([]);
  });
});
