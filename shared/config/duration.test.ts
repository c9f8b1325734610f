import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from './duration.ts';

describe('parseDuration', () => {
  it('accepts units and plain milliseconds', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('5s')).toBe(5000);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('0.1s')).toBe(100);
    expect(parseDuration(250)).toBe(250);
    expect(parseDuration('250')).toBe(250);
    expect(parseDuration(0)).toBe(0);
  });

  it('rejects everything else', () => {
    for (const bad of ['5 sec', '5d', '-1s', '1m30s', '', 's', '0.5ms', 'abc']) {
      expect(() => parseDuration(bad), bad).toThrow(expect.objectContaining({ code: 'CFG_ERR_INVALID' }));
    }
    expect(() => parseDuration(-5)).toThrow(/invalid duration -5/);
    expect(() => parseDuration(1.5)).toThrow(/whole number of milliseconds/);
  });

  it('formats with the largest whole unit', () => {
    expect(formatDuration(5000)).toBe('5s');
    expect(formatDuration(120_000)).toBe('2m');
    expect(formatDuration(1500)).toBe('1500ms');
  });
});
