import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  failureBreakdown,
  judgeStep,
  lastStatRow,
  mean,
  parseRtt,
  parseStatCsv,
  percentile,
  statDuration,
  statElapsedS,
  statEpoch,
  statNumber,
  summarizeStep,
  tickResolutionMs,
} from '../bench/lib/sipp-stats.ts';
import { decodeProcNetAddress, otherCpuPercent, parseProcStat, parseUdpSocketDrops, CLK_TCK } from '../bench/lib/proc-stat.ts';

// The benchmark's SIPp output parsing and percentile maths, on files captured from Debian's
// SIPp 3.6.1 (bench/fixtures/sipp-3.6.1): no sipp needed. Lives in test/ because the unit
// project only collects {shared,dispatcher,switch-sim,ops-api,bin}/**.
const fixture = (name: string): string => readFileSync(new URL(`../bench/fixtures/sipp-3.6.1/${name}`, import.meta.url), 'utf8');

/** 500 calls at 200 cps, uac → uas, all successful. */
const OK_STAT = fixture('uac-500-calls-stat.csv');
const OK_RTT = fixture('uac-500-calls_rtt.csv');
/** 10 calls at 20 cps to an address nobody listens on, -recv_timeout 1500: all fail. */
const TIMEOUT_STAT = fixture('uac-recv-timeout-stat.csv');

/** The CSV with some cells of its last row replaced. */
function withLastRow(csv: string, cells: Record<string, string>): string {
  const lines = csv.trimEnd().split('\n');
  const header = lines[0].split(';');
  const last = lines[lines.length - 1].split(';');
  for (const [column, value] of Object.entries(cells)) {
    const i = header.indexOf(column);
    if (i < 0) throw new Error(`no column ${column}`);
    last[i] = value;
  }
  lines[lines.length - 1] = last.join(';');
  return `${lines.join('\n')}\n`;
}

describe('sipp -trace_stat CSV', () => {
  it('keys every row by the header, keeping the empty section-marker columns in place', () => {
    const { header, rows } = parseStatCsv(OK_STAT);
    expect(header[0]).toBe('StartTime');
    expect(rows).toHaveLength(5);
    const last = rows[rows.length - 1];
    expect(last['ResponseTimeRepartition1']).toBe('');
    expect(last['ResponseTimeRepartition1_<10']).toBe('478');
    expect(last['ResponseTimeRepartition1_>=200']).toBe('0');
    expect(last['CallLengthRepartition_<10']).toBe('458');
  });

  it('reads the final cumulative row: counters, epochs, durations', () => {
    const row = lastStatRow(OK_STAT);
    expect(statNumber(row, 'TotalCallCreated')).toBe(500);
    expect(statNumber(row, 'SuccessfulCall(C)')).toBe(500);
    expect(statNumber(row, 'FailedCall(C)')).toBe(0);
    expect(statNumber(row, 'NoSuchColumn')).toBe(0);
    expect(statEpoch(row?.['StartTime'])).toBeCloseTo(1795412345.222055, 6);
    expect(statElapsedS(row)).toBeCloseTo(2.512344, 6);
    expect(statDuration(row?.['ResponseTime1StDev(C)'])).toBeCloseTo(0.004, 9);
    expect(statDuration('00:01:02')).toBe(62);
    expect(statDuration('garbage')).toBeNaN();
  });

  it('drops a final row cut short (sipp killed mid-write) and falls back to the previous one', () => {
    const lines = OK_STAT.trimEnd().split('\n');
    const cut = [...lines.slice(0, -1), lines[lines.length - 1].slice(0, 200)].join('\n');
    expect(parseStatCsv(cut).rows).toHaveLength(4);
    expect(lastStatRow(cut)).toEqual(parseStatCsv(OK_STAT).rows[3]);
    expect(lastStatRow(cut)?.['CurrentTime']).not.toBe(lastStatRow(OK_STAT)?.['CurrentTime']);
    expect(lastStatRow('')).toBeUndefined();
    expect(lastStatRow(lines[0])).toBeUndefined();
  });

  it('breaks failures down by SIPp reason', () => {
    const row = lastStatRow(TIMEOUT_STAT);
    expect(statNumber(row, 'FailedCall(C)')).toBe(10);
    expect(failureBreakdown(row)).toEqual({ TimeoutOnRecv: 10 });
    expect(failureBreakdown(lastStatRow(OK_STAT))).toEqual({});
  });
});

describe('sipp -trace_rtt file', () => {
  it('parses every sample after the header', () => {
    const rows = parseRtt(OK_RTT);
    expect(rows).toHaveLength(500);
    expect(rows[0]).toEqual({ atMs: 8.001, ms: 0, rtd: '1' });
    expect(rows[rows.length - 1]).toEqual({ atMs: 2504, ms: 0, rtd: '1' });
  });

  it('skips blank, header and cut-short lines', () => {
    expect(parseRtt('Date_ms;response_time_ms;rtd_no\n\n12.5;4;1\n13;8\n14;x;1\n')).toEqual([{ atMs: 12.5, ms: 4, rtd: '1' }]);
  });
});

describe('percentiles and resolution', () => {
  it('uses the nearest rank: always an observed value', () => {
    const v = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(percentile(v, 50)).toBe(5);
    expect(percentile(v, 90)).toBe(9);
    expect(percentile(v, 99)).toBe(10);
    expect(percentile(v, 100)).toBe(10);
    expect(percentile(v, 0)).toBe(1);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
    expect(() => percentile(v, 101)).toThrow(RangeError);
  });

  it('p99 of 1000 values is the 990th', () => {
    const v = Array.from({ length: 1000 }, (_, i) => i + 1);
    expect(percentile(v, 99)).toBe(990);
    expect(percentile(v, 99.9)).toBe(999);
    expect(percentile(v, 50)).toBe(500);
  });

  it('mean, and the clock step of the times', () => {
    expect(mean([0, 4, 8])).toBe(4);
    expect(mean([])).toBeNaN();
    expect(tickResolutionMs([0, 4, 8, 12, 48])).toBe(4);
    expect(tickResolutionMs([0, 4, 6])).toBe(2);
    expect(tickResolutionMs([0, 0])).toBeUndefined();
  });
});

describe('a benchmark step', () => {
  it('summarises the all-successful run', () => {
    const s = summarizeStep({ rate: 200, plannedCalls: 500, statCsv: OK_STAT, rttText: OK_RTT });
    expect(s.created).toBe(500);
    expect(s.successful).toBe(500);
    expect(s.failed).toBe(0);
    expect(s.successPct).toBe(100);
    // 433 × 0, 40 × 4, 5 × 8, 9 × 12, 4 × 16, 4 × 20, 4 × 28, 1 × 48 ms
    expect(s.rttCount).toBe(500);
    expect(s.p50Ms).toBe(0);
    expect(s.p99Ms).toBe(20);
    expect(s.maxMs).toBe(48);
    expect(s.meanMs).toBeCloseTo(612 / 500, 9);
    expect(s.rttResolutionMs).toBe(4);
    // The last 200 arrived 2504 ms after sipp started.
    expect(s.spanS).toBeCloseTo(2.504, 9);
    expect(s.achievedCps).toBeCloseTo(500 / 2.504, 6);
    expect(s.sippElapsedS).toBeCloseTo(2.512344, 6);
    expect(judgeStep(s)).toEqual({ ok: true, reasons: [] });
  });

  it('leaves the last 0.1 % of answers (stragglers) out of the achieved rate', () => {
    // 2000 calls at 200 cps, answered every 5 ms from 5 ms to 10 s; then two answered 0.6 s late.
    const rows = Array.from({ length: 2000 }, (_, i) => `${(i + 1) * 5};0;1`);
    rows[100] = '10600;600;1';
    rows[101] = '10650;650;1';
    const stat = withLastRow(OK_STAT, { 'TotalCallCreated': '2000', 'SuccessfulCall(C)': '2000' });
    const s = summarizeStep({ rate: 200, plannedCalls: 2000, statCsv: stat, rttText: `Date_ms;response_time_ms;rtd_no\n${rows.join('\n')}\n` });
    expect(s.successful).toBe(2000);
    // 99.9 % of 2000 = 1998 answers; the 1998th in time order came at 10 000 ms.
    expect(s.spanS).toBe(10);
    expect(s.achievedCps).toBeCloseTo(199.8, 9);
    expect(s.maxMs).toBe(650);
    expect(judgeStep(s).ok).toBe(true);
    // With every answer counted the span would run to 10.65 s: 187.8 cps, a false FAIL.
    const all = summarizeStep({ rate: 200, plannedCalls: 2000, statCsv: stat, rttText: rows.join('\n'), spanQuantile: 1 });
    expect(all.achievedCps).toBeCloseTo(2000 / 10.65, 9);
    expect(judgeStep(all).ok).toBe(false);
  });

  it('counts calls never placed as failed, and judges both criteria', () => {
    const s = summarizeStep({ rate: 200, plannedCalls: 1000, statCsv: OK_STAT, rttText: OK_RTT });
    expect(s.failed).toBe(500);
    expect(s.successPct).toBe(50);
    const v = judgeStep(s);
    expect(v.ok).toBe(false);
    expect(v.reasons).toEqual(['success 50.00% < 99.9%']);
    // Offered 250 cps, achieved ~199.7: more than 5 % short.
    const short = judgeStep({ ...summarizeStep({ rate: 250, plannedCalls: 500, statCsv: OK_STAT, rttText: OK_RTT }) });
    expect(short.ok).toBe(false);
    expect(short.reasons[0]).toMatch(/^achieved 199\.7 < 237\.5 cps$/);
    // 99.9 % passes, 99.8 % does not.
    expect(judgeStep({ ...s, successPct: 99.9, achievedCps: 200 }).ok).toBe(true);
    expect(judgeStep({ ...s, successPct: 99.8, achievedCps: 200 }).ok).toBe(false);
    expect(judgeStep({ ...s, successPct: 100, achievedCps: 190 }).ok).toBe(true);
  });

  it('summarises the all-failed run (no rtt samples)', () => {
    const s = summarizeStep({ rate: 20, plannedCalls: 10, statCsv: TIMEOUT_STAT, rttText: '' });
    expect(s.successful).toBe(0);
    expect(s.failed).toBe(10);
    expect(s.sippFailed).toBe(10);
    expect(s.failureReasons).toEqual({ TimeoutOnRecv: 10 });
    expect(s.retransmissions).toBe(12);
    expect(s.achievedCps).toBe(0);
    expect(s.p50Ms).toBeNaN();
    expect(s.rttResolutionMs).toBeUndefined();
    expect(s.spanS).toBeGreaterThan(1);
    expect(judgeStep(s).ok).toBe(false);
  });
});

describe('/proc parsing', () => {
  it('reads ppid, utime, stime, children times and rss after the last parenthesis of the command name', () => {
    const line = '4242 (node (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 567 89 10 20 0 11 0 100 1000000 25600 18446744073709551615';
    expect(parseProcStat(line)).toEqual({ ppid: 1, utime: 1234, stime: 567, cutime: 89, cstime: 10, rssPages: 25600 });
  });

  it('sums the CPU of other processes, skipping excluded pids and this process and its children', () => {
    const a = new Map([
      [10, { ppid: 1, ticks: 100 }],
      [11, { ppid: 1, ticks: 50 }],
      [process.pid, { ppid: 1, ticks: 0 }],
    ]);
    const b = new Map([
      [10, { ppid: 1, ticks: 100 + CLK_TCK }], // one CPU-second
      [11, { ppid: 1, ticks: 50 + 5 * CLK_TCK }], // excluded
      [12, { ppid: 1, ticks: CLK_TCK / 2 }], // started during the window
      [13, { ppid: process.pid, ticks: 9 * CLK_TCK }], // our child
      [process.pid, { ppid: 1, ticks: 9 * CLK_TCK }],
    ]);
    expect(otherCpuPercent(a, b, new Set([11]), 2)).toBeCloseTo(75, 9);
  });

  it('reads per-socket UDP drops from /proc/net/udp, keyed by local ip:port', () => {
    expect(decodeProcNetAddress('0B00007F:13C4')).toBe('127.0.0.11:5060');
    const text =
      '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops             \n' +
      '  283: 0B00007F:13C4 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 123456 2 0000000000000000 20586        \n' +
      '  284: 1500007F:13C4 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 123457 2 0000000000000000 0            \n';
    expect(parseUdpSocketDrops(text)).toEqual(
      new Map([
        ['127.0.0.11:5060', 20586],
        ['127.0.0.21:5060', 0],
      ]),
    );
  });
});
