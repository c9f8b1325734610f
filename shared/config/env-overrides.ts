/**
 * 12-factor overrides: `SIPFLEET_<PATH>=<value>` replaces the file value at PATH, where PATH is
 * the key path upper-cased, segments joined by `__`, `-` written as `_` (camelCase keys may also
 * be split: `MAXHEADERS` or `MAX_HEADERS`), list entries by index
 * (`SIPFLEET_CLUSTER__LIMITS__CPS=20`, `SIPFLEET_CLUSTER__RTP_RELAYS='[{id: r1, ng: 127.0.0.1:2223}]'`,
 * `SIPFLEET_CLUSTER__SWITCHES__0__WEIGHT=5`). Values are parsed as YAML, except string leaves,
 * which are taken verbatim unless quoted. An empty value unsets the key.
 */
import { parseDocument } from 'yaml';
import type { ConfigIssues } from './config-issues.ts';
import { CONFIG_SCHEMA, childPath, isPlainMapping, isSchemaList, isSchemaMap, type SchemaNode } from './config-schema.ts';
import { suggestKey } from './unknown-keys.ts';

export type EnvVars = Readonly<Record<string, string | undefined>>;

export const ENV_PREFIX = 'SIPFLEET_';

/**
 * `SIPFLEET_*` variables that are not configuration overrides: the CLI's config path, and the
 * development ops token (`<role>:<plaintext>`, hashed at load by `validateOps`).
 */
export const NON_OVERRIDE_ENV: ReadonlySet<string> = new Set(['SIPFLEET_CONFIG', 'SIPFLEET_OPS_TOKEN']);

/** The `__`-joined segment for a YAML key: `rtp-relays` → `RTP_RELAYS`, `maxHeaders` → `MAXHEADERS`. */
export function envSegment(key: string): string {
  return key.toUpperCase().replace(/-/g, '_');
}

/** Also accepted for camelCase keys: `maxHeaders` → `MAX_HEADERS`. */
function snakeSegment(key: string): string {
  return envSegment(key.replace(/([a-z0-9])([A-Z])/g, '$1_$2'));
}

/** The override variable for a YAML key path: `['cluster', 'rtp-relays']` → `SIPFLEET_CLUSTER__RTP_RELAYS`. */
export function envNameFor(keys: readonly (string | number)[]): string {
  return ENV_PREFIX + keys.map((k) => (typeof k === 'number' ? String(k) : envSegment(k))).join('__');
}

type Resolved = { keys: (string | number)[]; leaf: SchemaNode } | { problem: string };

function resolve(name: string): Resolved {
  const segments = name.slice(ENV_PREFIX.length).split('__');
  const keys: (string | number)[] = [];
  let schema: SchemaNode = CONFIG_SCHEMA;
  for (const seg of segments) {
    if (isSchemaList(schema)) {
      if (!/^(0|[1-9]\d{0,5})$/.test(seg)) return { problem: `${envNameFor(keys)} is a list; the next segment must be an entry index, e.g. ${envNameFor([...keys, 0])}` };
      keys.push(Number(seg));
      schema = schema[0];
    } else if (isSchemaMap(schema)) {
      const known = Object.keys(schema);
      const key = known.find((k) => envSegment(k) === seg || snakeSegment(k) === seg);
      if (key === undefined) {
        const hint = suggestKey(seg, known.map(envSegment));
        const where = keys.length === 0 ? 'the configuration' : `${envNameFor(keys)}`;
        const guess = hint ? ` (did you mean ${envNameFor(keys)}${keys.length ? '__' : ''}${hint}?)` : '';
        return { problem: `unknown setting: ${where} has no key ${seg}${guess}; known: ${known.map(envSegment).join(', ')}` };
      }
      keys.push(key);
      schema = schema[key];
    } else {
      return { problem: `unknown setting: ${envNameFor(keys)} is a single value and has no sub-keys` };
    }
  }
  return { keys, leaf: schema };
}

type Parsed = { ok: true; value: unknown } | { ok: false; problem: string };

function parseValue(text: string, leaf: SchemaNode): Parsed {
  if (text.trim() === '') return { ok: true, value: null };
  if (leaf === 'string' && !/^\s*["']/.test(text)) return { ok: true, value: text };
  const doc = parseDocument(text);
  const err = doc.errors[0];
  if (err) {
    // The reason only: yaml's message goes on to quote the source, which may be a secret.
    const pos = err.linePos?.[0];
    const reason = err.message.split(/ at line \d+|\n/)[0];
    return { ok: false, problem: `not a valid YAML value${pos ? ` (line ${pos.line}, column ${pos.col})` : ''}: ${reason}` };
  }
  return { ok: true, value: doc.toJS() };
}

/** Sets `value` at `keys` under `root`, creating missing mappings (and list entries up to the next index). */
function setPath(root: Record<string, unknown>, keys: (string | number)[], value: unknown): string | undefined {
  let container: Record<string, unknown> | unknown[] = root;
  let path = '';
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    const last = i === keys.length - 1;
    if (Array.isArray(container) && typeof key === 'number' && key > container.length) {
      return `${path} has ${container.length} entries; the next index is ${container.length}`;
    }
    const slot = container as Record<string | number, unknown>;
    if (last) {
      if (value === null && !Array.isArray(container)) delete slot[key];
      else slot[key] = value;
      return undefined;
    }
    path = childPath(path, key);
    const wantList = typeof keys[i + 1] === 'number';
    let next = slot[key];
    if (next === undefined || next === null) {
      next = wantList ? [] : {};
      slot[key] = next;
    }
    if (wantList ? !Array.isArray(next) : !isPlainMapping(next)) return `${path} is not a ${wantList ? 'list' : 'mapping'}`;
    container = next as Record<string, unknown> | unknown[];
  }
  return undefined;
}

/**
 * Returns a copy of `raw` with every `SIPFLEET_*` override applied (least specific first).
 * Bad variables are added to `issues` under the variable's name; each applied path is recorded
 * in `issues.overrides` so later validation errors can say which variable set the value.
 */
export function applyEnvOverrides(raw: unknown, env: EnvVars, issues: ConfigIssues): unknown {
  const names = Object.keys(env)
    .filter((name) => name.startsWith(ENV_PREFIX) && !NON_OVERRIDE_ENV.has(name) && env[name] !== undefined)
    .sort((a, b) => a.split('__').length - b.split('__').length || a.localeCompare(b, 'en', { numeric: true }));
  if (names.length === 0) return raw;
  // A file that is not a mapping is reported by validation; overrides cannot fix it.
  if (raw !== undefined && raw !== null && !isPlainMapping(raw)) return raw;
  const root: Record<string, unknown> = isPlainMapping(raw) ? structuredClone(raw) : {};
  for (const name of names) {
    const resolved = resolve(name);
    if ('problem' in resolved) {
      issues.add(name, resolved.problem);
      continue;
    }
    const parsed = parseValue(env[name] as string, resolved.leaf);
    if (!parsed.ok) {
      issues.add(name, parsed.problem);
      continue;
    }
    const problem = setPath(root, resolved.keys, parsed.value);
    if (problem) {
      issues.add(name, `cannot apply: ${problem}`);
      continue;
    }
    issues.overrides.set(resolved.keys.reduce<string>((p, k) => childPath(p, k), ''), name);
  }
  return root;
}
