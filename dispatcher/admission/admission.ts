/**
 * The admission step the proxy core asks before a new call goes to a switch. Expected outcomes
 * are values: admitted (with a release handle called exactly once when the call ends), or
 * rejected with the SIP status, reason phrase and Retry-After to answer with.
 */
import type { SipRequest } from '../../shared/sip/index.ts';
import type { Flow } from '../transport/transport.ts';

export interface AdmissionRequest {
  readonly callId: string;
  readonly request: SipRequest;
  readonly flow: Flow;
  readonly carrierId?: string | undefined;
  /** The authenticated softphone user placing the call, with its account limits (level `user:<id>`). */
  readonly user?: { readonly id: string; readonly cps?: number | undefined; readonly channels?: number | undefined } | undefined;
  readonly switchId: string;
  /** The media relay the call's SDP goes through (kept with the call for the API). */
  readonly relayId?: string | undefined;
  /** True when an earlier attempt of this call was admitted and failed over: shared levels are not charged CPS again. */
  readonly reattempt?: boolean | undefined;
}

export type CallEndReason = 'bye' | 'cancel' | 'rejected' | 'timeout' | 'max-age' | 'failover' | 'shutdown';

export type AdmissionDecision =
  | { readonly admitted: true; release(reason: CallEndReason): void }
  | {
      readonly admitted: false;
      readonly status: number;
      readonly reason: string;
      readonly retryAfter?: number | undefined;
      /** What refused: the level and limit, e.g. 'switch:sw1:channels'. Lets failover skip a full switch. */
      readonly limit: string;
      /** True when only this switch is full, so another candidate may still be admitted. */
      readonly switchOnly: boolean;
    };

export interface AdmissionStats {
  admitted: number;
  refusedCps: number;
  refusedChannels: number;
  /** Refused because the cluster store was unreachable (fail-closed). */
  refusedStore: number;
  /** Admitted against local caps while the store was unreachable (fail-open). */
  admittedLocally: number;
  /** Releases the store took (a call released exactly once adds exactly one). */
  released: number;
  /** Releases that found no record (already released by a reaper or an earlier release). */
  releaseNotFound: number;
}

export interface Admission {
  admit(req: AdmissionRequest): Promise<AdmissionDecision> | AdmissionDecision;
  stats?(): AdmissionStats;
}

/** Admits every call (the single-node default until limits are configured). */
export const alwaysAdmit: Admission = {
  admit: () => ({ admitted: true, release: () => {} }),
};
