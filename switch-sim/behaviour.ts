/**
 * What the sim does with OPTIONS and INVITEs, its caps and its timings. Changed at start-up (CLI
 * options) and at run time (`POST /behaviour`, `setBehaviour`) for failure tests. A patch is
 * validated field by field; a bad field is a CFG_ERR_INVALID whose `detail.field` names it.
 */
import { ERROR_CODES, SipfleetError } from '../shared/errors.ts';

export const OPTIONS_MODES = ['answer', 'ignore', '503'] as const;
/** `drop`: ignore INVITEs (no 100). `slow`: wait `slowMs` before the 100/180/200 sequence. */
export const INVITE_MODES = ['answer', '503', '486', 'drop', 'slow'] as const;
/** Media per answered call (see rtp-media.ts): none, echo what arrives, or send a 20 ms G.711 stream. */
export const RTP_MODES = ['off', 'echo', 'send'] as const;
export type RtpMode = (typeof RTP_MODES)[number];

export interface SimBehaviour {
  options: (typeof OPTIONS_MODES)[number];
  invite: (typeof INVITE_MODES)[number];
  slowMs: number;
  /** Max live calls; null = unlimited. Past it: 503 Channel Limit. */
  channels: number | null;
  /** Max new calls in the last second; null = unlimited. Past it: 503 CPS Limit. */
  cps: number | null;
  /** 100 Trying → 180 Ringing. */
  ringMs: number;
  /** 180 Ringing → 200 OK. */
  answerMs: number;
  /** ACK → the sim's own BYE; 0 = never (the caller hangs up). */
  holdMs: number;
  /** RTP per call: `off` binds nothing (the SDP port is not listened on), `echo`, `send`. */
  rtp: RtpMode;
}

export const DEFAULT_BEHAVIOUR: Readonly<SimBehaviour> = Object.freeze({
  options: 'answer',
  invite: 'answer',
  slowMs: 3000,
  channels: null,
  cps: null,
  ringMs: 0,
  answerMs: 0,
  holdMs: 0,
  rtp: 'off',
});

const MAX_MS = 86_400_000;
const MAX_CAP = 1_000_000_000;

function invalid(field: string, expected: string, got: unknown): SipfleetError {
  return new SipfleetError(ERROR_CODES.CFG_ERR_INVALID, `behaviour.${field}: expected ${expected}, got ${JSON.stringify(got) ?? String(got)}`, {
    detail: { field },
  });
}

function oneOf<T extends string>(field: string, allowed: readonly T[], value: unknown): T {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  throw invalid(field, allowed.map((a) => `"${a}"`).join(' | '), value);
}

function ms(field: string, value: unknown): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_MS) return value;
  throw invalid(field, `an integer number of milliseconds 0..${MAX_MS}`, value);
}

function cap(field: string, value: unknown): number | null {
  if (value === null || value === 'unlimited') return null;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_CAP) return value;
  throw invalid(field, 'an integer >= 0, null or "unlimited"', value);
}

const FIELDS: { [K in keyof SimBehaviour]: (value: unknown) => SimBehaviour[K] } = {
  options: (v) => oneOf('options', OPTIONS_MODES, v),
  invite: (v) => oneOf('invite', INVITE_MODES, v),
  slowMs: (v) => ms('slowMs', v),
  channels: (v) => cap('channels', v),
  cps: (v) => cap('cps', v),
  ringMs: (v) => ms('ringMs', v),
  answerMs: (v) => ms('answerMs', v),
  holdMs: (v) => ms('holdMs', v),
  rtp: (v) => oneOf('rtp', RTP_MODES, v),
};

/** `base` with a validated partial update applied; `patch` is untrusted input (JSON). */
export function applyBehaviour(base: Readonly<SimBehaviour>, patch: unknown): SimBehaviour {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
    throw new SipfleetError(ERROR_CODES.CFG_ERR_INVALID, 'behaviour: expected a JSON object', { detail: { field: 'behaviour' } });
  }
  const next: SimBehaviour = { ...base };
  for (const [field, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    if (!Object.hasOwn(FIELDS, field)) throw invalid(field, `one of ${Object.keys(FIELDS).join(', ')} (unknown field)`, value);
    const check = FIELDS[field as keyof SimBehaviour] as (value: unknown) => never;
    (next as unknown as Record<string, unknown>)[field] = check(value);
  }
  return next;
}
