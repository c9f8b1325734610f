/**
 * Bencode (the BitTorrent encoding rtpengine's ng control protocol speaks): byte strings
 * `<len>:<bytes>`, integers `i<n>e`, lists `l...e`, dictionaries `d<key><value>...e`.
 *
 * Encoding is canonical: dictionary keys are written in byte order of their UTF-8 form, integers
 * without leading zeros, strings as their UTF-8 bytes, `Buffer`s byte for byte (an SDP body
 * passes through untouched either way). `undefined` dictionary values are left out, so a params
 * object with optional fields encodes directly.
 *
 * Decoding is strict about syntax (no leading zeros, no `-0`, no truncation, no trailing bytes,
 * no duplicate keys) and bounded (`maxLength` input bytes, `maxDepth` nesting), but does not
 * require sorted keys: rtpengine does not sort the keys of its replies (its documentation says
 * so). A byte string comes back as a JS `string` when its bytes are valid UTF-8 (re-encoding it
 * gives the same bytes back, so SDP is kept intact), otherwise as a `Buffer`. Dictionary keys must
 * be valid UTF-8. Dictionaries are null-prototype objects, so a `__proto__` key is plain data.
 */
import { isUtf8 } from 'node:buffer';
import { SipfleetError } from '../../shared/errors.ts';

/** A bencoded value as this module produces and accepts it. */
export type BencodeValue = string | Buffer | number | bigint | readonly BencodeValue[] | BencodeDict;

/** A dictionary: keys are text; an `undefined` value is skipped when encoding. */
export interface BencodeDict {
  readonly [key: string]: BencodeValue | undefined;
}

export interface BencodeDecodeOptions {
  /** Largest input accepted, in bytes (default 1 MiB). */
  maxLength?: number;
  /** Deepest nesting of lists and dictionaries accepted (default 64; a scalar is depth 0). */
  maxDepth?: number;
  /** `'auto'` (default): valid UTF-8 strings as `string`, other bytes as `Buffer`; `'buffer'`: every string value as `Buffer` (keys stay text). */
  bytes?: 'auto' | 'buffer';
}

export interface BencodeEncodeOptions {
  /** Deepest nesting accepted (default 64); also what stops a cyclic structure. */
  maxDepth?: number;
}

export const BENCODE_DEFAULT_MAX_LENGTH = 1024 * 1024;
export const BENCODE_DEFAULT_MAX_DEPTH = 64;

const COLON = 0x3a;
const CH_0 = 0x30;
const CH_9 = 0x39;
const CH_MINUS = 0x2d;
const CH_i = 0x69;
const CH_l = 0x6c;
const CH_d = 0x64;
const CH_e = 0x65;

function decodeError(message: string, offset: number): SipfleetError {
  return new SipfleetError('BENCODE_ERR_DECODE', `bencode: ${message} at byte ${offset}`, { detail: { offset } });
}

function limitError(message: string, limit: string, value: number, offset?: number): SipfleetError {
  return new SipfleetError('BENCODE_ERR_LIMIT', `bencode: ${message}`, { detail: { limit, value, ...(offset === undefined ? {} : { offset }) } });
}

function encodeError(message: string, path: string): SipfleetError {
  return new SipfleetError('BENCODE_ERR_ENCODE', `bencode: ${message} at ${path || '(root)'}`, { detail: { path: path || '(root)' } });
}

// ---------------------------------------------------------------------------------------------
// encode

/**
 * Encodes `value` canonically.
 *
 * @throws SipfleetError `BENCODE_ERR_ENCODE` for a value bencode cannot hold (non-integer or
 *   non-finite number, boolean, null, `undefined` in a list, a string with lone surrogates,
 *   an unsupported object); `BENCODE_ERR_LIMIT` past `maxDepth` (cycles included).
 */
export function bencode(value: BencodeValue, options: BencodeEncodeOptions = {}): Buffer {
  const maxDepth = options.maxDepth ?? BENCODE_DEFAULT_MAX_DEPTH;
  const chunks: Buffer[] = [];
  encodeInto(value, chunks, 0, maxDepth, '');
  return Buffer.concat(chunks);
}

function encodeBytes(bytes: Uint8Array, chunks: Buffer[]): void {
  chunks.push(Buffer.from(`${bytes.length}:`, 'latin1'));
  chunks.push(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

function textBytes(text: string, path: string): Buffer {
  if (!text.isWellFormed()) throw encodeError('string with a lone surrogate', path);
  return Buffer.from(text, 'utf8');
}

function encodeInto(value: unknown, chunks: Buffer[], depth: number, maxDepth: number, path: string): void {
  if (typeof value === 'string') {
    encodeBytes(textBytes(value, path), chunks);
  } else if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw encodeError(`${String(value)} is not an integer`, path);
    chunks.push(Buffer.from(`i${BigInt(value).toString()}e`, 'latin1'));
  } else if (typeof value === 'bigint') {
    chunks.push(Buffer.from(`i${value.toString()}e`, 'latin1'));
  } else if (value instanceof Uint8Array) {
    encodeBytes(value, chunks);
  } else if (Array.isArray(value)) {
    if (depth >= maxDepth) throw limitError(`nesting deeper than ${maxDepth} at ${path || '(root)'}`, 'maxDepth', maxDepth);
    chunks.push(Buffer.from('l', 'latin1'));
    value.forEach((item: unknown, i: number) => {
      if (item === undefined) throw encodeError('undefined list item', `${path}[${i}]`);
      encodeInto(item, chunks, depth + 1, maxDepth, `${path}[${i}]`);
    });
    chunks.push(Buffer.from('e', 'latin1'));
  } else if (typeof value === 'object' && value !== null && isPlainObject(value)) {
    if (depth >= maxDepth) throw limitError(`nesting deeper than ${maxDepth} at ${path || '(root)'}`, 'maxDepth', maxDepth);
    const entries: Array<[Buffer, unknown, string]> = [];
    for (const [key, item] of Object.entries(value)) {
      if (item === undefined) continue;
      entries.push([textBytes(key, `${path}.${key}`), item, key]);
    }
    entries.sort((a, b) => Buffer.compare(a[0], b[0]));
    chunks.push(Buffer.from('d', 'latin1'));
    for (const [keyBytes, item, key] of entries) {
      encodeBytes(keyBytes, chunks);
      encodeInto(item, chunks, depth + 1, maxDepth, `${path}.${key}`);
    }
    chunks.push(Buffer.from('e', 'latin1'));
  } else {
    throw encodeError(`cannot encode ${value === null ? 'null' : typeof value}`, path);
  }
}

function isPlainObject(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === null || proto === Object.prototype;
}

// ---------------------------------------------------------------------------------------------
// decode

/**
 * Decodes exactly one value that fills `input` completely.
 *
 * @throws SipfleetError `BENCODE_ERR_DECODE` (malformed, truncated, trailing bytes, duplicate or
 *   non-UTF-8 key; `detail.offset` says where) or `BENCODE_ERR_LIMIT` (`maxLength`, `maxDepth`).
 */
export function bdecode(input: Uint8Array, options: BencodeDecodeOptions = {}): BencodeValue {
  const maxLength = options.maxLength ?? BENCODE_DEFAULT_MAX_LENGTH;
  if (input.length > maxLength) throw limitError(`input of ${input.length} bytes exceeds ${maxLength}`, 'maxLength', maxLength);
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (buf.length === 0) throw decodeError('empty input', 0);
  const decoder = new Decoder(buf, options.maxDepth ?? BENCODE_DEFAULT_MAX_DEPTH, options.bytes ?? 'auto');
  const value = decoder.value(0);
  if (decoder.pos !== buf.length) throw decodeError('trailing bytes after the value', decoder.pos);
  return value;
}

/** `bdecode` that also requires a dictionary at the top. */
export function bdecodeDict(input: Uint8Array, options: BencodeDecodeOptions = {}): BencodeDict {
  const value = bdecode(input, options);
  if (!isBencodeDict(value)) throw decodeError('top-level value is not a dictionary', 0);
  return value;
}

/** True for a decoded (or plain) dictionary: not a list, Buffer, string or number. */
export function isBencodeDict(value: unknown): value is BencodeDict {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

class Decoder {
  pos = 0;
  readonly #buf: Buffer;
  readonly #maxDepth: number;
  readonly #bytes: 'auto' | 'buffer';

  constructor(buf: Buffer, maxDepth: number, bytes: 'auto' | 'buffer') {
    this.#buf = buf;
    this.#maxDepth = maxDepth;
    this.#bytes = bytes;
  }

  value(depth: number): BencodeValue {
    const buf = this.#buf;
    if (this.pos >= buf.length) throw decodeError('unexpected end of input', this.pos);
    const c = buf[this.pos];
    if (c === CH_i) return this.#integer();
    if (c >= CH_0 && c <= CH_9) {
      const bytes = this.#byteString();
      if (this.#bytes === 'buffer' || !isUtf8(bytes)) return Buffer.from(bytes); // a copy: never alias the datagram
      return bytes.toString('utf8');
    }
    if (c === CH_l || c === CH_d) {
      if (depth >= this.#maxDepth) throw limitError(`nesting deeper than ${this.#maxDepth}`, 'maxDepth', this.#maxDepth, this.pos);
      this.pos++;
      return c === CH_l ? this.#list(depth + 1) : this.#dict(depth + 1);
    }
    throw decodeError(`unexpected byte 0x${c.toString(16).padStart(2, '0')}`, this.pos);
  }

  #list(depth: number): BencodeValue[] {
    const items: BencodeValue[] = [];
    for (;;) {
      if (this.pos >= this.#buf.length) throw decodeError('unterminated list', this.pos);
      if (this.#buf[this.pos] === CH_e) {
        this.pos++;
        return items;
      }
      items.push(this.value(depth));
    }
  }

  #dict(depth: number): BencodeDict {
    const dict: Record<string, BencodeValue> = Object.create(null) as Record<string, BencodeValue>;
    for (;;) {
      if (this.pos >= this.#buf.length) throw decodeError('unterminated dictionary', this.pos);
      const c = this.#buf[this.pos];
      if (c === CH_e) {
        this.pos++;
        return dict;
      }
      const keyAt = this.pos;
      if (c < CH_0 || c > CH_9) throw decodeError('dictionary key is not a byte string', keyAt);
      const keyBytes = this.#byteString();
      if (!isUtf8(keyBytes)) throw decodeError('dictionary key is not valid UTF-8', keyAt);
      const key = keyBytes.toString('utf8');
      if (Object.hasOwn(dict, key)) throw decodeError(`duplicate dictionary key ${JSON.stringify(key)}`, keyAt);
      if (this.pos >= this.#buf.length) throw decodeError(`dictionary key ${JSON.stringify(key)} has no value`, this.pos);
      dict[key] = this.value(depth);
    }
  }

  #integer(): number | bigint {
    const buf = this.#buf;
    const start = this.pos;
    let p = start + 1;
    const negative = buf[p] === CH_MINUS;
    if (negative) p++;
    const digitsAt = p;
    while (p < buf.length && buf[p] >= CH_0 && buf[p] <= CH_9) p++;
    if (p >= buf.length) throw decodeError('unterminated integer', start);
    if (buf[p] !== CH_e) throw decodeError('integer with a non-digit', p);
    const digits = p - digitsAt;
    if (digits === 0) throw decodeError('integer without digits', start);
    if (buf[digitsAt] === CH_0 && (digits > 1 || negative)) throw decodeError('integer with a leading zero or -0', start);
    const text = buf.toString('latin1', start + 1, p);
    this.pos = p + 1;
    const n = Number(text);
    return Number.isSafeInteger(n) ? n : BigInt(text);
  }

  /** Reads `<len>:<bytes>` and returns a view of the bytes. */
  #byteString(): Buffer {
    const buf = this.#buf;
    const start = this.pos;
    let p = start;
    let length = 0;
    while (p < buf.length && buf[p] >= CH_0 && buf[p] <= CH_9) {
      length = length * 10 + (buf[p] - CH_0);
      p++;
      // The input is bounded by maxLength: a longer length can never be satisfied.
      if (length > buf.length) throw decodeError('byte string longer than the input', start);
    }
    if (p >= buf.length) throw decodeError('unterminated byte string length', start);
    if (buf[p] !== COLON) throw decodeError('byte string length not followed by ":"', p);
    if (buf[start] === CH_0 && p - start > 1) throw decodeError('byte string length with a leading zero', start);
    const from = p + 1;
    if (from + length > buf.length) throw decodeError(`byte string of ${length} bytes runs past the end`, start);
    this.pos = from + length;
    return buf.subarray(from, from + length);
  }
}
