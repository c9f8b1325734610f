/**
 * Digest credentials: the value of an `Authorization` or `Proxy-Authorization` header
 * (RFC 7616 §3.4, RFC 3261 §22.4 / §25.1 `credentials`):
 *
 *   credentials     = "Digest" LWS dig-resp *(COMMA dig-resp)
 *   dig-resp        = token EQUAL ( token / quoted-string )
 *
 * Parameter names are case-insensitive; values are a token or a quoted-string with `\` escapes
 * (quoted-pair). A parameter may appear once only (RFC 7235 §2.1). Strict where it matters for
 * verification (the required parameters, `nc` as 8 hex digits, `response` as hex), liberal where
 * phones differ (`qop` and `algorithm` quoted or not, empty list elements between commas).
 *
 * `shared/sip`'s `parseAuthParams` is the lenient reader the proxy uses to look at a header; this
 * one is for checking a response, so anything malformed is reported (as a value, never thrown:
 * the caller answers 400 Bad Request, RFC 7616 §3.4 "MUST respond with 400").
 *
 * Header values are latin1 strings (one char per wire octet) and stay so: digests are computed
 * over the octets as received.
 */
import { isTokenChar, isWs, skipWs } from '../../shared/sip/index.ts';

export interface DigestCredentials {
  readonly username: string;
  readonly realm: string;
  readonly nonce: string;
  /** digest-uri as sent (RFC 7616 §3.4: the Request-URI). */
  readonly uri: string;
  /** Lower-case hex. */
  readonly response: string;
  /** Upper-cased token (`MD5`, `SHA-256`, `MD5-SESS`...); `MD5` when absent (RFC 7616 §3.4). */
  readonly algorithm: string;
  /** Lower-cased; undefined when absent (RFC 2069 legacy form). */
  readonly qop: string | undefined;
  /** The `nc` value as a number (1..2^32-1) and as its 8 wire hex digits (both present with qop). */
  readonly nc: number | undefined;
  readonly ncText: string | undefined;
  readonly cnonce: string | undefined;
  readonly opaque: string | undefined;
  /** Every parameter, names lower-cased, values unquoted. */
  readonly params: ReadonlyMap<string, string>;
}

export type ParsedCredentials =
  | { readonly ok: true; readonly credentials: DigestCredentials }
  /**
   * `scheme`: not a Digest credential (e.g. `Basic`, which SIP forbids, RFC 3261 §22.1): the caller
   * treats it as no credentials. `syntax`: a malformed Digest credential (→ 400). `error` is a short
   * description without input bytes, safe for a reason phrase or a log line.
   */
  | { readonly ok: false; readonly kind: 'scheme' | 'syntax'; readonly error: string };

/** Parameters a digest response must carry (RFC 7616 §3.4). */
const REQUIRED = ['username', 'realm', 'nonce', 'uri', 'response'] as const;
const HEX = /^[0-9a-fA-F]+$/;
const NC = /^[0-9a-fA-F]{8}$/;
/** Longest value we look at: far above any real nonce, URI or username; bounds the work. */
const VALUE_MAX = 4096;
const PARAMS_MAX = 32;

function syntax(error: string): ParsedCredentials {
  return { ok: false, kind: 'syntax', error };
}

/** Parse one `Authorization` / `Proxy-Authorization` value. Never throws. */
export function parseDigestCredentials(value: string): ParsedCredentials {
  if (typeof value !== 'string') return syntax('not a string');
  const n = value.length;
  let i = skipWs(value, 0);
  const schemeStart = i;
  while (i < n && isTokenChar(value.charCodeAt(i))) i++;
  if (i === schemeStart) return syntax('missing scheme');
  if (value.slice(schemeStart, i).toLowerCase() !== 'digest') return { ok: false, kind: 'scheme', error: 'not a Digest credential' };
  if (i < n && !isWs(value.charCodeAt(i))) return syntax('bad scheme');
  const params = new Map<string, string>();
  for (;;) {
    // Empty list elements (`a=1, , b=2`) are allowed by the #rule (RFC 9110 §5.6.1).
    i = skipWs(value, i);
    while (i < n && value.charCodeAt(i) === 0x2c) i = skipWs(value, i + 1);
    if (i >= n) break;
    const nameStart = i;
    while (i < n && isTokenChar(value.charCodeAt(i))) i++;
    if (i === nameStart) return syntax('bad parameter name');
    const name = value.slice(nameStart, i).toLowerCase();
    i = skipWs(value, i);
    if (value.charCodeAt(i) !== 0x3d /* = */) return syntax('missing =');
    i = skipWs(value, i + 1);
    let v: string;
    if (value.charCodeAt(i) === 0x22 /* " */) {
      let out = '';
      let j = i + 1;
      let closed = false;
      while (j < n) {
        const c = value.charCodeAt(j);
        if (c === 0x22) {
          closed = true;
          break;
        }
        if (c === 0x5c /* \ */) {
          if (j + 1 >= n) break;
          j++;
        } else if (c === 0x0d || c === 0x0a) {
          return syntax('line break in quoted string');
        }
        out += value[j];
        j++;
      }
      if (!closed) return syntax('unterminated quoted string');
      v = out;
      i = j + 1;
    } else {
      const start = i;
      while (i < n && isTokenChar(value.charCodeAt(i))) i++;
      if (i === start) return syntax('empty parameter value');
      v = value.slice(start, i);
    }
    if (v.length > VALUE_MAX) return syntax('parameter too long');
    if (params.has(name)) return syntax('parameter given twice');
    if (params.size >= PARAMS_MAX) return syntax('too many parameters');
    params.set(name, v);
    i = skipWs(value, i);
    if (i < n && value.charCodeAt(i) !== 0x2c) return syntax('expected comma');
  }
  return validate(params);
}

function validate(params: Map<string, string>): ParsedCredentials {
  for (const name of REQUIRED) {
    const v = params.get(name);
    if (v === undefined || (v.length === 0 && name !== 'realm')) return syntax(`missing ${name}`);
  }
  const response = params.get('response') as string;
  if (!HEX.test(response)) return syntax('response is not hex');
  const qop = params.get('qop')?.toLowerCase();
  const ncText = params.get('nc');
  const cnonce = params.get('cnonce');
  let nc: number | undefined;
  if (ncText !== undefined) {
    if (!NC.test(ncText)) return syntax('nc is not 8 hex digits');
    nc = Number.parseInt(ncText, 16);
    if (nc === 0) return syntax('nc is zero');
  }
  // RFC 7616 §3.4: with qop, cnonce and nc MUST be sent.
  if (qop !== undefined && (nc === undefined || cnonce === undefined || cnonce.length === 0)) return syntax('qop without nc or cnonce');
  return {
    ok: true,
    credentials: {
      username: params.get('username') as string,
      realm: params.get('realm') as string,
      nonce: params.get('nonce') as string,
      uri: params.get('uri') as string,
      response: response.toLowerCase(),
      algorithm: (params.get('algorithm') ?? 'MD5').toUpperCase(),
      qop,
      nc,
      ncText,
      cnonce,
      opaque: params.get('opaque'),
      params,
    },
  };
}
