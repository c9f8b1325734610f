import { describe, expect, it } from 'vitest';
import { OverloadGuard, OVERLOAD_BLAME_WINDOW_MS, OVERLOAD_LOW_FRACTION, OVERLOAD_SUSTAIN_SAMPLES } from './overload-guard.ts';

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

  it('counts as behind while shedding and for OVERLOAD_BLAME_WINDOW_MS after a backlog at the low mark', () => {
    let bytes = 0;
    let now = 1_000;
    const high = 1_000_000;
    const g = new OverloadGuard({ backlog: () => bytes, highBytes: high, now: () => now });
    g.sample();
    expect(g.behind).toBe(false);
    // Under the low mark: a normal queue, not behind.
    bytes = high * OVERLOAD_LOW_FRACTION - 1;
    g.sample();
    expect(g.behind).toBe(false);
    // At the low mark: behind (not shedding: that needs the high mark, sustained).
    bytes = high * OVERLOAD_LOW_FRACTION;
    g.sample();
    expect(g.shedding).toBe(false);
    expect(g.behind).toBe(true);
    bytes = 0;
    now += OVERLOAD_BLAME_WINDOW_MS;
    g.sample();
    expect(g.behind).toBe(true);
    now += 1;
    expect(g.behind).toBe(false);
    // Shedding is behind however long ago the last high sample was.
    bytes = high;
    samples(g, OVERLOAD_SUSTAIN_SAMPLES);
    expect(g.shedding).toBe(true);
    now += 10 * OVERLOAD_BLAME_WINDOW_MS;
    expect(g.behind).toBe(true);
  });
});
