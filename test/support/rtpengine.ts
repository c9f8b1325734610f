import { createSocket } from 'node:dgram';
import { startProcess, type ManagedProcess, type ProcessExit } from './managed-process.ts';
import { freePort, isPortFree, isPortListening } from './ports.ts';
import { requireTool } from './require-tool.ts';

export interface RtpengineOptions {
  /** Address for both the ng control port and the media ports. Default 127.0.0.1. */
  host?: string;
  /** ng control port (UDP). Default: a free port. */
  ngPort?: number;
  /** Media port range, inclusive. Default: a free-looking block of `portCount` ports below the ephemeral range. */
  portMin?: number;
  portMax?: number;
  /** Size of the default media port block (default 100; rtpengine takes 2 per media stream and side). */
  portCount?: number;
  /** Seconds a deleted call lingers (`--delete-delay`). Default 0: `delete` removes it at once. */
  deleteDelay?: number;
  /** More `--name=value` arguments (`['--max-sessions=1']`). */
  extraArgs?: string[];
  readyTimeoutMs?: number;
}

/** A throwaway rtpengine owned by a test. */
export interface Rtpengine {
  readonly host: string;
  /** The ng control port (`--listen-ng`). */
  readonly ngPort: number;
  readonly portMin: number;
  readonly portMax: number;
  readonly process: ManagedProcess;
  /** The command line it was started with (for reports and error messages). */
  readonly args: readonly string[];
  /** Stops it (SIGTERM, SIGKILL after 3 s). */
  stop(): Promise<ProcessExit>;
}

/** Media ports are picked here: below Linux's ephemeral range (32768+), where freePort() hands out ports. */
const MEDIA_BASE = 20_000;
const MEDIA_TOP = 32_000;

async function mediaBlock(host: string, count: number): Promise<[number, number]> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const min = MEDIA_BASE + Math.floor(Math.random() * ((MEDIA_TOP - MEDIA_BASE - count) / 2)) * 2;
    // Spot-check the block: rtpengine skips busy ports anyway, this only avoids a crowded block.
    const probes = [min, min + Math.floor(count / 2), min + count - 1];
    const free = await Promise.all(probes.map((p) => isPortFree(host, p, 'udp')));
    if (free.every(Boolean)) return [min, min + count - 1];
  }
  throw new Error(`no free-looking block of ${count} UDP ports between ${MEDIA_BASE} and ${MEDIA_TOP} on ${host}`);
}

let probeCounter = 0;

/**
 * Sends one ng `ping` (`<cookie> d7:command4:pinge`) and resolves true when the reply is
 * `<cookie> d6:result4:ponge`. Standalone on purpose: the readiness probe must not depend on the
 * ng client under test.
 */
export function ngPing(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const cookie = `probe${process.pid.toString(36)}_${(++probeCounter).toString(36)}`;
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.close();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('error', () => done(false));
    socket.on('message', (msg) => {
      if (msg.toString('latin1') === `${cookie} d6:result4:ponge`) done(true);
    });
    socket.send(Buffer.from(`${cookie} d7:command4:pinge`, 'latin1'), port, host);
  });
}

/**
 * Starts Debian's `rtpengine` (package rtpengine-daemon) in the foreground, userspace forwarding
 * only (`--table=-1`: no kernel module), no config file, logging to stderr, with the ng control
 * protocol on `host:ngPort` and media on `host` within `portMin..portMax`; resolves once this
 * process holds the ng port and answers an ng `ping` with `pong`.
 */
export async function startRtpengine(options: RtpengineOptions = {}): Promise<Rtpengine> {
  const rtpengine = requireTool('rtpengine', 'rtpengine-daemon');
  const host = options.host ?? '127.0.0.1';
  const ngPort = options.ngPort ?? (await freePort(host, ['udp']));
  const [portMin, portMax] =
    options.portMin !== undefined && options.portMax !== undefined
      ? [options.portMin, options.portMax]
      : await mediaBlock(host, options.portCount ?? 100);
  const ngListen = host.includes(':') ? `[${host}]:${ngPort}` : `${host}:${ngPort}`;
  const args = [
    '--config-file=none',
    '--foreground',
    '--log-stderr',
    '--log-level=6',
    '--table=-1',
    `--interface=${host}`,
    `--listen-ng=${ngListen}`,
    `--port-min=${portMin}`,
    `--port-max=${portMax}`,
    `--delete-delay=${options.deleteDelay ?? 0}`,
    // Two cores are shared by the whole test run.
    '--num-threads=1',
    '--media-num-threads=1',
    ...(options.extraArgs ?? []),
  ];
  const proc = await startProcess({
    name: `rtpengine-${ngPort}`,
    command: rtpengine,
    args,
    readyWhen: async (p) => (await isPortListening(ngPort, 'udp', { host, pid: p.pid })) && (await ngPing(host, ngPort, 300)),
    readyTimeoutMs: options.readyTimeoutMs ?? 10_000,
  });
  return {
    host,
    ngPort,
    portMin,
    portMax,
    process: proc,
    args: [rtpengine, ...args],
    stop: () => proc.stop('SIGTERM', 3000),
  };
}
