/**
 * `sipfleet dispatcher --config FILE`: load and validate the config, start the node, stop it
 * cleanly on SIGINT/SIGTERM, drain on SIGUSR2. A bad config prints the field-named error and exits 2.
 */
import { parseArgs } from 'node:util';
import { loadConfigForCli } from '../shared/config/load-config-for-cli.ts';
import { isSipfleetError } from '../shared/errors.ts';
import { startDispatcher } from './dispatcher-node.ts';

export const DISPATCHER_USAGE = `Usage: sipfleet dispatcher --config FILE

Start a dispatcher node (SIP proxy) as described by FILE (YAML, see docs/config.md).
Environment variables SIPFLEET_<PATH> override file values (e.g. SIPFLEET_NODE__ID=d2).
SIGTERM/SIGINT stop it; SIGUSR2 drains it (new calls go to a live peer, or get 503 without one; calls in
progress continue).
With node.vip, SIGHUP makes the holder of the floating IP hand it back to a ready node of
higher priority (the manual return of autoReturn: false; see docs/ha.md).

Options:
  -c, --config FILE   node configuration (or SIPFLEET_CONFIG)
  -h, --help          show this help
`;

export async function runDispatcherCli(argv: string[], version: string): Promise<number> {
  let values: { config?: string; help?: boolean };
  try {
    ({ values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (err) {
    process.stderr.write(`sipfleet dispatcher: ${(err as Error).message}\n\n${DISPATCHER_USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(DISPATCHER_USAGE);
    return 0;
  }
  const config = loadConfigForCli('dispatcher', values.config, DISPATCHER_USAGE);
  if (typeof config === 'number') return config;
  let node;
  try {
    node = await startDispatcher(config, { version });
  } catch (err) {
    process.stderr.write(`sipfleet dispatcher: ${isSipfleetError(err) ? err.message : String(err)}\n`);
    return 1;
  }
  // SIGUSR2: drain (no new calls, dialogs continue, /readyz 503) before an orchestrated restart.
  const drain = () => node.drain();
  process.on('SIGUSR2', drain);
  // SIGHUP: hand the floating IP back (only with node.vip; otherwise SIGHUP keeps its default).
  const handBack = () => void node.vip?.handBack();
  if (node.vip !== undefined) process.on('SIGHUP', handBack);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  process.off('SIGUSR2', drain);
  process.off('SIGHUP', handBack);
  await node.close();
  return 0;
}
