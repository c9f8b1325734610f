/**
 * name-addr / addr-spec values with header parameters: From, To, Contact, Route, Record-Route,
 * Path (RFC 3261 §20.10, §25.1). The URI is kept as written; parse it with `parseUri` when needed.
 */
import { SipParseError } from '../errors.ts';
import { endOfQuoted, isTokenChar, isWs, parseParams, skipWs, type Params } from './syntax.ts';

/** Scans call the builtin through a module constant: see `charCodeAt` in shared/sip/syntax.ts. */
const charCodeAt = String.prototype.charCodeAt;
const stringSlice = String.prototype.slice;
const stringIndexOf = String.prototype.indexOf;

export interface NameAddr {
  /** Display name as written (quoted-string with its quotes, or tokens), or undefined. */
  displayName: string | undefined;
  /** The URI inside `<>` (or the bare addr-spec), as written. */
  uri: string;
  /** True when the URI was written inside `<>`. */
  bracketed: boolean;
  /** Header parameters (after the URI), e.g. tag, expires, q, lr is a URI param not a header param. */
  params: Params;
}

function bad(header: string, what: string): SipParseError {
  return new SipParseError(`${header}: ${what}`, 400, `Bad ${header} (${what})`);
}

/** Parse one name-addr / addr-spec value. `header` names the header in errors. */
export function parseNameAddr(text: string, header: string): NameAddr {
  return parseNameAddrIn(text, 0, text.length, header);
}

/** Index of `ch` in `text[from, n)`, or -1. */
function indexIn(text: string, ch: string, from: number, n: number): number {
  const at = stringIndexOf.call(text, ch, from);
  return at < n ? at : -1;
}

/** `parseNameAddr(text.slice(start, n), header)` without the slice (scanning a flat string is faster). */
export function parseNameAddrIn(text: string, start: number, n: number, header: string): NameAddr {
  let i = skipWs(text, start, n);
  if (i === n) throw bad(header, 'empty value');
  let displayName: string | undefined;
  if (charCodeAt.call(text, i) === 0x22 /* " */) {
    const end = endOfQuoted(text, i, header, n);
    displayName = stringSlice.call(text, i, end);
    i = skipWs(text, end, n);
    if (i >= n || charCodeAt.call(text, i) !== 0x3c) throw bad(header, 'expected < after display name');
  } else {
    // A '<' after the first ';' belongs to a header param of an addr-spec (`sip:a@b;x="<"`,
    // `;+sip.instance="<urn:...>"`), not to a name-addr.
    const lt = indexIn(text, '<', i, n);
    const semi = indexIn(text, ';', i, n);
    if (lt >= 0 && (semi < 0 || lt < semi)) {
      // display-name = *(token LWS): every char before `<` must be a token char or whitespace
      // (RFC 4475 §3.1.2.15 baddn: `Bell, Alexander` is malformed; §3.1.1.6 lwsdisp: no LWS before `<` is fine).
      for (let j = i; j < lt; j++) {
        const c = charCodeAt.call(text, j);
        if (!isTokenChar(c) && !isWs(c)) throw bad(header, 'invalid display name');
      }
      const dn = stringSlice.call(text, i, lt).trim();
      displayName = dn.length > 0 ? dn : undefined;
      i = lt;
    }
  }
  if (i < n && charCodeAt.call(text, i) === 0x3c /* < */) {
    const gt = indexIn(text, '>', i + 1, n);
    if (gt < 0) throw bad(header, 'missing >');
    const uri = stringSlice.call(text, i + 1, gt);
    // RFC 4475 §3.1.2.14 badaspec: no whitespace inside <> around the URI.
    if (uri.length === 0 || isWs(charCodeAt.call(uri, 0)) || isWs(charCodeAt.call(uri, uri.length - 1))) {
      throw bad(header, 'whitespace inside <>');
    }
    if (stringIndexOf.call(uri, ':') < 0) throw bad(header, 'missing URI scheme');
    return { displayName, uri, bracketed: true, params: parseParams(text, gt + 1, header, n) };
  }
  // addr-spec without <>: the URI ends at the first ';' (what follows are header params, RFC 3261
  // §20) and may not carry '?' headers or a ',' (RFC 4475 §3.1.2.13 regbadct).
  let end = i;
  while (end < n) {
    const c = charCodeAt.call(text, end);
    if (c === 0x3b || isWs(c)) break;
    if (c === 0x3f /* ? */ || c === 0x2c) throw bad(header, 'URI with ? or , must be inside <>');
    end++;
  }
  const uri = stringSlice.call(text, i, end);
  if (stringIndexOf.call(uri, ':') < 0) throw bad(header, 'missing URI scheme');
  return { displayName: undefined, uri, bracketed: false, params: parseParams(text, end, header, n) };
}

/** Write a name-addr back; always uses `<>` so that URI params and header params stay apart. */
export function formatNameAddr(value: NameAddr): string {
  let out = value.displayName === undefined ? `<${value.uri}>` : `${value.displayName} <${value.uri}>`;
  for (const [name, v] of value.params) out += v === null ? `;${name}` : `;${name}=${v}`;
  return out;
}
