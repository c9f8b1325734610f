/**
 * The ops API's error table: every error answer is `{ code, message }` with one of these stable
 * codes and its HTTP status. Clients branch on `code`, never on `message`. docs/ops-api.md lists
 * them; a unit test keeps the two in step.
 */
export const OPS_ERRORS = {
  /** A path, query or body field is invalid; the message names it (`body.cps: must be >= 0`). */
  OPS_ERR_VALIDATION: 400,
  /** The body is not valid JSON. */
  OPS_ERR_BAD_JSON: 400,
  /** No bearer token, or one that matches no configured token. */
  OPS_ERR_UNAUTHORIZED: 401,
  /** The token's role may not do this. */
  OPS_ERR_FORBIDDEN: 403,
  /** No such server, route or resource. */
  OPS_ERR_NOT_FOUND: 404,
  /** The server (switch, dispatcher, rtp relay) or user already exists (create). */
  OPS_ERR_CONFLICT: 409,
  /** The body is larger than `ops.bodyLimit`. */
  OPS_ERR_BODY_TOO_LARGE: 413,
  /** The body is not `application/json`. */
  OPS_ERR_UNSUPPORTED_MEDIA_TYPE: 415,
  /** Too many requests for this token (or client IP) in the window. */
  OPS_ERR_RATE_LIMITED: 429,
  /** An unexpected fault; details are in the server log only. */
  OPS_ERR_INTERNAL: 500,
  /** The action is not available here: lifecycle without an orchestrator, a registry action on a dispatcher. */
  OPS_ERR_NOT_IMPLEMENTED: 501,
  /** The cluster store is unreachable. */
  OPS_ERR_STORE_UNAVAILABLE: 503,
} as const;

export type OpsErrorCode = keyof typeof OPS_ERRORS;

/** The body of every error answer. */
export interface OpsErrorBody {
  code: OpsErrorCode;
  message: string;
}

/** Thrown by handlers; the app's error handler answers `{ code, message }` with the code's status. */
export class OpsError extends Error {
  readonly code: OpsErrorCode;
  readonly statusCode: number;

  constructor(code: OpsErrorCode, message: string) {
    super(message);
    this.name = 'OpsError';
    this.code = code;
    this.statusCode = OPS_ERRORS[code];
  }
}

/** The code for a bare HTTP status (Fastify's own errors), OPS_ERR_INTERNAL when none fits. */
export function codeForStatus(status: number): OpsErrorCode {
  const found = (Object.keys(OPS_ERRORS) as OpsErrorCode[]).find((code) => OPS_ERRORS[code] === status);
  return found ?? 'OPS_ERR_INTERNAL';
}
