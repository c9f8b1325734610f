#!/usr/bin/env node
/**
 * The `sipfleet` command: one entry, one sub-command per component.
 * Each sub-command module is loaded only when used.
 */
import { readFileSync } from 'node:fs';

const VERSION: string = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;

const USAGE = `Usage: sipfleet <command> [options]

Commands:
  dispatcher --config FILE     run a dispatcher node (SIP proxy)
  switch-sim --listen URL ...  run a switch simulator (SIP UAS)
  ops-api --config FILE        run the ops API (HTTP, bearer tokens, OpenAPI at /docs)
  apply -f FILE                apply a cluster description (limits, switches) through the ops API
  lab                          bring up a local cluster (dispatcher + 2 switch-sims) and print how to use it
  help                         show this help

Run "sipfleet <command> --help" for the options of a command.
sipfleet ${VERSION}
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'dispatcher': {
      const { runDispatcherCli } = await import('../dispatcher/main.ts');
      return runDispatcherCli(rest, VERSION);
    }
    case 'switch-sim': {
      const { runSwitchSimCli } = await import('../switch-sim/main.ts');
      await runSwitchSimCli(rest);
      return 0;
    }
    case 'ops-api': {
      const { runOpsApiCli } = await import('../ops-api/main.ts');
      return runOpsApiCli(rest, VERSION);
    }
    case 'apply': {
      const { runApplyCli } = await import('../ops-api/apply/apply-cluster.ts');
      return runApplyCli(rest);
    }
    case 'lab': {
      const { runLabCli } = await import('../ops-api/lab/run-lab.ts');
      return runLabCli(rest);
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    case '--version':
    case '-v':
      process.stdout.write(`${VERSION}\n`);
      return 0;
    default:
      process.stderr.write(`sipfleet: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`sipfleet: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
