/**
 * name-addr / addr-spec values with header parameters: From, To, Contact, Route, Record-Route,
 * Path (RFC 3261 §20.10, §25.1). The URI is kept as written; parse it with `parseUri` when needed.
 */
import { SipParseError } from '../errors.ts';
import { endOfQuoted, isTokenChar, isWs, paramValue, parseParams, skipWs, skipWsBack, type Params } from './syntax.ts';

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

/**
 * Where the last `scanNameAddr` call found the parts: the display name `text[SPAN[DN_AT],
 * SPAN[DN_END])` (SPAN[DN_AT] -1 when there is none), the URI `text[SPAN[URI_AT], SPAN[URI_END])`,
 * SPAN[BRACKETED] 1 when it was inside `<>`, and the header parameters from SPAN[PARAMS_AT].
 */
const SPAN = new Int32Array(6);
const DN_AT = 0;
const DN_END = 1;
const URI_AT = 2;
const URI_END = 3;
const BRACKETED = 4;
const PARAMS_AT = 5;

/** Checks one name-addr / addr-spec in `text[start, n)` up to its header parameters, into SPAN. */
function scanNameAddr(text: string, start: number, n: number, header: string): void {
  let i = skipWs(text, start, n);
  if (i === n) throw bad(header, 'empty value');
  SPAN[DN_AT] = -1;
  if (charCodeAt.call(text, i) === 0x22 /* " */) {
    const end = endOfQuoted(text, i, header, n);
    SPAN[DN_AT] = i;
    SPAN[DN_END] = end;
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
      const dnEnd = skipWsBack(text, i, lt);
      if (dnEnd > i) {
        SPAN[DN_AT] = i;
        SPAN[DN_END] = dnEnd;
      }
      i = lt;
    }
  }
  if (i < n && charCodeAt.call(text, i) === 0x3c /* < */) {
    const gt = indexIn(text, '>', i + 1, n);
    if (gt < 0) throw bad(header, 'missing >');
    // RFC 4475 §3.1.2.14 badaspec: no whitespace inside <> around the URI.
    if (gt === i + 1 || isWs(charCodeAt.call(text, i + 1)) || isWs(charCodeAt.call(text, gt - 1))) {
      throw bad(header, 'whitespace inside <>');
    }
    if (indexIn(text, ':', i + 1, gt) < 0) throw bad(header, 'missing URI scheme');
    SPAN[URI_AT] = i + 1;
    SPAN[URI_END] = gt;
    SPAN[BRACKETED] = 1;
    SPAN[PARAMS_AT] = gt + 1;
    return;
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
  if (indexIn(text, ':', i, end) < 0) throw bad(header, 'missing URI scheme');
  SPAN[URI_AT] = i;
  SPAN[URI_END] = end;
  SPAN[BRACKETED] = 0;
  SPAN[PARAMS_AT] = end;
}

/** `parseNameAddr(text.slice(start, n), header)` without the slice (scanning a flat string is faster). */
export function parseNameAddrIn(text: string, start: number, n: number, header: string): NameAddr {
  scanNameAddr(text, start, n, header);
  const dnAt = SPAN[DN_AT];
  return {
    displayName: dnAt < 0 ? undefined : stringSlice.call(text, dnAt, SPAN[DN_END]),
    uri: stringSlice.call(text, SPAN[URI_AT], SPAN[URI_END]),
    bracketed: SPAN[BRACKETED] === 1,
    params: parseParams(text, SPAN[PARAMS_AT], header, n),
  };
}

/**
 * `parseNameAddrIn(text, start, n, header).params.get(name)`, with the same checks and errors,
 * but no object, URI string or parameter Map made: what a proxy needs of From and To on every
 * message is their tag.
 */
export function nameAddrParamIn(text: string, start: number, n: number, header: string, name: string): string | null | undefined {
  scanNameAddr(text, start, n, header);
  return paramValue(text, SPAN[PARAMS_AT], header, n, name);
}

/** Write a name-addr back; always uses `<>` so that URI params and header params stay apart. */
export function formatNameAddr(value: NameAddr): string {
  let out = value.displayName === undefined ? `<${value.uri}>` : `${value.displayName} <${value.uri}>`;
  for (const [name, v] of value.params) out += v === null ? `;${name}` : `;${name}=${v}`;
  return out;
}
