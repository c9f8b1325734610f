/**
 * Worker processes as `WorkerSupervisor` spawns them: `sipfleet dispatcher --config FILE
 * --worker K` forked with an IPC channel, over which the worker says it is listening
 * (`WORKER_STARTED`), and whose loss (the supervisor died) makes the worker stop.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { SpawnWorker, WorkerProcess } from './worker-supervisor.ts';

const BIN = fileURLToPath(new URL('../../bin/sipfleet.ts', import.meta.url));

/** The IPC message a worker sends once its node is started. */
export const WORKER_STARTED = { sipfleet: 'worker-started' } as const;

export function isWorkerStarted(msg: unknown): boolean {
  return typeof msg === 'object' && msg !== null && (msg as { sipfleet?: unknown }).sipfleet === WORKER_STARTED.sipfleet;
}

/** Spawns worker K of the node whose config is in `configPath` (the environment is inherited). */
export function forkWorker(configPath: string): SpawnWorker {
  return (index: number): WorkerProcess => {
    const child = fork(BIN, ['dispatcher', '--config', configPath, '--worker', String(index)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: process.execArgv,
    });
    return {
      get pid() {
        return child.pid;
      },
      kill: (signal) => {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      },
      onStarted: (fn) => {
        const onMessage = (msg: unknown): void => {
          if (!isWorkerStarted(msg)) return;
          child.off('message', onMessage);
          fn();
        };
        child.on('message', onMessage);
      },
      onExit: (fn) => void child.once('exit', fn),
    };
  };
}
