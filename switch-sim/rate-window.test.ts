import { describe, expect, it } from 'vitest';
import { RateWindow } from './rate-window.ts';

describe('RateWindow', () => {
  it('counts events in the last window only', () => {
    const w = new RateWindow(1000);
    w.add(0);
    w.add(500);
    w.add(999);
    expect(w.count(999)).toBe(3);
    expect(w.count(1000)).toBe(2);
    expect(w.count(1500)).toBe(1);
    expect(w.count(2000)).toBe(0);
  });

  it('stays small under a long run', () => {
    const w = new RateWindow(10);
    for (let t = 0; t < 100_000; t++) w.add(t);
    expect(w.count(100_000)).toBe(9);
  });
});
