import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * Paths that never reach a log line. Digest credentials and bearer tokens travel in these
 * headers/fields; pino replaces them with `[redacted]` wherever a log call passes them.
 */
export const REDACT_PATHS = [
  'authorization',
  'Authorization',
  'headers.authorization',
  'req.headers.authorization',
  'proxyAuthorization',
  'password',
  '*.password',
  'token',
  '*.token',
  'ha1',
  '*.ha1',
];

/** The one logger factory. `LOG_LEVEL` overrides the level (silent in tests unless set). */
export function createLogger(bindings: Record<string, unknown> = {}, options: LoggerOptions = {}): Logger {
  const level = process.env.LOG_LEVEL ?? (process.env.VITEST ? 'silent' : 'info');
  return pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: bindings, ...options });
}
