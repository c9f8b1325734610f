/**
 * Output of the side-by-side benchmark (bench/versus.ts): the progress line of a step, the
 * `## sipfleet vs Kamailio (one core each)` section for BENCHMARKS.md, and its chart (SVG) of
 * success rate and p99 response time against offered load for both proxies.
 */
import { drops, fmt, headerRows, row, stepCells } from './markdown.ts';
import type { MachineInfo } from './proc-stat.ts';
import type { StepResult } from './proxy-sweep.ts';
import { socketBufferNote } from './report.ts';
import type { SocketBufferLimits } from './step-support.ts';
import type { TargetSweep, VersusConfig, VersusResult } from './versus-sweep.ts';

export const VERSUS_TITLE = '## sipfleet vs Kamailio (one core each)';

export interface VersusReport {
  date: string;
  command: string;
  machine: MachineInfo;
  before: { busyPct: number; waitedS: number; quiet: boolean };
  config: Omit<VersusConfig, 'log'>;
  kamailioVersion: string;
  result: VersusResult;
  /** Path of the chart, relative to the repository root. */
  chart: string | undefined;
  totalSeconds: number;
  /** net.core.rmem_max / wmem_max during the run (reports before these existed have none). */
  socketBuffers?: SocketBufferLimits;
}

export function versusProgressLine(s: StepResult): string {
  return [
    `${s.phase.padEnd(8)} ${String(s.rate).padStart(5)} cps${s.attempt > 1 ? ' (retry)' : ''}`,
    `failed ${String(s.failed).padStart(5)}`,
    `achieved ${fmt(s.achievedCps, 1).padStart(7)}`,
    `p50 ${fmt(s.p50Ms).padStart(3)} ms`,
    `p99 ${fmt(s.p99Ms).padStart(4)} ms`,
    `retrans ${String(s.retransmissions).padStart(5)}`,
    `proxy cpu ${fmt(s.proxyCpuPct).padStart(3)}% (${fmt(s.proxyCpuUsPerCall).padStart(4)} µs/call)`,
    `sipp cpu ${fmt(s.sippCpuPct).padStart(3)}%`,
    `other ${fmt(s.otherCpuPct).padStart(3)}%`,
    `drops ${drops(s.udpRcvbufDrops, s.udpDropsBySocket['dispatcher'])}`,
    s.ok ? 'ok' : `FAIL (${s.reasons.join('; ')})`,
  ].join('  ');
}

function best(t: TargetSweep): string {
  const b = t.best;
  if (b === undefined) return t.steps.length === 0 ? `none (${t.stopReason})` : `below ${t.steps[0].rate} cps`;
  const failed = t.failedAt === undefined ? '' : ` (${t.failedAt} cps failed)`;
  return `${t.bestIsTopOfList ? '≥ ' : ''}${b.rate} cps${failed}`;
}

/** The one-paragraph verdict: both maxima, the ratio, p99 at 50 % of Kamailio's maximum. */
export function versusSummary(r: VersusResult): string {
  const k = r.kamailio;
  const s = r.sipfleet;
  const half = (t: TargetSweep): StepResult | undefined => t.atFractions.find((f) => f.fraction === 0.5)?.step;
  const sh = half(s);
  const kh = half(k);
  const p99Ratio = sh !== undefined && kh !== undefined && kh.p99Ms !== undefined && sh.p99Ms !== undefined ? sh.p99Ms / Math.max(kh.p99Ms, 1) : Number.NaN;
  const parts = [
    `Max sustainable CPS on one core: sipfleet ${best(s)}, Kamailio ${best(k)}: ratio ${fmt(r.ratio, 2)}.`,
    sh !== undefined && kh !== undefined
      ? `At 50 % of Kamailio's maximum (${sh.rate} cps): p99 ${fmt(sh.p99Ms)} ms (sipfleet) vs ${fmt(kh.p99Ms)} ms (Kamailio), ratio ${fmt(p99Ratio, 2)} (SIPp's clock has a 4 ms tick: a Kamailio p99 under one tick counts as 1 ms).`
      : 'No step at 50 % of Kamailio\'s maximum.',
    `Load generator alone (uac-rr → uas-rr): ${r.ceilingBest === undefined ? 'not run or none' : `${r.ceilingAtTop === true ? '≥ ' : ''}${r.ceilingBest.rate} cps`}.`,
  ];
  return parts.join(' ');
}

/** Where refinement stopped short of its grain, per proxy. */
function refineNotes(r: VersusResult): string {
  const notes = [r.kamailio, r.sipfleet].filter((t) => t.refineNote !== undefined).map((t) => `${t.target}: ${t.refineNote ?? ''}`);
  return notes.length === 0 ? '' : ` — ${notes.join('; ')}`;
}

function stepRow(label: string, st: StepResult | undefined): string[] {
  if (st === undefined) return [label, '–', '–', '–', '–', '–', '–'];
  return [label, fmt(st.successPct, 2), fmt(st.achievedCps, 1), fmt(st.p50Ms), fmt(st.p99Ms), fmt(st.proxyCpuUsPerCall), st.ok ? 'ok' : 'FAIL'];
}

/** Per offered rate, both proxies side by side (first attempt, or the retry when there was one). */
function sideBySideTable(r: VersusResult): string {
  const rates = [...new Set([...r.kamailio.steps, ...r.sipfleet.steps].map((s) => s.rate))].sort((a, b) => a - b);
  const lastAt = (t: TargetSweep, rate: number): StepResult | undefined => t.steps.filter((s) => s.rate === rate).pop();
  const lines = headerRows([
    'offered cps',
    'Kamailio success %', 'Kamailio p50 / p99 ms', 'Kamailio CPU µs/call',
    'sipfleet success %', 'sipfleet p50 / p99 ms', 'sipfleet CPU µs/call',
    'CPU per call, sipfleet / Kamailio',
  ]);
  for (const rate of rates) {
    const k = lastAt(r.kamailio, rate);
    const s = lastAt(r.sipfleet, rate);
    const cell = (st: StepResult | undefined): string[] =>
      st === undefined ? ['–', '–', '–'] : [`${fmt(st.successPct, 2)}${st.ok ? '' : ' ✗'}`, `${fmt(st.p50Ms)} / ${fmt(st.p99Ms)}`, fmt(st.proxyCpuUsPerCall)];
    const ratio = k?.proxyCpuUsPerCall !== undefined && s?.proxyCpuUsPerCall !== undefined ? s.proxyCpuUsPerCall / k.proxyCpuUsPerCall : Number.NaN;
    lines.push(row([String(rate), ...cell(k), ...cell(s), fmt(ratio, 2)]));
  }
  return lines.join('\n');
}

function fullTable(steps: StepResult[]): string {
  const lines = headerRows(['offered cps', 'calls', 'failed', 'success %', 'achieved cps', 'p50 ms', 'p99 ms', 'mean ms', 'max ms', 'retrans', 'UDP drops (proxy)', 'proxy CPU %', 'proxy CPU µs/call', 'SIPp CPU %', 'other CPU %', 'result']);
  for (const s of steps) {
    lines.push(
      row([
        ...stepCells(s),
        drops(s.udpRcvbufDrops, s.udpDropsBySocket['dispatcher']),
        fmt(s.proxyCpuPct),
        fmt(s.proxyCpuUsPerCall),
        fmt(s.sippCpuPct),
        fmt(s.otherCpuPct),
        s.ok ? (s.attempt > 1 ? 'ok (retry)' : 'ok') : `FAIL: ${s.reasons.join('; ')}`,
      ]),
    );
  }
  return lines.join('\n');
}

export function versusSection(rep: VersusReport): string {
  const c = rep.config;
  const m = rep.machine;
  const r = rep.result;
  const out: string[] = [VERSUS_TITLE, ''];
  out.push(`- Date: ${rep.date}`);
  out.push(`- Machine: ${m.nproc} CPUs (nproc), ${m.cpuModel}, ${m.kernel}; load average at start ${m.loadAvg.map((x) => x.toFixed(2)).join(' ')}`);
  out.push(`- Machine load before the run: ${fmt(rep.before.busyPct)} % CPU busy (waited ${fmt(rep.before.waitedS)} s)${rep.before.quiet ? '' : ' — NOT QUIET: figures are suspect'}`);
  out.push(`- Node ${m.node}, ${m.sipp}, ${rep.kamailioVersion}`);
  out.push(`- Command: \`${rep.command}\` (${fmt(rep.totalSeconds)} s)`);
  out.push(
    `- Setup: sipfleet (udp://${c.dispatcherIp}:${c.dispatcherSipPort}, Redis-backed admission at the cluster, carrier and switch levels with caps that never bind, \`LOG_LEVEL=warn\`) and Kamailio (udp://${c.kamailioIp}:${c.kamailioPort}, bench/kamailio/kamailio.cfg, ${c.kamailioChildren} UDP children) both pinned to CPU ${c.dispatcherCpu}, running side by side and loaded in turn; redis-server, the two SIPp \`uas-rr.xml -aa\` switches (${c.switchIps.join(', ')}) and the SIPp \`uac-rr.xml\` caller pinned to CPU ${c.sippCpu}. Both proxies: stateful, Record-Route, round-robin over the two switches with OPTIONS probes every 5 s, a dialog per call; a finished transaction kept ${c.lingerS ?? 32} s by sipfleet (\`node.limits.transactionLinger\`${c.lingerS === undefined ? ', its default' : ''}) and 5 s by Kamailio (tm \`wt_timer\`). UDP, zero hold time (INVITE/100/180/200/ACK/BYE/200, the ACK and BYE routed through the proxy), ${c.seconds} s per step, \`-l rate×2\`, \`-recv_timeout ${c.recvTimeoutMs}\`. Socket buffers: ${socketBufferNote(rep.socketBuffers, true)}`,
  );
  out.push(
    `- Criterion: ≥ 99.9 % of the calls successful and the achieved rate within 5 % of offered; a failing rate is retried once, even one that falls clearly short; each proxy stops at a rate that fails twice in a row${(c.refineSteps ?? 0) > 0 ? `, then up to ${c.refineSteps} bisection steps between its best rate and the one that stopped it narrow the bracket towards ${c.refineGrain} cps (the full tables list the steps in the order they ran)${refineNotes(r)}` : ''}.`,
  );
  out.push('');
  out.push(`**${versusSummary(r)}**`);
  out.push('');
  if (rep.chart !== undefined) out.push(`![success rate and p99 against offered load](${rep.chart})`, '');
  out.push('### Side by side (per offered rate; ✗ = failed the criterion)', '', sideBySideTable(r), '');
  out.push(`### At 25 / 50 / 75 % of Kamailio's maximum`, '');
  const fl = headerRows(['step', 'success %', 'achieved cps', 'p50 ms', 'p99 ms', 'CPU µs/call', 'result']);
  for (const f of c.fractions) {
    fl.push(row(stepRow(`Kamailio at ${f * 100} %`, r.kamailio.atFractions.find((x) => x.fraction === f)?.step)));
    fl.push(row(stepRow(`sipfleet at ${f * 100} %`, r.sipfleet.atFractions.find((x) => x.fraction === f)?.step)));
  }
  out.push(fl.join('\n'), '');
  out.push(`### Kamailio (${r.kamailio.address}) — stopped: ${r.kamailio.stopReason}`, '', fullTable(r.kamailio.steps), '');
  out.push(`### sipfleet (${r.sipfleet.address}) — stopped: ${r.sipfleet.stopReason}`, '', fullTable(r.sipfleet.steps), '');
  if (r.ceiling.length > 0) out.push('### Load generator alone (uac-rr → uas-rr, both on the SIPp CPU)', '', fullTable(r.ceiling), '');
  for (const t of [r.sipfleet, r.kamailio]) {
    if (t.exit !== undefined) out.push(`${t.target} EXITED (${t.exit}) during the run; its last output:`, '', '```', t.outputTail ?? '', '```', '');
  }
  out.push('Notes:');
  out.push('- proxy CPU µs/call = CPU time of every process and thread of the proxy during the step (Kamailio: its main process and all its children; sipfleet: its one process, event loop plus V8 threads), from /proc/<pid>/stat, divided by the step\'s successful calls. Near the top, where both proxies pass, this is the fairer comparison: the load generator on the other core may be what limits the rate.');
  out.push('- Response times are SIPp\'s rtd 1 (INVITE sent → 200 received) with a 4 ms clock tick: 0 means under one tick.');
  out.push('- Kamailio runs with the TLSF memory manager (`-x tlsf -X tlsf`): its default, q_malloc, keeps debugging data per fragment and costs about 2.5× the CPU per call here (bench/kamailio/README.md); the faster setting is the fairer opponent.');
  return `${out.join('\n')}\n`;
}

// ---- chart ----

const W = 860;
const H = 320;
const PAD = { l: 56, r: 16, t: 28, b: 44 };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
}

interface Series {
  label: string;
  color: string;
  points: Array<[number, number]>;
}

function panel(x0: number, title: string, yLabel: string, series: Series[], xMax: number, yMin: number, yMax: number, yTicks: number[], log: boolean): string {
  const pw = W / 2 - PAD.l - PAD.r;
  const ph = H - PAD.t - PAD.b;
  const xs = (x: number): number => x0 + PAD.l + (x / xMax) * pw;
  const ys = (y: number): number => {
    const v = log ? (Math.log10(Math.max(y, yMin)) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin)) : (y - yMin) / (yMax - yMin);
    return PAD.t + ph - Math.min(1, Math.max(0, v)) * ph;
  };
  const parts: string[] = [];
  parts.push(`<text x="${x0 + PAD.l + pw / 2}" y="16" text-anchor="middle" font-weight="bold">${esc(title)}</text>`);
  parts.push(`<rect x="${x0 + PAD.l}" y="${PAD.t}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  for (const t of yTicks) {
    parts.push(`<line x1="${x0 + PAD.l}" x2="${x0 + PAD.l + pw}" y1="${ys(t)}" y2="${ys(t)}" stroke="#eee"/>`);
    parts.push(`<text x="${x0 + PAD.l - 6}" y="${ys(t) + 4}" text-anchor="end">${t}</text>`);
  }
  const step = xMax > 8000 ? 2000 : 1000;
  for (let x = 0; x <= xMax; x += step) parts.push(`<text x="${xs(x)}" y="${H - PAD.b + 16}" text-anchor="middle">${x}</text>`);
  parts.push(`<text x="${x0 + PAD.l + pw / 2}" y="${H - 8}" text-anchor="middle">offered calls/s</text>`);
  parts.push(`<text transform="translate(${x0 + 14},${PAD.t + ph / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
  for (const s of series) {
    if (s.points.length === 0) continue;
    const d = s.points.map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${xs(x).toFixed(1)},${ys(y).toFixed(1)}`).join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    for (const [x, y] of s.points) parts.push(`<circle cx="${xs(x).toFixed(1)}" cy="${ys(y).toFixed(1)}" r="3" fill="${s.color}"/>`);
  }
  return parts.join('\n');
}

/** Success rate and p99 against offered load, both proxies: an SVG document. */
export function versusChart(r: VersusResult, caption: string): string {
  // The sweep's steps only (the last attempt at each rate): the fraction steps re-measure rates
  // already on the curve, later, and would make it zigzag.
  const pick = (t: TargetSweep): StepResult[] => {
    const byRate = new Map<number, StepResult>();
    for (const s of t.steps) byRate.set(s.rate, s);
    return [...byRate.values()].sort((a, b) => a.rate - b.rate);
  };
  const k = pick(r.kamailio);
  const s = pick(r.sipfleet);
  const xMax = Math.max(1000, ...[...k, ...s].map((st) => st.rate)) * 1.05;
  const colors = { kamailio: '#d95f02', sipfleet: '#1b9e77' };
  const success: Series[] = [
    { label: 'Kamailio', color: colors.kamailio, points: k.map((st) => [st.rate, st.successPct]) },
    { label: 'sipfleet', color: colors.sipfleet, points: s.map((st) => [st.rate, st.successPct]) },
  ];
  const p99: Series[] = [
    { label: 'Kamailio', color: colors.kamailio, points: k.map((st) => [st.rate, Math.max(1, st.p99Ms ?? 1)]) },
    { label: 'sipfleet', color: colors.sipfleet, points: s.map((st) => [st.rate, Math.max(1, st.p99Ms ?? 1)]) },
  ];
  const minSuccess = Math.min(95, ...[...k, ...s].map((st) => Math.floor(st.successPct / 5) * 5));
  const successTicks = minSuccess >= 99 ? [minSuccess, 99.9, 100] : [minSuccess, (minSuccess + 100) / 2, 100];
  const legend = Object.entries(colors)
    .map(([label, color], i) => `<rect x="${PAD.l + i * 90}" y="${H + 4}" width="12" height="12" fill="${color}"/><text x="${PAD.l + 16 + i * 90}" y="${H + 14}">${label}</text>`)
    .join('');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H + 44}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    panel(0, 'Success rate (%)', 'calls successful, %', success, xMax, minSuccess, 100, successTicks, false),
    panel(W / 2, 'p99 response time (INVITE → 200)', 'ms (log scale; 1 = under one 4 ms tick)', p99, xMax, 1, 10_000, [1, 10, 100, 1000, 10_000], true),
    `<text x="8" y="${H + 36}">${esc(caption)}</text>`,
    legend,
    '</svg>',
    '',
  ].join('\n');
}
