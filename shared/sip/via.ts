/**
 * Via header values (RFC 3261 §20.42, §18.2.1; RFC 3581 rport).
 * `SIP / 2.0 / UDP host:port ;branch=...` with LWS allowed around the slashes (RFC 4475 wsinv).
 */
import { SipParseError } from '../errors.ts';
import { sentByAt } from './uri.ts';
import { isShortDigits, isTokenChar, isWs, parseParams, sameAt, skipWs, type Params } from './syntax.ts';

/** Scans call the builtin through a module constant: see `charCodeAt` in shared/sip/syntax.ts. */
const charCodeAt = String.prototype.charCodeAt;

/** RFC 3261 §8.1.1.7: a branch starting with this cookie was made by an RFC 3261 element. */
export const BRANCH_MAGIC_COOKIE = 'z9hG4bK';

export interface Via {
  /** Transport, upper-cased: UDP, TCP, TLS, SCTP, WS, WSS or an extension token. */
  transport: string;
  host: string;
  port: number | undefined;
  params: Params;
  branch: string | undefined;
  received: string | undefined;
  /** RFC 3581: undefined when absent, null when present without a value, else the port. */
  rport: number | null | undefined;
}

function bad(what: string): SipParseError {
  return new SipParseError(`Via: ${what}`, 400, `Bad Via (${what})`);
}

/** End of the token that starts at `i` (after LWS); throws when there is none. Start is `tokenStart`. */
let tokenStart = 0;
function tokenEnd(text: string, i: number, end: number, what: string): number {
  i = skipWs(text, i, end);
  tokenStart = i;
  while (i < end && isTokenChar(charCodeAt.call(text, i))) i++;
  if (i === tokenStart) throw bad(`missing ${what}`);
  return i;
}

function expectSlash(text: string, i: number, end: number): number {
  i = skipWs(text, i, end);
  if (i >= end || charCodeAt.call(text, i) !== 0x2f) throw bad('malformed sent-protocol');
  return i + 1;
}

const TRANSPORTS = ['UDP', 'TCP', 'TLS', 'SCTP', 'WS', 'WSS'];

/** The transport token upper-cased; the usual upper-case spellings without allocating. */
function transportOf(text: string, start: number, end: number): string {
  const len = end - start;
  for (let i = 0; i < TRANSPORTS.length; i++) {
    const t = TRANSPORTS[i];
    if (t.length === len && sameAt(text, start, t)) return t;
  }
  return text.slice(start, end).toUpperCase();
}

/** Parse one Via value (one element of the comma list). */
export function parseVia(text: string): Via {
  return parseViaIn(text, 0, text.length);
}

/** `parseVia(text.slice(start, end))` without the slice (scanning a flat string is faster). */
export function parseViaIn(text: string, start: number, end: number): Via {
  let i = tokenEnd(text, start, end, 'protocol name');
  const sip = i - tokenStart === 3 && (sameAt(text, tokenStart, 'SIP') || text.slice(tokenStart, i).toUpperCase() === 'SIP');
  i = expectSlash(text, i, end);
  i = tokenEnd(text, i, end, 'protocol version');
  const v2 = i - tokenStart === 3 && sameAt(text, tokenStart, '2.0');
  i = expectSlash(text, i, end);
  i = tokenEnd(text, i, end, 'transport');
  const transport = transportOf(text, tokenStart, i);
  i = skipWs(text, i, end);
  if (!sip || !v2) throw bad('unsupported protocol');
  const sentBy = i;
  while (i < end) {
    const c = charCodeAt.call(text, i);
    if (c === 0x3b || isWs(c)) break;
    i++;
  }
  if (i === sentBy) throw bad('missing sent-by');
  // sent-by may have LWS around its ':' in theory; in practice nobody sends it, so keep it strict.
  const { host, port } = sentByAt(text, sentBy, i);
  const params = parseParams(text, i, 'Via', end);
  const rportRaw = params.get('rport');
  let rport: number | null | undefined;
  if (rportRaw === null) rport = null;
  else if (rportRaw !== undefined) {
    if (rportRaw.length < 1 || rportRaw.length > 5 || !isShortDigits(rportRaw) || Number(rportRaw) > 65535) throw bad('invalid rport');
    rport = Number(rportRaw);
  }
  const branch = params.get('branch');
  if (branch === null) throw bad('empty branch');
  const received = params.get('received');
  if (received === null) throw bad('empty received');
  return { transport, host, port, params, branch, received, rport };
}

export function formatVia(via: Via): string {
  let out = `SIP/2.0/${via.transport} ${via.host}`;
  if (via.port !== undefined) out += `:${via.port}`;
  for (const [name, value] of via.params) out += value === null ? `;${name}` : `;${name}=${value}`;
  return out;
}
