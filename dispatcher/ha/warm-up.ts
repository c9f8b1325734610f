/**
 * A starting node's warm-up (docs/ha.md, "Readiness"): `/readyz` answers 200 only once the node
 * registered in the cluster store, loaded the switch registry and every switch that is not
 * disabled has settled (one acceptable OPTIONS answer, or `fall` failed probes: up or down is then
 * decided by the node's own probes, not assumed), or once `maxMs` passed since the start (a store
 * that is down under fail-open, a switch that flaps). Once warm, always warm: a later outage is the
 * ready conditions' business, not the warm-up's.
 */
import type { SwitchRecord } from '../../shared/cluster-store/cluster-store.ts';
import type { Clock } from '../transaction/clock.ts';

/** What the warm-up reads of a switch's health (`SwitchHealthTracker.snapshot`). */
export interface ProbeCounts {
  readonly consecutiveSuccesses: number;
  readonly consecutiveFailures: number;
}

export interface WarmUpOptions {
  clock: Clock;
  /** 0: warm at once. */
  maxMs: number;
  /** Probe failures that mark a switch down (`cluster.probe.fall`). */
  fall: number;
  registered: () => boolean;
  registryLoaded: () => boolean;
  switches: () => readonly SwitchRecord[];
  probes: (switchId: string) => ProbeCounts | undefined;
}

export class WarmUp {
  readonly #o: WarmUpOptions;
  readonly #startedAt: number;
  #done: boolean;

  constructor(opts: WarmUpOptions) {
    this.#o = opts;
    this.#startedAt = opts.clock.now();
    this.#done = opts.maxMs <= 0;
  }

  /** Warm: every condition met once, or the deadline passed. Latches. */
  get done(): boolean {
    if (this.#done) return true;
    if (this.#o.clock.now() - this.#startedAt >= this.#o.maxMs || this.#pending().length === 0) this.#done = true;
    return this.#done;
  }

  /** What is still awaited (empty when warm), for `/readyz`'s body and the logs. */
  pending(): string[] {
    return this.done ? [] : this.#pending();
  }

  #pending(): string[] {
    const out: string[] = [];
    if (!this.#o.registered()) out.push('store registration');
    if (!this.#o.registryLoaded()) out.push('switch registry');
    for (const sw of this.#o.switches()) {
      if (sw.state === 'disabled') continue;
      const p = this.#o.probes(sw.id);
      if (p === undefined || (p.consecutiveSuccesses < 1 && p.consecutiveFailures < this.#o.fall)) out.push(`probes of ${sw.id}`);
    }
    return out;
  }
}
