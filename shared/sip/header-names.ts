/**
 * Header name handling: RFC 3261 §7.3.3 compact forms and case-insensitive names.
 * Internally a header is looked up by its `key`: the long form, lower-cased.
 */

/** Compact form → long form key (RFC 3261 §7.3.3 and the IANA registry). */
const COMPACT: Record<string, string> = {
  a: 'accept-contact',
  b: 'referred-by',
  c: 'content-type',
  d: 'request-disposition',
  e: 'content-encoding',
  f: 'from',
  i: 'call-id',
  j: 'reject-contact',
  k: 'supported',
  l: 'content-length',
  m: 'contact',
  n: 'identity-info',
  o: 'event',
  r: 'refer-to',
  s: 'subject',
  t: 'to',
  u: 'allow-events',
  v: 'via',
  x: 'session-expires',
  y: 'identity',
};

/** Canonical spelling used when sipfleet itself writes a header. */
const CANONICAL: Record<string, string> = {
  'call-id': 'Call-ID',
  cseq: 'CSeq',
  'www-authenticate': 'WWW-Authenticate',
  'mime-version': 'MIME-Version',
  'rack': 'RAck',
  'rseq': 'RSeq',
};

/** The lookup key for a header name as written on the wire. */
export function headerKey(name: string): string {
  const lower = name.toLowerCase();
  if (lower.length === 1) return COMPACT[lower] ?? lower;
  return lower;
}

/** `max-forwards` → `Max-Forwards`, `call-id` → `Call-ID`. */
export function canonicalHeaderName(key: string): string {
  const special = CANONICAL[key];
  if (special !== undefined) return special;
  let out = '';
  let upper = true;
  for (let i = 0; i < key.length; i++) {
    const ch = key[i];
    out += upper ? ch.toUpperCase() : ch;
    upper = ch === '-';
  }
  return out;
}

/**
 * Headers that may appear only once (RFC 3261 §7.3.1 / §20): a second copy makes the request
 * ambiguous (RFC 4475 §3.3.8 multi01), so the parser refuses it.
 */
export const SINGLETON_HEADERS: ReadonlySet<string> = new Set([
  'to',
  'from',
  'call-id',
  'cseq',
  'max-forwards',
]);
