import { describe, expect, it } from 'vitest';
import type { StepResult } from '../bench/lib/proxy-sweep.ts';
import { socketBufferNote } from '../bench/lib/report.ts';
import { versusChart, versusSection, versusSummary, type VersusReport } from '../bench/lib/versus-report.ts';
import { rateStep } from '../bench/lib/rate-step.ts';
import { fractionRates, refineMaxima, refineRate, type Runner, type TargetSweep, type VersusResult } from '../bench/lib/versus-sweep.ts';

// The side-by-side benchmark's report: what it concludes from the steps it is given (the ratio,
// the p99 comparison at 50 % of Kamailio's maximum), and that the chart is a well-formed SVG.

function step(phase: StepResult['phase'], rate: number, ok: boolean, p99: number, usPerCall: number): StepResult {
  const failed = ok ? 0 : Math.round(rate * 0.05);
  return {
    rate, plannedCalls: rate * 10, failed, successful: rate * 10 - failed, successPct: ok ? 100 : 95, achievedCps: ok ? rate : rate * 0.9,
    p50Ms: 0, p99Ms: p99, meanMs: 1, maxMs: p99, retransmissions: 0, failureReasons: {}, rttResolutionMs: 4,
    phase, seconds: 10, attempt: 1, ok, reasons: ok ? [] : ['success 95% < 99.9%'], sippExit: 'code 0', killedAtDeadline: false,
    sippCpuPct: 20, otherCpuPct: 1, udpRcvbufDrops: 0, udpDropsBySocket: {}, sippErrors: '', proxyCpuPct: (usPerCall * rate) / 1e4, proxyCpuUsPerCall: usPerCall,
  } as unknown as StepResult;
}

function sweep(target: 'sipfleet' | 'kamailio', steps: StepResult[], atFractions: TargetSweep['atFractions']): TargetSweep {
  const best = steps.filter((s) => s.ok).sort((a, b) => b.rate - a.rate)[0];
  return { target, address: '127.0.0.1:5060', steps, best, bestIsTopOfList: false, stopReason: 'failed twice', atFractions };
}

const kamailio = sweep('kamailio', [step('kamailio', 2000, true, 4, 120), step('kamailio', 4000, true, 4, 80), step('kamailio', 6000, false, 900, 78)], [
  { fraction: 0.5, step: step('kamailio', 2000, true, 4, 118) },
]);
const sipfleet = sweep('sipfleet', [step('sipfleet', 2000, true, 40, 300), step('sipfleet', 4000, false, 1200, 280)], [{ fraction: 0.5, step: step('sipfleet', 2000, true, 8, 310) }]);
const result: VersusResult = { sipfleet, kamailio, ceiling: [], ceilingBest: undefined, ratio: 2000 / 4000 };

/** A report of `result` on a test machine, with the fields a test cares about replaced. */
function report(over: Partial<VersusReport> = {}): VersusReport {
  return {
    date: '2026-11-23T12:00:00Z',
    command: 'npm run bench',
    machine: { nproc: 2, cpuModel: 'test CPU', kernel: '6.1', node: 'v24', sipp: 'SIPp v3.6.1', loadAvg: [0, 0, 0] },
    before: { busyPct: 1, waitedS: 0, quiet: true },
    config: { kamailioChildren: 4, fractions: [0.25, 0.5, 0.75], dispatcherIp: '127.0.0.11', dispatcherSipPort: 5060, kamailioIp: '127.0.0.12', kamailioPort: 5060, dispatcherCpu: 1, sippCpu: 0, switchIps: ['127.0.0.21'], seconds: 10, recvTimeoutMs: 8000 } as VersusReport['config'],
    kamailioVersion: 'kamailio 5.6.3',
    result,
    chart: undefined,
    totalSeconds: 100,
    ...over,
  };
}

describe('side-by-side benchmark report', () => {
  it('measures at 25/50/75 % of a maximum, rounded to 100 cps and never below 100', () => {
    expect(fractionRates(6000, [0.25, 0.5, 0.75])).toEqual([
      { fraction: 0.25, rate: 1500 },
      { fraction: 0.5, rate: 3000 },
      { fraction: 0.75, rate: 4500 },
    ]);
    expect(fractionRates(150, [0.25])).toEqual([{ fraction: 0.25, rate: 100 }]);
  });

  it('states both maxima, their ratio and the p99 ratio at 50 %', () => {
    const s = versusSummary(result);
    expect(s).toContain('sipfleet 2000 cps, Kamailio 4000 cps: ratio 0.50');
    expect(s).toContain('p99 8 ms (sipfleet) vs 4 ms (Kamailio), ratio 2.00');
  });

  it('puts both proxies side by side per rate with the CPU-per-call ratio', () => {
    const md = versusSection(report({ chart: 'bench/results/x.svg' }));
    expect(md.startsWith('## sipfleet vs Kamailio (one core each)\n')).toBe(true);
    // 2000 cps: both passed; sipfleet used 300 µs per call against Kamailio's 120.
    expect(md).toContain('| 2000 | 100.00 | 0 / 4 | 120 | 100.00 | 0 / 40 | 300 | 2.50 |');
    expect(md).toContain('| 4000 | 100.00 | 0 / 4 | 80 | 95.00 ✗ | 0 / 1200 | 280 | 3.50 |');
    expect(md).toContain('![success rate and p99 against offered load](bench/results/x.svg)');
    // Reports from before the socket-buffer setting say what their sockets had.
    expect(md).toContain('sockets used the kernel default buffer (SIPp its own 64 KB)');
  });

  it('names the socket buffers every process got and the refinement of the maxima', () => {
    const md = versusSection(
      report({
        config: { ...report().config, fractions: [0.5], refineSteps: 2, refineGrain: 250 },
        result: {
          ...result,
          sipfleet: { ...sipfleet, failedAt: 4000 },
          kamailio: { ...kamailio, failedAt: 6000, refineNote: 'time budget reached before 5000 cps' },
        },
        socketBuffers: { rmemMax: 212992, wmemMax: 4194304, raised: ['net.core.wmem_max 212992 → 4194304'] },
      }),
    );
    expect(socketBufferNote({ rmemMax: undefined, wmemMax: 4194304, raised: [] })).toContain('each receive buffer was granted an unknown size');
    expect(md).toContain("every SIP socket asks for a 4 MiB receive buffer (SIPp's `-buff_size`, Kamailio's `-b`, sipfleet's own request) and SIPp for a 4 MiB send buffer too");
    // rmem_max could not be raised here: receive buffers got the smaller figure, SIPp's send buffer the full one.
    expect(md).toContain(
      'net.core.rmem_max = 212992 and wmem_max = 4194304 bytes (raised by this run and left so: net.core.wmem_max 212992 → 4194304), so each receive buffer was granted 212992 bytes and SIPp\'s send buffer 4194304 bytes',
    );
    expect(md).toContain('then up to 2 bisection steps between its best rate and the one that stopped it narrow the bracket towards 250 cps');
    // Each maximum with the rate that failed above it.
    expect(md).toContain('sipfleet 2000 cps (4000 cps failed), Kamailio 4000 cps (6000 cps failed)');
    expect(md).toContain('kamailio: time budget reached before 5000 cps');
  });

  it('bisects between the best and the failing rate down to the grain', () => {
    expect(refineRate(5000, 6000, 250)).toBe(5500);
    expect(refineRate(5500, 6000, 250)).toBe(5750);
    expect(refineRate(5000, 5500, 250)).toBe(5250);
    expect(refineRate(3000, 4000, 250)).toBe(3500);
    // Nothing left to split, or no failing rate (the climb passed every rate), or no pass at all.
    expect(refineRate(5750, 6000, 250)).toBeUndefined();
    expect(refineRate(5000, undefined, 250)).toBeUndefined();
    expect(refineRate(undefined, 1000, 250)).toBeUndefined();
  });

  it('draws a chart with one line per proxy in each panel', () => {
    const svg = versusChart(result, 'caption <&>');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg.match(/<path /g)).toHaveLength(4);
    expect(svg).toContain('caption &lt;&amp;>');
    expect(svg).not.toMatch(/NaN|undefined/);
  });
});

describe('side-by-side sweep: climb and refinement', () => {
  /**
   * A runner whose steps pass up to `limit` cps (a clear failure above), with no real processes.
   * `flakyAt`: the first attempt there misses narrowly; `clearHiccupAt`: it falls clearly short.
   */
  function fakeRunner(limit: number, opts: { flakyAt?: number; clearHiccupAt?: number } = {}): Runner & { rates: number[] } {
    const rates: number[] = [];
    let flaky = opts.flakyAt ?? opts.clearHiccupAt;
    const r: Runner & { rates: number[] } = {
      rates,
      sweep: { target: 'kamailio', address: '127.0.0.1:5060', steps: [], best: undefined, bestIsTopOfList: false, stopReason: 'all rates done', atFractions: [] },
      cfg: { seconds: 0, log: () => undefined },
      run: (rate, attempt) => {
        rates.push(rate);
        // A first attempt at `flakyAt` fails narrowly once, then passes.
        const ok = rate <= limit && !(rate === flaky && attempt === 1);
        if (rate === flaky && attempt === 2) flaky = undefined;
        const st = step('kamailio', rate, ok, 4, 100);
        // Above the limit a clear failure; a flaky first attempt a narrow one, a hiccup a clear one.
        const pct = ok ? 100 : rate <= limit && rate !== opts.clearHiccupAt ? 99.5 : 90;
        Object.assign(st, { successPct: pct, reasons: ok ? [] : [`success ${pct}% < 99.9%`] });
        (st as { attempt: number }).attempt = attempt;
        return Promise.resolve(st);
      },
      alive: () => undefined,
      settle: () => Promise.resolve(),
      done: false,
    };
    return r;
  }

  async function climb(r: Runner, rates: number[], deadlineMs = Date.now() + 60_000): Promise<void> {
    for (const rate of rates) {
      if (!r.done) await rateStep(r, rate, deadlineMs, () => undefined, 'climb');
    }
  }

  it('climbs until a rate fails, then bisects between the best and that rate', async () => {
    const r = fakeRunner(5600);
    await climb(r, [1000, 2000, 3000, 4000, 5000, 6000, 7000]);
    expect(r.sweep.best?.rate).toBe(5000);
    expect(r.sweep.failedAt).toBe(6000);
    // 6000 clearly short (90 %), retried once, short again; 7000 never tried.
    expect(r.rates).toEqual([1000, 2000, 3000, 4000, 5000, 6000, 6000]);
    await refineMaxima([r], 2, 250, Date.now() + 60_000, () => undefined);
    // 5500 passes, 5750 fails twice: the maximum is 5500, bracketed by 5750.
    expect(r.rates.slice(7)).toEqual([5500, 5750, 5750]);
    expect(r.sweep.best?.rate).toBe(5500);
    expect(r.sweep.failedAt).toBe(5750);
    expect(r.sweep.refineNote).toBeUndefined();
    expect(r.sweep.stopReason).toBe('6000 cps failed twice in a row (clearly short: success 90% < 99.9%)');
  });

  it('retries a clearly short step once: a single hiccup does not end the climb', async () => {
    const r = fakeRunner(8000, { clearHiccupAt: 6000 });
    await climb(r, [5000, 6000, 7000, 8000, 9000]);
    expect(r.rates).toEqual([5000, 6000, 6000, 7000, 8000, 9000, 9000]);
    expect(r.sweep.best?.rate).toBe(8000);
    expect(r.sweep.failedAt).toBe(9000);
  });

  it('tells settle which step ends the climb (the single sweep skips its drain there)', async () => {
    const r = fakeRunner(5600);
    const settled: Array<[number, number, boolean]> = [];
    r.settle = (s, _deadline, stopping) => {
      settled.push([s.rate, s.attempt, stopping]);
      return Promise.resolve();
    };
    await climb(r, [5000, 6000, 7000]);
    expect(settled).toEqual([
      [5000, 1, false],
      [6000, 1, false],
      [6000, 2, true],
    ]);
  });

  it('retries a narrow failure once during refinement and counts the retry', async () => {
    const r = fakeRunner(6600, { flakyAt: 6500 });
    await climb(r, [4000, 5000, 6000, 7000]);
    expect(r.sweep.best?.rate).toBe(6000);
    expect(r.sweep.failedAt).toBe(7000);
    await refineMaxima([r], 1, 250, Date.now() + 60_000, () => undefined);
    // 7000 fell clearly short twice; then 6500 missed narrowly, was retried and passed.
    expect(r.rates.slice(4)).toEqual([7000, 6500, 6500]);
    expect(r.sweep.best?.rate).toBe(6500);
    expect(r.sweep.best?.attempt).toBe(2);
    expect(r.sweep.failedAt).toBe(7000);
    // One round was not enough to reach the grain: the report says so.
    expect(r.sweep.refineNote).toBe('1 refinement steps left a gap wider than 250 cps');
  });

  it('leaves a maximum that passed every rate alone, and stops refining when the budget is spent', async () => {
    const top = fakeRunner(10_000);
    await climb(top, [1000, 2000]);
    await refineMaxima([top], 2, 250, Date.now() + 60_000, () => undefined);
    expect(top.rates).toEqual([1000, 2000]);
    expect(top.sweep.failedAt).toBeUndefined();

    const late = fakeRunner(5600);
    await climb(late, [5000, 6000]);
    // A step costs seconds + 5 s of budget: a deadline 1 s away leaves no room.
    await refineMaxima([late], 2, 250, Date.now() + 1000, () => undefined);
    expect(late.rates).toEqual([5000, 6000, 6000]);
    expect(late.sweep.refineNote).toBe('time budget reached before 5500 cps');
    expect(late.sweep.best?.rate).toBe(5000);
  });
});
