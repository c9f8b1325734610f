/**
 * Kamailio 5.6 as the benchmark's reference proxy: bench/kamailio/kamailio.cfg, started the way
 * the sipfleet dispatcher is (one UDP address, pinned to one CPU, stopped on return).
 *
 * The config takes its settings as pre-processor defines (`-A NAME=value`, see the top of the
 * file); `startKamailio` writes the dispatcher list into a fresh temp dir, checks the config with
 * `kamailio -c` and the same defines, then runs
 *
 *   setsid taskset -c CPU kamailio -DD -E -m SHM -f kamailio.cfg -A ... -Y TMPDIR
 *
 * (under setpriv --pdeathsig, see managed-process.ts). -DD keeps the main process in the
 * foreground, so it is our child; with fork=yes it still forks its receivers and timer processes,
 * which inherit the CPU affinity. setsid makes the main process a process-group leader (pid =
 * pgid, nothing forks: setsid(1) only forks when it already leads a group), so `stop()` can
 * signal every Kamailio process at once: SIGTERM to the group, then SIGKILL to whatever is left.
 *
 * Ready means: a SIP OPTIONS sent over UDP to its address got an answer (the config answers
 * OPTIONS for itself with 200 Keepalive), i.e. the receivers are up, not just the socket bound.
 */
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startProcess, type ManagedProcess, type ProcessExit } from '../../test/support/managed-process.ts';
import { requireTool } from '../../test/support/require-tool.ts';
import { processTreeCpuTicks, processTreePids } from './proc-stat.ts';
import { SOCKET_BUFFER_BYTES } from './step-support.ts';

/** The config file, used in place (it is parameterised by defines, not rendered). */
export const KAMAILIO_CFG = fileURLToPath(new URL('../kamailio/kamailio.cfg', import.meta.url));

/**
 * Default shared memory. A transaction takes about 17 KB of it and lives on for 5 s after it
 * ends (tm's wt_timer), a call has two (INVITE, BYE): about 1000 cps of sustained load per
 * 200 MB, so 6000 cps needs over 1 GB (with room to spare).
 */
export const DEFAULT_SHM_MB = 2048;

export interface KamailioOptions {
  /** Listen address (UDP only). */
  ip: string;
  port: number;
  /** All Kamailio processes run on this CPU (`taskset -c`). */
  cpu: number;
  /** UDP receiver processes (`children`); default 4. */
  children?: number;
  /** Dispatcher set 1, in order: `ip:port` of each switch. */
  switches: string[];
  /** Shared memory, MB (`-m`); default DEFAULT_SHM_MB (2048). Transactions and dialogs live there. */
  shmMb?: number;
  /**
   * Largest UDP receive buffer Kamailio's start-up probing may set on its socket, bytes (`-b`);
   * default SOCKET_BUFFER_BYTES (4 MiB), what sipfleet and the bench's SIPps ask for. Kamailio's
   * own default stops at 256 KB, whose drops at 4000+ cps looked like a CPU limit it does not have.
   */
  rcvBufBytes?: number;
  /** Seconds between two OPTIONS probes of each switch (`ds_ping_interval`); default 5. */
  pingIntervalS?: number;
  /** Core `debug` level: -1 errors only (default), 0 warnings, ... 3 debug. */
  logLevel?: number;
  /**
   * Memory manager for shared and private memory (`-x` / `-X`); default `tlsf`. Kamailio's own
   * default is `qm` (q_malloc), which keeps debugging data per fragment: on this bench it costs
   * about 2.5 times the CPU per call of `tlsf` (bench/kamailio/README.md).
   */
  memManager?: 'tlsf' | 'fm' | 'qm';
  /** More `kamailio` command-line options, e.g. `['-x', 'qm']` for another memory manager. */
  extraArgs?: string[];
  /** How long to wait for the first OPTIONS answer; default 15 000 ms. */
  readyTimeoutMs?: number;
}

export interface RunningKamailio {
  /** The main process: the process group id of all Kamailio processes too. */
  readonly pid: number;
  /** `ip:port` to send traffic to. */
  readonly address: string;
  /** Temp dir with the dispatcher list and the runtime files (removed by `stop()`). */
  readonly workDir: string;
  /** The ctl module's BINRPC socket, for `kamcmd -s` (see `kamcmd`). */
  readonly ctlSocket: string;
  /** The command line that ran (after setpriv). */
  readonly commandLine: string[];
  /** SIGTERM to the whole process group, SIGKILL after `graceMs` (default 5000) to what is left; removes the temp dir. */
  stop(graceMs?: number): Promise<ProcessExit>;
  /** Kamailio's stderr and stdout (-E: its log), last ~2 MB. */
  output(): string;
  /** The main process's exit status once it has exited, else `undefined`. */
  exitStatus(): ProcessExit | undefined;
}

/** The `-A` defines bench/kamailio/kamailio.cfg reads (string values carry their own quotes). */
export function kamailioDefines(opts: KamailioOptions, files: { dsListFile: string; ctlSocket: string }): string[] {
  const defines: Record<string, string> = {
    LISTEN: `udp:${opts.ip}:${opts.port}`,
    CHILDREN: String(opts.children ?? 4),
    DS_LIST_FILE: JSON.stringify(files.dsListFile),
    CTL_SOCKET: JSON.stringify(`unix:${files.ctlSocket}`),
    DS_PING_INTERVAL: String(opts.pingIntervalS ?? 5),
    LOG_LEVEL: String(opts.logLevel ?? -1),
  };
  return Object.entries(defines).flatMap(([name, value]) => ['-A', `${name}=${value}`]);
}

/** `-m SHM -x MANAGER -X MANAGER`: shared memory size and the memory managers. */
export function memoryArgs(opts: Pick<KamailioOptions, 'shmMb' | 'memManager'>): string[] {
  const manager = opts.memManager ?? 'tlsf';
  return ['-m', String(opts.shmMb ?? DEFAULT_SHM_MB), '-x', manager, '-X', manager];
}

/** `-b BYTES`: the receive buffer Kamailio may grow its UDP socket to. */
export function bufferArgs(opts: Pick<KamailioOptions, 'rcvBufBytes'>): string[] {
  return ['-b', String(opts.rcvBufBytes ?? SOCKET_BUFFER_BYTES)];
}

/** A dispatcher list file: every switch in set 1 (`1 sip:IP:PORT`). */
export function dispatcherList(switches: string[]): string {
  if (switches.length === 0) throw new Error('kamailio: at least one switch is needed');
  const lines = switches.map((s) => {
    if (!/^[0-9.]+:\d+$/.test(s)) throw new Error(`kamailio: switch "${s}" is not ip:port`);
    return `1 sip:${s}`;
  });
  return `# setid destination (written by bench/lib/kamailio.ts)\n${lines.join('\n')}\n`;
}

function run(command: string, args: string[], cwd: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, timeout: 20_000, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

async function checkConfig(kamailio: string, cfgArgs: string[], cwd: string): Promise<string> {
  const check = await run(kamailio, ['-c', ...cfgArgs], cwd);
  if (check.code !== 0 || !/config file ok/i.test(check.output)) {
    throw new Error(`kamailio -c rejected ${KAMAILIO_CFG} (exit ${check.code}):\n${check.output.slice(-4000)}`);
  }
  return check.output;
}

/**
 * Checks bench/kamailio/kamailio.cfg with these options (`kamailio -c` and the same defines and
 * a dispatcher list in a temp dir, removed after); returns Kamailio's output, throws on a
 * rejected config. `kamailio -c` parses the config and loads the modules, but binds nothing
 * and does not read the list file.
 */
export async function checkKamailioConfig(opts: KamailioOptions): Promise<string> {
  const kamailio = requireTool('kamailio', 'kamailio');
  const workDir = await mkdtemp(join(tmpdir(), 'sipfleet-kamailio-'));
  try {
    const dsListFile = join(workDir, 'dispatcher.list');
    await writeFile(dsListFile, dispatcherList(opts.switches));
    const cfgArgs = ['-f', KAMAILIO_CFG, ...kamailioDefines(opts, { dsListFile, ctlSocket: join(workDir, 'kamailio_ctl') }), '-Y', workDir];
    return await checkConfig(kamailio, cfgArgs, workDir);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

/**
 * True when `host:port` answers a SIP OPTIONS over UDP within `timeoutMs` (any response). The
 * probe is sent from an ephemeral port on 127.0.0.1.
 */
export function sipOptionsAnswered(host: string, port: number, timeoutMs = 300): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    let done = false;
    const finish = (ok: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.close();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.once('error', () => finish(false));
    socket.on('message', (msg) => finish(msg.subarray(0, 8).toString('latin1') === 'SIP/2.0 '));
    socket.bind(0, '127.0.0.1', () => {
      const local = socket.address();
      const id = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`;
      const msg = [
        `OPTIONS sip:${host}:${port} SIP/2.0`,
        `Via: SIP/2.0/UDP ${local.address}:${local.port};branch=z9hG4bK-ready-${id};rport`,
        'Max-Forwards: 70',
        `From: <sip:ready@${local.address}>;tag=${id}`,
        `To: <sip:${host}:${port}>`,
        `Call-ID: ready-${id}@${local.address}`,
        'CSeq: 1 OPTIONS',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
      socket.send(msg, port, host, (err) => {
        if (err) finish(false);
      });
    });
  });
}

/** True while any process of process group `pgid` exists. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // the group is gone
  }
}

/** Process groups of the Kamailios started here, SIGKILLed if this process exits with them running. */
const liveGroups = new Set<number>();
process.on('exit', () => {
  for (const pgid of liveGroups) signalGroup(pgid, 'SIGKILL');
});

/**
 * Starts Kamailio with bench/kamailio/kamailio.cfg; resolves once it answers SIP. Throws (with
 * Kamailio's output) when the config check fails, it exits early, or it is not ready in time.
 */
export async function startKamailio(opts: KamailioOptions): Promise<RunningKamailio> {
  const kamailio = requireTool('kamailio', 'kamailio');
  const taskset = requireTool('taskset', 'util-linux');
  const setsid = requireTool('setsid', 'util-linux');
  const workDir = await mkdtemp(join(tmpdir(), 'sipfleet-kamailio-'));
  const dsListFile = join(workDir, 'dispatcher.list');
  const ctlSocket = join(workDir, 'kamailio_ctl');
  let proc: ManagedProcess | undefined;
  try {
    await writeFile(dsListFile, dispatcherList(opts.switches));
    const cfgArgs = ['-f', KAMAILIO_CFG, ...kamailioDefines(opts, { dsListFile, ctlSocket }), '-Y', workDir];

    await checkConfig(kamailio, cfgArgs, workDir);

    const args = [taskset, '-c', String(opts.cpu), kamailio, '-DD', '-E', ...memoryArgs(opts), ...bufferArgs(opts), ...(opts.extraArgs ?? []), ...cfgArgs];
    const commandLine = [setsid, ...args];
    proc = await startProcess({
      name: 'kamailio',
      command: setsid,
      args,
      cwd: workDir,
      readyWhen: () => sipOptionsAnswered(opts.ip, opts.port, 300),
      readyTimeoutMs: opts.readyTimeoutMs ?? 15_000,
    });
    const p = proc;
    liveGroups.add(p.pid);
    void p.exited.then(() => {
      if (!groupAlive(p.pid)) liveGroups.delete(p.pid);
    });

    let stopping: Promise<ProcessExit> | undefined;
    const stop = (graceMs = 5000): Promise<ProcessExit> => {
      stopping ??= (async () => {
        signalGroup(p.pid, 'SIGTERM');
        const deadline = Date.now() + graceMs;
        // The main process waits for its children before exiting; poll the group as a whole.
        while (groupAlive(p.pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
        if (groupAlive(p.pid)) signalGroup(p.pid, 'SIGKILL');
        const exit = await p.stop('SIGKILL', 1000);
        liveGroups.delete(p.pid);
        await rm(workDir, { recursive: true, force: true });
        return exit;
      })();
      return stopping;
    };
    return {
      pid: p.pid,
      address: `${opts.ip}:${opts.port}`,
      workDir,
      ctlSocket,
      commandLine,
      stop,
      output: () => p.output(),
      exitStatus: () => p.exitStatus(),
    };
  } catch (err) {
    if (proc !== undefined) {
      signalGroup(proc.pid, 'SIGKILL');
      await proc.stop('SIGKILL', 1000);
    }
    await rm(workDir, { recursive: true, force: true });
    throw err;
  }
}

/** Runs `kamcmd -s unix:SOCKET ARGS...` against a running Kamailio; returns its output. */
export async function kamcmd(k: Pick<RunningKamailio, 'ctlSocket'>, ...args: string[]): Promise<string> {
  const bin = requireTool('kamcmd', 'kamailio');
  const r = await run(bin, ['-s', `unix:${k.ctlSocket}`, ...args], tmpdir());
  if (r.code !== 0) throw new Error(`kamcmd ${args.join(' ')} failed (exit ${r.code}): ${r.output.trim()}`);
  return r.output;
}

/**
 * The dispatcher's destinations and their state flags (`kamcmd dispatcher.list`): `AP` active
 * and probed; `TP` a probe just failed; `IP` inactive (probes failed `ds_probing_threshold` times).
 */
export async function dispatcherTargets(k: Pick<RunningKamailio, 'ctlSocket'>): Promise<Array<{ uri: string; flags: string }>> {
  const text = await kamcmd(k, 'dispatcher.list');
  const out: Array<{ uri: string; flags: string }> = [];
  for (const m of text.matchAll(/URI:\s*(\S+)\s+FLAGS:\s*(\S+)/g)) out.push({ uri: m[1], flags: m[2] });
  return out;
}

/** Kamailio's processes: the main one and its children (receivers, timers, ctl...). */
export function kamailioPids(mainPid: number): number[] {
  return processTreePids(mainPid);
}

/**
 * CPU time used so far by Kamailio — its main process plus its children — in clock ticks. Take it
 * before and after a step: the difference over the step's calls is Kamailio's CPU per call.
 */
export function kamailioCpuTicks(mainPid: number): number {
  return processTreeCpuTicks(mainPid);
}
