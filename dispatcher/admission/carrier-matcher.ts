/**
 * Which carrier (trunk) a source address belongs to, by `cluster.carriers[].sources` (addresses
 * and CIDRs). The longest matching prefix wins, so a /32 for one gateway can sit inside a
 * carrier's /24. Results are cached per address (bounded).
 */
import { cidrContains, type Cidr } from '../../shared/config/cidr.ts';
import type { CarrierConfig } from '../../shared/config/config-types.ts';

const CACHE_LIMIT = 10_000;

export class CarrierMatcher {
  readonly #entries: Array<{ carrier: CarrierConfig; cidr: Cidr; prefix: number }>;
  readonly #cache = new Map<string, CarrierConfig | null>();

  constructor(carriers: readonly CarrierConfig[]) {
    this.#entries = carriers
      .flatMap((carrier) => carrier.sources.map((cidr) => ({ carrier, cidr })))
      .map((e) => ({ ...e, prefix: e.cidr.prefix }))
      .sort((a, b) => b.prefix - a.prefix);
  }

  get size(): number {
    return new Set(this.#entries.map((e) => e.carrier.id)).size;
  }

  match(address: string): CarrierConfig | undefined {
    const hit = this.#cache.get(address);
    if (hit !== undefined) return hit ?? undefined;
    let found: CarrierConfig | undefined;
    for (const e of this.#entries) {
      if (cidrContains(e.cidr, address)) {
        found = e.carrier;
        break;
      }
    }
    if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
    this.#cache.set(address, found ?? null);
    return found;
  }
}
