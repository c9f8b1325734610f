/**
 * SIP/SIPS URIs (RFC 3261 §19.1) and, for every other scheme, an opaque absolute URI.
 * Parsing is liberal in what characters may appear (RFC 4475 §3.1.1.2 intmeth) but strict about
 * structure: a host must be a hostname, IPv4 address or bracketed IPv6 reference, and a port is
 * 1-5 digits (RFC 5118 §4.2: `sip:2001:db8::10` is malformed).
 */
import { SipParseError } from '../errors.ts';
import { parseParams, formatParams, type Params } from './syntax.ts';

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
  if (host.charCodeAt(0) === 0x5b /* [ */) {
    // RFC 5118 §4.10: tolerate the 3-colon form; accept hex digits, ':' and '.' inside the brackets.
    if (host.charCodeAt(host.length - 1) !== 0x5d) throw bad('unterminated IPv6 reference', context);
    if (!/^\[[0-9A-Fa-f:.]+\]$/.test(host) || host.indexOf(':') < 0) throw bad('invalid IPv6 reference', context);
    return host;
  }
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    const ok =
      (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2d || c === 0x2e;
    if (!ok) throw bad('invalid host', context);
  }
  return host;
}

/** Parse `host[:port]` (used by URIs and Via sent-by). */
export function parseHostPort(text: string, context: string): { host: string; port: number | undefined } {
  let host: string;
  let rest: string;
  if (text.charCodeAt(0) === 0x5b) {
    const close = text.indexOf(']');
    if (close < 0) throw bad('unterminated IPv6 reference', context);
    host = text.slice(0, close + 1);
    rest = text.slice(close + 1);
  } else {
    const colon = text.indexOf(':');
    host = colon < 0 ? text : text.slice(0, colon);
    rest = colon < 0 ? '' : text.slice(colon);
  }
  checkHost(host, context);
  if (rest.length === 0) return { host, port: undefined };
  if (rest.charCodeAt(0) !== 0x3a || !/^:\d{1,5}$/.test(rest)) throw bad('invalid port', context);
  const port = Number(rest.slice(1));
  if (port > 65535) throw bad('port out of range', context);
  return { host, port };
}

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;

/** Parse any URI; `context` names the header or `Request-URI` in error messages. */
export function parseUri(text: string, context = 'URI'): Uri {
  const m = SCHEME.exec(text);
  if (m === null) throw bad('missing scheme', context);
  const scheme = m[0].slice(0, -1).toLowerCase();
  const rest = text.slice(m[0].length);
  if (scheme !== 'sip' && scheme !== 'sips') {
    if (rest.length === 0) throw bad('empty URI', context);
    return { scheme, opaque: rest };
  }
  for (let i = 0; i < rest.length; i++) {
    const c = rest.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f || c === 0x3c || c === 0x3e || c === 0x22) throw bad('invalid character', context);
  }
  let user: string | undefined;
  let password: string | undefined;
  let hostPart = rest;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    hostPart = rest.slice(at + 1);
    const colon = userinfo.indexOf(':');
    user = colon < 0 ? userinfo : userinfo.slice(0, colon);
    password = colon < 0 ? undefined : userinfo.slice(colon + 1);
    if (user.length === 0) throw bad('empty user', context);
  }
  let headers: string | undefined;
  const q = hostPart.indexOf('?');
  if (q >= 0) {
    headers = hostPart.slice(q + 1);
    hostPart = hostPart.slice(0, q);
  }
  const semi = hostPart.indexOf(';');
  const hostport = semi < 0 ? hostPart : hostPart.slice(0, semi);
  const { host, port } = parseHostPort(hostport, context);
  const params = semi < 0 ? new Map<string, string | null>() : parseParams(hostPart, semi, context);
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
  return host.charCodeAt(0) === 0x5b ? host.slice(1, -1) : host;
}
