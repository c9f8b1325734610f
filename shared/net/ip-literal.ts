/**
 * IP literal detection without a regular expression: the hot paths (every UDP send, every
 * response's Via) ask "is this already an address?" many thousand times a second, and
 * `net.isIP` runs a large IPv6 regex for every string that is not a dotted quad.
 */
import { isIPv6 } from 'node:net';

/** 4 for a dotted-quad IPv4 literal, 6 for an IPv6 literal, 0 otherwise (a host name). */
export function ipLiteralFamily(s: string): 0 | 4 | 6 {
  const n = s.length;
  if (n === 0) return 0;
  // IPv4: four decimal octets 0..255, no leading zeros (as net.isIPv4 reads them).
  let octets = 0;
  let value = 0;
  let digits = 0;
  let v4 = true;
  let colon = false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) {
      if (digits > 0 && value === 0) v4 = false; // leading zero
      value = value * 10 + (c - 0x30);
      digits++;
      if (value > 255) v4 = false;
    } else if (c === 0x2e) {
      if (digits === 0) v4 = false;
      octets++;
      value = 0;
      digits = 0;
    } else {
      v4 = false;
      if (c === 0x3a) colon = true;
    }
    if (!v4 && !colon && !isHexOrDot(c)) return 0; // a letter beyond a-f: a host name
  }
  if (v4 && octets === 3 && digits > 0) return 4;
  return colon && isIPv6(s) ? 6 : 0;
}

function isHexOrDot(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46) || c === 0x2e || c === 0x25;
}
