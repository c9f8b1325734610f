/**
 * Small lexical helpers shared by the header parsers (RFC 3261 §25.1).
 * Header text is handled as latin1 strings, so each char is one wire octet and a forwarded
 * message is byte-identical to the one received, UTF-8 included.
 */
import { SipParseError } from '../errors.ts';

/**
 * `charCodeAt.call(text, i)` rather than `text.charCodeAt(i)` in every scan of this library. The
 * strings scanned come in several of V8's representations (sequential, sliced, cons, internalized,
 * thin); past four, each `text.charCodeAt` site turns megamorphic and every character costs a
 * generic property lookup (`LoadIC`: 14–17 % of the dispatcher's CPU at 3500 cps, BENCHMARKS.md,
 * Session 10). A call through this module-local constant is compiled to the builtin directly,
 * whatever the string. It must be a constant of each module: an imported binding is not folded.
 * The per-header `slice` and `indexOf` calls of the parsers go the same way (`stringSlice`,
 * `stringIndexOf`): one generic lookup each is less than a character loop's, but they add up.
 */
const charCodeAt = String.prototype.charCodeAt;
const stringSlice = String.prototype.slice;

/** RFC 3261 token characters: alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" */
const TOKEN_TABLE = new Uint8Array(128);
for (const ch of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`\'~') {
  TOKEN_TABLE[charCodeAt.call(ch, 0)] = 1;
}

export function isTokenChar(code: number): boolean {
  return code < 128 && TOKEN_TABLE[code] === 1;
}

export function isToken(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0, n = text.length; i < n; i++) {
    if (!isTokenChar(charCodeAt.call(text, i))) return false;
  }
  return true;
}

/** True when `s` is 1-10 ASCII digits (Content-Length, Max-Forwards: never more than 10 digits). */
export function isShortDigits(s: string): boolean {
  const n = s.length;
  if (n === 0 || n > 10) return false;
  for (let i = 0; i < n; i++) {
    const c = charCodeAt.call(s, i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

export function isWs(code: number): boolean {
  return code === 0x20 || code === 0x09 || code === 0x0d || code === 0x0a;
}

export function skipWs(text: string, i: number, end = text.length): number {
  while (i < end && isWs(charCodeAt.call(text, i))) i++;
  return i;
}

/** Index just past the closing quote of the quoted-string that opens at `start`, honouring quoted-pairs. */
export function endOfQuoted(text: string, start: number, header: string, end = text.length): number {
  for (let i = start + 1; i < end; i++) {
    const c = charCodeAt.call(text, i);
    if (c === 0x5c /* \ */) {
      i++;
      continue;
    }
    if (c === 0x22 /* " */) return i + 1;
  }
  throw new SipParseError(`${header}: unterminated quoted string`, 400, `Bad ${header} (unterminated quote)`);
}

/**
 * End of the value that starts at `start` in `text[start, end)`: the index of the comma that
 * separates it from the next value (RFC 3261 §7.3.1), or `end`. Commas inside quoted strings and
 * `<...>` do not separate.
 */
export function commaValueEnd(text: string, start: number, end: number, header: string): number {
  let angle = false;
  for (let i = start; i < end; i++) {
    const c = charCodeAt.call(text, i);
    if (c === 0x22) {
      i = endOfQuoted(text, i, header, end) - 1;
    } else if (c === 0x3c /* < */) {
      angle = true;
    } else if (c === 0x3e /* > */) {
      angle = false;
    } else if (c === 0x2c /* , */ && !angle) {
      return i;
    }
  }
  return end;
}

/**
 * Split a header value on the commas that separate values (RFC 3261 §7.3.1), skipping commas
 * inside quoted strings and `<...>`. Whitespace around each value is trimmed.
 */
export function splitCommaValues(value: string, header: string): string[] {
  const out: string[] = [];
  const n = value.length;
  let start = 0;
  for (;;) {
    const end = commaValueEnd(value, start, n, header);
    out.push(trimWs(value, start, end));
    if (end === n) return out;
    start = end + 1;
  }
}

/** `end` moved back over the SP/HT/CR/LF that end `text[start, end)`. */
export function skipWsBack(text: string, start: number, end: number): number {
  while (end > start && isWs(charCodeAt.call(text, end - 1))) end--;
  return end;
}

/**
 * `value.slice(start, end)` without surrounding SP/HT/CR/LF. Not String#trim: that would also eat
 * 0xA0 (and 0x0B/0x0C), and in a latin1-held string 0xA0 is a UTF-8 continuation byte.
 */
function trimWs(value: string, start: number, end: number): string {
  start = skipWs(value, start, end);
  return stringSlice.call(value, start, skipWsBack(value, start, end));
}

/** Parameter names seen on every message, by length: reusing the literal saves a slice and a hash. */
const COMMON_PARAMS: string[][] = [];
for (const name of ['tag', 'branch', 'rport', 'received', 'lr', 'transport', 'user', 'maddr', 'expires', 'q', 'ttl', 'method', 'ob']) {
  (COMMON_PARAMS[name.length] ??= []).push(name);
}

function commonParam(text: string, start: number, len: number): string | undefined {
  const bucket = COMMON_PARAMS[len];
  if (bucket === undefined) return undefined;
  for (let i = 0; i < bucket.length; i++) if (sameAt(text, start, bucket[i])) return bucket[i];
  return undefined;
}

/** `text.startsWith(lit, start)`, as a plain loop (cheaper than the builtin for short literals). */
export function sameAt(text: string, start: number, lit: string): boolean {
  const n = lit.length;
  if (start + n > text.length) return false;
  for (let j = 0; j < n; j++) if (charCodeAt.call(text, start + j) !== charCodeAt.call(lit, j)) return false;
  return true;
}

/**
 * Ordered generic parameters; names lower-cased, values as written (null for a bare name).
 * Read-only: a parsed header or URI without parameters shares NO_PARAMS, so code that changes
 * parameters builds a new Map (e.g. `new Map(via.params)`).
 */
export type Params = ReadonlyMap<string, string | null>;

/**
 * The parameters of everything parsed without any: one shared empty map rather than a Map per
 * header and URI (a Map and its table are ~200 bytes; a call's messages parse dozens).
 */
export const NO_PARAMS: Params = new Map();

/**
 * Where the last `nextParam` call found its parameter: the name is `text[PARAM[NAME_AT], PARAM[NAME_END])`
 * (PARAM[UPPER] 1 when it holds an upper-case letter), the value `text[PARAM[VALUE_AT], PARAM[VALUE_END])`,
 * or PARAM[VALUE_AT] -1 for a bare name. Numbers in a typed array: no allocation, no write barrier.
 */
const PARAM = new Int32Array(5);
const NAME_AT = 0;
const NAME_END = 1;
const UPPER = 2;
const VALUE_AT = 3;
const VALUE_END = 4;

/**
 * One `SEMI generic-param` of `text[i, n)` (`i` at the `;`, after LWS), into PARAM; returns the
 * index after it and its trailing LWS. LWS is allowed around `;` and `=` (RFC 3261 §25.1
 * SEMI/EQUAL). Throws on anything but a `;`, and on an empty name (`;;`), which RFC 4475 §3.1.2.1
 * (badinv01) treats as malformed.
 */
function nextParam(text: string, i: number, header: string, n: number): number {
  if (charCodeAt.call(text, i) !== 0x3b /* ; */) {
    throw new SipParseError(`${header}: unexpected character in parameters`, 400, `Bad ${header} (parameters)`);
  }
  i = skipWs(text, i + 1, n);
  const nameStart = i;
  let upper = 0;
  while (i < n) {
    const c = charCodeAt.call(text, i);
    if (!isTokenChar(c)) break;
    if (c >= 0x41 && c <= 0x5a) upper = 1;
    i++;
  }
  if (i === nameStart) {
    throw new SipParseError(`${header}: empty parameter`, 400, `Bad ${header} (empty parameter)`);
  }
  PARAM[NAME_AT] = nameStart;
  PARAM[NAME_END] = i;
  PARAM[UPPER] = upper;
  PARAM[VALUE_AT] = -1;
  i = skipWs(text, i, n);
  if (i < n && charCodeAt.call(text, i) === 0x3d /* = */) {
    i = skipWs(text, i + 1, n);
    const valueStart = i;
    if (i < n && charCodeAt.call(text, i) === 0x22) {
      i = endOfQuoted(text, i, header, n);
    } else {
      // token / host / IPv6 reference; liberal: RFC 5118 §4.5 allows received=IPv6 without [].
      while (i < n) {
        const c = charCodeAt.call(text, i);
        if (c === 0x3b || c === 0x2c || isWs(c)) break;
        i++;
      }
    }
    PARAM[VALUE_AT] = valueStart;
    PARAM[VALUE_END] = i;
    i = skipWs(text, i, n);
  }
  return i;
}

/**
 * Parse `*( SEMI generic-param )` in `text[i, n)` (`i` points at the first `;` or the end).
 * Returns the params; throws as `nextParam` does.
 */
export function parseParams(text: string, i: number, header: string, n = text.length): Params {
  i = skipWs(text, i, n);
  if (i >= n) return NO_PARAMS;
  const params = new Map<string, string | null>();
  while (i < n) {
    i = nextParam(text, i, header, n);
    const nameStart = PARAM[NAME_AT];
    const nameEnd = PARAM[NAME_END];
    const name =
      PARAM[UPPER] === 1 ? stringSlice.call(text, nameStart, nameEnd).toLowerCase() : (commonParam(text, nameStart, nameEnd - nameStart) ?? stringSlice.call(text, nameStart, nameEnd));
    params.set(name, PARAM[VALUE_AT] < 0 ? null : stringSlice.call(text, PARAM[VALUE_AT], PARAM[VALUE_END]));
  }
  return params;
}

/**
 * `parseParams(text, i, header, n).get(name)` without the Map: every parameter is still checked
 * (the same errors), and only the value asked for is cut. `name` is lower case; the last
 * occurrence wins, as in the Map.
 */
export function paramValue(text: string, i: number, header: string, n: number, name: string): string | null | undefined {
  i = skipWs(text, i, n);
  let valueAt = -2;
  let valueEnd = 0;
  const len = name.length;
  while (i < n) {
    i = nextParam(text, i, header, n);
    const nameStart = PARAM[NAME_AT];
    if (PARAM[NAME_END] - nameStart !== len || !sameAtFolded(text, nameStart, name)) continue;
    valueAt = PARAM[VALUE_AT];
    valueEnd = PARAM[VALUE_END];
  }
  if (valueAt === -2) return undefined;
  return valueAt < 0 ? null : stringSlice.call(text, valueAt, valueEnd);
}

/** `text.startsWith(lower, start)` with the text's ASCII letters folded to lower case. */
function sameAtFolded(text: string, start: number, lower: string): boolean {
  for (let j = 0, n = lower.length; j < n; j++) {
    let c = charCodeAt.call(text, start + j);
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    if (c !== charCodeAt.call(lower, j)) return false;
  }
  return true;
}

/** Serialize params back as `;name=value` in insertion order. */
export function formatParams(params: Params): string {
  let out = '';
  for (const [name, value] of params) out += value === null ? `;${name}` : `;${name}=${value}`;
  return out;
}

/** Remove the quotes and quoted-pair escapes of a quoted-string. */
export function unquote(text: string): string {
  if (text.length < 2 || charCodeAt.call(text, 0) !== 0x22) return text;
  let out = '';
  for (let i = 1; i < text.length - 1; i++) {
    const ch = text[i];
    if (ch === '\\' && i + 1 < text.length - 1) {
      out += text[++i];
    } else {
      out += ch;
    }
  }
  return out;
}

/** Decode a latin1-held header string as UTF-8 (for display names and other human text). */
export function latin1ToUtf8(text: string): string {
  return Buffer.from(text, 'latin1').toString('utf8');
}
