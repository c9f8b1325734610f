import { describe, expect, it } from 'vitest';
import { cidrContains, formatIp, parseCidr, parseIp, tryParseCidr } from './cidr.ts';

describe('parseIp / formatIp', () => {
  it('parses IPv4 strictly', () => {
    expect(parseIp('10.1.2.3')).toEqual({ family: 4, value: 0x0a010203n });
    for (const bad of ['10.1.2', '10.1.2.3.4', '256.1.1.1', '010.1.1.1', '1.2.3.-1', '', 'a.b.c.d']) expect(parseIp(bad), bad).toBeUndefined();
  });

  it('parses IPv6 forms and prints them canonically (RFC 5952)', () => {
    expect(formatIp(parseIp('2001:0DB8:0:0:0:0:0:1')!)).toBe('2001:db8::1');
    expect(formatIp(parseIp('::')!)).toBe('::');
    expect(formatIp(parseIp('::1')!)).toBe('::1');
    expect(formatIp(parseIp('1:0:0:2:0:0:0:3')!)).toBe('1:0:0:2::3');
    expect(formatIp(parseIp('::ffff:10.1.2.3')!)).toBe('::ffff:a01:203');
    for (const bad of ['1::2::3', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '12345::', '1.2.3.4::', 'fe80::1%eth0', ':1:2:3:4:5:6:7']) {
      expect(parseIp(bad), bad).toBeUndefined();
    }
  });
});

describe('parseCidr', () => {
  it('parses blocks and bare addresses', () => {
    expect(parseCidr('10.0.0.0/8')).toEqual({ family: 4, network: '10.0.0.0', prefix: 8, text: '10.0.0.0/8' });
    expect(parseCidr('10.1.2.3')).toMatchObject({ prefix: 32, text: '10.1.2.3/32' });
    expect(parseCidr('2001:db8::/32')).toMatchObject({ family: 6, prefix: 32, text: '2001:db8::/32' });
    expect(parseCidr('::1')).toMatchObject({ family: 6, prefix: 128 });
    expect(parseCidr('0.0.0.0/0').text).toBe('0.0.0.0/0');
  });

  it('rejects bad prefixes, host bits and non-addresses', () => {
    expect(tryParseCidr('10.0.0.0/33')).toMatch(/prefix length must be from 0 to 32/);
    expect(tryParseCidr('2001:db8::/129')).toMatch(/from 0 to 128/);
    expect(tryParseCidr('10.0.0.0/08')).toMatch(/prefix length/);
    expect(tryParseCidr('10.0.0.0/')).toMatch(/prefix length/);
    expect(tryParseCidr('10.1.2.3/8')).toMatch(/host bits set.*10\.0\.0\.0\/8/);
    expect(tryParseCidr('example.com/8')).toMatch(/IPv4 or IPv6/);
    expect(() => parseCidr('300.0.0.0/8')).toThrow(expect.objectContaining({ code: 'CFG_ERR_INVALID' }));
  });
});

describe('cidrContains', () => {
  it('matches IPv4', () => {
    const net = parseCidr('10.1.0.0/16');
    expect(cidrContains(net, '10.1.255.7')).toBe(true);
    expect(cidrContains(net, '10.2.0.1')).toBe(false);
    expect(cidrContains(parseCidr('0.0.0.0/0'), '203.0.113.9')).toBe(true);
    expect(cidrContains(parseCidr('10.1.2.3'), '10.1.2.3')).toBe(true);
    expect(cidrContains(parseCidr('10.1.2.3'), '10.1.2.4')).toBe(false);
  });

  it('matches IPv6, ignoring a zone id', () => {
    const net = parseCidr('2001:db8::/32');
    expect(cidrContains(net, '2001:db8:ffff::1')).toBe(true);
    expect(cidrContains(net, '2001:db9::1')).toBe(false);
    expect(cidrContains(parseCidr('fe80::/10'), 'fe80::1%eth0')).toBe(true);
  });

  it('treats IPv4-mapped IPv6 as IPv4 and never matches across families otherwise', () => {
    expect(cidrContains(parseCidr('127.0.0.0/8'), '::ffff:127.0.0.1')).toBe(true);
    expect(cidrContains(parseCidr('::ffff:0:0/96'), '10.0.0.1')).toBe(true);
    expect(cidrContains(parseCidr('127.0.0.0/8'), '::1')).toBe(false);
    expect(cidrContains(parseCidr('::/0'), '10.0.0.1')).toBe(true);
  });

  it('never matches garbage, and works on a JSON round-tripped block', () => {
    expect(cidrContains(parseCidr('0.0.0.0/0'), 'not-an-ip')).toBe(false);
    const copy = JSON.parse(JSON.stringify(parseCidr('192.168.0.0/24')));
    expect(cidrContains(copy, '192.168.0.200')).toBe(true);
    expect(cidrContains(copy, '192.168.1.1')).toBe(false);
    expect(cidrContains({ family: 4, network: 'junk', prefix: 0, text: 'junk' }, '255.255.255.255')).toBe(false);
  });
});
