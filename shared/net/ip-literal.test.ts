import { isIP } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ipLiteralFamily } from './ip-literal.ts';

describe('ipLiteralFamily', () => {
  it.each([
    ['127.0.0.1', 4],
    ['0.0.0.0', 4],
    ['255.255.255.255', 4],
    ['256.1.1.1', 0],
    ['01.2.3.4', 0],
    ['1.2.3', 0],
    ['1.2.3.4.5', 0],
    ['1.2.3.', 0],
    ['::1', 6],
    ['2001:db8::10', 6],
    ['::ffff:192.0.2.1', 6],
    ['fe80::1%eth0', 6],
    ['switch-1.example.net', 0],
    ['abc', 0],
    ['', 0],
    ['dead:beef:zz::', 0],
  ] as const)('%s → %d, as net.isIP says', (s, family) => {
    expect(ipLiteralFamily(s)).toBe(family);
    expect(ipLiteralFamily(s)).toBe(isIP(s));
  });

  it('agrees with net.isIP on generated addresses and near-misses', () => {
    const octet = fc.oneof(fc.integer({ min: 0, max: 300 }).map(String), fc.constantFrom('00', '01', '', 'a'));
    const v4 = fc.array(octet, { minLength: 2, maxLength: 5 }).map((o) => o.join('.'));
    const v6 = fc.ipV6();
    const junk = fc.string({ unit: fc.constantFrom('1', '2', 'a', 'f', 'g', ':', '.', 'x', '-', '%') , maxLength: 20 });
    fc.assert(fc.property(fc.oneof(v4, v6, fc.ipV4(), junk), (s) => ipLiteralFamily(s) === isIP(s)), { numRuns: 5000 });
  });
});
