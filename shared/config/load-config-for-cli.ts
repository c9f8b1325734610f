/**
 * The config step every `sipfleet` command shares: take `--config` (or SIPFLEET_CONFIG), load and
 * validate it, and on failure print the field-named errors (never a stack trace). Returns the
 * config, or the exit code (2: usage or config error) for the caller to return.
 */
import type { NodeConfig } from './config-types.ts';
import { formatConfigError } from './format-config-error.ts';
import { loadConfig } from './load-config.ts';

export function loadConfigForCli(command: string, path: string | undefined, usage: string): NodeConfig | number {
  const file = path ?? process.env.SIPFLEET_CONFIG;
  if (file === undefined) {
    process.stderr.write(`sipfleet ${command}: --config FILE is required\n\n${usage}`);
    return 2;
  }
  try {
    return loadConfig(file);
  } catch (err) {
    process.stderr.write(`${formatConfigError(err)}\n`);
    return 2;
  }
}
