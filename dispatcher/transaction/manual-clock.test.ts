import { describe, expect, it } from 'vitest';
import { ManualClock } from './manual-clock.ts';

describe('ManualClock', () => {
  it('fires due timers in due order, then set order, each at its own time', () => {
    const clock = new ManualClock(1_000);
    const log: string[] = [];
    clock.setTimer(300, () => log.push(`c@${clock.now()}`));
    clock.setTimer(100, () => log.push(`a@${clock.now()}`));
    clock.setTimer(100, () => log.push(`b@${clock.now()}`));
    clock.advance(99);
    expect(log).toEqual([]);
    clock.advance(150);
    expect(log).toEqual(['a@1100', 'b@1100']);
    expect(clock.now()).toBe(1_249);
    clock.advance(1_000);
    expect(log).toEqual(['a@1100', 'b@1100', 'c@1300']);
  });

  it('fires timers set by callbacks when they fall inside the window', () => {
    const clock = new ManualClock();
    const times: number[] = [];
    const tick = (interval: number): void => {
      clock.setTimer(interval, () => {
        times.push(clock.now());
        tick(interval * 2);
      });
    };
    tick(500);
    clock.advance(4_000);
    expect(times).toEqual([500, 1500, 3500]);
    expect(clock.pending).toBe(1);
    expect(clock.nextTimerAt()).toBe(7_500);
  });

  it('cancelled timers never fire; a 0 ms timer fires on advance(0)', () => {
    const clock = new ManualClock();
    let fired = 0;
    const h = clock.setTimer(10, () => fired++);
    h.cancel();
    h.cancel();
    clock.setTimer(0, () => fired++);
    expect(fired).toBe(0);
    clock.advance(0);
    expect(fired).toBe(1);
    clock.advance(100);
    expect(fired).toBe(1);
    expect(clock.pending).toBe(0);
  });

  it('refuses to go back in time', () => {
    const clock = new ManualClock();
    expect(() => clock.advance(-1)).toThrow(RangeError);
  });
});
