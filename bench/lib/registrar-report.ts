/**
 * Output of the registrar benchmark: progress lines, the markdown tables and the
 * `## Registrar (one dispatcher core, Redis store)` section appended to BENCHMARKS.md.
 */
import { drops, fmt, headerRows, row, stepCells } from './markdown.ts';
import type { MachineInfo } from './proc-stat.ts';
import type { ContactsOptions, ContactsResult, MemoryReading, RegisterStep, SweepOptions, SweepResult } from './registrar-bench.ts';
import { SOCKET_BUFFER_BYTES } from './step-support.ts';

export const REGISTRAR_SECTION_TITLE = '## Registrar (one dispatcher core, Redis store)';
/** A passing rate whose p99 is at most this had (almost) no 500 ms retransmission: the "clean" rate of the summary. */
const CLEAN_P99_MS = 200;

export interface RegistrarReport {
  date: string;
  command: string;
  machine: MachineInfo;
  redisVersion: string;
  before: { busyPct: number; waitedS: number; quiet: boolean };
  loadAvgAtStart: [number, number, number];
  dispatcherCpu: number;
  loadCpu: number;
  dispatcher: string;
  sweepOptions: SweepOptions | undefined;
  sweep: SweepResult | undefined;
  contactsOptions: ContactsOptions | undefined;
  contacts: ContactsResult | undefined;
  rttResolutionMs: number | undefined;
  totalSeconds: number;
}

function thousands(n: number | undefined, digits = 0): string {
  if (n === undefined || !Number.isFinite(n)) return '–';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function mb(bytes: number): string {
  return fmt(bytes / 1048576, 1);
}

export function stepLine(s: RegisterStep): string {
  return [
    `${String(s.rate).padStart(5)}/s${s.attempt > 1 ? ' (retry)' : ''}`,
    `regs ${String(s.plannedCalls).padStart(6)}`,
    `failed ${String(s.failed).padStart(5)}`,
    `achieved ${fmt(s.achievedCps, 1).padStart(7)}`,
    `p50 ${fmt(s.p50Ms).padStart(3)} ms`,
    `p99 ${fmt(s.p99Ms).padStart(4)} ms`,
    `retrans ${String(s.retransmissions).padStart(5)}`,
    `disp cpu ${fmt(s.dispCpuPct).padStart(3)}% (run ${fmt(s.mainRunPct)}% wait ${fmt(s.mainWaitPct)}%)`,
    `${fmt(s.dispUsPerReg)} µs/reg (${fmt(s.dispUsPerRegWithDrain)} with drain)`,
    `redis ${fmt(s.redisCpuPct)}%`,
    `sipp ${fmt(s.sippCpuPct)}%`,
    `other ${fmt(s.otherCpuPct)}%`,
    `drops ${drops(s.udpDrops, s.udpDropsDispatcher)}`,
    s.ok ? (s.attempt > 1 ? 'ok (retry)' : 'ok') : `FAIL (${s.reasons.join('; ')})`,
  ].join('  ');
}

export function sweepTable(r: SweepResult): string {
  const head = [
    'offered /s',
    'registrations',
    'failed',
    'success %',
    'achieved /s',
    'p50 ms',
    'p99 ms',
    'mean ms',
    'max ms',
    'retrans',
    'UDP drops (disp)',
    'disp CPU %',
    'main thread run / wait %',
    'disp µs / reg (step)',
    'disp µs / reg (step + drain − idle)',
    'redis CPU %',
    'redis µs / reg',
    'disp RSS MB (peak)',
    'live txns at end',
    'SIPp CPU %',
    'other CPU %',
    'result',
  ];
  const lines = headerRows(head);
  for (const s of r.steps) {
    lines.push(
      row([
        ...stepCells(s),
        drops(s.udpDrops, s.udpDropsDispatcher),
        fmt(s.dispCpuPct),
        `${fmt(s.mainRunPct)} / ${fmt(s.mainWaitPct)}`,
        fmt(s.dispUsPerReg),
        fmt(s.dispUsPerRegWithDrain),
        fmt(s.redisCpuPct),
        fmt(s.redisUsPerReg),
        fmt(s.rssPeakMb),
        fmt(s.transactionsAtEnd),
        fmt(s.sippCpuPct),
        fmt(s.otherCpuPct),
        s.ok ? (s.attempt > 1 ? 'ok (retry)' : 'ok') : `FAIL: ${s.reasons.join('; ')}`,
      ]),
    );
  }
  return lines.join('\n');
}

function perBinding(a: number, b: number, n: number): string {
  return n > 0 ? thousands((b - a) / n) : '–';
}

function memRow(label: string, m: MemoryReading): string {
  return row([label, m.gc ? 'yes' : 'no', mb(m.heapUsed), mb(m.heapTotal), mb(m.external), mb(m.rss)]);
}

export function contactsTables(c: ContactsResult): string {
  const n = c.fill.registered;
  const w = c.window;
  const out: string[] = [];
  out.push(
    `Registration (${thousands(c.fill.planned)} phones, ${c.sockets} UDP sockets): ${thousands(n)} registered in ${fmt(c.fill.seconds, 1)} s ` +
      `(${fmt(c.fill.achievedPerS)}/s), ${c.fill.failed} failed${c.fill.failed > 0 ? ` (${Object.entries(c.fill.failures).map(([k, v]) => `${k}: ${v}`).join(', ')})` : ''}, ` +
      `${c.fill.retransmissions} retransmissions; first REGISTER → 200 p50 ${fmt(c.fill.p50Ms, 1)} ms, p99 ${fmt(c.fill.p99Ms, 1)} ms, max ${fmt(c.fill.maxMs, 1)} ms; ` +
      `dispatcher ${fmt(c.fillDispCpuPct)} % of its core, ${fmt(c.fillDispUsPerReg)} µs per registration; Redis ${fmt(c.fillRedisCpuPct)} % (${fmt(c.fillRedisUsPerReg)} µs per registration); other processes ${fmt(c.fillOtherCpuPct)} %; ` +
      `Redis commands the dispatcher timed out (250 ms, answered 503): ${c.fillStoreTimeouts}. ` +
      `Bindings in Redis afterwards: ${thousands(c.redisBindings)}; pinged by the dispatcher: ${thousands(c.trackedAtStart)} at the window's start, ${thousands(c.trackedAtEnd)} at its end.`,
    '',
  );
  out.push('Memory of the dispatcher (a full GC through the inspector before each reading):', '');
  out.push(row(['when', 'GC', 'heap used MB', 'heap total MB', 'external MB', 'RSS MB']), row(['--', ':--', '--:', '--:', '--:', '--:']));
  out.push(memRow(`before (users loaded, no binding)`, c.memBefore));
  out.push(memRow(`${thousands(n)} bindings, ${c.settleS} s after the fill`, c.memAfterFill));
  out.push(memRow(`after the ${fmt(w.seconds)} s keep-alive window`, c.memAfterWindow));
  out.push('');
  out.push(row(['per binding', 'bytes']), row(['--', '--:']));
  out.push(row(['dispatcher heap used (after fill − before)', perBinding(c.memBefore.heapUsed, c.memAfterFill.heapUsed, n)]));
  out.push(row(['dispatcher heap used (after window − before)', perBinding(c.memBefore.heapUsed, c.memAfterWindow.heapUsed, n)]));
  out.push(row(['dispatcher RSS (after window − before)', perBinding(c.memBefore.rss, c.memAfterWindow.rss, n)]));
  out.push(row(['Redis used_memory (bindings − users only)', perBinding(c.redisWithUsers, c.redisWithBindings, n)]));
  out.push(row(['Redis used_memory after the window (round trips recorded)', perBinding(c.redisWithUsers, c.redisAfterWindow, n)]));
  out.push(row([`(Redis used_memory for the ${thousands(c.contacts)} users, per user)`, perBinding(c.redisEmpty, c.redisWithUsers, c.contacts)]));
  out.push('');
  const perS = w.seconds > 0 ? w.pingsSent / w.seconds : Number.NaN;
  out.push(`Keep-alive window (${fmt(w.seconds)} s, nothing but keep-alives):`, '');
  out.push(
    row(['pings sent', 'pings /s', 'answered (pongs)', 'missed', 'removed', 'OPTIONS the phones answered', 'disp CPU %', 'main thread run / wait %', 'disp µs / ping', 'redis CPU %', 'phones + bench CPU %', 'other CPU %', 'UDP drops (disp)', 'heap used min / max MB (no GC)']),
    row(Array.from({ length: 14 }, () => '--:')),
    row([
      thousands(w.pingsSent),
      fmt(perS),
      thousands(w.pongs),
      thousands(w.misses),
      thousands(w.removed),
      thousands(w.optionsAnswered),
      fmt(w.dispCpuPct, 1),
      `${fmt(w.mainRunPct, 1)} / ${fmt(w.mainWaitPct, 1)}`,
      fmt(w.dispUsPerPing),
      fmt(w.redisCpuPct, 1),
      fmt(w.fleetCpuPct, 1),
      fmt(w.otherCpuPct),
      drops(w.udpDrops, w.udpDropsDispatcher),
      `${mb(w.heapUsedMin)} / ${mb(w.heapUsedMax)}`,
    ]),
  );
  return out.join('\n');
}

function bestText(r: SweepResult | undefined): string {
  if (r === undefined) return 'not run';
  const b = r.best;
  if (b === undefined) {
    const first = r.steps[0];
    return first === undefined ? `no step ran (${r.stopReason})` : `below ${first.rate}/s (the lowest rate tried failed: ${first.reasons.join('; ')})`;
  }
  const clean = r.steps.filter((s) => s.ok && s.p99Ms <= CLEAN_P99_MS).sort((x, y) => y.rate - x.rate)[0];
  const cleanText =
    clean === undefined
      ? `; no passing rate had p99 ≤ ${CLEAN_P99_MS} ms`
      : clean.rate === b.rate
        ? ''
        : `; the highest with p99 ≤ ${CLEAN_P99_MS} ms (no retransmission in 1 %): ${clean.rate}/s (p50 ${fmt(clean.p50Ms)} ms, p99 ${fmt(clean.p99Ms)} ms, dispatcher ${fmt(clean.dispCpuPct)} %)`;
  return (
    `${r.bestIsTopOfList ? '≥ ' : ''}${b.rate}/s (full registration p50 ${fmt(b.p50Ms)} ms, p99 ${fmt(b.p99Ms)} ms, mean ${fmt(b.meanMs, 2)} ms; ` +
    `dispatcher ${fmt(b.dispCpuPct)} % of its core, ${fmt(b.dispUsPerReg)} µs per registration, ${fmt(b.dispUsPerRegWithDrain)} µs with the transactions' expiry)${cleanText}`
  );
}

function contactsText(c: ContactsResult | undefined): string {
  if (c === undefined) return 'not run';
  const n = c.fill.registered;
  const w = c.window;
  return (
    `${thousands(n)} contacts, keep-alive every ${fmt(c.intervalMs / 1000)} s: dispatcher heap ${perBinding(c.memBefore.heapUsed, c.memAfterFill.heapUsed, n)} B per binding ` +
    `(RSS ${perBinding(c.memBefore.rss, c.memAfterWindow.rss, n)} B), Redis ${perBinding(c.redisWithUsers, c.redisWithBindings, n)} B per binding; ` +
    `keep-alives alone ${fmt(w.dispCpuPct, 1)} % of the dispatcher's core for ${fmt(w.pingsSent / w.seconds)} pings/s (${fmt(w.dispUsPerPing)} µs per ping), ${thousands(w.misses)} missed`
  );
}

/** One line per part that ran. */
export function summaryLines(rep: RegistrarReport): string[] {
  const out: string[] = [];
  if (rep.sweep !== undefined) out.push(`REGISTER/s with digest auth through one dispatcher core: ${bestText(rep.sweep)}.`);
  if (rep.contacts !== undefined) out.push(`${contactsText(rep.contacts)}.`);
  return out;
}

/** The section's title: the whole benchmark, or the part that ran (`--only`). */
export function sectionTitle(rep: RegistrarReport): string {
  if (rep.contacts === undefined) return '## Registrar: REGISTER/s (one dispatcher core, Redis store)';
  if (rep.sweep === undefined) return `## Registrar: ${thousands(rep.contacts.contacts)} contacts with keep-alives (one node, Redis store)`;
  return REGISTRAR_SECTION_TITLE;
}

export function markdownSection(rep: RegistrarReport): string {
  const m = rep.machine;
  const out: string[] = [];
  out.push(sectionTitle(rep), '');
  out.push(`- Date: ${rep.date}`);
  out.push(`- Machine: ${m.nproc} CPUs (nproc), ${m.cpuModel}, ${m.kernel}; load average at start ${rep.loadAvgAtStart.map((x) => x.toFixed(2)).join(' ')}`);
  out.push(
    `- Machine load before the run: ${fmt(rep.before.busyPct)} % CPU busy (waited ${rep.before.waitedS} s)${rep.before.quiet ? '' : ' — **not quiet: other work shared the measured cores, so these figures are pessimistic**'}`,
  );
  out.push(`- Node ${m.node}, ${m.sipp}, redis-server ${rep.redisVersion}`);
  out.push(`- Command: \`${rep.command}\` (${Math.round(rep.totalSeconds)} s)`);
  out.push(
    `- Setup: dispatcher on udp://${rep.dispatcher} pinned to CPU ${rep.dispatcherCpu} (\`taskset\`, \`LOG_LEVEL=warn\`, Redis store, ` +
      '`cluster.registrar.algorithms: [MD5]` (SIPp 3.6 computes MD5 digests only), `qop=auth`, nonce-count replay check in Redis, ' +
      '`abuse.threshold` raised out of reach, `node.limits.transactions: 1000000`); a local redis-server (no persistence), the load generators and ' +
      `this runner pinned to CPU ${rep.loadCpu}. Users come from \`cluster.users\` in the dispatcher's config (password given, so the config loader computes MD5 and SHA-256 HA1s), seeded into Redis at start.`,
  );
  if (rep.sweep !== undefined && rep.sweepOptions !== undefined) {
    const o = rep.sweepOptions;
    out.push(
      `- REGISTER/s: SIPp \`-sf bench/scenarios/register-auth.xml\` (REGISTER → 401 → REGISTER with \`[authentication]\` → 200), ` +
        `${o.users} users u00001… from an injection CSV (SEQUENTIAL, so each user re-registers every ${o.users} registrations, refreshing its one binding), ` +
        `from ${o.uacIp} (a fresh port each step), ${o.seconds} s per step (registrations = rate × ${o.seconds}), \`-l rate×2\`, \`-recv_timeout ${o.recvTimeoutMs}\`, \`-nd\`, \`-buff_size ${SOCKET_BUFFER_BYTES}\` (SIPp's own default, 64 KB, let its socket drop answers from ~2000/s); ` +
        `keep-alive on, every 1 h (≈ ${fmt(o.users / 3600, 1)} pings/s, SIPp leaves them unanswered); the dispatcher loaded its ${o.users}-user config and seeded Redis in ${fmt(rep.sweep.dispatcherReadyS, 1)} s (spawn → ready). ` +
        `Criterion as for the proxy: ≥ 99.9 % successful and achieved within 5 % of offered; a failing rate is retried once.`,
    );
  }
  if (rep.contacts !== undefined && rep.contactsOptions !== undefined) {
    const o = rep.contactsOptions;
    out.push(
      `- Contacts: a fresh dispatcher (its config: ${o.contacts} users; ready in ${fmt(rep.contacts.dispatcherReadyS, 1)} s) and an empty Redis; ` +
        `${o.contacts} phones (one user and Contact each) in one Node process (bench/lib/phone-fleet.ts) on ${o.sockets} UDP sockets of ${o.fleetIp}, ` +
        `registering with MD5 digest at ${o.fillRate}/s (≤ ${o.fillWindow} in flight, Expires 3600), then answering every keep-alive OPTIONS with 200. ` +
        `Keep-alive every ${fmt(o.intervalMs / 1000)} s (± 10 % jitter), timeout 5 s, 3 misses. After the fill, ${o.settleS} s to settle ` +
        `(every binding pinged once, the REGISTER transactions expired), then a ${o.windowS} s window with nothing but keep-alives. ` +
        'Heap figures: `nodejs_heap_size_used_bytes` from /metrics right after two full GCs (`HeapProfiler.collectGarbage` over the dispatcher\'s `--inspect` port, on loopback; no session is attached during the window); RSS from /proc; Redis from `INFO memory` `used_memory`.',
    );
  }
  out.push('');
  for (const l of summaryLines(rep)) out.push(`**${l}**`, '');
  if (rep.sweep !== undefined) {
    out.push(`### REGISTER/s through the dispatcher (SIPp → ${rep.sweep.target}, Redis store)`, '');
    out.push(sweepTable(rep.sweep), '');
    out.push(
      `Stopped: ${rep.sweep.stopReason}.${rep.sweep.dispatcherExit !== undefined ? ` **The dispatcher exited (${rep.sweep.dispatcherExit}).**` : ''} ` +
        `Dispatcher idle before the sweep: ${fmt(rep.sweep.idleCpuPct, 1)} % of its core. Redis commands the dispatcher timed out during the sweep (250 ms, answered 503): ${rep.sweep.storeTimeouts}.`,
      '',
    );
  }
  if (rep.contacts !== undefined) {
    out.push(`### ${thousands(rep.contacts.contacts)} contacts on one node, keep-alive every ${fmt(rep.contacts.intervalMs / 1000)} s`, '');
    out.push(contactsTables(rep.contacts), '');
    if (rep.contacts.dispatcherExit !== undefined) out.push(`**The dispatcher exited (${rep.contacts.dispatcherExit}).**`, '');
    for (const n of rep.contacts.notes) out.push(`Note: ${n}.`, '');
  }
  out.push('Notes:');
  if (rep.sweep !== undefined) {
    out.push(
      `- A registration is two REGISTER transactions (the challenge and the authenticated one). failed = registrations planned − registrations SIPp counted successful; achieved = successful / time from SIPp's start until 99.9 % of them had their 200. ` +
        `p50/p99/mean/max: SIPp rtd 1, first REGISTER sent → 200 received, nearest-rank; SIPp's clock is coarse (every value a multiple of ${rep.rttResolutionMs ?? '?'} ms here), so 0 means under one tick.`,
    );
    out.push(
      '- CPU: per process from /proc/<pid>/stat (utime + stime, all threads), % of one core over the wall time. "disp µs / reg (step)" is the dispatcher\'s CPU time during the SIPp run / successful registrations; ' +
        '"(step + drain − idle)" also counts the drain that follows (until the REGISTER server transactions have expired, Timer J 32 s), less the dispatcher\'s idle rate measured before the sweep — the full cost of a registration. ' +
        'Redis and SIPp share the load CPU with this runner; "other CPU %" is every other process on the machine (sampled every 500 ms; shorter-lived ones are missed), the sign that other work shared the cores.',
    );
  }
  if (rep.contacts !== undefined) {
    out.push(
      '- Contacts: "disp µs / ping" is the dispatcher\'s CPU time over the window / pings sent, so it also carries the keep-alive\'s other work: ' +
        'reloading the node\'s bindings from Redis every interval (`bindingsOwnedBy`) and writing the round trips to Redis once a second. ' +
        '"missed" counts pings unanswered within the timeout; pings sent − answered is mostly pings still in flight when the window closed. ' +
        '"phones + bench CPU %" is this process (the phone fleet answering the OPTIONS, and the sampling). Heap min / max: `nodejs_heap_size_used_bytes` read every 5 s during the window, garbage included.',
    );
  }
  out.push(
    '- UDP drops: datagrams dropped for a full socket receive buffer during the step or window, system-wide (/proc/net/snmp RcvbufErrors), in parentheses those of the dispatcher\'s socket (/proc/net/udp).',
  );
  return `${out.join('\n')}\n`;
}
