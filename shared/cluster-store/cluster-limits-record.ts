/**
 * Validation and the canonical JSON of the cluster's caps, shared by both adapters.
 */
import { ERROR_CODES, SipfleetError } from '../errors.ts';
import type { ClusterLimitsRecord } from './cluster-store.ts';

const FIELDS = ['cps', 'channels', 'burst'] as const;

/** Checks the caps (non-negative integers or absent) and returns them with known fields only. */
export function normalizeClusterLimits(limits: ClusterLimitsRecord): ClusterLimitsRecord {
  const out: { cps?: number; channels?: number; burst?: number } = {};
  for (const f of FIELDS) {
    const v = limits[f];
    if (v === undefined || v === null) continue;
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new SipfleetError(ERROR_CODES.STORE_ERR_INVALID, `limits.${f}: must be an integer >= 0 (or absent for no cap)`, { detail: { field: `limits.${f}` } });
    }
    out[f] = v;
  }
  return out;
}

/** Canonical JSON: fixed field order, absent fields left out, so equal caps compare equal. */
export function clusterLimitsJson(limits: ClusterLimitsRecord): string {
  const n = normalizeClusterLimits(limits);
  return JSON.stringify({ cps: n.cps, channels: n.channels, burst: n.burst });
}

export function parseClusterLimits(json: string | null | undefined): ClusterLimitsRecord | undefined {
  if (json === null || json === undefined) return undefined;
  try {
    return normalizeClusterLimits(JSON.parse(json) as ClusterLimitsRecord);
  } catch {
    return undefined;
  }
}
