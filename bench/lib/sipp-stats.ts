/**
 * Parsing of SIPp 3.6 output files and the arithmetic of one benchmark step.
 *
 * - `-trace_stat` CSV: a header line, then one row per `-fd` period plus a final row at exit;
 *   fields are `;`-separated, time columns hold `date<TAB>time<TAB>epoch`, durations
 *   `HH:MM:SS[:usec]`. Counters ending in `(C)` are cumulative, `(P)` per period. Some header
 *   cells are section markers with an empty value in the rows (`ResponseTimeRepartition1`), so
 *   columns are matched by position, never by skipping empty cells.
 * - `-trace_rtt` file (`<scenario>_<pid>_rtt.csv`): `Date_ms;response_time_ms;rtd_no`. For the
 *   built-in `uac` scenario rtd 1 runs from sending the INVITE to receiving its 200, Date_ms is
 *   the time of that 200 since SIPp started. SIPp takes these times from a coarse clock: on this
 *   kernel every value is a multiple of 4 ms (one jiffy), so 0 means "under one tick"
 *   (`tickResolutionMs` finds the step from the data).
 *
 * Pure functions only: no files, no processes (tested by `test/bench-sipp-stats.test.ts`).
 */

/** One stats row keyed by the header's column names (values trimmed, never undefined for known columns). */
export type StatRow = Record<string, string>;

export interface StatCsv {
  header: string[];
  /** Rows whose field count matches the header (a row cut short by a kill is dropped). */
  rows: StatRow[];
}

export function parseStatCsv(text: string): StatCsv {
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== '');
  if (lines.length === 0) return { header: [], rows: [] };
  const header = lines[0].split(';');
  // A row ends with a ';' exactly when the header does, so the field counts are equal; the final
  // row of a sipp killed mid-write is shorter and is ignored.
  const rows: StatRow[] = [];
  for (const line of lines.slice(1)) {
    const cells = line.split(';');
    if (cells.length < header.length) continue;
    const row: StatRow = {};
    header.forEach((name, i) => {
      if (name !== '') row[name] = (cells[i] ?? '').trim();
    });
    rows.push(row);
  }
  return { header, rows };
}

/** The final (cumulative) row of a stats CSV, or `undefined` when there is none. */
export function lastStatRow(text: string): StatRow | undefined {
  const { rows } = parseStatCsv(text);
  return rows[rows.length - 1];
}

/** A numeric column of a stats row; 0 when absent or not a number. */
export function statNumber(row: StatRow | undefined, column: string): number {
  const value = Number.parseFloat(row?.[column] ?? '');
  return Number.isFinite(value) ? value : 0;
}

/** Seconds since the epoch of a `date<TAB>time<TAB>epoch` cell; NaN when malformed. */
export function statEpoch(cell: string | undefined): number {
  const parts = (cell ?? '').split('\t');
  return Number.parseFloat(parts[parts.length - 1] ?? '');
}

/** Seconds of a `HH:MM:SS` or `HH:MM:SS:usec` duration cell; NaN when malformed. */
export function statDuration(cell: string | undefined): number {
  const parts = (cell ?? '').split(':').map((p) => Number(p));
  if (parts.length < 3 || parts.some((p) => !Number.isFinite(p))) return Number.NaN;
  const [h, m, s, us = 0] = parts;
  return h * 3600 + m * 60 + s + us / 1e6;
}

/** `CurrentTime - StartTime` of a row in seconds (microsecond precision), else `ElapsedTime(C)`. */
export function statElapsedS(row: StatRow | undefined): number {
  const span = statEpoch(row?.['CurrentTime']) - statEpoch(row?.['StartTime']);
  if (Number.isFinite(span)) return span;
  const elapsed = statDuration(row?.['ElapsedTime(C)']);
  return Number.isFinite(elapsed) ? elapsed : 0;
}

/** The non-zero `Failed…(C)` counters of a row, by reason (`MaxUDPRetrans`, `UnexpectedMessage`...). */
export function failureBreakdown(row: StatRow | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [column, value] of Object.entries(row ?? {})) {
    const m = /^Failed(\w+)\(C\)$/.exec(column);
    if (m === null || m[1] === 'Call') continue;
    const n = Number.parseFloat(value);
    if (Number.isFinite(n) && n > 0) out[m[1]] = n;
  }
  return out;
}

export interface RttSample {
  /** When the measured response arrived, ms since SIPp started. */
  atMs: number;
  /** The response time, ms. */
  ms: number;
  /** The `rtd` number (`1` for the built-in uac: INVITE → 200). */
  rtd: string;
}

/** Rows of a `-trace_rtt` file; the header, blank and cut-short lines are skipped. */
export function parseRtt(text: string): RttSample[] {
  const out: RttSample[] = [];
  for (const line of text.split(/\r?\n/)) {
    const cells = line.split(';');
    if (cells.length < 3) continue;
    const atMs = Number.parseFloat(cells[0]);
    const ms = Number.parseFloat(cells[1]);
    const rtd = cells[2].trim();
    if (!Number.isFinite(atMs) || !Number.isFinite(ms) || rtd === '') continue;
    out.push({ atMs, ms, rtd });
  }
  return out;
}

/**
 * Nearest-rank percentile (the smallest value with at least p % of the values at or below it)
 * of values sorted ascending; `p` in [0, 100]. NaN for no values. Every result is an observed
 * value, which matters with SIPp's 4 ms-quantised times: no interpolated 1.7 ms that was never seen.
 */
export function percentile(sortedAsc: readonly number[], p: number): number {
  if (sortedAsc.length === 0) return Number.NaN;
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile ${p} is not in [0, 100]`);
  // The epsilon keeps float noise from pushing an exact rank up one (99.9 % of 1000 is 999.0000000000001).
  const rank = Math.max(1, Math.ceil((p / 100) * sortedAsc.length - 1e-9));
  return sortedAsc[Math.min(rank, sortedAsc.length) - 1];
}

export function mean(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/**
 * The clock step of SIPp's response times: the greatest common divisor of the non-zero values
 * (rounded to whole ms), `undefined` when all are 0 or there are none. 4 on a HZ=250 kernel.
 */
export function tickResolutionMs(values: readonly number[]): number | undefined {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  let g = 0;
  for (const v of values) {
    const n = Math.round(Math.abs(v));
    if (n > 0) g = gcd(n, g);
    if (g === 1) break;
  }
  return g === 0 ? undefined : g;
}

export interface StepInput {
  /** Offered rate (calls per second). */
  rate: number;
  /** Calls SIPp was asked to place (`-m`). */
  plannedCalls: number;
  /** The `-trace_stat` CSV text. */
  statCsv: string;
  /** The `-trace_rtt` text (concatenated if several files). */
  rttText: string;
  /** Which rtd is the call's response time; default `1`. */
  rtd?: string;
  /** Fraction of the answered calls whose answer ends the span of `achievedCps`; default 0.999. */
  spanQuantile?: number;
}

export interface StepStats {
  rate: number;
  plannedCalls: number;
  /** Calls SIPp created (`TotalCallCreated`, else `OutgoingCall(C)`). */
  created: number;
  /** `SuccessfulCall(C)`. */
  successful: number;
  /** Every planned call that did not succeed: SIPp's failures plus calls never created or unfinished. */
  failed: number;
  /** SIPp's own `FailedCall(C)`. */
  sippFailed: number;
  /** `failed`'s SIPp reasons (`MaxUDPRetrans`, `UnexpectedMessage`, `TimeoutOnRecv`...). */
  failureReasons: Record<string, number>;
  /** successful / planned × 100. */
  successPct: number;
  /** Seconds from SIPp's start until 99.9 % of the answered calls had their 200 (rtt Date_ms). */
  spanS: number;
  /**
   * The successful calls answered within spanS (99.9 % of them) / spanS: the last 0.1 % of
   * answers (stragglers) are left out of the span, as the 99.9 % criterion leaves them out.
   * Without rtt data, successful calls / the stats file's start → end.
   */
  achievedCps: number;
  /** Response times (ms, rtd `rtd`): count, nearest-rank p50/p99, mean and max. */
  rttCount: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  maxMs: number;
  /** SIPp's time step seen in the data (4 ms here), `undefined` if every time was 0. */
  rttResolutionMs: number | undefined;
  retransmissions: number;
  /** SIPp's wall time from start to its final stats row. */
  sippElapsedS: number;
}

export function summarizeStep(input: StepInput): StepStats {
  const row = lastStatRow(input.statCsv);
  const rtd = input.rtd ?? '1';
  const samples = parseRtt(input.rttText).filter((s) => s.rtd === rtd);
  const times = samples.map((s) => s.ms).sort((a, b) => a - b);
  const successful = statNumber(row, 'SuccessfulCall(C)');
  const created = row?.['TotalCallCreated'] !== undefined ? statNumber(row, 'TotalCallCreated') : statNumber(row, 'OutgoingCall(C)');
  const sippElapsedS = statElapsedS(row);
  // The span ends when 99.9 % of the answered calls had their 200: a handful of stragglers (a
  // retransmitted INVITE answered 0.5 s late) must not decide the rate of a 10 000-call step.
  const answeredAt = samples.map((s) => s.atMs).sort((a, b) => a - b);
  const counted = Math.ceil(answeredAt.length * (input.spanQuantile ?? 0.999) - 1e-9);
  const spanEndMs = counted > 0 ? answeredAt[counted - 1] : 0;
  const spanS = spanEndMs > 0 ? spanEndMs / 1000 : sippElapsedS;
  const achievedCps = spanEndMs > 0 ? (successful * (counted / answeredAt.length)) / spanS : spanS > 0 ? successful / spanS : 0;
  const planned = input.plannedCalls;
  return {
    rate: input.rate,
    plannedCalls: planned,
    created,
    successful,
    failed: Math.max(0, planned - successful),
    sippFailed: statNumber(row, 'FailedCall(C)'),
    failureReasons: failureBreakdown(row),
    successPct: planned > 0 ? (successful / planned) * 100 : 0,
    spanS,
    achievedCps,
    rttCount: times.length,
    p50Ms: percentile(times, 50),
    p99Ms: percentile(times, 99),
    meanMs: mean(times),
    maxMs: times.length > 0 ? times[times.length - 1] : Number.NaN,
    rttResolutionMs: tickResolutionMs(times),
    retransmissions: statNumber(row, 'Retransmissions(C)'),
    sippElapsedS,
  };
}

export interface Criterion {
  /** Minimum successful / planned, percent. Default 99.9. */
  minSuccessPct: number;
  /** Achieved may be at most this much below offered, percent. Default 5. */
  maxShortfallPct: number;
}

export const DEFAULT_CRITERION: Criterion = { minSuccessPct: 99.9, maxShortfallPct: 5 };

/** Whether a step is sustainable; `reasons` says why not. */
export function judgeStep(s: StepStats, c: Criterion = DEFAULT_CRITERION): { ok: boolean; reasons: string[] } {
  const reasons: string[] = [];
  if (!(s.successPct >= c.minSuccessPct)) reasons.push(`success ${s.successPct.toFixed(2)}% < ${c.minSuccessPct}%`);
  const floor = s.rate * (1 - c.maxShortfallPct / 100);
  if (!(s.achievedCps >= floor)) reasons.push(`achieved ${s.achievedCps.toFixed(1)} < ${floor.toFixed(1)} cps`);
  return { ok: reasons.length === 0, reasons };
}
