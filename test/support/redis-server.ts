import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProcess, type ManagedProcess, type ProcessExit } from './managed-process.ts';
import { freePort, isPortListening } from './ports.ts';
import { requireTool } from './require-tool.ts';

export interface RedisServerOptions {
  /** Default: a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** More `--name value` arguments for redis-server (`['--maxmemory', '10mb']`). */
  extraArgs?: string[];
  readyTimeoutMs?: number;
}

/** A throwaway redis-server owned by a test. */
export interface RedisServer {
  /** `redis://host:port`, what sipfleet's `store:` takes. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** The current process (a new one after `restart()`). */
  readonly process: ManagedProcess;
  /** Stops redis (SIGTERM, SIGKILL after 3 s) and removes its temp dir. */
  stop(): Promise<ProcessExit>;
  /**
   * Stops it and starts a fresh one on the same port, empty (no persistence). With
   * `{ downMs }`, stays down that long first, to test store outages.
   */
  restart(options?: { downMs?: number }): Promise<void>;
}

/**
 * Starts `redis-server` on loopback without persistence (`--save '' --appendonly no`), in a
 * temp dir; resolves once this process listens on the port and answers PING over RESP.
 */
export async function startRedis(options: RedisServerOptions = {}): Promise<RedisServer> {
  const redisServer = requireTool('redis-server', 'redis-server');
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? (await freePort(host, ['tcp']));
  const dir = await mkdtemp(join(tmpdir(), 'sipfleet-redis-'));

  // The temp dir goes away whenever the process ends, however it is stopped (stopAllProcesses
  // included); a restart recreates it. Nothing is kept in it: persistence is off.
  let removal: Promise<void> = Promise.resolve();
  const launch = async (): Promise<ManagedProcess> => {
    await removal;
    await mkdir(dir, { recursive: true });
    let proc: ManagedProcess;
    try {
      proc = await startProcess({
        name: `redis-${port}`,
        command: redisServer,
        args: [
          '--port', String(port),
          '--bind', host,
          '--save', '',
          '--appendonly', 'no',
          '--dir', dir,
          '--daemonize', 'no',
          '--logfile', '',
          ...(options.extraArgs ?? []),
        ],
        cwd: dir,
        // Our process must hold the listening socket (a stranger on the port would answer PING too).
        readyWhen: async (p) =>
          (await isPortListening(port, 'tcp', { host, pid: p.pid })) && (await redisCommand(host, port, ['PING'], 500)) === '+PONG',
        readyTimeoutMs: options.readyTimeoutMs ?? 10_000,
      });
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
    removal = proc.exited.then(() => rm(dir, { recursive: true, force: true }));
    return proc;
  };

  let current = await launch();

  return {
    url: `redis://${host.includes(':') ? `[${host}]` : host}:${port}`,
    host,
    port,
    get process(): ManagedProcess {
      return current;
    },
    async stop(): Promise<ProcessExit> {
      const exit = await current.stop('SIGTERM', 3000);
      await removal;
      return exit;
    },
    async restart(restartOptions: { downMs?: number } = {}): Promise<void> {
      await current.stop('SIGTERM', 3000);
      if (restartOptions.downMs !== undefined) await new Promise((resolve) => setTimeout(resolve, restartOptions.downMs));
      current = await launch();
    },
  };
}

/**
 * Sends one command as a RESP array on a fresh connection and returns the first reply line
 * (`+PONG`, `:1`, `$5`, `-ERR ...`). Enough for probes and test set-up without a client library.
 *
 * @throws Error on connection failure or when no reply arrives within `timeoutMs`.
 */
export function redisCommand(host: string, port: number, args: string[], timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host, port });
    let reply = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no reply from redis ${host}:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    const encoded = `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
    socket.setEncoding('utf8');
    socket.once('connect', () => socket.write(encoded));
    socket.on('data', (chunk: string) => {
      reply += chunk;
      const end = reply.indexOf('\r\n');
      if (end >= 0) {
        clearTimeout(timer);
        socket.destroy();
        resolve(reply.slice(0, end));
      }
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    });
    socket.once('close', () => {
      clearTimeout(timer);
      reject(new Error(`redis ${host}:${port} closed the connection without a reply`));
    });
  });
}
