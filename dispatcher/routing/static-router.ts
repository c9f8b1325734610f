/**
 * A router over the configured switch list: round-robin for the first pick, list order after the
 * pick for failover. The switch-pool issue replaces it with live registry, health and algorithms
 * behind the same `Router` interface.
 */
import type { SwitchConfig } from '../../shared/config/config-types.ts';
import type { Target } from '../transport/transport.ts';
import { RoundRobin } from './algorithms/round-robin.ts';
import type { AttemptOutcome, RouteCandidate, Router, RoutingContext } from './router.ts';

export class StaticRouter implements Router {
  readonly #candidates: RouteCandidate[];
  readonly #rr = new RoundRobin();
  readonly #peers: Set<string>;

  constructor(switches: readonly SwitchConfig[]) {
    this.#candidates = switches.map((s) => ({
      id: s.id,
      target: { protocol: s.transport, address: s.host, port: s.port } satisfies Target,
    }));
    this.#peers = new Set(this.#candidates.map((c) => c.target.address));
  }

  select(_ctx: RoutingContext): RouteCandidate | undefined {
    const i = this.#rr.pick(this.#candidates.length);
    return i < 0 ? undefined : this.#candidates[i];
  }

  next(_ctx: RoutingContext, tried: ReadonlySet<string>): RouteCandidate | undefined {
    return this.#candidates.find((c) => !tried.has(c.id));
  }

  report(_candidate: RouteCandidate, _outcome: AttemptOutcome): void {}

  isFromKnownPeer(address: string): boolean {
    return this.#peers.has(address);
  }
}
