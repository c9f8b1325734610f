import { isSipfleetError } from '../errors.ts';

/** The message to print when loading the configuration failed: one problem per line, no stack. */
export function formatConfigError(err: unknown): string {
  if (isSipfleetError(err)) return err.code.startsWith('CFG_') ? err.message : `${err.code}: ${err.message}`;
  if (err instanceof Error) return `config error: ${err.message}`;
  return `config error: ${String(err)}`;
}
