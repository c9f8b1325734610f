/**
 * `sipfleet ops-api --config FILE [--listen host:port] [--state-dir DIR]`: load the config, start
 * the ops API (with the local orchestrator: servers it deploys run as its child processes), stop
 * it cleanly on SIGINT/SIGTERM. A bad config prints the field-named error and exits 2.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { tryParseHostPort } from '../shared/config/host-port.ts';
import { loadConfigForCli } from '../shared/config/load-config-for-cli.ts';
import { startOpsApi } from './server.ts';

export const OPS_API_USAGE = `Usage: sipfleet ops-api --config FILE [--listen HOST:PORT] [--state-dir DIR]

Start the ops API (HTTP, see docs/ops-api.md) for the cluster described by FILE: the same YAML
as the dispatchers' (store and cluster sections), plus its ops section (tokens, limits, audit).
SIPFLEET_OPS_TOKEN=<role>:<token> adds one development token.

Options:
  -c, --config FILE        configuration (or SIPFLEET_CONFIG)
  -l, --listen HOST:PORT   listen address (default ops.listen, else 127.0.0.1:8080)
  --state-dir DIR          where servers deployed through the API keep their logs and
                           configs (default a fresh temp dir); they run as child processes
                           of the ops API and stop with it
  -h, --help               show this help
`;

export async function runOpsApiCli(argv: string[], version = '0.0.0'): Promise<number> {
  let values: { config?: string; listen?: string; 'state-dir'?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { config: { type: 'string', short: 'c' }, listen: { type: 'string', short: 'l' }, 'state-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`sipfleet ops-api: ${(err as Error).message}\n\n${OPS_API_USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(OPS_API_USAGE);
    return 0;
  }
  const listen = values.listen === undefined ? undefined : tryParseHostPort(values.listen, false);
  if (typeof listen === 'string') {
    process.stderr.write(`sipfleet ops-api: --listen ${listen}\n`);
    return 2;
  }
  const config = loadConfigForCli('ops-api', values.config, OPS_API_USAGE);
  if (typeof config === 'number') return config;
  let handle;
  try {
    // A deployed dispatcher gets this file's store and cluster sections (ops-api/orchestrator/dispatcher-config.ts).
    const file = values.config ?? process.env.SIPFLEET_CONFIG;
    const configText = file === undefined ? undefined : readFileSync(file, 'utf8');
    handle = await startOpsApi({ config, listen, version, handleSignals: true, configText, stateDir: values['state-dir'] });
  } catch (err) {
    process.stderr.write(`sipfleet ops-api: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  process.stdout.write(`sipfleet ops-api listening on ${handle.url} (OpenAPI at ${handle.url}/docs)\n`);
  await handle.closed;
  return 0;
}
