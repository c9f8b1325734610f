/**
 * The timing rules of the floating IP (docs/ha.md, "Timing"), from the lease ttl T:
 *
 * - the holder renews its lease every T/3;
 * - it drops the address when no renewal succeeded within 2T/3 of the renewal's send time (the
 *   store extends the lease to at least send time + T, so the address is gone a third of the
 *   ttl before anyone else can get the lease);
 * - the address carries a kernel lifetime of L = ceil(2T/3) seconds, refreshed by each renewal
 *   whose reply came within T/3 of its send time: a holder that died or hangs loses the address
 *   to the kernel by (last refresh + L + 1 s), the 1 s being the kernel's lifetime check
 *   granularity;
 * - whoever takes over a lease that lapsed (expired, not released) waits the guard
 *   G = T/3 + L + 1 s − T from the lapse before adding the address: by then the old holder's
 *   kernel has dropped it, whatever happened to its process. A released lease needs no guard
 *   (the holder removed the address before releasing).
 */

/** The kernel's address-lifetime check runs at most once a second: removal may be that late. */
export const KERNEL_LIFETIME_SLACK_MS = 1000;

export interface VipTiming {
  /** ms between renewals (T/3). */
  readonly renewEveryMs: number;
  /** ms after a renewal's send time until which the address may be kept without a newer success (2T/3). */
  readonly freshForMs: number;
  /** ms after a renewal's send time until which its reply may still add or refresh the address (T/3). */
  readonly refreshWindowMs: number;
  /** Kernel lifetime of the address, whole seconds (ceil(2T/3)). */
  readonly lifetimeS: number;
  /** ms to wait after a lapsed grant's expiry before adding the address (G). */
  readonly guardMs: number;
  /** Upper bound on crash-to-takeover: T + G + 500 ms of scheduling, commands and ARP. */
  readonly takeoverBoundMs: number;
}

export function vipTiming(leaseTtlMs: number): VipTiming {
  const t = leaseTtlMs;
  const renewEveryMs = Math.floor(t / 3);
  const lifetimeS = Math.ceil((2 * t) / 3 / 1000);
  const guardMs = Math.max(0, Math.ceil(t / 3 + lifetimeS * 1000 + KERNEL_LIFETIME_SLACK_MS - t));
  return {
    renewEveryMs,
    freshForMs: Math.floor((2 * t) / 3),
    refreshWindowMs: renewEveryMs,
    lifetimeS,
    guardMs,
    takeoverBoundMs: t + guardMs + 500,
  };
}
