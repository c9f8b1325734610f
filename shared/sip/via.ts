/**
 * Via header values (RFC 3261 §20.42, §18.2.1; RFC 3581 rport).
 * `SIP / 2.0 / UDP host:port ;branch=...` with LWS allowed around the slashes (RFC 4475 wsinv).
 */
import { SipParseError } from '../errors.ts';
import { parseHostPort } from './uri.ts';
import { isTokenChar, isWs, parseParams, skipWs, type Params } from './syntax.ts';

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

function readToken(text: string, i: number, what: string): [string, number] {
  i = skipWs(text, i);
  const start = i;
  while (i < text.length && isTokenChar(text.charCodeAt(i))) i++;
  if (i === start) throw bad(`missing ${what}`);
  return [text.slice(start, i), skipWs(text, i)];
}

function expectSlash(text: string, i: number): number {
  if (text.charCodeAt(i) !== 0x2f) throw bad('malformed sent-protocol');
  return i + 1;
}

/** Parse one Via value (one element of the comma list). */
export function parseVia(text: string): Via {
  let i = 0;
  let name: string;
  let version: string;
  let transport: string;
  [name, i] = readToken(text, i, 'protocol name');
  i = expectSlash(text, i);
  [version, i] = readToken(text, i, 'protocol version');
  i = expectSlash(text, i);
  [transport, i] = readToken(text, i, 'transport');
  if (name.toUpperCase() !== 'SIP' || version !== '2.0') throw bad('unsupported protocol');
  const start = i;
  while (i < text.length && text.charCodeAt(i) !== 0x3b && !isWs(text.charCodeAt(i))) i++;
  if (i === start) throw bad('missing sent-by');
  // sent-by may have LWS around its ':' in theory; in practice nobody sends it, so keep it strict.
  const { host, port } = parseHostPort(text.slice(start, i), 'Via');
  const params = parseParams(text, i, 'Via');
  const rportRaw = params.get('rport');
  let rport: number | null | undefined;
  if (rportRaw === null) rport = null;
  else if (rportRaw !== undefined) {
    if (!/^\d{1,5}$/.test(rportRaw) || Number(rportRaw) > 65535) throw bad('invalid rport');
    rport = Number(rportRaw);
  }
  const branch = params.get('branch');
  if (branch === null) throw bad('empty branch');
  const received = params.get('received');
  if (received === null) throw bad('empty received');
  return { transport: transport.toUpperCase(), host, port, params, branch, received, rport };
}

export function formatVia(via: Via): string {
  let out = `SIP/2.0/${via.transport} ${via.host}`;
  if (via.port !== undefined) out += `:${via.port}`;
  for (const [name, value] of via.params) out += value === null ? `;${name}` : `;${name}=${value}`;
  return out;
}
