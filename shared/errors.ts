/**
 * sipfleet's error table: every thrown failure is a `SipfleetError` with a stable `code`.
 *
 * Expected SIP outcomes (a 503 for a full cluster, a 486 from a switch) are values, not errors.
 * What lands here are malformed input, broken configuration and infrastructure faults. Code
 * branches on `err.code`, never on the message. `docs/errors.md` lists every code; a unit test
 * keeps the two in step. Never put secrets (passwords, tokens, Authorization values) in a
 * message or in `detail`: errors end up in logs.
 */
export class SipfleetError extends Error {
  readonly code: ErrorCode;
  readonly detail: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; detail?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SipfleetError';
    this.code = code;
    this.detail = options?.detail;
  }
}

/** Every code, with the meaning documented in docs/errors.md. */
export const ERROR_CODES = {
  /** A SIP message could not be parsed; `status` says which SIP response fits (400, 505, 416...). */
  SIP_ERR_PARSE: 'SIP_ERR_PARSE',
  /** A SIP message broke an explicit limit (size, header count, line length). */
  SIP_ERR_LIMIT: 'SIP_ERR_LIMIT',
  /** A stream (TCP/TLS) cannot be re-synchronised: bad or conflicting Content-Length. */
  SIP_ERR_FRAMING: 'SIP_ERR_FRAMING',
  /** An SDP body could not be parsed. */
  SDP_ERR_PARSE: 'SDP_ERR_PARSE',
  /** The configuration file or an environment override is invalid; `detail.field` names it. */
  CFG_ERR_INVALID: 'CFG_ERR_INVALID',
  /** The configuration file could not be read. */
  CFG_ERR_READ: 'CFG_ERR_READ',
  /** A transport could not bind or send. */
  TRANSPORT_ERR_BIND: 'TRANSPORT_ERR_BIND',
  TRANSPORT_ERR_SEND: 'TRANSPORT_ERR_SEND',
  /** A per-IP or global connection cap refused a connection. */
  TRANSPORT_ERR_CONN_LIMIT: 'TRANSPORT_ERR_CONN_LIMIT',
  /** The transaction table is full; new server transactions are refused with 503. */
  TXN_ERR_TABLE_FULL: 'TXN_ERR_TABLE_FULL',
  /** The cluster store (Redis) is unreachable, timed out or refused a command; nothing was decided. */
  STORE_ERR_UNAVAILABLE: 'STORE_ERR_UNAVAILABLE',
  /** A cluster store call got an invalid argument (duplicate level, cps <= 0, bad cluster name). */
  STORE_ERR_INVALID: 'STORE_ERR_INVALID',
  /** A bencoded document is malformed (truncated, leading zero, duplicate key...); `detail.offset` says where. */
  BENCODE_ERR_DECODE: 'BENCODE_ERR_DECODE',
  /** A bencoded document broke a decoder or encoder limit (`maxLength`, `maxDepth`); `detail.limit` names it. */
  BENCODE_ERR_LIMIT: 'BENCODE_ERR_LIMIT',
  /** A value cannot be bencoded (non-integer number, boolean, null, lone surrogate); `detail.path` says where. */
  BENCODE_ERR_ENCODE: 'BENCODE_ERR_ENCODE',
  /** No reply from the media relay (rtpengine ng) after every retransmission within the timeout. */
  MEDIA_ERR_TIMEOUT: 'MEDIA_ERR_TIMEOUT',
  /** The media relay answered `result: error`; `detail.reason` holds its `error-reason`. */
  MEDIA_ERR_RELAY: 'MEDIA_ERR_RELAY',
  /** The media relay's reply could not be understood (not bencode, no `result`, wrong field types). */
  MEDIA_ERR_PROTOCOL: 'MEDIA_ERR_PROTOCOL',
  /** The ng client has `maxPending` requests in flight already; the request was not sent. */
  MEDIA_ERR_OVERLOAD: 'MEDIA_ERR_OVERLOAD',
  /** The ng client was closed, or its socket failed, before a reply arrived. */
  MEDIA_ERR_CLOSED: 'MEDIA_ERR_CLOSED',
  /** The ng request datagram could not be sent (unreachable address, socket error). */
  MEDIA_ERR_SEND: 'MEDIA_ERR_SEND',
  /** An ng request could not be built (params holding `command`, an unencodable value, too large for one datagram); nothing was sent. */
  MEDIA_ERR_INVALID: 'MEDIA_ERR_INVALID',
  /** A call needs a media relay (`media.required`) and no relay of any of its zones is usable (active and up). */
  MEDIA_ERR_NO_RELAY: 'MEDIA_ERR_NO_RELAY',
  /** An external tool needed by a test or the lab is missing. */
  ENV_ERR_TOOL_MISSING: 'ENV_ERR_TOOL_MISSING',
} as const;

export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

/** Parse failure with the SIP status a server should answer with, when an answer is possible. */
export class SipParseError extends SipfleetError {
  /** 400 unless a more precise status applies (505 bad version, 416 bad scheme...). */
  readonly status: number;
  /** Reason phrase for the response, e.g. `Bad Request (Malformed Via)`. Never holds input bytes beyond a short header name. */
  readonly reason: string;

  constructor(message: string, status = 400, reason?: string, code: ErrorCode = ERROR_CODES.SIP_ERR_PARSE) {
    super(code, message);
    this.name = 'SipParseError';
    this.status = status;
    this.reason = reason ?? message;
  }
}

export function isSipfleetError(err: unknown): err is SipfleetError {
  return err instanceof SipfleetError;
}
