import type { ConfigIssues } from './config-issues.ts';
import { childPath, isPlainMapping } from './config-schema.ts';
import { formatDuration, tryParseDuration } from './duration.ts';

export interface StringRule {
  pattern?: RegExp;
  /** Said when the pattern fails, e.g. `must be [a-z0-9-]+`. */
  hint?: string;
  maxLength?: number;
}

export interface IntRule {
  min?: number;
  max?: number;
}

function intHint({ min, max }: IntRule): string {
  if (min !== undefined && max !== undefined) return `must be an integer from ${min} to ${max}`;
  if (min === 0) return 'must be a non-negative integer';
  if (min === 1) return 'must be a positive integer';
  if (min !== undefined) return `must be an integer >= ${min}`;
  if (max !== undefined) return `must be an integer <= ${max}`;
  return 'must be an integer';
}

/**
 * Typed reads from one YAML mapping, recording a problem per bad field. Required reads return a
 * placeholder on failure (the caller throws once all issues are collected, so it never escapes).
 * `null` (a key with no value) counts as absent.
 */
export class Fields {
  readonly issues: ConfigIssues;
  readonly path: string;
  readonly data: Record<string, unknown>;
  /** Set when the mapping itself was invalid: missing required keys are then not reported again. */
  readonly broken: boolean;

  constructor(issues: ConfigIssues, path: string, data: Record<string, unknown>, broken = false) {
    this.issues = issues;
    this.path = path;
    this.data = data;
    this.broken = broken;
  }

  /** Wraps `value` if it is a mapping (absent → empty); otherwise records the problem and returns a broken, empty one. */
  static of(issues: ConfigIssues, path: string, value: unknown, what = 'a mapping'): Fields {
    if (value === undefined || value === null) return new Fields(issues, path, {});
    if (isPlainMapping(value)) return new Fields(issues, path, value);
    issues.invalid(path, `must be ${what}`, value);
    return new Fields(issues, path, {}, true);
  }

  field(key: string): string {
    return childPath(this.path, key);
  }

  get(key: string): unknown {
    const value = Object.hasOwn(this.data, key) ? this.data[key] : undefined;
    return value === null ? undefined : value;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  missing(key: string, what = 'is required'): void {
    if (!this.broken) this.issues.add(this.field(key), what);
  }

  invalid(key: string, problem: string, value: unknown = this.get(key)): void {
    this.issues.invalid(this.field(key), problem, value);
  }

  map(key: string, what?: string): Fields {
    return Fields.of(this.issues, this.field(key), this.get(key), what);
  }

  optStr(key: string, rule: StringRule = {}): string | undefined {
    const value = this.get(key);
    if (value === undefined) return undefined;
    const max = rule.maxLength ?? 256;
    if (typeof value !== 'string') {
      this.invalid(key, `must be a string${typeof value === 'number' ? ' (quote it in YAML)' : ''}`);
    } else if (value.length === 0) {
      this.invalid(key, 'must not be empty');
    } else if (value.length > max) {
      this.invalid(key, `must be at most ${max} characters`);
    } else if (rule.pattern && !rule.pattern.test(value)) {
      this.invalid(key, rule.hint ?? `must match ${rule.pattern}`);
    } else {
      return value;
    }
    return undefined;
  }

  str(key: string, rule: StringRule = {}): string {
    if (!this.has(key)) this.missing(key);
    return this.optStr(key, rule) ?? '';
  }

  optInt(key: string, rule: IntRule = {}): number | undefined {
    const value = this.get(key);
    if (value === undefined) return undefined;
    const ok =
      typeof value === 'number' &&
      Number.isSafeInteger(value) &&
      (rule.min === undefined || value >= rule.min) &&
      (rule.max === undefined || value <= rule.max);
    if (ok) return value;
    this.invalid(key, intHint(rule));
    return undefined;
  }

  int(key: string, def: number, rule: IntRule = {}): number {
    return this.optInt(key, rule) ?? def;
  }

  oneOf<T extends string>(key: string, options: readonly T[], def: T): T {
    const value = this.get(key);
    if (value === undefined) return def;
    if (typeof value === 'string' && (options as readonly string[]).includes(value)) return value as T;
    this.invalid(key, `must be one of ${options.join(', ')}`);
    return def;
  }

  duration(key: string, def: number, rule: IntRule = {}): number {
    const value = this.get(key);
    if (value === undefined) return def;
    const ms = tryParseDuration(value);
    if (typeof ms === 'string') {
      this.invalid(key, ms);
      return def;
    }
    if ((rule.min !== undefined && ms < rule.min) || (rule.max !== undefined && ms > rule.max)) {
      const lo = rule.min === undefined ? '0ms' : formatDuration(rule.min);
      this.invalid(key, rule.max === undefined ? `must be at least ${lo}` : `must be from ${lo} to ${formatDuration(rule.max)}`);
      return def;
    }
    return ms;
  }

  /** A list (absent → []); anything else is recorded and read as []. */
  list(key: string, rule: { required?: boolean; nonEmpty?: boolean } = {}): unknown[] {
    const value = this.get(key);
    if (value === undefined) {
      if (rule.required) this.missing(key, rule.nonEmpty ? 'is required (a list with at least one entry)' : 'is required');
      return [];
    }
    if (!Array.isArray(value)) {
      this.invalid(key, 'must be a list');
      return [];
    }
    if (rule.nonEmpty && value.length === 0) this.invalid(key, 'must have at least one entry');
    return value;
  }

  /** Path of `key[index]`. */
  itemPath(key: string, index: number): string {
    return childPath(this.field(key), index);
  }

  /** A non-empty string list item at `key[index]`. */
  itemStr(key: string, index: number, value: unknown): string | undefined {
    if (typeof value === 'string' && value.length > 0) return value;
    this.issues.invalid(this.itemPath(key, index), value === '' ? 'must not be empty' : 'must be a string', value);
    return undefined;
  }

  /** The mapping at `key[index]`. */
  itemMap(key: string, index: number, value: unknown): Fields {
    return Fields.of(this.issues, this.itemPath(key, index), value);
  }
}
