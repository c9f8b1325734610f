import { SipfleetError } from '../errors.ts';

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

const HINT = 'must be a duration like 500ms, 5s, 2m, 1h or a whole number of milliseconds';

/** Milliseconds for `500ms`/`5s`/`2m`/`1h`/`1.5s`/`250`, or the problem as a string. */
export function tryParseDuration(value: unknown): number | string {
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && value >= 0 ? value : HINT;
  }
  if (typeof value !== 'string') return HINT;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(value);
  if (!m) return HINT;
  const ms = Number(m[1]) * UNIT_MS[(m[2] ?? 'ms') as keyof typeof UNIT_MS];
  // Round away float noise (0.1s = 100.00000000000001), but refuse real fractions of a millisecond.
  const rounded = Math.round(ms);
  if (Math.abs(ms - rounded) > 1e-6 || !Number.isSafeInteger(rounded)) return HINT;
  return rounded;
}

/** Parses a duration (`500ms`, `5s`, `2m`, `1h`, or a number of ms) into milliseconds; throws CFG_ERR_INVALID. */
export function parseDuration(value: string | number): number {
  const result = tryParseDuration(value);
  if (typeof result === 'string') {
    throw new SipfleetError('CFG_ERR_INVALID', `invalid duration ${JSON.stringify(value)}: ${result}`);
  }
  return result;
}

/** `5000` → `5s`, `1500` → `1500ms`: the largest whole unit, for messages. */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
