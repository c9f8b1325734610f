/**
 * SIP/SIPS URIs (RFC 3261 §19.1) and, for every other scheme, an opaque absolute URI.
 * Parsing is liberal in what characters may appear (RFC 4475 §3.1.1.2 intmeth) but strict about
 * structure: a host must be a hostname, IPv4 address or bracketed IPv6 reference, and a port is
 * 1-5 digits (RFC 5118 §4.2: `sip:2001:db8::10` is malformed).
 */
import { SipParseError } from '../errors.ts';
import { formatParams, NO_PARAMS, parseParams, sameAt, type Params } from './syntax.ts';

/** Scans call the builtin through a module constant: see `charCodeAt` in shared/sip/syntax.ts. */
const charCodeAt = String.prototype.charCodeAt;
const stringSlice = String.prototype.slice;
const stringIndexOf = String.prototype.indexOf;

export interface SipUri {
  readonly scheme: 'sip' | 'sips';
  /** User part as written (escapes kept); undefined when there is no `@`. */
  user: string | undefined;
  password: string | undefined;
  /** Host as written, IPv6 with its brackets. */
  host: string;
  port: number | undefined;
  params: Params;
  /** `?`-headers as written, without the `?`; undefined when absent. */
  headers: string | undefined;
}

export interface AbsoluteUri {
  readonly scheme: string;
  /** Everything after `scheme:`. */
  readonly opaque: string;
}

export type Uri = SipUri | AbsoluteUri;

export function isSipUri(uri: Uri): uri is SipUri {
  return uri.scheme === 'sip' || uri.scheme === 'sips';
}

function bad(what: string, context: string): SipParseError {
  return new SipParseError(`${context}: ${what}`, 400, `Bad ${context} (${what})`);
}

/** Validate a host: hostname / IPv4 / IPv6reference. Returns the host unchanged. */
function checkHost(host: string, context: string): string {
  if (host.length === 0) throw bad('empty host', context);
  if (charCodeAt.call(host, 0) === 0x5b /* [ */) {
    // RFC 5118 §4.10: tolerate the 3-colon form; accept hex digits, ':' and '.' inside the brackets.
    if (charCodeAt.call(host, host.length - 1) !== 0x5d) throw bad('unterminated IPv6 reference', context);
    if (!/^\[[0-9A-Fa-f:.]+\]$/.test(host) || host.indexOf(':') < 0) throw bad('invalid IPv6 reference', context);
    return host;
  }
  for (let i = 0, n = host.length; i < n; i++) {
    const c = charCodeAt.call(host, i);
    const ok =
      (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2d || c === 0x2e;
    if (!ok) throw bad('invalid host', context);
  }
  return host;
}

/** Parse `host[:port]` (used by URIs and Via sent-by). */
export function parseHostPort(text: string, context: string): { host: string; port: number | undefined } {
  hostPortAt(text, 0, text.length, context);
  return { host: parsedHost, port: parsedPort };
}

/** Results of the last hostPortAt call (no object per call on the hot path). */
let parsedHost = '';
let parsedPort: number | undefined;

/** `parseHostPort(text.slice(start, end))`, without the slice; the result is in parsedHost/parsedPort. */
function hostPortAt(text: string, start: number, end: number, context: string): void {
  let portStart: number;
  if (start < end && charCodeAt.call(text, start) === 0x5b) {
    const close = stringIndexOf.call(text, ']', start);
    if (close < 0 || close >= end) throw bad('unterminated IPv6 reference', context);
    portStart = close + 1;
  } else {
    const colon = stringIndexOf.call(text, ':', start);
    portStart = colon < 0 || colon >= end ? end : colon;
  }
  const host = checkHost(stringSlice.call(text, start, portStart), context);
  let port: number | undefined;
  if (portStart < end) {
    // `:` 1*5DIGIT
    const len = end - portStart;
    if (charCodeAt.call(text, portStart) !== 0x3a || len < 2 || len > 6) throw bad('invalid port', context);
    port = 0;
    for (let i = portStart + 1; i < end; i++) {
      const d = charCodeAt.call(text, i) - 0x30;
      if (d < 0 || d > 9) throw bad('invalid port', context);
      port = port * 10 + d;
    }
    if (port > 65535) throw bad('port out of range', context);
  }
  parsedHost = host;
  parsedPort = port;
}

/** Via sent-by: `text[start, end)` as host and port. */
export function sentByAt(text: string, start: number, end: number): { host: string; port: number | undefined } {
  hostPortAt(text, start, end, 'Via');
  return { host: parsedHost, port: parsedPort };
}

/** Length of the `scheme` of `scheme:` at `text[start, end)` (ALPHA *(ALPHA / DIGIT / "+" / "-" / ".")), or -1. */
function schemeLength(text: string, start: number, end: number): number {
  for (let i = start; i < end; i++) {
    const c = charCodeAt.call(text, i);
    const alpha = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
    if (alpha) continue;
    if (i === start) return -1;
    if (c === 0x3a /* : */) return i - start;
    if (!((c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e)) return -1;
  }
  return -1;
}

/** Parse any URI; `context` names the header or `Request-URI` in error messages. */
export function parseUri(text: string, context = 'URI'): Uri {
  return parseUriIn(text, 0, text.length, context);
}

/** `parseUri(text.slice(start, n), context)` without the slice (scanning a flat string is faster). */
export function parseUriIn(text: string, start: number, n: number, context: string): Uri {
  const len = schemeLength(text, start, n);
  if (len < 0) throw bad('missing scheme', context);
  const userStart = start + len + 1;
  // The usual spellings without a lower-casing allocation.
  const scheme =
    len === 3 && sameAt(text, start, 'sip') ? 'sip' : len === 4 && sameAt(text, start, 'sips') ? 'sips' : stringSlice.call(text, start, start + len).toLowerCase();
  if (scheme !== 'sip' && scheme !== 'sips') {
    const rest = stringSlice.call(text, userStart, n);
    if (rest.length === 0) throw bad('empty URI', context);
    return { scheme, opaque: rest };
  }
  let at = -1;
  for (let i = userStart; i < n; i++) {
    const c = charCodeAt.call(text, i);
    if (c <= 0x20 || c === 0x7f || c === 0x3c || c === 0x3e || c === 0x22) throw bad('invalid character', context);
    if (c === 0x40 /* @ */ && at < 0) at = i;
  }
  let user: string | undefined;
  let password: string | undefined;
  let hostStart = userStart;
  if (at >= 0) {
    const colon = stringIndexOf.call(text, ':', userStart);
    if (colon >= 0 && colon < at) {
      user = stringSlice.call(text, userStart, colon);
      password = stringSlice.call(text, colon + 1, at);
    } else {
      user = stringSlice.call(text, userStart, at);
    }
    if (user.length === 0) throw bad('empty user', context);
    hostStart = at + 1;
  }
  let headers: string | undefined;
  let end = n;
  const q = stringIndexOf.call(text, '?', hostStart);
  if (q >= 0 && q < n) {
    headers = stringSlice.call(text, q + 1, n);
    end = q;
  }
  let semi = stringIndexOf.call(text, ';', hostStart);
  if (semi >= end) semi = -1;
  hostPortAt(text, hostStart, semi < 0 ? end : semi, context);
  const host = parsedHost;
  const port = parsedPort;
  const params = semi < 0 ? NO_PARAMS : parseParams(text, semi, context, end);
  return { scheme, user, password, host, port, params, headers };
}

export function formatUri(uri: Uri): string {
  if (!isSipUri(uri)) return `${uri.scheme}:${uri.opaque}`;
  let out = `${uri.scheme}:`;
  if (uri.user !== undefined) out += uri.password === undefined ? `${uri.user}@` : `${uri.user}:${uri.password}@`;
  out += uri.host;
  if (uri.port !== undefined) out += `:${uri.port}`;
  out += formatParams(uri.params);
  if (uri.headers !== undefined) out += `?${uri.headers}`;
  return out;
}

/** Host without IPv6 brackets, as node:dgram/net expect it. */
export function bareHost(host: string): string {
  return charCodeAt.call(host, 0) === 0x5b ? host.slice(1, -1) : host;
}
