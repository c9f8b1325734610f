import { describe, expect, it } from 'vitest';
import { parseCidr } from '../../shared/config/cidr.ts';
import type { CarrierConfig } from '../../shared/config/config-types.ts';
import { CarrierMatcher } from './carrier-matcher.ts';

function carrier(id: string, sources: string[]): CarrierConfig {
  return { id, sources: sources.map(parseCidr), selection: 'round-robin' };
}

describe('CarrierMatcher', () => {
  const m = new CarrierMatcher([carrier('wide', ['10.0.0.0/8', '2001:db8::/32']), carrier('gw', ['10.1.2.3']), carrier('other', ['192.0.2.0/24'])]);

  it('matches a source by CIDR, the longest prefix first', () => {
    expect(m.match('10.9.9.9')?.id).toBe('wide');
    expect(m.match('10.1.2.3')?.id).toBe('gw');
    expect(m.match('192.0.2.77')?.id).toBe('other');
    expect(m.match('2001:db8::5')?.id).toBe('wide');
  });

  it('matches nothing for an unknown source (and caches the miss correctly)', () => {
    expect(m.match('198.51.100.1')).toBeUndefined();
    expect(m.match('198.51.100.1')).toBeUndefined();
    expect(m.size).toBe(3);
  });
});
