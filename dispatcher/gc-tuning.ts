/**
 * V8 settings for the dispatcher process, applied before it starts its node.
 *
 * Allocation-site pretenuring off (`--no-allocation-site-pretenuring`). V8 watches how many
 * objects from each allocation site survive a scavenge. When most do, it allocates that site's
 * objects straight in the old generation. A proxy defeats this guess: finished transactions
 * live for their 32 s, but the parsed messages, header fields and parameter maps of the same
 * calls live a few milliseconds. Sites that serve both kinds get pretenured. The old objects they
 * make are then roots for every scavenge until the next major GC, and the young objects they
 * point to survive and are promoted with them.
 *
 * Measured at 2500 cps through one core (BENCHMARKS.md, Session 8): the old generation grew
 * 11.7–13.8 MB per scavenge with pretenuring and 4.7 MB without, and scavenge pauses went from
 * 20–27 ms to 11 ms.
 *
 * V8 reads this flag at every GC (when it processes the pretenuring feedback), so setting it at
 * startup takes effect for the whole run. It is set before the node allocates its tables.
 */
import { setFlagsFromString } from 'node:v8';

/** The flags `tuneGc` sets, in V8's syntax. */
export const DISPATCHER_V8_FLAGS: readonly string[] = ['--no-allocation-site-pretenuring'];

/** Apply DISPATCHER_V8_FLAGS (`set` is injectable for tests). */
export function tuneGc(set: (flags: string) => void = setFlagsFromString): void {
  for (const flag of DISPATCHER_V8_FLAGS) set(flag);
}
