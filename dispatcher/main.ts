/**
 * `sipfleet dispatcher --config FILE`: load and validate the config, start the node, stop it
 * cleanly on SIGINT/SIGTERM, drain on SIGUSR2. A bad config prints the field-named error and exits 2.
 * With `node.workers` > 1 this process supervises that many workers (`--worker K`, forked by it;
 * docs/workers.md), each a node of its own sharing the listen sockets.
 */
import { parseArgs } from 'node:util';
import { loadConfigForCli } from '../shared/config/load-config-for-cli.ts';
import { isSipfleetError } from '../shared/errors.ts';
import { createLogger } from '../shared/log.ts';
import { forkWorker, WORKER_STARTED } from './cluster/fork-worker.ts';
import { workerNodeConfig } from './cluster/worker-config.ts';
import { WorkerSupervisor } from './cluster/worker-supervisor.ts';
import { startDispatcher } from './dispatcher-node.ts';
import { tuneGc } from './gc-tuning.ts';
import { warmProxyPath } from './proxy-warm-up.ts';
import { warmSipCodec } from './sip-warm-up.ts';
import { systemClock } from './transaction/clock.ts';
import type { NodeConfig } from '../shared/config/config-types.ts';

export const DISPATCHER_USAGE = `Usage: sipfleet dispatcher --config FILE

Start a dispatcher node (SIP proxy) as described by FILE (YAML, see docs/config.md).
Environment variables SIPFLEET_<PATH> override file values (e.g. SIPFLEET_NODE__ID=d2).
SIGTERM/SIGINT stop it; SIGUSR2 drains it (new calls go to a live peer, or get 503 without one; calls in
progress continue).
With node.vip, SIGHUP makes the holder of the floating IP hand it back to a ready node of
higher priority (the manual return of autoReturn: false; see docs/ha.md).
With node.workers > 1 it starts that many worker processes sharing the listen sockets and
restarts one that dies; signals go to every worker (see docs/workers.md).

Options:
  -c, --config FILE   node configuration (or SIPFLEET_CONFIG)
      --worker K      run as worker K of node.workers (the supervising process passes it)
  -h, --help          show this help
`;

export async function runDispatcherCli(argv: string[], version: string): Promise<number> {
  let values: { config?: string; worker?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { config: { type: 'string', short: 'c' }, worker: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`sipfleet dispatcher: ${(err as Error).message}\n\n${DISPATCHER_USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(DISPATCHER_USAGE);
    return 0;
  }
  // Before the node allocates its tables (gc-tuning.ts).
  tuneGc();
  const loaded = loadConfigForCli('dispatcher', values.config, DISPATCHER_USAGE);
  if (typeof loaded === 'number') return loaded;
  let config: NodeConfig = loaded;
  if (values.worker !== undefined) {
    const index = /^\d+$/.test(values.worker) ? Number(values.worker) : NaN;
    if (!(index < config.node.workers)) {
      process.stderr.write(`sipfleet dispatcher: --worker must be 0-${config.node.workers - 1} (node.workers is ${config.node.workers}), got "${values.worker}"\n`);
      return 2;
    }
    config = workerNodeConfig(config, index);
  } else if (config.node.workers > 1) {
    return superviseWorkers(config, values.config ?? process.env.SIPFLEET_CONFIG ?? '');
  }
  return runNode(config, version);
}

async function runNode(config: NodeConfig, version: string): Promise<number> {
  warmSipCodec();
  await warmProxyPath(config.node.warmupCalls);
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
  process.send?.(WORKER_STARTED);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    // A worker whose supervisor is gone stops too (it would hold the shared port for nobody).
    if (process.send !== undefined) process.once('disconnect', stop);
  });
  process.off('SIGUSR2', drain);
  process.off('SIGHUP', handBack);
  await node.close();
  return 0;
}

async function superviseWorkers(config: NodeConfig, configPath: string): Promise<number> {
  const log = createLogger({ node: config.node.id, component: 'supervisor' });
  const supervisor = new WorkerSupervisor({ count: config.node.workers, spawn: forkWorker(configPath), clock: systemClock, logger: log });
  const stopping = new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  const drain = () => supervisor.signal('SIGUSR2');
  process.on('SIGUSR2', drain);
  try {
    await Promise.race([supervisor.start(), stopping]);
  } catch (err) {
    process.stderr.write(`sipfleet dispatcher: ${(err as Error).message}\n`);
    process.off('SIGUSR2', drain);
    return 1;
  }
  log.info({ workers: supervisor.workers().map((w) => w.pid) }, 'workers started');
  await stopping;
  await supervisor.stop();
  process.off('SIGUSR2', drain);
  return 0;
}
