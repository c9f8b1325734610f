/** The selection algorithms by configured name (`cluster.selection`, a carrier's `selection`). */
import type { Selection } from '../../../shared/config/config-types.ts';
import type { SelectionAlgorithm } from '../selection-algorithm.ts';
import { HashCallId } from './hash-call-id.ts';
import { HashSource } from './hash-source.ts';
import { LowestLatency } from './latency.ts';
import { LeastChannels } from './least-channels.ts';
import { Priority } from './priority.ts';
import { RoundRobin } from './round-robin.ts';
import { SmoothWeighted } from './weighted.ts';

const ALGORITHMS: Readonly<Record<Selection, () => SelectionAlgorithm>> = {
  'round-robin': () => new RoundRobin(),
  weighted: () => new SmoothWeighted(),
  'hash-call-id': () => new HashCallId(),
  'hash-source': () => new HashSource(),
  'least-channels': () => new LeastChannels(),
  priority: () => new Priority(),
  latency: () => new LowestLatency(),
};

/** A new instance (stateful algorithms keep their own rotation). */
export function createAlgorithm(name: Selection): SelectionAlgorithm {
  const make = ALGORITHMS[name];
  if (make === undefined) throw new Error(`unknown selection algorithm: ${String(name)}`);
  return make();
}
