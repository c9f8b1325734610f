/**
 * SwitchHealthTracker on its own: fall/rise hysteresis, markSuspect, slow start, latency
 * statistics and the quorum vote, driven by hand on a ManualClock.
 */
import { describe, expect, it } from 'vitest';
import type { ProbeConfig } from '../../shared/config/config-types.ts';
import { ManualClock } from '../transaction/manual-clock.ts';
import { logger, PROBE } from './health-test-kit.ts';
import { SwitchHealthTracker } from './switch-health-tracker.ts';

function tracker(probe: Partial<ProbeConfig> = {}, nodeId = 'n1') {
  const clock = new ManualClock(1_000_000);
  const changes: Array<[string, boolean]> = [];
  const health = new SwitchHealthTracker({
    probe: { ...PROBE, ...probe },
    clock,
    logger,
    nodeId,
    onChange: (id, up) => changes.push([id, up]),
  });
  return { clock, changes, health };
}

describe('SwitchHealthTracker: fall and rise', () => {
  it('a fresh (or unknown) switch is up with a full share and no latency yet', () => {
    const { health } = tracker({ warmup: 10_000 });
    expect(health.isUp('sw1')).toBe(true);
    health.track('sw1');
    expect(health.isUp('sw1')).toBe(true);
    expect(health.share('sw1')).toBe(1);
    expect(health.latencyMs('sw1')).toBeUndefined();
    expect(health.p99Ms('sw1')).toBeUndefined();
  });

  it('goes down after exactly `fall` consecutive failures and up after `rise` consecutive successes', () => {
    const { health, changes } = tracker({ fall: 3, rise: 2 });
    health.recordFailure('sw1', 'timeout');
    health.recordFailure('sw1', 'timeout');
    expect(health.isUp('sw1')).toBe(true);
    health.recordFailure('sw1', 'timeout');
    expect(health.isUp('sw1')).toBe(false);
    expect(changes).toEqual([['sw1', false]]);

    health.recordFailure('sw1', 'timeout'); // still down, no second change
    health.recordSuccess('sw1', 10);
    expect(health.isUp('sw1')).toBe(false);
    health.recordSuccess('sw1', 10);
    expect(health.isUp('sw1')).toBe(true);
    expect(changes).toEqual([
      ['sw1', false],
      ['sw1', true],
    ]);
  });

  it('the counters are consecutive: a success in between resets the failures, and vice versa', () => {
    const { health } = tracker({ fall: 3, rise: 3 });
    for (const ok of [false, false, true, false, false]) {
      if (ok) health.recordSuccess('sw1', 5);
      else health.recordFailure('sw1', 'timeout');
    }
    expect(health.isUp('sw1')).toBe(true);
    health.recordFailure('sw1', 'timeout');
    expect(health.isUp('sw1')).toBe(false);
    for (const ok of [true, true, false, true, true]) {
      if (ok) health.recordSuccess('sw1', 5);
      else health.recordFailure('sw1', 'timeout');
    }
    expect(health.isUp('sw1')).toBe(false);
    health.recordSuccess('sw1', 5);
    expect(health.isUp('sw1')).toBe(true);
  });

  it('markSuspect takes a switch down at once and it needs `rise` good probes', () => {
    const { health, changes } = tracker({ fall: 3, rise: 3 });
    health.recordSuccess('sw1', 5);
    health.markSuspect('sw1');
    expect(health.isUp('sw1')).toBe(false);
    expect(changes).toEqual([['sw1', false]]);
    health.recordSuccess('sw1', 5);
    health.recordSuccess('sw1', 5);
    // Live traffic failed again: the good probes so far no longer count.
    health.markSuspect('sw1');
    health.recordSuccess('sw1', 5);
    health.recordSuccess('sw1', 5);
    expect(health.isUp('sw1')).toBe(false);
    health.recordSuccess('sw1', 5);
    expect(health.isUp('sw1')).toBe(true);
    expect(health.snapshot('sw1')).toMatchObject({ up: true, localUp: true, consecutiveFailures: 0 });
  });

  it('one failure after markSuspect is not needed: down is immediate even with fall = 5', () => {
    const { health } = tracker({ fall: 5 });
    health.markSuspect('sw9');
    expect(health.isUp('sw9')).toBe(false);
  });

  it('remove() forgets a switch: a later one with the same id starts fresh, up', () => {
    const { health } = tracker({ fall: 1 });
    health.recordFailure('sw1', 'timeout');
    health.recordSuccess('sw2', 5);
    expect(health.ids().sort()).toEqual(['sw1', 'sw2']);
    health.remove('sw1');
    expect(health.ids()).toEqual(['sw2']);
    expect(health.isUp('sw1')).toBe(true);
    expect(health.snapshot('sw1')).toBeUndefined();
  });

  it('a throwing change listener does not break the tracker', () => {
    const clock = new ManualClock();
    const health = new SwitchHealthTracker({
      probe: { ...PROBE, fall: 1 },
      clock,
      logger,
      onChange: () => {
        throw new Error('listener bug');
      },
    });
    expect(() => health.recordFailure('sw1', 'timeout')).not.toThrow();
    expect(health.isUp('sw1')).toBe(false);
  });
});

describe('SwitchHealthTracker: slow start', () => {
  it('ramps the share linearly from 0.1 to 1 over `warmup` ms after coming back up', () => {
    const { health, clock } = tracker({ fall: 1, rise: 1, warmup: 10_000 });
    health.recordSuccess('sw1', 5);
    expect(health.share('sw1')).toBe(1); // never down: no slow start
    health.recordFailure('sw1', 'timeout');
    expect(health.isUp('sw1')).toBe(false);
    clock.advance(60_000); // time spent down does not count
    health.recordSuccess('sw1', 5);
    expect(health.isUp('sw1')).toBe(true);
    expect(health.share('sw1')).toBeCloseTo(0.1, 10);
    clock.advance(2_500);
    expect(health.share('sw1')).toBeCloseTo(0.325, 10);
    clock.advance(2_500);
    expect(health.share('sw1')).toBeCloseTo(0.55, 10);
    clock.advance(4_999);
    expect(health.share('sw1')).toBeLessThan(1);
    clock.advance(1);
    expect(health.share('sw1')).toBe(1);
    clock.advance(100_000);
    expect(health.share('sw1')).toBe(1);
  });

  it('restarts the ramp when the switch falls again during warm-up', () => {
    const { health, clock } = tracker({ fall: 1, rise: 1, warmup: 1_000 });
    health.markSuspect('sw1');
    health.recordSuccess('sw1', 5);
    clock.advance(500);
    expect(health.share('sw1')).toBeCloseTo(0.55, 10);
    health.markSuspect('sw1');
    clock.advance(100);
    health.recordSuccess('sw1', 5);
    expect(health.share('sw1')).toBeCloseTo(0.1, 10);
  });

  it('warmup 0 means full share at once', () => {
    const { health } = tracker({ fall: 1, rise: 1, warmup: 0 });
    health.markSuspect('sw1');
    health.recordSuccess('sw1', 5);
    expect(health.share('sw1')).toBe(1);
  });
});

describe('SwitchHealthTracker: latency', () => {
  it('keeps an EWMA (alpha 0.3) of successful round trips, seeded by the first one', () => {
    const { health } = tracker();
    health.recordSuccess('sw1', 100);
    expect(health.latencyMs('sw1')).toBe(100);
    health.recordSuccess('sw1', 200);
    expect(health.latencyMs('sw1')).toBeCloseTo(130, 10);
    health.recordSuccess('sw1', 50);
    expect(health.latencyMs('sw1')).toBeCloseTo(106, 10);
    // Failures carry no round trip.
    health.recordFailure('sw1', 'timeout');
    expect(health.latencyMs('sw1')).toBeCloseTo(106, 10);
  });

  it('p99 is the nearest-rank 99th percentile of the last 128 samples', () => {
    const { health } = tracker();
    // 1..100 in a shuffled order: the 99th smallest is 99.
    const values = Array.from({ length: 100 }, (_, i) => ((i * 37) % 100) + 1);
    for (const v of values) health.recordSuccess('sw1', v);
    expect(health.p99Ms('sw1')).toBe(99);
    // 1..200: only 73..200 are kept (128 samples); ⌈0.99 × 128⌉ = 127th smallest = 199.
    const { health: h2 } = tracker();
    for (let v = 1; v <= 200; v++) h2.recordSuccess('sw1', v);
    expect(h2.p99Ms('sw1')).toBe(199);
    // A single sample is its own p99.
    const { health: h3 } = tracker();
    h3.recordSuccess('sw1', 42);
    expect(h3.p99Ms('sw1')).toBe(42);
  });
});

describe('SwitchHealthTracker: quorum', () => {
  it('with 3 nodes, a local down stays up while 2 say up, and goes down when 2 say down', () => {
    const { health, changes } = tracker({ quorum: true, fall: 1 });
    health.track('sw1');
    health.setPeerReports([
      { switchId: 'sw1', nodeId: 'n2', up: true },
      { switchId: 'sw1', nodeId: 'n3', up: true },
    ]);
    health.recordFailure('sw1', 'timeout');
    expect(health.localUp('sw1')).toBe(false);
    expect(health.isUp('sw1')).toBe(true);
    expect(changes).toEqual([]);

    health.setPeerReports([
      { switchId: 'sw1', nodeId: 'n2', up: true },
      { switchId: 'sw1', nodeId: 'n3', up: false },
    ]);
    expect(health.isUp('sw1')).toBe(false);
    expect(changes).toEqual([['sw1', false]]);
    expect(health.snapshot('sw1')?.peerVotes).toEqual({ up: 1, down: 1 });

    // Our probes recover (rise 2): 2 of 3 up again.
    health.recordSuccess('sw1', 5);
    expect(health.isUp('sw1')).toBe(false);
    health.recordSuccess('sw1', 5);
    expect(health.isUp('sw1')).toBe(true);
  });

  it('peers alone can take a switch down when they are the majority, even if we see it up', () => {
    const { health } = tracker({ quorum: true });
    health.recordSuccess('sw1', 5);
    health.setPeerReports([
      { switchId: 'sw1', nodeId: 'n2', up: false },
      { switchId: 'sw1', nodeId: 'n3', up: false },
    ]);
    expect(health.isUp('sw1')).toBe(false);
  });

  it('a tie stays up; nodes without a report do not vote; our own stored report is ignored', () => {
    const { health } = tracker({ quorum: true, fall: 1 });
    health.recordFailure('sw1', 'timeout');
    // Only we vote: down.
    expect(health.isUp('sw1')).toBe(false);
    // One peer up (and a report of another switch, and our own stale "up" report): 1–1, up.
    health.setPeerReports([
      { switchId: 'sw1', nodeId: 'n2', up: true },
      { switchId: 'sw2', nodeId: 'n3', up: false },
      { switchId: 'sw1', nodeId: 'n1', up: true },
    ]);
    expect(health.isUp('sw1')).toBe(true);
  });

  it('keeps the newest report when a node appears twice', () => {
    const { health } = tracker({ quorum: true, fall: 1 });
    health.recordFailure('sw1', 'timeout');
    health.setPeerReports([
      { switchId: 'sw1', nodeId: 'n2', up: true, atMs: 10 },
      { switchId: 'sw1', nodeId: 'n2', up: false, atMs: 20 },
      { switchId: 'sw1', nodeId: 'n3', up: true, atMs: 20 },
    ]);
    // n1 down, n2 down (newest), n3 up.
    expect(health.isUp('sw1')).toBe(false);
  });

  it('without quorum mode the peers are ignored', () => {
    const { health } = tracker({ quorum: false, fall: 1 });
    health.setPeerReports([
      { switchId: 'sw1', nodeId: 'n2', up: true },
      { switchId: 'sw1', nodeId: 'n3', up: true },
    ]);
    health.recordFailure('sw1', 'timeout');
    expect(health.isUp('sw1')).toBe(false);
  });

  it('a newly tracked switch follows the peers at once', () => {
    const { health, changes } = tracker({ quorum: true });
    health.setPeerReports([
      { switchId: 'sw1', nodeId: 'n2', up: false },
      { switchId: 'sw1', nodeId: 'n3', up: false },
    ]);
    health.track('sw1');
    expect(health.isUp('sw1')).toBe(false);
    expect(changes).toEqual([['sw1', false]]);
  });
});
