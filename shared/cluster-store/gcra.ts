/**
 * GCRA (generic cell rate algorithm, virtual scheduling form) in integer microseconds: the CPS
 * check both adapters apply per level. `admit-call.lua` mirrors `gcraStep` line for line; the
 * parameters are computed here only and passed to the script, so the two cannot drift.
 *
 * Bound: with T = ceil(1e6 / cps) and τ = burst·T, calls admitted at integer-µs times t1 < … < tn
 * satisfy tn − t1 ≥ (n − 1)·T − τ, so a half-open window [t, t + 1 s) (at most 999 999 µs between
 * its first and last admission) holds at most floor((999 999 + τ) / T) + 1 ≤ cps + burst calls
 * (for an integer cps; rounding T up only ever admits less).
 */
import type { LevelLimit } from './cluster-store.ts';

export interface GcraParams {
  /** Emission interval T, µs between calls at the steady rate. */
  readonly intervalUs: number;
  /** Burst tolerance τ, µs. */
  readonly toleranceUs: number;
}

/** The level's GCRA parameters, or undefined when it has no CPS cap. */
export function gcraParams(limit: Pick<LevelLimit, 'cps' | 'burst'>): GcraParams | undefined {
  if (limit.cps === undefined) return undefined;
  const intervalUs = Math.ceil(1e6 / limit.cps);
  return { intervalUs, toleranceUs: Math.floor(limit.burst ?? 0) * intervalUs };
}

export type GcraOutcome = { readonly ok: true; readonly tatUs: number } | { readonly ok: false; readonly retryAfterUs: number };

/**
 * One check: `tatUs` is the stored theoretical arrival time (undefined when none), `nowUs` the
 * store clock. Admitted → the new TAT to store; refused → µs until a call would conform.
 */
export function gcraStep(tatUs: number | undefined, nowUs: number, params: GcraParams): GcraOutcome {
  const tat = tatUs === undefined || tatUs < nowUs ? nowUs : tatUs;
  if (tat - nowUs > params.toleranceUs) return { ok: false, retryAfterUs: tat - params.toleranceUs - nowUs };
  return { ok: true, tatUs: tat + params.intervalUs };
}
