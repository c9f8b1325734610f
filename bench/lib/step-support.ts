/**
 * Pieces the SIPp-driven sweeps share (bench/lib/proxy-sweep.ts, bench/lib/registrar-bench.ts):
 * temp dirs removed even on an interrupted run, waiting for a free port or a ready HTTP endpoint,
 * the machine-wide counters sampled around a step, and a step's SIPp files.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isPortFree } from '../../test/support/ports.ts';
import { readUdpCounters, readUdpSocketDrops, reapedChildrenTicks, sampleProcess, snapshotAllProcesses } from './proc-stat.ts';

/** Temp dirs to remove even when the run is interrupted (process.exit skips `finally`). */
export const tempDirs = new Set<string>();
process.on('exit', () => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/**
 * Socket buffers of every SIP endpoint in a sweep, bytes: SIPp's `-buff_size` (its own default,
 * 64 KB, drops answers from ~2000 calls/s: a GC pause or a descheduled SIPp fills it), Kamailio's
 * `-b` and sipfleet's own request (it asks the kernel for 4 MiB). The same for every process, so a
 * sweep measures CPU, not who has the larger queue. Linux grants at most net.core.rmem_max /
 * wmem_max (see `ensureSocketBufferLimits`).
 */
export const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;

/** A numeric sysctl from /proc/sys, or undefined when unreadable. */
export function readSysctlNumber(path: string): number | undefined {
  try {
    const n = Number(readFileSync(path, 'utf8').trim());
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

export interface SocketBufferLimits {
  rmemMax: number | undefined;
  wmemMax: number | undefined;
  /** What this run changed, e.g. "net.core.rmem_max 212992 → 4194304". */
  raised: string[];
}

/**
 * Make sure the kernel grants SOCKET_BUFFER_BYTES: raise net.core.rmem_max and wmem_max to it when
 * lower (as root; a stock Debian has 208 KiB). Without root, the limits stay and the report says
 * what they were, so a run on a small limit is visible as such.
 */
export function ensureSocketBufferLimits(log: (line: string) => void): SocketBufferLimits {
  const raised: string[] = [];
  const limit = (name: string): number | undefined => {
    const path = `/proc/sys/net/core/${name}`;
    const now = readSysctlNumber(path);
    if (now === undefined || now >= SOCKET_BUFFER_BYTES) return now;
    try {
      writeFileSync(path, String(SOCKET_BUFFER_BYTES));
      raised.push(`net.core.${name} ${now} → ${SOCKET_BUFFER_BYTES}`);
      log(`raised net.core.${name} from ${now} to ${SOCKET_BUFFER_BYTES} bytes (socket buffers of SIPp, Kamailio and sipfleet)`);
      return SOCKET_BUFFER_BYTES;
    } catch (err) {
      log(`warning: net.core.${name} is ${now} bytes, below the ${SOCKET_BUFFER_BYTES} the sweep's sockets ask for, and could not be raised (${(err as Error).message}): run as root or \`sysctl -w net.core.${name}=${SOCKET_BUFFER_BYTES}\``);
      return now;
    }
  };
  return { rmemMax: limit('rmem_max'), wmemMax: limit('wmem_max'), raised };
}

/** A failed step that no retry would save: under 95 % success or under 80 % of the offered rate. */
export function clearlyShort(s: { readonly successPct: number; readonly achievedCps: number; readonly rate: number }): boolean {
  return s.successPct < 95 || s.achievedCps < 0.8 * s.rate;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function waitForFree(label: string, ip: string, port: number, kind: 'udp' | 'tcp', timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await isPortFree(ip, port, kind)) return;
    if (Date.now() > until) throw new Error(`${label}: ${kind} ${ip}:${port} is in use by another process (waited ${timeoutMs / 1000} s); stop it and retry`);
    await sleep(500);
  }
}

export async function httpOk(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(500) });
    return res.ok;
  } catch {
    return false;
  }
}

/** Clip a sipp error log to its first lines. */
export function head(text: string, lines: number): string {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '' && !/^The following events occurred/.test(l.trim()))
    .slice(0, lines)
    .map((l) => (l.length > 300 ? `${l.slice(0, 300)}…` : l))
    .join('\n');
}

/** The machine-wide counters read just before a step. */
export interface StepCounters {
  /** Every process's CPU ticks. */
  all: ReturnType<typeof snapshotAllProcesses>;
  udp: ReturnType<typeof readUdpCounters>;
  sockets: ReturnType<typeof readUdpSocketDrops>;
  /** CPU ticks of this process's reaped children (the SIPp uac once it has exited). */
  children: number;
}

export function readStepCounters(): StepCounters {
  return { all: snapshotAllProcesses(), udp: readUdpCounters(), sockets: readUdpSocketDrops(), children: reapedChildrenTicks() };
}

/**
 * Samples during a step, every 250 ms: the RSS peak of `pid`, and every process's latest CPU
 * ticks (rescanned every 500 ms, so that one which starts and ends inside the step — a test run,
 * a compiler — is still counted).
 */
export class StepSampler {
  rssPeak: number;
  readonly allLatest: StepCounters['all'];
  #timer: ReturnType<typeof setInterval>;

  constructor(pid: number | undefined, rssStart: number, all: StepCounters['all']) {
    this.rssPeak = rssStart;
    this.allLatest = new Map(all);
    let ticks = 0;
    this.#timer = setInterval(() => {
      if (pid !== undefined) {
        const s = sampleProcess(pid);
        if (s !== undefined && s.rssBytes > this.rssPeak) this.rssPeak = s.rssBytes;
      }
      if (++ticks % 2 === 0) this.rescan();
    }, 250);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Every process's latest CPU ticks, now. */
  rescan(): void {
    for (const [p, v] of snapshotAllProcesses()) this.allLatest.set(p, v);
  }
}

/** The `*_rtt.csv` files of a SIPp work dir, concatenated; the dir is removed unless `keep`. */
export async function readRttText(workDir: string, keep: boolean): Promise<string> {
  if (!keep) tempDirs.add(workDir);
  let rttText = '';
  try {
    for (const f of (await readdir(workDir)).filter((n) => n.endsWith('_rtt.csv')).sort()) rttText += await readFile(join(workDir, f), 'utf8');
  } finally {
    if (!keep) {
      await rm(workDir, { recursive: true, force: true });
      tempDirs.delete(workDir);
    }
  }
  return rttText;
}
