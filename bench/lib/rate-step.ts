/**
 * One rate of a sweep, shared by the single sweep (`npm run bench:proxy`, proxy-sweep.ts) and the
 * side-by-side one (`npm run bench`, versus-sweep.ts): a step, and one retry when it fails, even
 * clearly (under 95 % success or 80 % of the offered rate). On this machine one step in a few dozen
 * falls clearly short for reasons of its own (run 25: Kamailio's 9000 cps step dropped 116 668
 * datagrams, at 124 µs per call against its usual 65–78, and stopped its sweep at 8750), and a
 * maximum that follows such a hiccup does not reproduce. A sweep stops at a rate that fails twice
 * in a row.
 */
import type { StepResult, SweepConfig } from './proxy-sweep.ts';
import { clearlyShort } from './step-support.ts';

/** What a sweep records about its target (versus-sweep.ts's TargetSweep adds to it). */
export interface SweepRecord {
  target: string;
  steps: StepResult[];
  best: StepResult | undefined;
  stopReason: string;
  /** The lowest rate that failed: the climb's last step, lowered by refinement (none when every rate passed). */
  failedAt?: number;
}

/** One proxy (or the load generator alone) being swept. */
export interface RateRunner<S extends SweepRecord = SweepRecord> {
  sweep: S;
  /** Logs go to `cfg.log`; a step lasts `cfg.seconds`. */
  cfg: Pick<SweepConfig, 'seconds' | 'log'>;
  /** Runs one step at `rate` (attempt 1, or 2 for the retry). */
  run: (rate: number, attempt: number) => Promise<StepResult>;
  alive: () => string | undefined;
  /**
   * After a step, before the next one: e.g. until the proxy's transaction table is empty. `stopping`
   * is true after a climb's last step (it failed twice), when only a side-by-side sweep, whose
   * other proxy runs next, still needs it.
   */
  settle: (step: StepResult, deadlineMs: number, stopping: boolean) => Promise<void>;
  /** Set when this target stopped climbing. */
  done: boolean;
}

/**
 * How a rate step counts: `climb` (the sweep: recorded, and a failure stops this target's climb),
 * `refine` (between its best rate and the one that stopped it: recorded, a pass raises its best,
 * a failure lowers the bound) or `measure` (the fraction steps: kept apart, nothing changes).
 */
export type StepUse = 'climb' | 'refine' | 'measure';

/** Runs `rate` for `r` (see the file comment). Returns the last attempt, or undefined when the time budget left no room for a first one. */
export async function rateStep(r: RateRunner, rate: number, deadlineMs: number, onStep: (s: StepResult) => void, use: StepUse): Promise<StepResult | undefined> {
  const stepCostMs = (r.cfg.seconds + 5) * 1000;
  const record = use !== 'measure';
  let last: StepResult | undefined;
  for (let attempt = 1; attempt <= 2; attempt++) {
    if (Date.now() + stepCostMs > deadlineMs) {
      if (use === 'climb') {
        r.sweep.stopReason = `time budget reached before ${rate} cps`;
        r.done = true;
      }
      // A narrow failure whose retry found no time still counts against the rate.
      if (use === 'refine' && last !== undefined) r.sweep.failedAt = Math.min(r.sweep.failedAt ?? rate, rate);
      return last;
    }
    const step = await r.run(rate, attempt);
    last = step;
    const gone = r.alive();
    if (gone !== undefined) {
      step.ok = false;
      step.reasons.push(gone);
      r.sweep.stopReason = `${gone} during the ${rate} cps step`;
      r.done = true;
    }
    if (record) r.sweep.steps.push(step);
    onStep(step);
    if (gone !== undefined) return step;
    await r.settle(step, deadlineMs, !step.ok && attempt === 2 && use === 'climb');
    if (step.ok) {
      if (record && (r.sweep.best === undefined || rate > r.sweep.best.rate)) r.sweep.best = step;
      return step;
    }
    if (attempt === 2) {
      if (use === 'climb') {
        r.sweep.stopReason = `${rate} cps failed twice in a row (${clearlyShort(step) ? 'clearly short: ' : ''}${step.reasons.join('; ')})`;
        r.done = true;
        r.sweep.failedAt = rate;
      }
      if (use === 'refine') r.sweep.failedAt = Math.min(r.sweep.failedAt ?? rate, rate);
      return step;
    }
    r.cfg.log(`  ${r.sweep.target} ${rate} cps failed (${clearlyShort(step) ? 'clearly short: ' : ''}${step.reasons.join('; ')}): retrying once`);
  }
  return last;
}
