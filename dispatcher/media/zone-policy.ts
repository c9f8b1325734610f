/**
 * Which zone a call's media relay comes from, and in which order the zones are tried.
 *
 * The call's zone, first match wins:
 *   1. its carrier's `zone` (`cluster.carriers[].zone`),
 *   2. its phone user's `zone`: the authenticated user's record (set by the config or the ops API),
 *      else `cluster.users[].zone` (a call delivered to a phone is known by its AOR only),
 *   3. the first `media.zones` rule whose sources hold the INVITE's source address,
 *   4. `media.defaultZone`,
 *   5. none: any relay (every zone at once, least loaded first).
 * The zone `none`, wherever it is found, means the media flows directly (no relay).
 *
 * The order of zones: the call's zone, then `media.zoneOrder` (or, without it, every other zone
 * in registry order), then the relays without a zone.
 */
import type { CarrierConfig, MediaConfig, UserConfig } from '../../shared/config/config-types.ts';
import { NO_MEDIA_ZONE } from '../../shared/config/config-types.ts';
import { cidrContains } from '../../shared/config/cidr.ts';
import type { MediaCallContext } from '../proxy/media-service.ts';

export interface ZonePolicyOptions {
  media: Pick<MediaConfig, 'zones' | 'defaultZone' | 'zoneOrder'>;
  carriers: ReadonlyArray<Pick<CarrierConfig, 'id' | 'zone'>>;
  users: ReadonlyArray<Pick<UserConfig, 'username' | 'zone'>>;
}

/** The call's zone: a zone name, `none` (direct media) or undefined (any relay). */
export type CallZone = string | undefined;

export class ZonePolicy {
  readonly #media: ZonePolicyOptions['media'];
  readonly #carriers: ReadonlyMap<string, string>;
  readonly #users: ReadonlyMap<string, string>;

  constructor(o: ZonePolicyOptions) {
    this.#media = o.media;
    this.#carriers = new Map(o.carriers.flatMap((c) => (c.zone === undefined ? [] : [[c.id, c.zone] as const])));
    this.#users = new Map(o.users.flatMap((u) => (u.zone === undefined ? [] : [[u.username, u.zone] as const])));
  }

  zoneOf(ctx: Pick<MediaCallContext, 'carrierId' | 'userId' | 'userZone' | 'sourceIp'>): CallZone {
    if (ctx.carrierId !== undefined) {
      const zone = this.#carriers.get(ctx.carrierId);
      if (zone !== undefined) return zone;
    }
    if (ctx.userZone !== undefined) return ctx.userZone;
    if (ctx.userId !== undefined) {
      const zone = this.#users.get(ctx.userId);
      if (zone !== undefined) return zone;
    }
    for (const rule of this.#media.zones) {
      if (rule.sources.some((cidr) => cidrContains(cidr, ctx.sourceIp))) return rule.zone;
    }
    return this.#media.defaultZone;
  }

  /** Whether the call's media flows directly. */
  static isDirect(zone: CallZone): boolean {
    return zone === NO_MEDIA_ZONE;
  }

  /**
   * The relays to try for a call of `zone`, grouped by zone in the order they are tried: with no
   * zone, one group of every relay; else the zone's own, the next zones', then those without a
   * zone. Empty groups are left out; `relays` are in registry order and keep it within a group.
   */
  groups<T extends { readonly zone?: string | undefined }>(zone: CallZone, relays: readonly T[]): T[][] {
    if (zone === undefined) return relays.length === 0 ? [] : [[...relays]];
    const byZone = new Map<string | undefined, T[]>();
    for (const r of relays) {
      let group = byZone.get(r.zone);
      if (group === undefined) byZone.set(r.zone, (group = []));
      group.push(r);
    }
    const others = this.#media.zoneOrder ?? [...byZone.keys()].filter((z): z is string => z !== undefined);
    const order = [zone, ...others.filter((z) => z !== zone && z !== NO_MEDIA_ZONE)];
    const out: T[][] = [];
    const seen = new Set<string>();
    for (const z of order) {
      if (seen.has(z)) continue;
      seen.add(z);
      const group = byZone.get(z);
      if (group !== undefined) out.push(group);
    }
    const unzoned = byZone.get(undefined);
    if (unzoned !== undefined) out.push(unzoned);
    return out;
  }
}
