/**
 * Buffer → SipRequest | SipResponse (RFC 3261 §7).
 *
 * One function for datagrams and for frames cut by `StreamFramer`: the body is what
 * Content-Length says (extra octets are ignored, RFC 3261 §18.3 / RFC 4475 dblreq), or the rest of
 * the buffer when Content-Length is absent (datagrams only; RFC 4475 inv2543). Every failure is a
 * `SipParseError` whose `status` is the response a server should send (400, 505, 501, 513) and
 * whose message names the header at fault. Nothing else is ever thrown.
 */
import { ERROR_CODES, SipParseError } from '../errors.ts';
import { headerKey, SINGLETON_HEADERS, canonicalHeaderName } from './header-names.ts';
import { DEFAULT_LIMITS, type ParseLimits } from './limits.ts';
import { SipMessage, SipRequest, SipResponse, SourceField, type FieldSource, type HeaderField } from './message.ts';
import { KNOWN_METHODS } from './methods.ts';
import { isShortDigits, isToken, sameAt } from './syntax.ts';
import { isSipUri, parseUriIn } from './uri.ts';

/** Scans call the builtin through a module constant: see `charCodeAt` in shared/sip/syntax.ts. */
const charCodeAt = String.prototype.charCodeAt;
const stringSlice = String.prototype.slice;
const stringIndexOf = String.prototype.indexOf;

const CRLFCRLF = Buffer.from('\r\n\r\n');
/** Up to this size a datagram is decoded to a string whole (see parseMessage). */
const WHOLE_DECODE_MAX = 4096;

function limitError(message: string, status = 400, reason = message): SipParseError {
  return new SipParseError(message, status, reason, ERROR_CODES.SIP_ERR_LIMIT);
}

function isSpHt(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** Trim SP/HT only: String#trim would also eat 0xA0, which in a latin1 string is a UTF-8 continuation byte. */
function trimLws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isSpHt(charCodeAt.call(s, a))) a++;
  while (b > a && isSpHt(charCodeAt.call(s, b - 1))) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

export function parseMessage(buf: Buffer, limits: ParseLimits = DEFAULT_LIMITS): SipRequest | SipResponse {
  if (buf.length > limits.maxMessageBytes) {
    throw limitError(`message of ${buf.length} bytes exceeds ${limits.maxMessageBytes}`, 513, 'Message Too Large');
  }
  // RFC 3261 §7.5: ignore CRLFs before the start line.
  let start = 0;
  while (start + 1 < buf.length && buf[start] === 0x0d && buf[start + 1] === 0x0a) start += 2;
  // A typical datagram is decoded whole and searched as a string (a JS builtin, cheaper than the
  // native Buffer#indexOf call); a large one has only its header block decoded.
  let text: string | undefined;
  let headEnd: number;
  if (buf.length - start <= WHOLE_DECODE_MAX) {
    text = buf.toString('latin1', start);
    headEnd = stringIndexOf.call(text, '\r\n\r\n');
    if (headEnd >= 0) headEnd += start;
  } else {
    headEnd = buf.indexOf(CRLFCRLF, start);
  }
  let bodyStart: number;
  if (headEnd < 0) {
    // A datagram whose header block is not closed by an empty line (RFC 4475 baddn as archived):
    // take the headers to the end when it at least ends on a line break.
    const n = buf.length;
    if (n - start < 2 || buf[n - 2] !== 0x0d || buf[n - 1] !== 0x0a) {
      throw new SipParseError('header block not terminated', 400, 'Bad Request (unterminated headers)');
    }
    headEnd = n - 2;
    bodyStart = n;
  } else {
    bodyStart = headEnd + 4;
  }
  // `head[0, headLength)` is the header block (start line included); `head` may run on into the body.
  const head = text ?? buf.toString('latin1', start, headEnd);
  const headLength = headEnd - start;
  let eol = stringIndexOf.call(head, '\r\n');
  if (eol < 0 || eol > headLength) eol = headLength;
  if (eol > limits.maxLineLength) throw limitError('start line too long', 414, 'Request-URI Too Long');
  const headers = parseHeaderFields(head, headLength, eol + 2, limits, buf, start);
  const duplicate = duplicateKey;
  const line = stringSlice.call(head, 0, eol);

  const isResponse = line.startsWith('SIP/');
  const msg = isResponse ? parseStatusLine(line, headers) : parseRequestLine(line, headers, head);
  checkEssentials(msg, duplicate);
  // When the line is exactly what startLine() writes (version spelled `SIP/2.0`; a response with
  // the SP before its reason), serializing it unchanged can copy these octets.
  const exact = isResponse ? eol >= 12 && sameAt(line, 0, 'SIP/2.0 ') : sameAt(line, eol - 8, ' SIP/2.0');
  if (exact) msg.setStartLineSource(buf, start, eol);

  const contentLength = readContentLength(msg);
  const available = buf.length - bodyStart;
  if (contentLength === undefined) {
    // Most messages have no body: they share one empty Buffer rather than a view each (~100 B).
    msg.body = bodyStart >= buf.length ? EMPTY : buf.subarray(bodyStart);
  } else {
    if (contentLength > available) {
      throw new SipParseError(
        `Content-Length ${contentLength} exceeds the ${available} body bytes received`,
        400,
        'Bad Request (Content-Length larger than body)',
      );
    }
    msg.body = contentLength === 0 ? EMPTY : buf.subarray(bodyStart, bodyStart + contentLength);
  }
  return msg;
}

/**
 * Header names already seen, as written, with their lookup key, in buckets by length. A name gets
 * in only after passing the token check, so a hit skips the check, the lower-casing and the slice
 * (the stored string is reused). Bounded (entries per bucket, name length), so hostile traffic
 * cannot grow it or slow the scan down.
 */
interface KnownName {
  readonly name: string;
  readonly key: string;
  readonly c0: number;
  /** SINGLETON_BITS of the key, 0 for a header that may repeat. */
  readonly bit: number;
}

/** Bit per singleton header, for the duplicate check. */
const SINGLETON_BITS = new Map<string, number>([...SINGLETON_HEADERS].map((key, i) => [key, 1 << i]));

/** The key literals of the common headers: comparisons against `'via'` etc. become pointer checks. */
const KEY_LITERALS = new Map<string, string>(
  [
    'via', 'from', 'to', 'call-id', 'cseq', 'max-forwards', 'contact', 'content-type', 'content-length', 'route',
    'record-route', 'supported', 'require', 'proxy-require', 'expires', 'authorization', 'proxy-authorization',
  ].map((k) => [k, k]),
);
const KNOWN_MAX_LEN = 48;
const KNOWN_PER_BUCKET = 24;
const KNOWN_NAMES: KnownName[][] = Array.from({ length: KNOWN_MAX_LEN + 1 }, () => []);

function knownName(head: string, pos: number, len: number): KnownName | undefined {
  if (len > KNOWN_MAX_LEN) return undefined;
  const bucket = KNOWN_NAMES[len];
  const c0 = charCodeAt.call(head, pos);
  for (let i = 0; i < bucket.length; i++) {
    const k = bucket[i];
    if (k.c0 !== c0) continue;
    const name = k.name;
    let j = 1;
    while (j < len && charCodeAt.call(name, j) === charCodeAt.call(head, pos + j)) j++;
    if (j === len) return k;
  }
  return undefined;
}

function learnName(name: string, key: string): void {
  if (name.length > KNOWN_MAX_LEN) return;
  const bucket = KNOWN_NAMES[name.length];
  if (bucket.length < KNOWN_PER_BUCKET) {
    bucket.push({ name, key: KEY_LITERALS.get(key) ?? key, c0: charCodeAt.call(name, 0), bit: SINGLETON_BITS.get(key) ?? 0 });
  }
}

// Seed with the usual spellings so common traffic never pays for a miss.
for (const name of [
  'Via', 'v', 'From', 'f', 'To', 't', 'Call-ID', 'Call-Id', 'i', 'CSeq', 'Max-Forwards', 'Contact', 'm', 'Content-Type', 'c',
  'Content-Length', 'l', 'Route', 'Record-Route', 'Allow', 'Supported', 'k', 'Require', 'Proxy-Require', 'User-Agent',
  'Server', 'Expires', 'P-Asserted-Identity', 'P-Preferred-Identity', 'Privacy', 'Accept', 'Date', 'Subject', 's',
  'Authorization', 'Proxy-Authorization', 'WWW-Authenticate', 'Proxy-Authenticate', 'Event', 'o', 'Allow-Events', 'u',
  'Session-Expires', 'x', 'Min-SE', 'Refer-To', 'r', 'Referred-By', 'b', 'Reason', 'Diversion', 'History-Info', 'RSeq',
  'RAck', 'Timestamp', 'Warning', 'Content-Disposition', 'Content-Encoding', 'e', 'Path', 'Service-Route', 'Unsupported',
  'Retry-After', 'Min-Expires', 'Remote-Party-ID', 'Organization', 'MIME-Version', 'Accept-Encoding', 'Accept-Language',
  'Alert-Info', 'Call-Info', 'Priority', 'Identity', 'y',
]) {
  learnName(name, headerKey(name));
}

/** Key of the first repeated singleton header seen by the last parseHeaderFields call, or ''. */
let duplicateKey = '';

/**
 * The fields in `head[pos, n)`. `base` is the offset in `src` of `head[0]`: a field's octets are
 * `src[base + pos ...]`.
 */
function parseHeaderFields(head: string, n: number, pos: number, limits: ParseLimits, src: Buffer, base: number): HeaderField[] {
  const headers: HeaderField[] = [];
  const source: FieldSource = { text: head, src, base };
  let seen = 0;
  duplicateKey = '';
  while (pos < n) {
    let end = stringIndexOf.call(head, '\r\n', pos);
    let folded = false;
    // RFC 3261 §7.3.1: a line starting with SP/HT continues the previous field.
    while (end >= 0 && end + 2 < n && isSpHt(charCodeAt.call(head, end + 2))) {
      folded = true;
      end = stringIndexOf.call(head, '\r\n', end + 2);
    }
    if (end < 0) end = n;
    if (end - pos > limits.maxLineLength) throw limitError(`header line longer than ${limits.maxLineLength}`);
    const colon = stringIndexOf.call(head, ':', pos);
    if (colon <= pos || colon >= end) throw new SipParseError('malformed header line (no colon)', 400, 'Bad Request (malformed header line)');
    let nameEnd = colon;
    while (nameEnd > pos && isSpHt(charCodeAt.call(head, nameEnd - 1))) nameEnd--;
    let name: string;
    let key: string;
    let bit: number;
    const known = knownName(head, pos, nameEnd - pos);
    if (known !== undefined) {
      name = known.name;
      key = known.key;
      bit = known.bit;
    } else {
      name = stringSlice.call(head, pos, nameEnd);
      if (!isToken(name)) throw new SipParseError('invalid header name', 400, 'Bad Request (invalid header name)');
      key = headerKey(name);
      bit = SINGLETON_BITS.get(key) ?? 0;
      learnName(name, key);
    }
    if (bit !== 0) {
      if ((seen & bit) !== 0 && duplicateKey === '') duplicateKey = key;
      seen |= bit;
    }
    let value: string;
    let valueAt = -1;
    if (folded) {
      value = trimLws(stringSlice.call(head, colon + 1, end).replace(/\r\n[ \t]+/g, ' '));
    } else {
      let vs = colon + 1;
      let ve = end;
      while (vs < ve && isSpHt(charCodeAt.call(head, vs))) vs++;
      while (ve > vs && isSpHt(charCodeAt.call(head, ve - 1))) ve--;
      value = stringSlice.call(head, vs, ve);
      valueAt = vs;
    }
    headers.push(new SourceField(name, key, value, source, pos, end - pos, valueAt));
    pos = end + 2;
    if (headers.length > limits.maxHeaders) throw limitError(`more than ${limits.maxHeaders} header fields`);
  }
  return headers;
}

function parseStatusLine(line: string, headers: HeaderField[]): SipResponse {
  const sp1 = line.indexOf(' ');
  if (sp1 < 0) throw new SipParseError('malformed status line', 400, 'Bad Response');
  if (sp1 !== 7 || line.slice(0, 7).toUpperCase() !== 'SIP/2.0') throw new SipParseError('unsupported SIP version', 505, 'Version Not Supported');
  let sp2 = line.indexOf(' ', sp1 + 1);
  if (sp2 < 0) sp2 = line.length;
  // RFC 4475 §3.1.2.19 bigcode: exactly three digits, 100-699.
  const c0 = charCodeAt.call(line, sp1 + 1) - 0x30;
  const c1 = charCodeAt.call(line, sp1 + 2) - 0x30;
  const c2 = charCodeAt.call(line, sp1 + 3) - 0x30;
  if (sp2 !== sp1 + 4 || !(c0 >= 1 && c0 <= 6) || !(c1 >= 0 && c1 <= 9) || !(c2 >= 0 && c2 <= 9)) {
    throw new SipParseError('invalid status code', 400, 'Bad Response (status code)');
  }
  return new SipResponse(c0 * 100 + c1 * 10 + c2, line.slice(sp2 + 1), headers, EMPTY);
}

const EMPTY = Buffer.alloc(0);

/** `line` is `head[0, line.length)`; the Request-URI is scanned in `head`, a flat string. */
function parseRequestLine(line: string, headers: HeaderField[], head: string): SipRequest {
  const sp1 = line.indexOf(' ');
  const sp2 = sp1 < 0 ? -1 : line.indexOf(' ', sp1 + 1);
  // Exactly two single spaces (RFC 3261 §7.1; RFC 4475 lwsstart, trws, lwsruri).
  if (sp1 <= 0 || sp2 <= sp1 + 1 || line.indexOf(' ', sp2 + 1) >= 0 || line.indexOf('\t') >= 0) {
    throw new SipParseError('malformed request line', 400, 'Bad Request (malformed request line)');
  }
  const method = line.slice(0, sp1);
  const uri = line.slice(sp1 + 1, sp2);
  const version = line.slice(sp2 + 1);
  if (version !== 'SIP/2.0' && version.toUpperCase() !== 'SIP/2.0') {
    if (/^SIP\/\d+\.\d+$/i.test(version)) throw new SipParseError(`SIP version ${version} not supported`, 505, 'Version Not Supported');
    throw new SipParseError('malformed SIP version', 400, 'Bad Request (malformed SIP version)');
  }
  if (!isToken(method)) throw new SipParseError('invalid method', 400, 'Bad Request (invalid method)');
  const parsed = parseUriIn(head, sp1 + 1, sp2, 'Request-URI');
  // RFC 3261 §19.1.5: headers are not allowed in a Request-URI (RFC 4475 escruri).
  if (isSipUri(parsed) && parsed.headers !== undefined) {
    throw new SipParseError('Request-URI carries headers', 400, 'Bad Request-URI (headers not allowed)');
  }
  return new SipRequest(method, uri, headers, EMPTY, parsed);
}

/** The headers every proxy hop needs; parsed now so that a bad one is a 400 up front. */
function checkEssentials(msg: SipMessage, duplicate: string): void {
  if (duplicate !== '') {
    const name = canonicalHeaderName(duplicate);
    throw new SipParseError(`duplicate ${name} header`, 400, `Bad Request (duplicate ${name})`);
  }
  void msg.via;
  void msg.fromTag;
  void msg.toTag;
  void msg.callId;
  const cseq = msg.cseq;
  void msg.maxForwards;
  if (msg instanceof SipRequest && cseq.method !== msg.method) {
    // RFC 4475 §3.1.2.18: an unknown method with a mismatched CSeq gets 501 (more future-proof).
    if (!KNOWN_METHODS.has(msg.method)) throw new SipParseError('CSeq method does not match', 501, 'Not Implemented');
    throw new SipParseError('CSeq method does not match the request method', 400, 'Bad Request (CSeq method mismatch)');
  }
}

/** Content-Length as a number, undefined when absent. Conflicting copies are a framing error. */
function readContentLength(msg: SipMessage): number | undefined {
  let result: number | undefined;
  const hs = msg.headers;
  for (let i = 0; i < hs.length; i++) {
    const h = hs[i];
    if (h.key !== 'content-length') continue;
    if (!isShortDigits(h.value)) {
      throw new SipParseError('Content-Length is not a non-negative number', 400, 'Bad Request (invalid Content-Length)', ERROR_CODES.SIP_ERR_FRAMING);
    }
    const n = Number(h.value);
    if (result !== undefined && result !== n) {
      throw new SipParseError('conflicting Content-Length headers', 400, 'Bad Request (conflicting Content-Length)', ERROR_CODES.SIP_ERR_FRAMING);
    }
    result = n;
  }
  return result;
}
