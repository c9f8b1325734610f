/** Bounds shared by both adapters, so that no single store call does unbounded work. */

/** Calls released (and nodes reaped) per reap/drain step; the adapters loop until done. */
export const REAP_BATCH = 1000;
/** Calls re-asserted per resync step. */
export const RESYNC_BATCH = 500;
/**
 * Admissions remembered per level for `cpsNow` (the last 1 s). A CPS-capped level never holds
 * more than cps + burst; an uncapped level's `cpsNow` saturates here.
 */
export const ADMISSION_LOG_MAX = 10_000;
/** `calls()` without a limit returns at most this many; larger limits are clamped to CALLS_LIMIT_MAX. */
export const CALLS_LIMIT_DEFAULT = 1000;
export const CALLS_LIMIT_MAX = 10_000;
/** The window `cpsNow` counts over. */
export const CPS_WINDOW_US = 1_000_000;
/** Longest source key `stickySet`/`stickyGet` take (a key is one Redis key name). */
export const STICKY_KEY_MAX = 512;
/** Expired media sessions dropped by one media store call at most (the next call drops more). */
export const MEDIA_PRUNE_STEP = 100;
