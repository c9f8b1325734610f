import { describe, expect, it } from 'vitest';
import { SipParseError } from '../errors.ts';
import { bareHost, formatUri, isSipUri, parseHostPort, parseUri, type SipUri } from './uri.ts';

function sip(text: string): SipUri {
  const u = parseUri(text);
  if (!isSipUri(u)) throw new Error(`not sip: ${text}`);
  return u;
}

function fails(text: string, re: RegExp, context = 'URI'): void {
  let err: unknown;
  try {
    parseUri(text, context);
  } catch (e) {
    err = e;
  }
  expect(err, text).toBeInstanceOf(SipParseError);
  expect((err as SipParseError).status).toBe(400);
  expect((err as SipParseError).message).toMatch(re);
  expect((err as SipParseError).message.startsWith(`${context}: `)).toBe(true);
}

describe('parseUri: SIP and SIPS', () => {
  it('parses user, password, host, port, params and headers', () => {
    expect(sip('sip:alice:secret@example.com:5070;transport=tcp;lr?Subject=hi&Priority=urgent')).toEqual({
      scheme: 'sip',
      user: 'alice',
      password: 'secret',
      host: 'example.com',
      port: 5070,
      params: new Map([['transport', 'tcp'], ['lr', null]]),
      headers: 'Subject=hi&Priority=urgent',
    });
  });

  it('parses a bare host, and lower-cases the scheme', () => {
    expect(sip('SIPS:Example.COM')).toMatchObject({ scheme: 'sips', user: undefined, password: undefined, host: 'Example.COM', port: undefined, headers: undefined });
    expect(sip('sip:192.0.2.1').host).toBe('192.0.2.1');
  });

  it('keeps escapes as written and allows ; ? in the user part', () => {
    expect(sip('sip:user;par=u%40example.net@example.com')).toMatchObject({ user: 'user;par=u%40example.net', host: 'example.com' });
    expect(sip('sip:a?b@example.com')).toMatchObject({ user: 'a?b', host: 'example.com', headers: undefined });
    expect(sip('sip:%61lice@example.com').user).toBe('%61lice');
  });

  it('lower-cases param names but keeps their values', () => {
    expect([...sip('sip:h.example.com;Transport=TCP;MADDR=Foo').params]).toEqual([['transport', 'TCP'], ['maddr', 'Foo']]);
  });

  it('handles IPv6 references, with and without port (RFC 5118)', () => {
    expect(sip('sip:[2001:db8::10]')).toMatchObject({ host: '[2001:db8::10]', port: undefined });
    expect(sip('sip:[2001:db8::10]:5070')).toMatchObject({ host: '[2001:db8::10]', port: 5070 });
    expect(sip('sip:[2001:db8::10:5070]')).toMatchObject({ host: '[2001:db8::10:5070]', port: undefined });
    expect(sip('sip:u@[::ffff:192.0.2.2];transport=udp')).toMatchObject({ user: 'u', host: '[::ffff:192.0.2.2]' });
    expect(sip('sip:u@[2001:db8:::192.0.2.1]').host).toBe('[2001:db8:::192.0.2.1]');
  });

  it.each([
    ['sip:2001:db8::10', /invalid port/],
    ['sip:[2001:db8::10', /IPv6/],
    ['sip:[]', /IPv6/],
    ['sip:[12345]', /IPv6/],
    ['sip:[2001:db8::g]', /IPv6/],
    ['sip:host:', /invalid port/],
    ['sip:host:123456', /invalid port/],
    ['sip:host:65536', /port out of range/],
    ['sip:host:5a', /invalid port/],
    ['sip:', /empty host/],
    ['sip:user@', /empty host/],
    ['sip:@host', /empty user/],
    ['sip:ho_st', /invalid host/],
    ['sip:user@exa mple.com', /invalid character/],
    ['sip:<user@example.com>', /invalid character/],
    ['sip:user@example.com;;lr', /empty parameter/],
    ['example.com', /missing scheme/],
    ['<sip:user@example.com>', /missing scheme/],
    ['1sip:x', /missing scheme/],
    ['tel:', /empty URI/],
  ])('rejects %j', (text, re) => {
    fails(text, re);
  });

  it('names the context in errors', () => {
    fails('sip:2001:db8::10', /^Request-URI: /, 'Request-URI');
  });

  it('accepts port 0 and 65535', () => {
    expect(sip('sip:h:0').port).toBe(0);
    expect(sip('sip:h:65535').port).toBe(65535);
  });
});

describe('parseUri: other schemes', () => {
  it('keeps everything after the scheme opaque', () => {
    expect(parseUri('tel:+1-201-555-0123;phone-context=example.com')).toEqual({ scheme: 'tel', opaque: '+1-201-555-0123;phone-context=example.com' });
    expect(parseUri('soap.beep://192.0.2.103:3002')).toEqual({ scheme: 'soap.beep', opaque: '//192.0.2.103:3002' });
    expect(parseUri('urn:service:sos')).toEqual({ scheme: 'urn', opaque: 'service:sos' });
    expect(isSipUri(parseUri('sipx:foo'))).toBe(false);
  });
});

describe('formatUri', () => {
  it.each([
    'sip:alice@example.com',
    'sips:alice:pw@example.com:5061;transport=tls?Subject=x',
    'sip:[2001:db8::1]:5060;lr',
    'sip:example.com;lr;maddr=192.0.2.1',
    'tel:+12125550199',
  ])('round-trips %j', (text) => {
    expect(formatUri(parseUri(text))).toBe(text);
  });

  it('writes a modified URI', () => {
    const u = sip('sip:alice@example.com');
    u.port = 5080;
    u.params = new Map([...u.params, ['transport', 'tcp']]);
    expect(formatUri(u)).toBe('sip:alice@example.com:5080;transport=tcp');
  });
});

describe('parseHostPort / bareHost', () => {
  it('splits host and port', () => {
    expect(parseHostPort('example.com:5060', 'Via')).toEqual({ host: 'example.com', port: 5060 });
    expect(parseHostPort('[::1]:5060', 'Via')).toEqual({ host: '[::1]', port: 5060 });
    expect(parseHostPort('[::1]', 'Via')).toEqual({ host: '[::1]', port: undefined });
    expect(() => parseHostPort('[::1]x', 'Via')).toThrow(/Via: invalid port/);
  });

  it('strips IPv6 brackets for sockets', () => {
    expect(bareHost('[2001:db8::1]')).toBe('2001:db8::1');
    expect(bareHost('192.0.2.1')).toBe('192.0.2.1');
    expect(bareHost('example.com')).toBe('example.com');
  });
});
