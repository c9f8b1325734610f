import { describe, expect, it } from 'vitest';
import { OverloadGuard, OVERLOAD_LOW_FRACTION, OVERLOAD_SUSTAIN_SAMPLES } from './overload-guard.ts';

function samples(g: OverloadGuard, n: number): void {
  for (let i = 0; i < n; i++) g.sample();
}

describe('OverloadGuard', () => {
  it('sheds once the backlog stays at the high mark for OVERLOAD_SUSTAIN_SAMPLES samples, and stops only under a quarter of it (hysteresis)', () => {
    let bytes = 0;
    const g = new OverloadGuard({ backlog: () => bytes, highBytes: 1_000_000 });
    g.sample();
    expect(g.shedding).toBe(false);
    bytes = 999_999;
    samples(g, OVERLOAD_SUSTAIN_SAMPLES + 1);
    expect(g.shedding).toBe(false);
    bytes = 1_000_000;
    samples(g, OVERLOAD_SUSTAIN_SAMPLES - 1);
    expect(g.shedding).toBe(false);
    g.sample();
    expect(g.shedding).toBe(true);
    // Draining, but still above the low mark: keep shedding.
    bytes = 1_000_000 * OVERLOAD_LOW_FRACTION;
    g.sample();
    expect(g.shedding).toBe(true);
    bytes = 1_000_000 * OVERLOAD_LOW_FRACTION - 1;
    g.sample();
    expect(g.shedding).toBe(false);
    bytes = 2_000_000;
    samples(g, OVERLOAD_SUSTAIN_SAMPLES);
    expect(g.shedding).toBe(true);
    expect(g.episodes).toBe(2);
    g.stop();
    expect(g.shedding).toBe(false);
  });

  it('does not shed for a backlog that drains between samples (a GC pause, a burst)', () => {
    const seen = [2_000_000, 2_000_000, 0, 2_000_000, 2_000_000, 0, 2_000_000];
    let i = 0;
    const g = new OverloadGuard({ backlog: () => seen[i++], highBytes: 1_000_000 });
    samples(g, seen.length);
    expect(g.shedding).toBe(false);
    expect(g.episodes).toBe(0);
  });

  it('is off with highBytes 0: never samples, never sheds', () => {
    let reads = 0;
    const g = new OverloadGuard({ backlog: () => (reads++, 10_000_000), highBytes: 0 });
    g.start();
    g.sample();
    expect(g.shedding).toBe(false);
    expect(reads).toBe(0);
    g.stop();
  });

  it('samples on its own timer once started', async () => {
    const g = new OverloadGuard({ backlog: () => 5000, highBytes: 4096, intervalMs: 5 });
    g.start();
    await new Promise((r) => setTimeout(r, 60));
    expect(g.shedding).toBe(true);
    g.stop();
  });
});
