/**
 * The SIP message model (RFC 3261 §7): a start line, an ordered list of header fields and a body.
 *
 * Header fields keep the bytes they arrived with (`raw`, latin1: one char per octet) until they
 * are changed, so a forwarded message carries unknown headers, odd spacing and folding exactly as
 * received. Typed accessors parse a header the first time they are asked and cache the result;
 * changing a header drops its cache entry. The parser touches only what a proxy needs on every
 * message (top Via, From, To, Call-ID, CSeq, Max-Forwards, Content-Length); everything else is
 * parsed lazily.
 */
import { SipParseError } from '../errors.ts';
import { canonicalHeaderName, headerKey } from './header-names.ts';
import { nameAddrParamIn, parseNameAddr, parseNameAddrIn, type NameAddr } from './name-addr.ts';
import { commaValueEnd, isShortDigits, splitCommaValues, skipWs, skipWsBack } from './syntax.ts';
import { parseUri, type Uri } from './uri.ts';
import { formatVia, parseVia, parseViaIn, type Via } from './via.ts';

/** Scans call the builtin through a module constant: see `charCodeAt` in shared/sip/syntax.ts. */
const charCodeAt = String.prototype.charCodeAt;
const stringSlice = String.prototype.slice;
const stringIndexOf = String.prototype.indexOf;

export interface HeaderField {
  /** Name as written on the wire (`v`, `MaX-fOrWaRdS`) or as sipfleet wrote it. */
  readonly name: string;
  /** Lookup key: long form, lower case (`via`, `max-forwards`). */
  readonly key: string;
  /** Value, unfolded and trimmed. */
  readonly value: string;
  /** The exact original line (name, colon, value, folding) without its CRLF; undefined once rewritten. */
  readonly raw: string | undefined;
}

/**
 * What the fields of one parsed message share: the decoded text they were cut from, and where
 * `text[0]` is in the received octets `src`. One per message rather than three slots per field
 * (a field is a heap object of 24 bytes plus 8 per slot on Node's 64-bit heap).
 */
export interface FieldSource {
  readonly text: string;
  readonly src: Buffer;
  readonly base: number;
}

/**
 * A header field as the parser made it: `raw` is `text[#pos, #pos + #len)` of its `FieldSource`
 * and also the octets at `base + #pos` in `src` (followed there by CRLF), so the serializer can
 * copy runs of untouched fields instead of re-encoding them. Internal to shared/sip; everyone
 * else sees a plain HeaderField. The source is private on purpose: a copy made with
 * `{ ...field, raw: other }` is a plain field and is written from its own text.
 *
 * `raw` is cut from the text only when asked for: forwarding copies the octets and needs only the
 * length, so most fields never make that string (a sliced string per field, 32 bytes, and the
 * slice itself, on every message).
 */
export class SourceField implements HeaderField {
  readonly name: string;
  readonly key: string;
  readonly value: string;
  readonly #source: FieldSource;
  readonly #pos: number;
  readonly #len: number;
  /** `value` is `text[#valueAt, +value.length)` unless #valueAt is -1 (a folded value, rebuilt). */
  readonly #valueAt: number;

  constructor(name: string, key: string, value: string, source: FieldSource, pos: number, len: number, valueAt: number) {
    this.name = name;
    this.key = key;
    this.value = value;
    this.#source = source;
    this.#pos = pos;
    this.#len = len;
    this.#valueAt = valueAt;
  }

  /** The exact original line (name, colon, value, folding) without its CRLF. */
  get raw(): string {
    return this.#source.text.slice(this.#pos, this.#pos + this.#len);
  }

  /** `h.raw.length` (without cutting a parsed field's `raw`), or -1 when `h` has no raw line. */
  static rawLengthOf(h: HeaderField): number {
    if (#len in h) return h.#len;
    return h.raw === undefined ? -1 : h.raw.length;
  }

  /** The buffer holding `h.raw` (then at `offsetOf(h)`), or undefined for a field the parser did not make. */
  static sourceOf(h: HeaderField): Buffer | undefined {
    return #source in h ? h.#source.src : undefined;
  }

  static offsetOf(h: SourceField): number {
    return h.#source.base + h.#pos;
  }

  /**
   * A flat string holding `h.value` at `valueOffset`, or undefined. Value strings are V8 sliced
   * strings, several times slower to scan char by char than the string they were cut from.
   */
  static textOf(h: HeaderField): string | undefined {
    return #source in h && h.#valueAt >= 0 ? h.#source.text : undefined;
  }

  static valueOffset(h: SourceField): number {
    return h.#valueAt;
  }
}

/** Where a parsed start line came from: `src[at, at + len)`, followed there by CRLF. Internal to shared/sip. */
export interface StartLineSource {
  readonly src: Buffer;
  readonly at: number;
  readonly len: number;
}

export interface CSeq {
  seq: number;
  method: string;
}

export interface Contact extends NameAddr {
  /** `expires` header param as a number, when present and numeric. */
  expires: number | undefined;
  /** `q` header param (0..1), when present. */
  q: number | undefined;
}

export interface DigestCredentials {
  scheme: string;
  params: Map<string, string>;
}

/** Largest CSeq sequence number (RFC 3261 §8.1.1.5: < 2**31 to send, 32-bit to accept). */
const MAX_CSEQ = 0xffff_ffff;

/**
 * A flat string holding `h.value`, and where in it the value starts: the parsed message's text when
 * the parser made the field (scanning it beats scanning the sliced value), else the value itself.
 */
function valueText(h: HeaderField): string {
  return SourceField.textOf(h) ?? h.value;
}

function valueStart(h: HeaderField): number {
  return SourceField.textOf(h) === undefined ? 0 : SourceField.valueOffset(h as SourceField);
}

/**
 * End of the first comma-separated value (RFC 3261 §7.3.1) of `h`, whose value is
 * `text[at, valueEnd)`: the separating comma's index, or `valueEnd` when there is one value.
 * `header` names the header in errors.
 */
function firstValueEnd(h: HeaderField, text: string, at: number, valueEnd: number, header: string): number {
  // The usual field holds one value: a native search finds no comma in it (searching the value,
  // not the text, where the next comma may be many headers away).
  return stringIndexOf.call(h.value, ',') < 0 ? valueEnd : commaValueEnd(text, at, valueEnd, header);
}

export abstract class SipMessage {
  headers: HeaderField[];
  body: Buffer;
  /** Parsed values of the less common headers, by key; created on first use. */
  #cache: Map<string, unknown> | undefined = undefined;
  // The values every hop reads get their own slots (no Map, no closure on the hot path).
  #via: Via | undefined = undefined;
  #from: NameAddr | undefined = undefined;
  #to: NameAddr | undefined = undefined;
  /** The From and To tags, read without parsing the whole name-addr; valid per #tagsRead bit (1 From, 2 To). */
  #fromTag: string | undefined = undefined;
  #toTag: string | undefined = undefined;
  #tagsRead = 0;
  #callId: string | undefined = undefined;
  #cseq: CSeq | undefined = undefined;
  /** Max-Forwards: -2 not read yet, -1 absent. */
  #maxForwards = -2;

  constructor(headers: HeaderField[], body: Buffer) {
    this.headers = headers;
    this.body = body;
  }

  abstract readonly kind: 'request' | 'response';
  abstract startLine(): string;

  /**
   * Internal to shared/sip (parser → serializer): the received octets of the start line while they
   * are still exactly what `startLine()` would write, else undefined.
   */
  abstract startLineSource(): StartLineSource | undefined;

  // ---- generic header access (keys are long-form, lower-case) ----

  /** First field's value for the key, or undefined. */
  get(key: string): string | undefined {
    const hs = this.headers;
    for (let i = 0; i < hs.length; i++) if (hs[i].key === key) return hs[i].value;
    return undefined;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** Every field's value for the key, in order (one entry per header line). */
  getAll(key: string): string[] {
    const out: string[] = [];
    for (const h of this.headers) if (h.key === key) out.push(h.value);
    return out;
  }

  /** Every comma-separated value of a multi-value header, across all its lines, in order. */
  values(key: string): string[] {
    const out: string[] = [];
    const name = canonicalHeaderName(key);
    for (const h of this.headers) {
      if (h.key !== key) continue;
      for (const v of splitCommaValues(h.value, name)) {
        if (v.length === 0) throw new SipParseError(`${name}: empty value in list`, 400, `Bad ${name} (empty value)`);
        out.push(v);
      }
    }
    return out;
  }

  /** Replace every field of this name with one field (or append it when absent). */
  set(name: string, value: string): void {
    const key = headerKey(name);
    const field: HeaderField = { name, key, value, raw: undefined };
    const idx = this.#indexOf(key);
    if (idx < 0) this.headers.push(field);
    else {
      this.headers[idx] = field;
      this.headers = this.headers.filter((h, i) => i === idx || h.key !== key);
    }
    this.#forget(key);
  }

  append(name: string, value: string): void {
    const key = headerKey(name);
    this.headers.push({ name, key, value, raw: undefined });
    this.#forget(key);
  }

  /** Insert a field above the first field of the same name (or at the top), e.g. our Via or Record-Route. */
  prepend(name: string, value: string): void {
    const key = headerKey(name);
    const idx = this.#indexOf(key);
    this.headers.splice(idx < 0 ? 0 : idx, 0, { name, key, value, raw: undefined });
    this.#forget(key);
  }

  /** Remove every field with this key; returns how many were removed. */
  remove(key: string): number {
    const before = this.headers.length;
    this.headers = this.headers.filter((h) => h.key !== key);
    this.#forget(key);
    return before - this.headers.length;
  }

  /**
   * Remove the first value of a multi-value header: the whole first line when it holds one value,
   * else that value only (RFC 3261 §7.3.1: `Via: a, b` is the same as two Via lines). The values
   * left on the line keep their spelling; a line left with nothing but a trailing comma is removed.
   * Returns the removed value.
   */
  removeFirstValue(key: string): string | undefined {
    const hs = this.headers;
    const idx = this.#indexOf(key);
    if (idx < 0) return undefined;
    const field = hs[idx];
    const text = valueText(field);
    const at = valueStart(field);
    const valueEnd = at + field.value.length;
    const end = firstValueEnd(field, text, at, valueEnd, field.name);
    const firstAt = skipWs(text, at, end);
    const first = stringSlice.call(text, firstAt, skipWsBack(text, firstAt, end));
    const rest = end === valueEnd ? valueEnd : skipWs(text, end + 1, valueEnd);
    if (rest >= valueEnd) hs.splice(idx, 1);
    else hs[idx] = { name: field.name, key, value: stringSlice.call(text, rest, valueEnd), raw: undefined };
    this.#forget(key);
    return first;
  }

  /** Index of the first field with this key, or -1. */
  #indexOf(key: string): number {
    const hs = this.headers;
    for (let i = 0; i < hs.length; i++) if (hs[i].key === key) return i;
    return -1;
  }

  /** Drop every cached value derived from fields with this key (`via` also caches the full list as `via*`). */
  #forget(key: string): void {
    switch (key) {
      case 'via':
        this.#via = undefined;
        break;
      case 'from':
        this.#from = undefined;
        this.#tagsRead &= ~1;
        break;
      case 'to':
        this.#to = undefined;
        this.#tagsRead &= ~2;
        break;
      case 'call-id':
        this.#callId = undefined;
        break;
      case 'cseq':
        this.#cseq = undefined;
        break;
      case 'max-forwards':
        this.#maxForwards = -2;
        break;
    }
    const cache = this.#cache;
    if (cache !== undefined) {
      cache.delete(key);
      cache.delete(`${key}*`);
    }
  }

  protected cached<T>(key: string, compute: () => T): T {
    const cache = (this.#cache ??= new Map());
    if (cache.has(key)) return cache.get(key) as T;
    const value = compute();
    cache.set(key, value);
    return value;
  }

  // ---- typed accessors ----

  /** Top Via (the first value of the first Via line). */
  get via(): Via {
    return (this.#via ??= this.#readVia());
  }

  #readVia(): Via {
    const h = this.#field('via');
    if (h === undefined) throw new SipParseError('missing Via header', 400, 'Missing Via');
    const text = valueText(h);
    const at = valueStart(h);
    const end = skipWsBack(text, at, firstValueEnd(h, text, at, at + h.value.length, 'Via'));
    if (end === at) throw new SipParseError('Via: empty value', 400, 'Bad Via (empty value)');
    return parseViaIn(text, at, end);
  }

  /** The first field with this key. */
  #field(key: string): HeaderField | undefined {
    const i = this.#indexOf(key);
    return i < 0 ? undefined : this.headers[i];
  }

  /** All Via values, top first. */
  vias(): Via[] {
    return this.cached('via*', () => this.values('via').map(parseVia));
  }

  get callId(): string {
    return (this.#callId ??= this.#readCallId());
  }

  #readCallId(): string {
    const h = this.#field('call-id');
    const v = h?.value;
    if (h === undefined || v === undefined || v.length === 0) throw new SipParseError('missing Call-ID header', 400, 'Missing Call-ID');
    const text = valueText(h);
    const at = valueStart(h);
    for (let i = at, end = at + v.length; i < end; i++) {
      const c = charCodeAt.call(text, i);
      if (c <= 0x20) throw new SipParseError('Call-ID: whitespace in value', 400, 'Bad Call-ID');
    }
    return v;
  }

  get cseq(): CSeq {
    return (this.#cseq ??= this.#readCSeq());
  }

  /** `1*DIGIT LWS Method` (RFC 3261 §20.16); the number must fit in 32 bits (RFC 4475 §3.1.2.4 scalar02). */
  #readCSeq(): CSeq {
    const v = this.get('cseq');
    if (v === undefined) throw new SipParseError('missing CSeq header', 400, 'Missing CSeq');
    const n = v.length;
    let i = 0;
    let seq = 0;
    while (i < n) {
      const d = charCodeAt.call(v, i) - 0x30;
      if (d < 0 || d > 9) break;
      // Capped: past 2**32 the exact value no longer matters, only that it is out of range.
      if (seq <= MAX_CSEQ) seq = seq * 10 + d;
      i++;
    }
    const digitsEnd = i;
    while (i < n && (charCodeAt.call(v, i) === 0x20 || charCodeAt.call(v, i) === 0x09)) i++;
    const methodStart = i;
    while (i < n && charCodeAt.call(v, i) !== 0x20 && charCodeAt.call(v, i) !== 0x09) i++;
    if (digitsEnd === 0 || methodStart === digitsEnd || methodStart === n || i !== n) {
      throw new SipParseError('CSeq: malformed', 400, 'Bad CSeq');
    }
    if (seq > MAX_CSEQ) throw new SipParseError('CSeq: number out of range', 400, 'Bad CSeq (out of range)');
    return { seq, method: v.slice(methodStart) };
  }

  get from(): NameAddr {
    return (this.#from ??= this.nameAddr('from', 'From'));
  }

  get to(): NameAddr {
    return (this.#to ??= this.nameAddr('to', 'To'));
  }

  /** The From tag. Checks the whole From value as `from` would, without making its NameAddr. */
  get fromTag(): string | undefined {
    if ((this.#tagsRead & 1) === 0) {
      this.#fromTag = this.#readTag('from', 'From', this.#from);
      this.#tagsRead |= 1;
    }
    return this.#fromTag;
  }

  /** The To tag. Checks the whole To value as `to` would, without making its NameAddr. */
  get toTag(): string | undefined {
    if ((this.#tagsRead & 2) === 0) {
      this.#toTag = this.#readTag('to', 'To', this.#to);
      this.#tagsRead |= 2;
    }
    return this.#toTag;
  }

  /** Max-Forwards, or undefined when absent (RFC 2543 peers, RFC 4475 §3.4.1 inv2543). */
  get maxForwards(): number | undefined {
    let mf = this.#maxForwards;
    if (mf === -2) {
      const v = this.get('max-forwards');
      if (v === undefined) mf = -1;
      else if (!isShortDigits(v)) throw new SipParseError('Max-Forwards: not a number', 400, 'Bad Max-Forwards');
      else mf = Number(v);
      this.#maxForwards = mf;
    }
    return mf < 0 ? undefined : mf;
  }

  /** Route values, top first. */
  routes(): NameAddr[] {
    return this.cached('route', () => this.values('route').map((v) => parseNameAddr(v, 'Route')));
  }

  recordRoutes(): NameAddr[] {
    return this.cached('record-route', () => this.values('record-route').map((v) => parseNameAddr(v, 'Record-Route')));
  }

  /** Contact values, or '*' for the REGISTER wildcard (RFC 3261 §10.2.2). */
  contacts(): Contact[] | '*' {
    return this.cached('contact', () => {
      const vals = this.values('contact');
      if (vals.length === 1 && vals[0] === '*') return '*' as const;
      return vals.map((v) => {
        const na = parseNameAddr(v, 'Contact');
        const exp = na.params.get('expires');
        const q = na.params.get('q');
        return {
          ...na,
          expires: exp != null && /^\d{1,10}$/.test(exp) ? Number(exp) : undefined,
          q: q != null && /^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(q) ? Number(q) : undefined,
        };
      });
    });
  }

  get contentType(): string | undefined {
    return this.get('content-type');
  }

  /** Expires header (RFC 3261 §20.19) in seconds, undefined when absent or not a number. */
  get expires(): number | undefined {
    const v = this.get('expires');
    return v !== undefined && /^\d{1,10}$/.test(v) ? Number(v) : undefined;
  }

  /** Parsed `Authorization` (or `Proxy-Authorization` with key 'proxy-authorization'). */
  credentials(key: 'authorization' | 'proxy-authorization' = 'authorization'): DigestCredentials | undefined {
    const v = this.get(key);
    return v === undefined ? undefined : parseAuthParams(v);
  }

  private nameAddr(key: string, name: string): NameAddr {
    const h = this.#required(key, name);
    const at = valueStart(h);
    return parseNameAddrIn(valueText(h), at, at + h.value.length, name);
  }

  /** The tag of the From or To field: from its NameAddr when that is parsed already, else by a scan. */
  #readTag(key: string, name: string, parsed: NameAddr | undefined): string | undefined {
    if (parsed !== undefined) return parsed.params.get('tag') ?? undefined;
    const h = this.#required(key, name);
    const at = valueStart(h);
    return nameAddrParamIn(valueText(h), at, at + h.value.length, name, 'tag') ?? undefined;
  }

  #required(key: string, name: string): HeaderField {
    const h = this.#field(key);
    if (h === undefined) throw new SipParseError(`missing ${name} header`, 400, `Missing ${name}`);
    return h;
  }

  /** Replace the top Via value (used for received/rport, RFC 3581 §4). */
  setTopVia(via: Via): void {
    const idx = this.#indexOf('via');
    if (idx < 0) throw new SipParseError('missing Via header', 400, 'Missing Via');
    const field = this.headers[idx];
    const parts = splitCommaValues(field.value, 'Via');
    parts[0] = formatVia(via);
    this.headers[idx] = { name: field.name, key: 'via', value: parts.join(', '), raw: undefined };
    this.#forget('via');
  }
}

export class SipRequest extends SipMessage {
  readonly kind = 'request' as const;
  method: string;
  /** Request-URI as written. */
  uri: string;
  #parsedUri: Uri | undefined;

  /** `parsedUri`, when given, must be `parseUri(uri)` (the parser already has it). */
  constructor(method: string, uri: string, headers: HeaderField[], body: Buffer, parsedUri?: Uri) {
    super(headers, body);
    this.method = method;
    this.uri = uri;
    this.#parsedUri = parsedUri;
  }

  /** The Request-URI, parsed on first use. */
  get requestUri(): Uri {
    if (this.#parsedUri === undefined) this.#parsedUri = parseUri(this.uri, 'Request-URI');
    return this.#parsedUri;
  }

  setUri(uri: string): void {
    this.uri = uri;
    this.#parsedUri = undefined;
  }

  startLine(): string {
    return `${this.method} ${this.uri} SIP/2.0`;
  }

  #line: (StartLineSource & { readonly method: string; readonly uri: string }) | undefined = undefined;

  /** Internal to shared/sip: the parser records that `src[at, at + len)` is `startLine()` as it is now. */
  setStartLineSource(src: Buffer, at: number, len: number): void {
    this.#line = { src, at, len, method: this.method, uri: this.uri };
  }

  startLineSource(): StartLineSource | undefined {
    const l = this.#line;
    return l !== undefined && l.method === this.method && l.uri === this.uri ? l : undefined;
  }
}

export class SipResponse extends SipMessage {
  readonly kind = 'response' as const;
  status: number;
  reason: string;

  constructor(status: number, reason: string, headers: HeaderField[], body: Buffer) {
    super(headers, body);
    this.status = status;
    this.reason = reason;
  }

  #line: (StartLineSource & { readonly status: number; readonly reason: string }) | undefined = undefined;

  /** Internal to shared/sip: the parser records that `src[at, at + len)` is `startLine()` as it is now. */
  setStartLineSource(src: Buffer, at: number, len: number): void {
    this.#line = { src, at, len, status: this.status, reason: this.reason };
  }

  startLineSource(): StartLineSource | undefined {
    const l = this.#line;
    return l !== undefined && l.status === this.status && l.reason === this.reason ? l : undefined;
  }

  startLine(): string {
    return `SIP/2.0 ${this.status} ${this.reason}`;
  }
}

/** Parse `Digest realm="x", nonce="y", ...` (RFC 7616 §3.4). Unknown schemes keep their raw params. */
export function parseAuthParams(value: string): DigestCredentials {
  const sp = value.search(/[ \t]/);
  const scheme = sp < 0 ? value : value.slice(0, sp);
  const params = new Map<string, string>();
  let i = sp < 0 ? value.length : skipWs(value, sp);
  while (i < value.length) {
    const eq = value.indexOf('=', i);
    if (eq < 0) break;
    const name = value.slice(i, eq).trim().toLowerCase();
    i = skipWs(value, eq + 1);
    let v: string;
    if (charCodeAt.call(value, i) === 0x22) {
      let j = i + 1;
      let out = '';
      while (j < value.length && charCodeAt.call(value, j) !== 0x22) {
        // quoted-pair; a lone backslash at the very end is kept as is.
        if (charCodeAt.call(value, j) === 0x5c && j + 1 < value.length) j++;
        out += value[j++];
      }
      v = out;
      i = j + 1;
    } else {
      const comma = value.indexOf(',', i);
      const end = comma < 0 ? value.length : comma;
      v = value.slice(i, end).trim();
      i = end;
    }
    params.set(name, v);
    i = skipWs(value, i);
    if (charCodeAt.call(value, i) === 0x2c) i = skipWs(value, i + 1);
  }
  return { scheme, params };
}
