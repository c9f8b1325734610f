/**
 * Turns anything a request can throw into the one error shape `{ code, message }` and its
 * status: our OpsErrors, Fastify/Ajv validation errors (the message names the field, e.g.
 * `body.cps: must be >= 0`), body-parser errors, rate-limit refusals and store outages.
 */
import type { FastifyError } from 'fastify';
import { isSipfleetError } from '../shared/errors.ts';
import { codeForStatus, OPS_ERRORS, OpsError, type OpsErrorBody } from './errors.ts';

interface SchemaIssue {
  instancePath?: string;
  schemaPath?: string;
  message?: string;
  params?: Record<string, unknown>;
  keyword?: string;
}

/** `/switches/0/id` → `.switches[0].id` */
function dotted(instancePath: string | undefined): string {
  return (instancePath ?? '').replace(/\/(\d+)(?=\/|$)/g, '[$1]').replace(/\//g, '.');
}

/** `body.cps: must be >= 0` from the validator's issues (TypeBox's, Ajv-shaped). */
export function validationMessage(context: string | undefined, issues: readonly SchemaIssue[]): string {
  const first = issues[0] ?? {};
  const path = (context ?? 'request') + dotted(first.instancePath);
  const params = first.params ?? {};
  const list = (v: unknown) => (Array.isArray(v) ? v.map(String) : typeof v === 'string' ? [v] : []);
  if (first.keyword === 'required') return `${path}.${[...list(params.requiredProperties), ...list(params.missingProperty)][0] ?? '?'}: is required`;
  if (first.keyword === 'additionalProperties') return `${path}.${list(params.additionalProperties)[0] ?? list(params.additionalProperty)[0] ?? '?'}: is not allowed`;
  if (first.schemaPath?.endsWith('/additionalProperties')) return `${path}: is not allowed`;
  if (first.keyword === 'minProperties') return `${path}: must name at least one field`;
  if (first.keyword === 'const') {
    const allowed = issues.filter((i) => i.keyword === 'const' && i.instancePath === first.instancePath).map((i) => String(i.params?.allowedValue));
    return `${path}: must be one of ${allowed.join(', ')}`;
  }
  return `${path}: ${first.message ?? 'is invalid'}`;
}

export function toErrorReply(err: unknown, bodyLimit: number): { status: number; body: OpsErrorBody } {
  const reply = (code: keyof typeof OPS_ERRORS, message: string) => ({ status: OPS_ERRORS[code], body: { code, message } });
  if (err instanceof OpsError) return reply(err.code, err.message);
  if (isSipfleetError(err)) {
    if (err.code === 'STORE_ERR_UNAVAILABLE') return reply('OPS_ERR_STORE_UNAVAILABLE', 'the cluster store is unreachable; try again');
    if (err.code === 'STORE_ERR_INVALID') return reply('OPS_ERR_VALIDATION', err.message);
  }
  const fe = err as Partial<FastifyError> & { validation?: SchemaIssue[] };
  if (Array.isArray(fe.validation)) return reply('OPS_ERR_VALIDATION', validationMessage(fe.validationContext, fe.validation));
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return reply('OPS_ERR_BODY_TOO_LARGE', `body: must be at most ${bodyLimit} bytes`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return reply('OPS_ERR_UNSUPPORTED_MEDIA_TYPE', 'body: content-type must be application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return reply('OPS_ERR_BAD_JSON', 'body: must not be empty when content-type is application/json');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return reply('OPS_ERR_BAD_JSON', 'body: is not valid JSON');
  }
  const status = typeof fe.statusCode === 'number' ? fe.statusCode : 500;
  if (status === 400 && err instanceof SyntaxError) return reply('OPS_ERR_BAD_JSON', 'body: is not valid JSON');
  if (status >= 400 && status < 500) {
    const code = codeForStatus(status);
    return { status, body: { code: code === 'OPS_ERR_INTERNAL' ? 'OPS_ERR_VALIDATION' : code, message: fe.message ?? 'bad request' } };
  }
  return reply('OPS_ERR_INTERNAL', 'internal error (see the server log)');
}
