import { describe, expect, it } from 'vitest';
import { cand } from '../routing-test-kit.ts';
import { SmoothWeighted } from './weighted.ts';

const cands = [cand('a', 0, { weight: 1 }), cand('b', 1, { weight: 2 }), cand('c', 2, { weight: 3 })];

function run(alg: SmoothWeighted, n: number, candidates = cands): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(alg.order({ callId: `c${i}`, source: 's', candidates })[0]);
  return out;
}

describe('SmoothWeighted', () => {
  it('1:2:3 over 10,000 calls: within ±3% of 1/6, 2/6, 3/6, and exact per cycle', () => {
    const seq = run(new SmoothWeighted(), 10_000);
    const count = (id: string, s = seq): number => s.filter((x) => x === id).length;
    for (const [id, w] of [['a', 1], ['b', 2], ['c', 3]] as const) {
      const share = count(id) / seq.length;
      expect(Math.abs(share - w / 6)).toBeLessThanOrEqual(0.03);
      // Exact: never more than one call away from the ideal count.
      expect(Math.abs(count(id) - (seq.length * w) / 6)).toBeLessThanOrEqual(1);
    }
    // Every window of sum(weights) = 6 calls (aligned) holds exactly 1, 2 and 3.
    for (let i = 0; i + 6 <= seq.length; i += 6) {
      const win = seq.slice(i, i + 6);
      expect([count('a', win), count('b', win), count('c', win)]).toEqual([1, 2, 3]);
    }
  });

  it('interleaves (nginx sequence c b a c b c), no long runs', () => {
    const seq = run(new SmoothWeighted(), 600);
    expect(seq.slice(0, 6)).toEqual(['c', 'b', 'a', 'c', 'b', 'c']);
    let longest = 1;
    let runLen = 1;
    for (let i = 1; i < seq.length; i++) {
      runLen = seq[i] === seq[i - 1] ? runLen + 1 : 1;
      longest = Math.max(longest, runLen);
    }
    expect(longest).toBeLessThanOrEqual(2);
  });

  it('returns every candidate once, the winner first', () => {
    const alg = new SmoothWeighted();
    for (let i = 0; i < 12; i++) {
      const order = alg.order({ callId: 'x', source: 's', candidates: cands });
      expect([...order].sort()).toEqual(['a', 'b', 'c']);
    }
  });

  it('effective weight = weight × share: a warming switch gets its reduced share', () => {
    const warming = [cand('a', 0, { weight: 2, share: 0.5 }), cand('b', 1, { weight: 2 })];
    const seq = run(new SmoothWeighted(), 3000, warming);
    expect(seq.filter((x) => x === 'a').length).toBe(1000);
    expect(seq.filter((x) => x === 'b').length).toBe(2000);
  });

  it('follows a changed candidate set', () => {
    const alg = new SmoothWeighted();
    run(alg, 5);
    const seq = run(alg, 300, [cands[0], cands[2]]);
    // The carried-over current weights shift the phase, not the proportions.
    expect(Math.abs(seq.filter((x) => x === 'a').length - 75)).toBeLessThanOrEqual(1);
    expect(seq).not.toContain('b');
  });
});
