/**
 * Markdown table pieces the benchmark reports share (bench/lib/report.ts,
 * bench/lib/registrar-report.ts).
 */
import type { StepStats } from './sipp-stats.ts';

/** A number with `digits` decimals; `–` when undefined or not finite. */
export function fmt(n: number | undefined, digits = 0): string {
  return n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(digits);
}

export function row(cells: string[]): string {
  return `| ${cells.join(' | ')} |`;
}

/** A table's header row and its alignment row (numbers right, the `result` column left). */
export function headerRows(head: string[]): string[] {
  return [row(head), row(head.map((h) => (h === 'result' ? ':--' : '--:')))];
}

/** `total` or `total (disp N)`: the dispatcher's own socket, when it dropped anything. */
export function drops(total: number, disp: number | undefined): string {
  return disp !== undefined && disp > 0 ? `${fmt(total)} (disp ${fmt(disp)})` : fmt(total);
}

/** A sweep step's SIPp columns: offered rate, planned, failed, success %, achieved, p50, p99, mean, max, retransmissions. */
export function stepCells(s: StepStats & { attempt: number }): string[] {
  return [
    `${s.rate}${s.attempt > 1 ? ' (retry)' : ''}`,
    String(s.plannedCalls),
    String(s.failed),
    s.successPct >= 99.995 && s.successPct < 100 ? '99.99' : fmt(s.successPct, 2),
    fmt(s.achievedCps, 1),
    fmt(s.p50Ms),
    fmt(s.p99Ms),
    fmt(s.meanMs, 2),
    fmt(s.maxMs),
    String(s.retransmissions),
  ];
}
