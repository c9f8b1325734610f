/**
 * Explicit limits the parser enforces. A message over a limit is refused with a typed
 * `SipParseError` (code `SIP_ERR_LIMIT`, status 513 for size, 400 otherwise) instead of growing
 * buffers without bound. RFC 4475 §3.1.1.7 (longreq) needs ~3.5 KB of headers, so the defaults
 * are generous; UDP datagrams can't exceed 65,535 bytes anyway.
 */
export interface ParseLimits {
  /** Whole message, start line + headers + body, in bytes. */
  maxMessageBytes: number;
  /** Header fields (after unfolding; a folded field counts once). */
  maxHeaders: number;
  /** One header field after unfolding, or the start line, in bytes. */
  maxLineLength: number;
}

export const DEFAULT_LIMITS: Readonly<ParseLimits> = Object.freeze({
  maxMessageBytes: 65_535,
  maxHeaders: 256,
  maxLineLength: 8_192,
});
