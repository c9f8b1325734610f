/**
 * Linux /proc sampling for the benchmark: a process's CPU time and RSS (`/proc/<pid>/stat`) and
 * per-CPU busy time (`/proc/stat`), plus the machine facts the report prints.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

function getconf(name: string, fallback: number): number {
  try {
    const n = Number(execFileSync('getconf', [name], { encoding: 'utf8' }).trim());
    return Number.isFinite(n) && n > 0 ? n : fallback;
  } catch {
    return fallback;
  }
}

/** Clock ticks per second (`getconf CLK_TCK`, 100 on Linux). */
export const CLK_TCK = getconf('CLK_TCK', 100);
/** Bytes per page (`getconf PAGESIZE`). */
export const PAGE_SIZE = getconf('PAGESIZE', 4096);

export interface ProcSample {
  /** performance.now() of the read. */
  atMs: number;
  /** utime + stime of every thread, clock ticks. */
  cpuTicks: number;
  rssBytes: number;
  /**
   * The main thread's time on CPU and time runnable but waiting for a CPU (ns, from
   * /proc/<pid>/schedstat). For a Node process the main thread is the event loop: run + wait
   * near 100 % of the wall time means it always had work; the wait is the share its own GC
   * threads or other processes took from it on its core.
   */
  mainRunNs: number;
  mainWaitNs: number;
}

/**
 * Fields of one `/proc/<pid>/stat` line. The command name (field 2) is in parentheses and may
 * itself contain spaces and parentheses, so fields are counted from the last ')'.
 */
export function parseProcStat(line: string): { ppid: number; utime: number; stime: number; cutime: number; cstime: number; rssPages: number } {
  const close = line.lastIndexOf(')');
  if (close < 0) throw new Error('malformed /proc/<pid>/stat line');
  // After ')' comes field 3 (state); ppid is 4, utime 14, stime 15, cutime 16, cstime 17, rss 24.
  const rest = line.slice(close + 2).trim().split(/\s+/);
  const field = (n: number): number => Number(rest[n - 3]);
  return { ppid: field(4), utime: field(14), stime: field(15), cutime: field(16), cstime: field(17), rssPages: field(24) };
}

/** A sample of `pid`, or `undefined` if it has exited. */
export function sampleProcess(pid: number): ProcSample | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const { utime, stime, rssPages } = parseProcStat(text);
  let mainRunNs = Number.NaN;
  let mainWaitNs = Number.NaN;
  try {
    const [run, wait] = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number);
    mainRunNs = run;
    mainWaitNs = wait;
  } catch {
    // no schedstats in this kernel
  }
  return { atMs: performance.now(), cpuTicks: utime + stime, rssBytes: rssPages * PAGE_SIZE, mainRunNs, mainWaitNs };
}

/** % of the wall time between two samples that the main thread ran, and waited for a CPU. */
export function mainThreadPercent(a: ProcSample, b: ProcSample): { run: number; wait: number } {
  const wallNs = (b.atMs - a.atMs) * 1e6;
  if (!(wallNs > 0)) return { run: Number.NaN, wait: Number.NaN };
  return { run: ((b.mainRunNs - a.mainRunNs) / wallNs) * 100, wait: ((b.mainWaitNs - a.mainWaitNs) / wallNs) * 100 };
}

/** CPU ticks of this process's reaped children (cutime + cstime): grows by a child's whole CPU time when it is waited for. */
export function reapedChildrenTicks(): number {
  try {
    const { cutime, cstime } = parseProcStat(readFileSync('/proc/self/stat', 'utf8'));
    return cutime + cstime;
  } catch {
    return Number.NaN;
  }
}

/** Every process's pid → { ppid, utime + stime ticks } (processes that vanish mid-scan are skipped). */
export function snapshotAllProcesses(): Map<number, { ppid: number; ticks: number }> {
  const out = new Map<number, { ppid: number; ticks: number }>();
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const { ppid, utime, stime } = parseProcStat(readFileSync(`/proc/${name}/stat`, 'utf8'));
      out.set(Number(name), { ppid, ticks: utime + stime });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/**
 * CPU used between two snapshots by processes other than `exclude` and this process's children,
 * in % of one core (so up to nproc × 100). A process that started and ended between the
 * snapshots is not seen, so this is a lower bound.
 */
export function otherCpuPercent(
  a: Map<number, { ppid: number; ticks: number }>,
  b: Map<number, { ppid: number; ticks: number }>,
  exclude: ReadonlySet<number>,
  wallS: number,
): number {
  let ticks = 0;
  for (const [pid, end] of b) {
    if (exclude.has(pid) || pid === process.pid || end.ppid === process.pid) continue;
    ticks += end.ticks - (a.get(pid)?.ticks ?? 0);
  }
  return wallS > 0 ? (ticks / CLK_TCK / wallS) * 100 : Number.NaN;
}

/** `127.0.0.11:5060` from /proc/net/udp's little-endian `0B00007F:13C4`. */
export function decodeProcNetAddress(hex: string): string {
  const [ip, port] = hex.split(':');
  const bytes = (ip.match(/../g) ?? []).map((b) => Number.parseInt(b, 16)).reverse();
  return `${bytes.join('.')}:${Number.parseInt(port, 16)}`;
}

/** Per-socket receive drops of the IPv4 UDP sockets (/proc/net/udp `drops`), summed by local `ip:port`. */
export function parseUdpSocketDrops(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n').slice(1)) {
    const cells = line.trim().split(/\s+/);
    if (cells.length < 13) continue;
    const local = decodeProcNetAddress(cells[1]);
    const drops = Number(cells[cells.length - 1]);
    if (Number.isFinite(drops)) out.set(local, (out.get(local) ?? 0) + drops);
  }
  return out;
}

export function readUdpSocketDrops(): Map<string, number> {
  try {
    return parseUdpSocketDrops(readFileSync('/proc/net/udp', 'utf8'));
  } catch {
    return new Map();
  }
}

/** System-wide UDP counters from /proc/net/snmp (`RcvbufErrors`: datagrams dropped for a full socket buffer). */
export function readUdpCounters(): Record<string, number> {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
    const names = (lines[0] ?? '').split(/\s+/).slice(1);
    const values = (lines[1] ?? '').split(/\s+/).slice(1).map(Number);
    const out: Record<string, number> = {};
    names.forEach((n, i) => {
      out[n] = values[i] ?? Number.NaN;
    });
    return out;
  } catch {
    return {};
  }
}

/** CPU% of one core used between two samples of the same process. */
export function cpuPercent(a: ProcSample, b: ProcSample): number {
  const wallS = (b.atMs - a.atMs) / 1000;
  return wallS > 0 ? ((b.cpuTicks - a.cpuTicks) / CLK_TCK / wallS) * 100 : Number.NaN;
}

export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  kernel: string;
  node: string;
  sipp: string;
  loadAvg: [number, number, number];
}

export function cpuModel(): string {
  try {
    const text = readFileSync('/proc/cpuinfo', 'utf8');
    const m = /^model name\s*:\s*(.+)$/m.exec(text);
    if (m !== null) return m[1].trim();
  } catch {
    // not Linux
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

/** `sipp -v`'s version line (sipp exits non-zero for -v, so the output is read either way). */
export function sippVersion(sipp: string): string {
  let text = '';
  try {
    text = execFileSync(sipp, ['-v'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000 });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    text = `${e.stdout ?? ''}${e.stderr ?? ''}`;
  }
  const m = /SIPp v?[^\s]+/.exec(text);
  return m !== null ? m[0].replace(/\.$/, '') : 'unknown';
}

export function machineInfo(sipp: string): MachineInfo {
  const [a, b, c] = os.loadavg();
  return {
    nproc: os.cpus().length,
    cpuModel: cpuModel(),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    sipp: sippVersion(sipp),
    loadAvg: [a, b, c],
  };
}

/**
 * CPU used by every other process during `ms`, in % of the whole machine (nproc cores). Summed
 * from /proc/<pid>/stat, not /proc/stat: the per-CPU tick counters of this VM miss bursty load.
 */
export async function measureBusy(ms: number): Promise<number> {
  const a = snapshotAllProcesses();
  const t0 = performance.now();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const b = snapshotAllProcesses();
  return otherCpuPercent(a, b, new Set(), (performance.now() - t0) / 1000) / os.cpus().length;
}

/**
 * Waits (at most `maxWaitS`) until the machine is quiet — average CPU busy under `thresholdPct`
 * over a 3 s window — so that other work does not share the measured cores. Returns the last
 * busy figure and how long it waited; never throws (a busy machine is reported, not fatal).
 */
export async function waitForQuiet(maxWaitS: number, thresholdPct: number, log: (line: string) => void): Promise<{ busyPct: number; waitedS: number; quiet: boolean }> {
  const start = Date.now();
  let busy = await measureBusy(3000);
  let told = false;
  while (!(busy < thresholdPct) && Date.now() - start < maxWaitS * 1000) {
    if (!told) {
      log(`machine busy (${busy.toFixed(0)} % CPU before starting anything): waiting up to ${maxWaitS} s for it to go under ${thresholdPct} %`);
      told = true;
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
    busy = await measureBusy(3000);
  }
  return { busyPct: busy, waitedS: Math.round((Date.now() - start) / 1000), quiet: busy < thresholdPct };
}

/** A process and its direct children (Kamailio's receivers, a dispatcher's workers); [] once it is gone. */
export function processTreePids(mainPid: number): number[] {
  const all = snapshotAllProcesses();
  if (!all.has(mainPid)) return [];
  return [mainPid, ...[...all].filter(([, p]) => p.ppid === mainPid).map(([pid]) => pid)];
}

/**
 * CPU time used so far by a process plus its direct children, in clock ticks (utime + stime from
 * /proc/<pid>/stat; divide by CLK_TCK for seconds). NaN once the main process is gone.
 */
export function processTreeCpuTicks(mainPid: number): number {
  const all = snapshotAllProcesses();
  const main = all.get(mainPid);
  if (main === undefined) return Number.NaN;
  let ticks = main.ticks;
  for (const p of all.values()) if (p.ppid === mainPid) ticks += p.ticks;
  return ticks;
}
