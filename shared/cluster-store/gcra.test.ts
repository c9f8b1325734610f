import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gcraParams, gcraStep } from './gcra.ts';

/** Admits the arrivals (µs, ascending) through one GCRA level; returns the admitted times. */
function run(arrivals: readonly number[], cps: number, burst: number): number[] {
  const params = gcraParams({ cps, burst });
  if (params === undefined) throw new Error('no params');
  let tat: number | undefined;
  const admitted: number[] = [];
  for (const t of arrivals) {
    const step = gcraStep(tat, t, params);
    if (step.ok) {
      tat = step.tatUs;
      admitted.push(t);
    }
  }
  return admitted;
}

function maxInWindow(times: readonly number[], windowUs: number): number {
  let best = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (j < times.length && times[j] < times[i] + windowUs) j++;
    best = Math.max(best, j - i);
  }
  return best;
}

describe('GCRA', () => {
  it('rounds the interval up to whole µs and scales the tolerance by burst', () => {
    expect(gcraParams({ cps: 10 })).toEqual({ intervalUs: 100_000, toleranceUs: 0 });
    expect(gcraParams({ cps: 3, burst: 2 })).toEqual({ intervalUs: 333_334, toleranceUs: 666_668 });
    expect(gcraParams({ channels: 5 } as { cps?: number })).toBeUndefined();
  });

  it('admits burst + 1 at once, then one per interval, and says when to retry', () => {
    const p = gcraParams({ cps: 10, burst: 2 });
    if (p === undefined) throw new Error('no params');
    let tat: number | undefined;
    for (let i = 0; i < 3; i++) {
      const s = gcraStep(tat, 1_000_000, p);
      expect(s.ok).toBe(true);
      if (s.ok) tat = s.tatUs;
    }
    expect(gcraStep(tat, 1_000_000, p)).toEqual({ ok: false, retryAfterUs: 100_000 });
    expect(gcraStep(tat, 1_100_000, p).ok).toBe(true);
  });

  it('never admits more than cps + burst in any half-open 1 s window, and keeps up with the rate', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 0, max: 6 }),
        fc.array(fc.integer({ min: 0, max: 40_000 }), { minLength: 1, maxLength: 400 }),
        (cps, burst, gaps) => {
          const arrivals: number[] = [];
          let t = 1_700_000_000_000_000;
          for (const gap of gaps) arrivals.push((t += gap));
          const admitted = run(arrivals, cps, burst);
          expect(maxInWindow(admitted, 1_000_000)).toBeLessThanOrEqual(cps + burst);
        },
      ),
      { numRuns: 300 },
    );
    // Offered far above the rate for 10 s, it admits the rate (plus the initial burst).
    const flood = Array.from({ length: 100_000 }, (_v, i) => 1_700_000_000_000_000 + i * 100);
    expect(run(flood, 50, 5).length).toBe(50 * 10 + 5);
  });
});
