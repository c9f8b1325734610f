import { describe, expect, it } from 'vitest';
import { SipParseError } from '../errors.ts';
import { BRANCH_MAGIC_COOKIE, formatVia, parseVia } from './via.ts';

function fails(text: string, re: RegExp): void {
  let err: unknown;
  try {
    parseVia(text);
  } catch (e) {
    err = e;
  }
  expect(err, text).toBeInstanceOf(SipParseError);
  expect((err as SipParseError).status).toBe(400);
  expect((err as SipParseError).message).toMatch(/^Via: /);
  expect((err as SipParseError).message).toMatch(re);
}

describe('parseVia', () => {
  it('parses transport, sent-by and the well-known params', () => {
    const v = parseVia('SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;received=198.51.100.3;rport=5062;ttl=16');
    expect(v).toMatchObject({
      transport: 'UDP',
      host: '192.0.2.1',
      port: 5060,
      branch: 'z9hG4bK776asdhds',
      received: '198.51.100.3',
      rport: 5062,
    });
    expect([...v.params.keys()]).toEqual(['branch', 'received', 'rport', 'ttl']);
    expect(v.branch?.startsWith(BRANCH_MAGIC_COOKIE)).toBe(true);
  });

  it('distinguishes rport absent / flag / value (RFC 3581)', () => {
    expect(parseVia('SIP/2.0/UDP h;branch=z9hG4bK1').rport).toBeUndefined();
    expect(parseVia('SIP/2.0/UDP h;rport;branch=z9hG4bK1').rport).toBeNull();
    expect(parseVia('SIP/2.0/UDP h;rport=0;branch=z9hG4bK1').rport).toBe(0);
    expect(parseVia('SIP/2.0/UDP h;rport=65535').rport).toBe(65535);
  });

  it('allows LWS around the slashes, ; and = (RFC 4475 wsinv)', () => {
    const v = parseVia('SIP  /   2.0 /UDP    192.0.2.2 ;  branch  =   z9hG4bK30239 ; rport');
    expect(v).toMatchObject({ transport: 'UDP', host: '192.0.2.2', port: undefined, branch: 'z9hG4bK30239', rport: null });
  });

  it('upper-cases the transport and accepts unknown ones; the protocol name is case-insensitive', () => {
    expect(parseVia('sip/2.0/tls h.example.com').transport).toBe('TLS');
    expect(parseVia('SIP/2.0/UNKNOWN h.example.com').transport).toBe('UNKNOWN');
    expect(parseVia('SIP/2.0/WSS abc.invalid;branch=z9hG4bK1').transport).toBe('WSS');
  });

  it('parses IPv6 sent-by and received with or without brackets (RFC 5118)', () => {
    expect(parseVia('SIP/2.0/UDP [2001:db8::9:1]:6050;branch=z9hG4bK1')).toMatchObject({ host: '[2001:db8::9:1]', port: 6050 });
    expect(parseVia('SIP/2.0/UDP [2001:db8::9:1];received=[2001:db8::9:255]').received).toBe('[2001:db8::9:255]');
    expect(parseVia('SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255;branch=z9hG4bKas3').received).toBe('2001:db8::9:255');
  });

  it('keeps a branch that is only the magic cookie (RFC 4475 badbranch)', () => {
    expect(parseVia('SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK').branch).toBe('z9hG4bK');
  });

  it('keeps quoted param values with their quotes', () => {
    expect(parseVia('SIP/2.0/UDP h;x="a;b,c"').params.get('x')).toBe('"a;b,c"');
  });

  it.each([
    ['', /missing protocol name/],
    ['SIP/2.0/UDP', /missing sent-by/],
    ['SIP/2.0/UDP ;branch=x', /missing sent-by/],
    ['SIP/2.0 UDP h', /sent-protocol/],
    ['SIP/2.0/ h', /missing sent-by/],
    ['SIP/2.0/ ;branch=x', /missing transport/],
    ['SIP/3.0/UDP h', /unsupported protocol/],
    ['XMPP/2.0/UDP h', /unsupported protocol/],
    ['SIP/2.0/UDP h;branch', /empty branch/],
    ['SIP/2.0/UDP h;received', /empty received/],
    ['SIP/2.0/UDP h;rport=abc', /invalid rport/],
    ['SIP/2.0/UDP h;rport=65536', /invalid rport/],
    ['SIP/2.0/UDP h;;branch=z9hG4bK1', /empty parameter/],
    ['SIP/2.0/UDP 192.0.2.15;;', /empty parameter/],
    ['SIP/2.0/UDP h x', /parameters/],
    ['SIP/2.0/UDP h:99999', /port out of range/],
    ['SIP/2.0/UDP h:123456', /invalid port/],
    ['SIP/2.0/UDP bad_host', /invalid host/],
  ])('rejects %j', (text, re) => {
    fails(text, re);
  });
});

describe('formatVia', () => {
  it('writes a canonical Via value that parses back to the same thing', () => {
    const text = 'SIP/2.0/TCP [2001:db8::1]:5061;branch=z9hG4bKx;rport;received=192.0.2.9';
    const v = parseVia(text);
    expect(formatVia(v)).toBe(text);
    expect(parseVia(formatVia(v))).toEqual(v);
  });

  it('normalises LWS', () => {
    expect(formatVia(parseVia('SIP / 2.0 / udp  h.example.com ; branch = z9hG4bK1'))).toBe('SIP/2.0/UDP h.example.com;branch=z9hG4bK1');
  });
});
