/**
 * What the switch pool needs to know about a switch's health (the prober maintains it).
 */
export interface SwitchHealthView {
  /** Whether the switch may take calls by health (admin state is separate and wins). */
  isUp(switchId: string): boolean;
  /** Slow-start share, 0 < share ≤ 1 (1 when fully warmed up, or when never down). */
  share(switchId: string): number;
  /** EWMA of the OPTIONS round trip, ms. */
  latencyMs(switchId: string): number | undefined;
  /** p99 of the recent OPTIONS round trips, ms. */
  p99Ms(switchId: string): number | undefined;
  /**
   * Live traffic saw this switch fail (timeout, transport error): mark it down at once; only the
   * probe decides when it is back (after `rise` good probes).
   */
  markSuspect(switchId: string): void;
}
