/**
 * Output of the proxy CPS benchmark: the progress line of a step, the markdown tables and the
 * `## Proxy CPS (one dispatcher core)` section appended to BENCHMARKS.md.
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { drops, fmt, headerRows, row, stepCells } from './markdown.ts';
import type { MachineInfo } from './proc-stat.ts';
import type { StepResult, SweepConfig, SweepResult } from './proxy-sweep.ts';
import { SOCKET_BUFFER_BYTES, type SocketBufferLimits } from './step-support.ts';
import { DEFAULT_TRANSACTIONS } from '../../shared/config/config-types.ts';

export const SECTION_TITLE = '## Proxy CPS (one dispatcher core)';

export interface BenchReport {
  date: string;
  command: string;
  machine: MachineInfo;
  /** CPU busy % measured before anything started, and whether it was under the quiet threshold. */
  before: { busyPct: number; waitedS: number; quiet: boolean };
  config: Omit<SweepConfig, 'log'>;
  proxy: SweepResult | undefined;
  ceiling: SweepResult | undefined;
  summary: string;
  /** SIPp's response-time step seen in the data (ms). */
  rttResolutionMs: number | undefined;
  totalSeconds: number;
  /** net.core.rmem_max / wmem_max during the run, and what the run raised (step-support.ts). */
  socketBuffers?: SocketBufferLimits;
}

/**
 * How big the sweep's socket buffers were, for the notes: receive buffers are capped by
 * net.core.rmem_max, SIPp's send buffer (`-buff_size` sets both) by wmem_max.
 */
export function socketBufferNote(limits: SocketBufferLimits | undefined, withKamailio = false): string {
  if (limits === undefined) return 'sockets used the kernel default buffer (SIPp its own 64 KB).';
  const mib = SOCKET_BUFFER_BYTES / 2 ** 20;
  const grant = (max: number | undefined): string => (max === undefined ? 'an unknown size (the limit was unreadable)' : `${Math.min(SOCKET_BUFFER_BYTES, max)} bytes`);
  const who = withKamailio ? "SIPp's `-buff_size`, Kamailio's `-b`, sipfleet's own request" : "SIPp's `-buff_size`, sipfleet's own request";
  return (
    `every SIP socket asks for a ${mib} MiB receive buffer (${who}) and SIPp for a ${mib} MiB send buffer too; ` +
    `net.core.rmem_max = ${limits.rmemMax ?? '?'} and wmem_max = ${limits.wmemMax ?? '?'} bytes${limits.raised.length > 0 ? ` (raised by this run and left so: ${limits.raised.join(', ')})` : ''}, ` +
    `so each receive buffer was granted ${grant(limits.rmemMax)} and SIPp's send buffer ${grant(limits.wmemMax)} (the kernel accounts twice the figure).`
  );
}

function verdict(s: StepResult): string {
  if (s.ok) return s.attempt > 1 ? 'ok (retry)' : 'ok';
  return 'FAIL';
}

/** One terminal line per step. */
export function progressLine(s: StepResult): string {
  const d = s.dispatcher;
  const parts = [
    `${s.phase.padEnd(7)} ${String(s.rate).padStart(5)} cps${s.attempt > 1 ? ' (retry)' : ''}`,
    `calls ${String(s.plannedCalls).padStart(6)}`,
    `failed ${String(s.failed).padStart(5)}`,
    `achieved ${fmt(s.achievedCps, 1).padStart(7)}`,
    `p50 ${fmt(s.p50Ms).padStart(3)} ms`,
    `p99 ${fmt(s.p99Ms).padStart(4)} ms`,
  ];
  parts.push(`retrans ${String(s.retransmissions).padStart(5)}`);
  if (d !== undefined) {
    parts.push(`disp cpu ${fmt(d.cpuPct).padStart(3)}% (main run ${fmt(d.mainRunPct)}% wait ${fmt(d.mainWaitPct)}%)`, `rss ${fmt(d.rssPeakMb).padStart(4)} MB`);
  }
  parts.push(`sipp cpu ${fmt(s.sippCpuPct).padStart(3)}%`, `other cpu ${fmt(s.otherCpuPct).padStart(3)}%`, `udp drops ${dropsText(s)}`);
  parts.push(s.ok ? verdict(s) : `FAIL (${s.reasons.join('; ')})`);
  return parts.join('  ');
}

/** `total` or `total (disp N)`: the dispatcher's own socket, when it dropped anything. */
function dropsText(s: StepResult): string {
  return drops(s.udpRcvbufDrops, s.udpDropsBySocket['dispatcher']);
}

/** The markdown table of one sweep. */
export function sweepTable(r: SweepResult): string {
  const proxy = r.phase === 'proxy';
  const head = ['offered cps', 'calls', 'failed', 'success %', 'achieved cps', 'p50 ms', 'p99 ms', 'mean ms', 'max ms', 'retrans', 'UDP drops (disp)'];
  if (proxy) head.push('disp CPU %', 'main thread run / wait %', 'disp RSS MB (peak)', 'live txns at end');
  head.push('SIPp CPU %', 'other CPU %', 'result');
  const lines = headerRows(head);
  for (const s of r.steps) {
    const cells = [...stepCells(s), dropsText(s)];
    if (proxy) {
      const d = s.dispatcher;
      cells.push(fmt(d?.cpuPct), `${fmt(d?.mainRunPct)} / ${fmt(d?.mainWaitPct)}`, fmt(d?.rssPeakMb), fmt(d?.transactionsAtEnd));
    }
    cells.push(fmt(s.sippCpuPct), fmt(s.otherCpuPct), s.ok ? verdict(s) : `FAIL: ${s.reasons.join('; ')}`);
    lines.push(row(cells));
  }
  return lines.join('\n');
}

function describeBest(r: SweepResult | undefined): string {
  if (r === undefined) return 'not run';
  const b = r.best;
  if (b === undefined) {
    const first = r.steps[0];
    return first === undefined ? `no step ran (${r.stopReason})` : `below ${first.rate} cps (the lowest rate tried failed: ${first.reasons.join('; ')})`;
  }
  const bound = r.bestIsTopOfList ? '≥ ' : '';
  return `${bound}${b.rate} cps (p50 ${fmt(b.p50Ms)} ms, p99 ${fmt(b.p99Ms)} ms, mean ${fmt(b.meanMs, 2)} ms${b.dispatcher !== undefined ? `, dispatcher CPU ${fmt(b.dispatcher.cpuPct)} %` : ''})`;
}

export function summaryLine(proxy: SweepResult | undefined, ceiling: SweepResult | undefined): string {
  return `Max sustainable CPS through one dispatcher core: ${describeBest(proxy)}; ceiling without proxy (SIPp uac → uas, both on CPU 0): ${describeBest(ceiling)}.`;
}

/** The BENCHMARKS.md section (starts with the `##` title, ends with a newline). */
export function markdownSection(rep: BenchReport): string {
  const c = rep.config;
  const m = rep.machine;
  const res = rep.rttResolutionMs;
  const out: string[] = [];
  out.push(c.store === 'memory' ? SECTION_TITLE : `${SECTION_TITLE.slice(0, -1)}, Redis-backed admission)`, '');
  out.push(`- Date: ${rep.date}`);
  out.push(`- Machine: ${m.nproc} CPUs (nproc), ${m.cpuModel}, ${m.kernel}; load average at start ${m.loadAvg.map((x) => x.toFixed(2)).join(' ')}`);
  out.push(
    `- Machine load before the run: ${fmt(rep.before.busyPct)} % CPU busy (waited ${rep.before.waitedS} s)${rep.before.quiet ? '' : ' — **not quiet: other work shared the measured cores, so these figures are pessimistic**'}`,
  );
  out.push(`- Node ${m.node}, ${m.sipp}`);
  out.push(`- Command: \`${rep.command}\` (${Math.round(rep.totalSeconds)} s)`);
  out.push(
    `- Setup: the bench runner itself is pinned to CPU ${c.sippCpu}; dispatcher on udp://${c.dispatcherIp}:${c.dispatcherSipPort} pinned to CPU ${c.dispatcherCpu} (\`taskset\`, \`LOG_LEVEL=warn\`, ${c.store === 'memory' ? 'memory store' : 'Redis store (a local redis-server pinned to the SIPp CPU)'}, admission at cluster, carrier and switch levels with caps that never bind, ` +
      `\`node.limits.transactions: ${c.transactions}\`); two SIPp \`-sn uas\` switches on ${c.switchIps.map((ip) => `${ip}:${c.switchPort}`).join(' and ')} ` +
      `and the SIPp \`-sn uac\` (from ${c.uacIp}, a fresh port each step) pinned to CPU ${c.sippCpu}. UDP, calls with zero hold time ` +
      `(INVITE/100/180/200/ACK/BYE/200), ${c.seconds} s per step (calls = rate × ${c.seconds}), \`-l rate×2\`, \`-recv_timeout ${c.recvTimeoutMs}\`.`,
  );
  out.push(
    `- Criterion: ≥ ${c.criterion.minSuccessPct} % of the calls successful and achieved rate within ${c.criterion.maxShortfallPct} % of offered. ` +
      `A failing rate is retried once, even one that falls clearly short (< 95 % success or < 80 % of offered); the sweep stops at a rate that fails twice in a row.`,
  );
  out.push('');
  out.push(`**${rep.summary}**`);
  out.push('');
  if (rep.proxy !== undefined) {
    out.push(`### Through the dispatcher (uac → ${rep.proxy.target} → 2 × uas)`, '');
    out.push(sweepTable(rep.proxy), '');
    out.push(`Stopped: ${rep.proxy.stopReason}.${rep.proxy.dispatcherExit !== undefined ? ` **The dispatcher exited (${rep.proxy.dispatcherExit}).**` : ''}`, '');
  }
  if (rep.ceiling !== undefined) {
    out.push(`### Ceiling: no proxy (uac → ${rep.ceiling.target}, both SIPps on CPU ${c.sippCpu})`, '');
    out.push(sweepTable(rep.ceiling), '');
    out.push(`Stopped: ${rep.ceiling.stopReason}.`, '');
  }
  const stalls = (rep.proxy?.steps ?? []).filter((s) => (s.udpDropsBySocket['dispatcher'] ?? 0) > 0 && s.dispatcher !== undefined && s.dispatcher.cpuPct < 80);
  if (stalls.length > 0) {
    const s = stalls[0];
    out.push(
      `Observation: from ${s.rate} cps the dispatcher's own UDP socket dropped datagrams (${fmt(s.udpDropsBySocket['dispatcher'])} in that step) while the process used only ${fmt(s.dispatcher?.cpuPct)} % of its core: ` +
        `that points to event-loop stalls (GC pauses, or the core taken by its own GC threads or other processes: see main thread wait and other CPU) overflowing the socket's default receive buffer rather than to the dispatcher's own CPU running out; each drop costs a 500 ms SIPp retransmission, which adds load.`,
      '',
    );
  }
  out.push('Notes:');
  out.push(
    `- failed = calls planned − calls SIPp counted successful (SIPp failures plus calls never placed or unfinished); achieved = successful calls / time from SIPp's start until 99.9 % of them had their 200 (the last 0.1 % of answers, stragglers, are left out of both, as the 99.9 % criterion leaves them out).`,
  );
  out.push(
    `- Response times are SIPp's \`-trace_rtt\` rtd 1 of the built-in uac: INVITE sent → 200 received (nearest-rank percentiles). ` +
      `SIPp reads a coarse clock: every value is a multiple of ${res ?? '?'} ms here (one kernel tick), so 0 means under one tick and p50/p99 are coarse; the mean is the finer figure.`,
  );
  out.push(
    `- CPU figures are per process from /proc/<pid>/stat (utime+stime, % of one core over the step's wall time, so diluted when a failing step runs on into its timeouts): ` +
      `disp CPU % is the dispatcher's whole process (event loop + V8 GC/compiler threads, all on CPU ${c.dispatcherCpu}); main thread run / wait % is its event loop's time on the CPU and time runnable but waiting for it (/proc/<pid>/schedstat) — run + wait near 100 means the core was the limit, the wait being what its own GC threads or other processes took; ` +
      `SIPp CPU % is uac + uas together (all on CPU ${c.sippCpu}); other CPU % is everything else on the machine (every process rescanned each 500 ms; shorter-lived ones are missed), the sign that other work shared the cores. ` +
      `UDP drops = datagrams dropped for a full socket receive buffer during the step (system-wide /proc/net/snmp RcvbufErrors), in parentheses those of the dispatcher's socket (/proc/net/udp drops); ${socketBufferNote(rep.socketBuffers)} /proc/stat per-CPU counters are not used: on this VM they miss bursty load.`,
  );
  out.push(
    `- The proxy run has three SIPps on CPU ${c.sippCpu} (uac + 2 uas); in the ceiling run uac and uas share that core too, so the ceiling is the load generator's limit on one core, not the network's. SIPp retransmits an unanswered INVITE after 500 ms (T1), so a dropped datagram shows as a ≥ 500 ms response time.`,
  );
  const first = rep.proxy?.steps[0];
  const perCall = first?.dispatcher !== undefined && first.plannedCalls > 0 ? first.dispatcher.transactionsAtEnd / first.plannedCalls : Number.NaN;
  if (rep.proxy !== undefined) out.push(
    `- Transaction table: a finished call keeps its transactions for a while (RFC 6026 Timer L/M 32 s for the INVITE server/client transactions, Timer J 32 s and K 5 s for the BYE's, over UDP); ` +
      `"live txns at end" is the table right after a step: ${fmt(perCall, 1)} per call at the first step. So the dispatcher's default \`node.limits.transactions: ${DEFAULT_TRANSACTIONS}\` ` +
      `fills (and answers 503) within a ${c.seconds} s step above ≈ ${fmt(Number.isFinite(perCall) ? DEFAULT_TRANSACTIONS / (perCall * c.seconds) : Number.NaN)} cps, and in steady state above ≈ ${fmt(DEFAULT_TRANSACTIONS / (3 * 32 + 5))} cps (${DEFAULT_TRANSACTIONS} / 101 transaction-seconds per call at the default 32 s linger); ` +
      `the bench sets it to ${c.transactions} so that CPU is what is measured. The steps are shorter than those timers, so the expiry work of a step's calls mostly falls into the drain pause after it.`,
  );
  out.push('');
  return out.join('\n');
}

/**
 * Appends `section` to `path` without rewriting it (another writer may be appending its own
 * section): re-reads it just before, adds a blank line if needed, O_APPEND write, then checks
 * that the section is there. Creates the file with a `# Benchmarks` title if it does not exist.
 */
export function appendSection(path: string, section: string): void {
  let current: string | undefined;
  try {
    current = readFileSync(path, 'utf8');
  } catch {
    current = undefined;
  }
  if (current === undefined) {
    try {
      writeFileSync(path, `# Benchmarks\n\n${section}`, { flag: 'wx' });
      return;
    } catch {
      current = readFileSync(path, 'utf8');
    }
  }
  const sep = current.length === 0 ? '' : current.endsWith('\n\n') ? '' : current.endsWith('\n') ? '\n' : '\n\n';
  appendFileSync(path, `${sep}${section}`);
  const after = readFileSync(path, 'utf8');
  if (!after.includes(section)) throw new Error(`${path} changed while appending: the section is not in it, re-run with --json to get the data`);
}
