import { describe, expect, it } from 'vitest';
import { SipParseError } from '../errors.ts';
import { formatNameAddr, parseNameAddr } from './name-addr.ts';
import { latin1ToUtf8, unquote } from './syntax.ts';

function fails(text: string, header: string, re: RegExp): void {
  let err: unknown;
  try {
    parseNameAddr(text, header);
  } catch (e) {
    err = e;
  }
  expect(err, text).toBeInstanceOf(SipParseError);
  expect((err as SipParseError).status).toBe(400);
  expect((err as SipParseError).message.startsWith(`${header}: `)).toBe(true);
  expect((err as SipParseError).message).toMatch(re);
}

describe('parseNameAddr', () => {
  it('parses a quoted display name, bracketed URI and header params', () => {
    const na = parseNameAddr('"Alice \\"A\\" Smith" <sip:alice@example.com;transport=tcp>;tag=1928301774;x', 'From');
    expect(na).toEqual({
      displayName: '"Alice \\"A\\" Smith"',
      uri: 'sip:alice@example.com;transport=tcp',
      bracketed: true,
      params: new Map([['tag', '1928301774'], ['x', null]]),
    });
    expect(unquote(na.displayName ?? '')).toBe('Alice "A" Smith');
  });

  it('parses token display names, with or without LWS before < (RFC 4475 lwsdisp)', () => {
    expect(parseNameAddr('Bob Smith <sip:bob@example.com>', 'To').displayName).toBe('Bob Smith');
    expect(parseNameAddr('caller<sip:caller@example.com>;tag=323', 'From')).toMatchObject({ displayName: 'caller', uri: 'sip:caller@example.com' });
    expect(parseNameAddr('<sip:bob@example.com>', 'To').displayName).toBeUndefined();
    expect(parseNameAddr('  <sip:bob@example.com>  ', 'To').uri).toBe('sip:bob@example.com');
  });

  it('treats params after a bare addr-spec as header params (RFC 4475 cparam01)', () => {
    expect(parseNameAddr('sip:+19725552222@gw1.example.net;unknownparam', 'Contact')).toEqual({
      displayName: undefined,
      uri: 'sip:+19725552222@gw1.example.net',
      bracketed: false,
      params: new Map([['unknownparam', null]]),
    });
    expect(parseNameAddr('<sip:+19725552222@gw1.example.net;unknownparam>', 'Contact').params.size).toBe(0);
  });

  it('a < inside a quoted header param of a bare addr-spec is not a name-addr (RFC 5626 +sip.instance)', () => {
    const na = parseNameAddr('sip:alice@192.0.2.1;+sip.instance="<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>";reg-id=1', 'Contact');
    expect(na).toEqual({
      displayName: undefined,
      uri: 'sip:alice@192.0.2.1',
      bracketed: false,
      params: new Map([['+sip.instance', '"<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>"'], ['reg-id', '1']]),
    });
    expect(parseNameAddr('sip:0.0.0.0;x-a="<"', 'To').params.get('x-a')).toBe('"<"');
  });

  it('keeps ?headers inside <> (RFC 4475 regescrt)', () => {
    expect(parseNameAddr('<sip:user@example.com?Route=%3Csip:sip.example.com%3E>', 'Contact').uri).toBe('sip:user@example.com?Route=%3Csip:sip.example.com%3E');
  });

  it('accepts any scheme', () => {
    expect(parseNameAddr('<http://www.example.com>;tag=3234233', 'From').uri).toBe('http://www.example.com');
    expect(parseNameAddr('isbn:2983792873', 'To').uri).toBe('isbn:2983792873');
  });

  it('keeps quoted NUL / control characters and UTF-8 bytes of display names', () => {
    const na = parseNameAddr('"BEL:\\\x07 NUL:\\\x00" <sip:x@example.com>', 'To');
    expect(na.displayName).toBe('"BEL:\\\x07 NUL:\\\x00"');
    const utf8 = Buffer.from('"Jürgen" <sip:j@example.com>', 'utf8').toString('latin1');
    expect(latin1ToUtf8(parseNameAddr(utf8, 'From').displayName ?? '')).toBe('"Jürgen"');
  });

  it.each([
    ['', /empty value/],
    ['   ', /empty value/],
    ['"Mr. J. User <sip:j.user@example.com>', /unterminated quote/],
    ['"Quoted" sip:x@example.com', /expected < after display name/],
    ['Bell, Alexander <sip:a.g.bell@example.com>;tag=43', /invalid display name/],
    ['J@ne <sip:x@example.com>', /invalid display name/],
    ['<sip:x@example.com', /missing >/],
    ['< sip:t.watson@example.org >', /whitespace inside <>/],
    ['<>', /whitespace inside <>|missing URI scheme/],
    ['<example.com>', /missing URI scheme/],
    ['example.com;tag=1', /missing URI scheme/],
    ['sip:user@example.com?Route=%3Csip:sip.example.com%3E', /inside <>/],
    ['<sip:x@example.com>;;tag=1', /empty parameter/],
    ['<sip:x@example.com> junk', /parameters/],
  ])('rejects %j', (text, re) => {
    fails(text, 'Contact', re);
  });
});

describe('formatNameAddr', () => {
  it('always writes <> so URI params and header params stay apart', () => {
    expect(formatNameAddr(parseNameAddr('sip:a@example.com;unknownparam', 'Contact'))).toBe('<sip:a@example.com>;unknownparam');
    expect(formatNameAddr(parseNameAddr('"A" <sip:a@example.com;lr>;tag=x', 'From'))).toBe('"A" <sip:a@example.com;lr>;tag=x');
    expect(formatNameAddr(parseNameAddr('Bob <sip:b@example.com>', 'To'))).toBe('Bob <sip:b@example.com>');
  });

  it('round-trips through parseNameAddr', () => {
    const na = parseNameAddr('"Q" <sip:q@example.com>;expires=60;q=0.5', 'Contact');
    expect(parseNameAddr(formatNameAddr(na), 'Contact')).toEqual(na);
  });
});
