/**
 * The CPS check both adapters apply per level: an exact sliding one-second window on the store
 * clock. A level keeps the admission times of the last second (`level:admits`, µs) and refuses
 * while it holds `cps + burst` of them. So any half-open window [t, t + 1 s) holds at most
 * cps + burst admitted calls, and a level offered more than its rate admits its rate exactly:
 * each slot frees one second after it was taken and the next call takes it.
 *
 * `admit-call.lua` mirrors `cpsStep` line for line; the cap is computed here only and passed to
 * the script, so the two cannot drift.
 *
 * Why not GCRA: GCRA with τ = burst·T loses each slot's lateness under overload (measured: 167 of
 * 200 calls in 10 s at 20 CPS, offered 60 CPS); with more tolerance it admits more than the cap
 * in some windows unless a window check is added anyway. The window alone is exact and loses
 * nothing. What it does not do is pace calls inside the second: from idle, cps + burst calls may
 * pass at once (a switch's own CPS cap then spreads them).
 */
import type { LevelLimit } from './cluster-store.ts';
import { ADMISSION_LOG_MAX, CPS_WINDOW_US } from './store-limits.ts';

export interface CpsParams {
  /** Calls allowed in any 1 s window: cps + burst (at most ADMISSION_LOG_MAX). */
  readonly windowCap: number;
}

/** The level's CPS parameters, or undefined when it has no CPS cap. */
export function cpsParams(limit: Pick<LevelLimit, 'cps' | 'burst'>): CpsParams | undefined {
  if (limit.cps === undefined) return undefined;
  return { windowCap: Math.min(ADMISSION_LOG_MAX, Math.floor(limit.cps) + Math.floor(limit.burst ?? 0)) };
}

/** The level's admissions in (now − 1 s, now]: how many, and the oldest of them. */
export interface RecentAdmissions {
  readonly count: number;
  readonly oldestUs: number | undefined;
}

export type CpsOutcome = { readonly ok: true } | { readonly ok: false; readonly retryAfterUs: number };

/** Admitted when the window has room; refused → µs until its oldest admission leaves it. */
export function cpsStep(nowUs: number, params: CpsParams, recent: RecentAdmissions): CpsOutcome {
  if (recent.count < params.windowCap) return { ok: true };
  const oldest = recent.oldestUs ?? nowUs;
  return { ok: false, retryAfterUs: Math.max(1, oldest + CPS_WINDOW_US - nowUs) };
}
