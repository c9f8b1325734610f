/**
 * `sipfleet ops-api --config FILE [--listen host:port]`: load the config, start the ops API,
 * stop it cleanly on SIGINT/SIGTERM. A bad config prints the field-named error and exits 2.
 */
import { parseArgs } from 'node:util';
import { tryParseHostPort } from '../shared/config/host-port.ts';
import { loadConfigForCli } from '../shared/config/load-config-for-cli.ts';
import { startOpsApi } from './server.ts';

export const OPS_API_USAGE = `Usage: sipfleet ops-api --config FILE [--listen HOST:PORT]

Start the ops API (HTTP, see docs/ops-api.md) for the cluster described by FILE: the same YAML
as the dispatchers' (store and cluster sections), plus its ops section (tokens, limits, audit).
SIPFLEET_OPS_TOKEN=<role>:<token> adds one development token.

Options:
  -c, --config FILE        configuration (or SIPFLEET_CONFIG)
  -l, --listen HOST:PORT   listen address (default ops.listen, else 127.0.0.1:8080)
  -h, --help               show this help
`;

export async function runOpsApiCli(argv: string[], version = '0.0.0'): Promise<number> {
  let values: { config?: string; listen?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { config: { type: 'string', short: 'c' }, listen: { type: 'string', short: 'l' }, help: { type: 'boolean', short: 'h' } },
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
    handle = await startOpsApi({ config, listen, version, handleSignals: true });
  } catch (err) {
    process.stderr.write(`sipfleet ops-api: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  process.stdout.write(`sipfleet ops-api listening on ${handle.url} (OpenAPI at ${handle.url}/docs)\n`);
  await handle.closed;
  return 0;
}
