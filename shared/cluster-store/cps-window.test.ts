import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cpsParams, cpsStep } from './cps-window.ts';

/** Admits the arrivals (µs, ascending) through one level; returns the admitted times. */
function run(arrivals: readonly number[], cps: number, burst: number): number[] {
  const params = cpsParams({ cps, burst });
  if (params === undefined) throw new Error('no params');
  const admitted: number[] = [];
  for (const t of arrivals) {
    const recent = admitted.filter((a) => a > t - 1_000_000);
    if (cpsStep(t, params, { count: recent.length, oldestUs: recent[0] }).ok) admitted.push(t);
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

describe('CPS window', () => {
  it('allows cps + burst per window and says when the oldest slot frees', () => {
    expect(cpsParams({ cps: 10, burst: 2 })).toEqual({ windowCap: 12 });
    expect(cpsParams({ channels: 5 } as { cps?: number })).toBeUndefined();
    const p = cpsParams({ cps: 2 })!;
    expect(cpsStep(5_000_000, p, { count: 1, oldestUs: 4_500_000 })).toEqual({ ok: true });
    expect(cpsStep(5_000_000, p, { count: 2, oldestUs: 4_300_000 })).toEqual({ ok: false, retryAfterUs: 300_000 });
  });

  it('never admits more than cps + burst in any half-open 1 s window', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 0, max: 6 }),
        fc.array(fc.integer({ min: 0, max: 40_000 }), { minLength: 1, maxLength: 400 }),
        (cps, burst, gaps) => {
          const arrivals: number[] = [];
          let t = 1_700_000_000_000_000;
          for (const gap of gaps) arrivals.push((t += gap));
          expect(maxInWindow(run(arrivals, cps, burst), 1_000_000)).toBeLessThanOrEqual(cps + burst);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('under overload admits its rate, less only the wait for the next arrival', () => {
    fc.assert(
      fc.property(fc.integer({ min: 5, max: 40 }), fc.integer({ min: 1, max: 1_000 }), (cps, seed) => {
        // Three callers at cps each with random jitter, for 10 s.
        const T = Math.ceil(1e6 / cps);
        const arrivals: number[] = [];
        let x = seed;
        for (let caller = 0; caller < 3; caller++) {
          for (let t = 0; t < 10_000_000; t += T) {
            x = (x * 1103515245 + 12345) % 2 ** 31;
            arrivals.push(1_700_000_000_000_000 + t + (x % T));
          }
        }
        arrivals.sort((a, b) => a - b);
        const admitted = run(arrivals, cps, 0);
        expect(maxInWindow(admitted, 1_000_000)).toBeLessThanOrEqual(cps);
        // A slot is reused one second after its last use plus the wait for the next arrival. Each
        // caller's gap is under 2T (T = 1/cps s, jitter within its period), so that wait is under 2T
        // and the first use comes within 2T: each of the cps slots is used at least
        // (10 - 2T) / (1 + 2T) times in 10 s. That is 95% of the rate at 40 CPS and 69% at 5 CPS
        // (where the waits are longest; a fixed 95% failed there for unlucky seeds, 46 < 47).
        // Standard GCRA (τ = burst·T) admits about 85% at 40 CPS.
        const twoT = 2 / cps;
        expect(admitted.length).toBeGreaterThanOrEqual(Math.floor((cps * (10 - twoT)) / (1 + twoT)));
      }),
      { numRuns: 40 },
    );
  });
});
