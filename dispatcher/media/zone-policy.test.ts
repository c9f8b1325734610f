import { describe, expect, it } from 'vitest';
import { parseCidr } from '../../shared/config/cidr.ts';
import { mediaConfig, relay } from './media-test-kit.ts';
import { ZonePolicy } from './zone-policy.ts';

const policy = (over: Parameters<typeof mediaConfig>[0] = {}) =>
  new ZonePolicy({
    media: mediaConfig({ zones: [{ sources: [parseCidr('10.1.0.0/16')], zone: 'eu' }, { sources: [parseCidr('10.2.0.0/16')], zone: 'none' }], ...over }),
    carriers: [{ id: 'uscarrier', zone: 'us' }, { id: 'direct', zone: 'none' }, { id: 'plain' }],
    users: [{ username: 'alice', zone: 'ap' }, { username: 'bob' }],
  });

describe('ZonePolicy.zoneOf', () => {
  it("takes the carrier's zone, then the user's, then the source rule, then the default", () => {
    const p = policy({ defaultZone: 'eu' });
    expect(p.zoneOf({ carrierId: 'uscarrier', userId: 'alice', sourceIp: '10.1.2.3' })).toBe('us');
    expect(p.zoneOf({ carrierId: 'plain', userId: 'alice', sourceIp: '10.1.2.3' })).toBe('ap');
    expect(p.zoneOf({ userId: 'bob', sourceIp: '10.1.2.3' })).toBe('eu');
    expect(p.zoneOf({ sourceIp: '::ffff:10.1.2.3' })).toBe('eu');
    expect(p.zoneOf({ sourceIp: '192.0.2.1' })).toBe('eu');
    expect(policy().zoneOf({ sourceIp: '192.0.2.1' })).toBeUndefined();
  });

  it("prefers the authenticated user's own record zone to the config's, but not to the carrier's", () => {
    const p = policy({ defaultZone: 'eu' });
    expect(p.zoneOf({ userId: 'alice', userZone: 'us', sourceIp: '10.1.2.3' })).toBe('us');
    expect(p.zoneOf({ userId: 'carol', userZone: 'none', sourceIp: '10.1.2.3' })).toBe('none');
    expect(p.zoneOf({ carrierId: 'uscarrier', userZone: 'ap', sourceIp: '10.1.2.3' })).toBe('us');
  });

  it('`none` anywhere means direct media', () => {
    const p = policy();
    expect(ZonePolicy.isDirect(p.zoneOf({ carrierId: 'direct', sourceIp: '10.1.2.3' }))).toBe(true);
    expect(ZonePolicy.isDirect(p.zoneOf({ sourceIp: '10.2.0.1' }))).toBe(true);
    expect(ZonePolicy.isDirect(policy({ defaultZone: 'none' }).zoneOf({ sourceIp: '192.0.2.1' }))).toBe(true);
    expect(ZonePolicy.isDirect(p.zoneOf({ sourceIp: '10.1.0.1' }))).toBe(false);
  });
});

describe('ZonePolicy.groups', () => {
  const relays = [relay('a-us', { zone: 'us' }), relay('b-eu', { zone: 'eu' }), relay('c', {}), relay('d-ap', { zone: 'ap' }), relay('e-eu', { zone: 'eu' })];
  const ids = (groups: Array<Array<{ id: string }>>) => groups.map((g) => g.map((r) => r.id));

  it("tries the call's zone, then every other zone in registry order, then the unzoned relays", () => {
    expect(ids(policy().groups('eu', relays))).toEqual([['b-eu', 'e-eu'], ['a-us'], ['d-ap'], ['c']]);
  });

  it('follows zoneOrder when it is set (only the zones it names), unzoned last', () => {
    expect(ids(policy({ zoneOrder: ['ap', 'eu', 'none'] }).groups('us', relays))).toEqual([['a-us'], ['d-ap'], ['b-eu', 'e-eu'], ['c']]);
    expect(ids(policy({ zoneOrder: [] }).groups('us', relays))).toEqual([['a-us'], ['c']]);
  });

  it('a zone with no relay is skipped; no zone means one group of every relay', () => {
    expect(ids(policy().groups('mars', relays))).toEqual([['a-us'], ['b-eu', 'e-eu'], ['d-ap'], ['c']]);
    expect(ids(policy().groups(undefined, relays))).toEqual([['a-us', 'b-eu', 'c', 'd-ap', 'e-eu']]);
    expect(policy().groups(undefined, [])).toEqual([]);
  });
});
