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
import { SipMessage, SipRequest, SipResponse, type HeaderField } from './message.ts';
import { KNOWN_METHODS } from './methods.ts';
import { isToken } from './syntax.ts';
import { isSipUri, parseUri } from './uri.ts';

const CRLFCRLF = Buffer.from('\r\n\r\n');

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
  while (a < b && isSpHt(s.charCodeAt(a))) a++;
  while (b > a && isSpHt(s.charCodeAt(b - 1))) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

export function parseMessage(buf: Buffer, limits: ParseLimits = DEFAULT_LIMITS): SipRequest | SipResponse {
  if (buf.length > limits.maxMessageBytes) {
    throw limitError(`message of ${buf.length} bytes exceeds ${limits.maxMessageBytes}`, 513, 'Message Too Large');
  }
  // RFC 3261 §7.5: ignore CRLFs before the start line.
  let start = 0;
  while (start + 1 < buf.length && buf[start] === 0x0d && buf[start + 1] === 0x0a) start += 2;
  let headEnd = buf.indexOf(CRLFCRLF, start);
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
  const head = buf.toString('latin1', start, headEnd);
  let eol = head.indexOf('\r\n');
  if (eol < 0) eol = head.length;
  if (eol > limits.maxLineLength) throw limitError('start line too long', 414, 'Request-URI Too Long');
  const headers = parseHeaderFields(head, eol + 2, limits);
  const line = head.slice(0, eol);

  const msg = line.startsWith('SIP/') ? parseStatusLine(line, headers) : parseRequestLine(line, headers);
  checkEssentials(msg);

  const contentLength = readContentLength(msg);
  const available = buf.length - bodyStart;
  if (contentLength === undefined) {
    msg.body = buf.subarray(bodyStart);
  } else {
    if (contentLength > available) {
      throw new SipParseError(
        `Content-Length ${contentLength} exceeds the ${available} body bytes received`,
        400,
        'Bad Request (Content-Length larger than body)',
      );
    }
    msg.body = buf.subarray(bodyStart, bodyStart + contentLength);
  }
  return msg;
}

function parseHeaderFields(head: string, pos: number, limits: ParseLimits): HeaderField[] {
  const headers: HeaderField[] = [];
  const n = head.length;
  while (pos < n) {
    let end = head.indexOf('\r\n', pos);
    let folded = false;
    // RFC 3261 §7.3.1: a line starting with SP/HT continues the previous field.
    while (end >= 0 && end + 2 < n && isSpHt(head.charCodeAt(end + 2))) {
      folded = true;
      end = head.indexOf('\r\n', end + 2);
    }
    if (end < 0) end = n;
    const raw = head.slice(pos, end);
    pos = end + 2;
    if (raw.length > limits.maxLineLength) throw limitError(`header line longer than ${limits.maxLineLength}`);
    const colon = raw.indexOf(':');
    if (colon <= 0) throw new SipParseError('malformed header line (no colon)', 400, 'Bad Request (malformed header line)');
    let nameEnd = colon;
    while (nameEnd > 0 && isSpHt(raw.charCodeAt(nameEnd - 1))) nameEnd--;
    const name = raw.slice(0, nameEnd);
    if (!isToken(name)) throw new SipParseError('invalid header name', 400, 'Bad Request (invalid header name)');
    let value = raw.slice(colon + 1);
    if (folded) value = value.replace(/\r\n[ \t]+/g, ' ');
    headers.push({ name, key: headerKey(name), value: trimLws(value), raw });
    if (headers.length > limits.maxHeaders) throw limitError(`more than ${limits.maxHeaders} header fields`);
  }
  return headers;
}

function parseStatusLine(line: string, headers: HeaderField[]): SipResponse {
  const sp1 = line.indexOf(' ');
  if (sp1 < 0) throw new SipParseError('malformed status line', 400, 'Bad Response');
  if (line.slice(0, sp1).toUpperCase() !== 'SIP/2.0') throw new SipParseError('unsupported SIP version', 505, 'Version Not Supported');
  let sp2 = line.indexOf(' ', sp1 + 1);
  if (sp2 < 0) sp2 = line.length;
  const code = line.slice(sp1 + 1, sp2);
  // RFC 4475 §3.1.2.19 bigcode: exactly three digits, 100-699.
  if (!/^[1-6]\d\d$/.test(code)) throw new SipParseError('invalid status code', 400, 'Bad Response (status code)');
  return new SipResponse(Number(code), line.slice(sp2 + 1), headers, EMPTY);
}

const EMPTY = Buffer.alloc(0);

function parseRequestLine(line: string, headers: HeaderField[]): SipRequest {
  const sp1 = line.indexOf(' ');
  const sp2 = sp1 < 0 ? -1 : line.indexOf(' ', sp1 + 1);
  // Exactly two single spaces (RFC 3261 §7.1; RFC 4475 lwsstart, trws, lwsruri).
  if (sp1 <= 0 || sp2 <= sp1 + 1 || line.indexOf(' ', sp2 + 1) >= 0 || line.indexOf('\t') >= 0) {
    throw new SipParseError('malformed request line', 400, 'Bad Request (malformed request line)');
  }
  const method = line.slice(0, sp1);
  const uri = line.slice(sp1 + 1, sp2);
  const version = line.slice(sp2 + 1);
  if (version.toUpperCase() !== 'SIP/2.0') {
    if (/^SIP\/\d+\.\d+$/i.test(version)) throw new SipParseError(`SIP version ${version} not supported`, 505, 'Version Not Supported');
    throw new SipParseError('malformed SIP version', 400, 'Bad Request (malformed SIP version)');
  }
  if (!isToken(method)) throw new SipParseError('invalid method', 400, 'Bad Request (invalid method)');
  const parsed = parseUri(uri, 'Request-URI');
  // RFC 3261 §19.1.5: headers are not allowed in a Request-URI (RFC 4475 escruri).
  if (isSipUri(parsed) && parsed.headers !== undefined) {
    throw new SipParseError('Request-URI carries headers', 400, 'Bad Request-URI (headers not allowed)');
  }
  return new SipRequest(method, uri, headers, EMPTY);
}

/** The headers every proxy hop needs; parsed now so that a bad one is a 400 up front. */
function checkEssentials(msg: SipMessage): void {
  const seen = new Set<string>();
  for (const h of msg.headers) {
    if (!SINGLETON_HEADERS.has(h.key)) continue;
    if (seen.has(h.key)) {
      const name = canonicalHeaderName(h.key);
      throw new SipParseError(`duplicate ${name} header`, 400, `Bad Request (duplicate ${name})`);
    }
    seen.add(h.key);
  }
  void msg.via;
  void msg.from;
  void msg.to;
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
  for (const h of msg.headers) {
    if (h.key !== 'content-length') continue;
    if (!/^\d{1,10}$/.test(h.value)) {
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
