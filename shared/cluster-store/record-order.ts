/**
 * The orders both adapters list registry records and probe reports in, so that every node and
 * both adapters agree: plain code-unit comparison of the ids, never locale-dependent.
 */
import type { ProbeReport } from './cluster-store.ts';

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Registry records (switches, relays) by id. */
export function byId(a: { readonly id: string }, b: { readonly id: string }): number {
  return compare(a.id, b.id);
}

/** Probe reports by switch id, then node id. */
export function byReport(a: ProbeReport, b: ProbeReport): number {
  return compare(a.switchId, b.switchId) || compare(a.nodeId, b.nodeId);
}
