/**
 * SipMessage / parseMessage / serializeMessage: header access and mutation, cache invalidation,
 * Content-Length on serialize, limits, start lines.
 */
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, SipParseError } from '../errors.ts';
import { DEFAULT_LIMITS, type ParseLimits } from './limits.ts';
import { parseAuthParams, SipRequest, SipResponse, type SipMessage } from './message.ts';
import { parseMessage } from './parse.ts';
import { serializeMessage } from './serialize.ts';

const CRLF = '\r\n';

function msg(lines: string[], body = ''): Buffer {
  return Buffer.from(lines.join(CRLF) + CRLF + CRLF + body, 'latin1');
}

const BASE = [
  'INVITE sip:bob@example.com SIP/2.0',
  'Via: SIP/2.0/UDP top.example.com;branch=z9hG4bKtop, SIP/2.0/TCP second.example.com:5070;branch=z9hG4bKsecond',
  'Via: SIP/2.0/UDP third.example.com;branch=z9hG4bKthird',
  'Max-Forwards: 70',
  'From: "Alice" <sip:alice@example.com>;tag=a1',
  'To: <sip:bob@example.com>',
  'Call-ID: call-1@example.com',
  'CSeq: 1 INVITE',
  'Contact: <sip:alice@192.0.2.1>',
  'Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>',
  'Content-Type: application/sdp',
];

function base(body = 'v=0\r\n'): SipMessage {
  return parseMessage(msg([...BASE, `Content-Length: ${body.length}`], body));
}

function parseError(fn: () => unknown): SipParseError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SipParseError);
    return err as SipParseError;
  }
  throw new Error('expected a SipParseError');
}

function text(m: SipMessage): string {
  return serializeMessage(m).toString('latin1');
}

describe('header access', () => {
  it('looks headers up by long-form lower-case key, compact forms included', () => {
    const m = parseMessage(
      msg([
        'OPTIONS sip:x@example.com SIP/2.0',
        'v: SIP/2.0/UDP h.example.com;branch=z9hG4bK1',
        'f: <sip:a@example.com>;tag=1',
        't: <sip:x@example.com>',
        'i: abc',
        'CSEQ: 2 OPTIONS',
        'm: <sip:a@192.0.2.1>',
        'k: path, timer',
        'l: 0',
      ]),
    );
    expect(m.get('via')).toBe('SIP/2.0/UDP h.example.com;branch=z9hG4bK1');
    expect(m.callId).toBe('abc');
    expect(m.fromTag).toBe('1');
    expect(m.cseq).toEqual({ seq: 2, method: 'OPTIONS' });
    expect(m.values('supported')).toEqual(['path', 'timer']);
    expect(m.headers.map((h) => h.key)).toEqual(['via', 'from', 'to', 'call-id', 'cseq', 'contact', 'supported', 'content-length']);
    expect(m.has('content-length')).toBe(true);
    expect(m.has('record-route')).toBe(false);
    expect(m.get('nope')).toBeUndefined();
  });

  it('getAll returns one entry per line; values splits commas across lines', () => {
    const m = base();
    expect(m.getAll('via')).toHaveLength(2);
    expect(m.values('via')).toEqual([
      'SIP/2.0/UDP top.example.com;branch=z9hG4bKtop',
      'SIP/2.0/TCP second.example.com:5070;branch=z9hG4bKsecond',
      'SIP/2.0/UDP third.example.com;branch=z9hG4bKthird',
    ]);
    expect(m.vias().map((v) => v.host)).toEqual(['top.example.com', 'second.example.com', 'third.example.com']);
    expect(m.routes().map((r) => r.uri)).toEqual(['sip:p1.example.com;lr', 'sip:p2.example.com;lr']);
  });

  it('does not split on commas inside quotes or <>', () => {
    const m = parseMessage(
      msg([
        'REGISTER sip:example.com SIP/2.0',
        'Via: SIP/2.0/UDP h;branch=z9hG4bK1',
        'From: <sip:a@example.com>;tag=1',
        'To: <sip:a@example.com>',
        'Call-ID: c',
        'CSeq: 1 REGISTER',
        'Contact: "Doe, John" <sip:a@192.0.2.1;x=1,y>;expires=60, <sip:b@192.0.2.2>;q=0.5',
        'Content-Length: 0',
      ]),
    );
    const contacts = m.contacts();
    expect(contacts).not.toBe('*');
    if (contacts === '*') return;
    expect(contacts.map((c) => [c.displayName, c.uri, c.expires, c.q])).toEqual([
      ['"Doe, John"', 'sip:a@192.0.2.1;x=1,y', 60, undefined],
      [undefined, 'sip:b@192.0.2.2', undefined, 0.5],
    ]);
  });

  it('recognises the Contact: * wildcard', () => {
    const m = parseMessage(
      msg([
        'REGISTER sip:example.com SIP/2.0',
        'Via: SIP/2.0/UDP h;branch=z9hG4bK1',
        'From: <sip:a@example.com>;tag=1',
        'To: <sip:a@example.com>',
        'Call-ID: c',
        'CSeq: 1 REGISTER',
        'Contact: *',
        'Expires: 0',
        'Content-Length: 0',
      ]),
    );
    expect(m.contacts()).toBe('*');
    expect(m.expires).toBe(0);
  });

  it('rejects an empty value in a list with a SipParseError naming the header', () => {
    const m = parseMessage(msg([...BASE.slice(0, 9), 'Route: <sip:p1.example.com;lr>, ,<sip:p2>', 'Content-Length: 0']));
    const err = parseError(() => m.routes());
    expect(err.message).toMatch(/Route/);
  });
});

describe('header mutation', () => {
  it('removeFirstValue on a line with two Via values removes the top value only', () => {
    const m = base();
    expect(m.via.host).toBe('top.example.com');
    const removed = m.removeFirstValue('via');
    expect(removed).toBe('SIP/2.0/UDP top.example.com;branch=z9hG4bKtop');
    expect(m.getAll('via')).toEqual([
      'SIP/2.0/TCP second.example.com:5070;branch=z9hG4bKsecond',
      'SIP/2.0/UDP third.example.com;branch=z9hG4bKthird',
    ]);
    expect(m.via.host).toBe('second.example.com');
    expect(m.via.port).toBe(5070);
    expect(m.vias().map((v) => v.host)).toEqual(['second.example.com', 'third.example.com']);
    // The rewritten line keeps its position; the untouched one keeps its bytes.
    const out = text(m);
    expect(out).toContain(
      'SIP/2.0\r\nVia: SIP/2.0/TCP second.example.com:5070;branch=z9hG4bKsecond\r\nVia: SIP/2.0/UDP third.example.com;branch=z9hG4bKthird\r\nMax-Forwards: 70\r\n',
    );
  });

  it('removeFirstValue on a single-value line removes the whole line', () => {
    const m = base();
    m.removeFirstValue('via');
    expect(m.removeFirstValue('via')).toBe('SIP/2.0/TCP second.example.com:5070;branch=z9hG4bKsecond');
    expect(m.vias().map((v) => v.host)).toEqual(['third.example.com']);
    expect(m.removeFirstValue('via')).toBe('SIP/2.0/UDP third.example.com;branch=z9hG4bKthird');
    expect(m.getAll('via')).toEqual([]);
    expect(m.vias()).toEqual([]);
    expect(parseError(() => m.via).message).toMatch(/Via/);
    expect(m.removeFirstValue('via')).toBeUndefined();
  });

  it('removeFirstValue keeps the other values byte for byte (UTF-8 included)', () => {
    const m = parseMessage(
      msg([
        'OPTIONS sip:x@example.com SIP/2.0',
        // 0xC3 0xA0 is "à" in UTF-8; 0xA0 must survive (String#trim would eat it).
        'Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/UDP b.example.com;branch=z9hG4bK2;x=\xC3\xA0',
        'From: <sip:a@example.com>;tag=1',
        'To: <sip:x@example.com>',
        'Call-ID: c',
        'CSeq: 1 OPTIONS',
        'Content-Length: 0',
      ]),
    );
    m.removeFirstValue('via');
    expect(m.get('via')).toBe('SIP/2.0/UDP b.example.com;branch=z9hG4bK2;x=\xC3\xA0');
    expect(m.via.params.get('x')).toBe('\xC3\xA0');
    expect(serializeMessage(m).includes(Buffer.from([0x3d, 0xc3, 0xa0, 0x0d, 0x0a]))).toBe(true);
  });

  it('removeFirstValue leaves the rest of the line as written and skips commas in quotes and <>', () => {
    const m = parseMessage(
      msg([
        'OPTIONS sip:x@example.com SIP/2.0',
        'Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1;x="p,q" ,SIP/2.0/UDP b.example.com;branch=z9hG4bK2 ,  SIP/2.0/UDP c.example.com',
        'Route: <sip:p1.example.com;lr;y=a,b>  ,<sip:p2.example.com;lr>',
        'From: <sip:a@example.com>;tag=1',
        'To: <sip:x@example.com>',
        'Call-ID: c',
        'CSeq: 1 OPTIONS',
        'Content-Length: 0',
      ]),
    );
    expect(m.via.params.get('x')).toBe('"p,q"');
    expect(m.removeFirstValue('via')).toBe('SIP/2.0/UDP a.example.com;branch=z9hG4bK1;x="p,q"');
    expect(m.get('via')).toBe('SIP/2.0/UDP b.example.com;branch=z9hG4bK2 ,  SIP/2.0/UDP c.example.com');
    expect(m.via.host).toBe('b.example.com');
    expect(m.removeFirstValue('route')).toBe('<sip:p1.example.com;lr;y=a,b>');
    expect(m.get('route')).toBe('<sip:p2.example.com;lr>');
    expect(text(m)).toContain('\r\nVia: SIP/2.0/UDP b.example.com;branch=z9hG4bK2 ,  SIP/2.0/UDP c.example.com\r\nRoute: <sip:p2.example.com;lr>\r\n');
  });

  it('removeFirstValue drops a line that only a trailing comma would keep', () => {
    const m = parseMessage(
      msg([
        'OPTIONS sip:x@example.com SIP/2.0',
        'Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1 , ',
        'Via: SIP/2.0/UDP b.example.com;branch=z9hG4bK2',
        'From: <sip:a@example.com>;tag=1',
        'To: <sip:x@example.com>',
        'Call-ID: c',
        'CSeq: 1 OPTIONS',
      ]),
    );
    expect(m.via.host).toBe('a.example.com');
    expect(m.removeFirstValue('via')).toBe('SIP/2.0/UDP a.example.com;branch=z9hG4bK1');
    expect(m.getAll('via')).toEqual(['SIP/2.0/UDP b.example.com;branch=z9hG4bK2']);
  });

  it('fromTag and toTag follow set() of From and To, read before or after the name-addr', () => {
    const m = base();
    expect(m.fromTag).toBe('a1');
    expect(m.toTag).toBeUndefined();
    m.set('f', '<sip:carol@example.com>;TAG=c3;x');
    expect(m.fromTag).toBe('c3');
    expect(m.from.uri).toBe('sip:carol@example.com');
    m.set('To', '<sip:bob@example.com>;tag=b2');
    expect(m.to.params.get('tag')).toBe('b2');
    expect(m.toTag).toBe('b2');
    m.set('To', '<sip:bob@example.com>;tag');
    expect(m.toTag).toBeUndefined();
    m.set('From', '<sip:carol@example.com>;;tag=c3');
    expect(parseError(() => m.fromTag).message).toBe('From: empty parameter');
  });

  it('removeFirstValue trims the value it returns on both sides, also on a field sipfleet wrote', () => {
    const m = base();
    m.set('Route', ' <sip:p1.example.com;lr> ,<sip:p2.example.com;lr>');
    expect(m.removeFirstValue('route')).toBe('<sip:p1.example.com;lr>');
    expect(m.get('route')).toBe('<sip:p2.example.com;lr>');
  });

  it('an empty top Via value on a comma line is a 400', () => {
    const err = parseError(() =>
      parseMessage(msg(['OPTIONS sip:x@example.com SIP/2.0', 'Via: , SIP/2.0/UDP b.example.com;branch=z9hG4bK2', 'From: <sip:a@example.com>;tag=1', 'To: <sip:x@example.com>', 'Call-ID: c', 'CSeq: 1 OPTIONS'])),
    );
    expect(err.status).toBe(400);
    expect(err.message).toBe('Via: empty value');
  });

  it('setTopVia replaces the top value and keeps the other values of the line', () => {
    const m = base();
    const top = m.via;
    m.setTopVia({ ...top, params: new Map([...top.params, ['received', '198.51.100.7'], ['rport', '5062']]) });
    expect(m.getAll('via')[0]).toBe(
      'SIP/2.0/UDP top.example.com;branch=z9hG4bKtop;received=198.51.100.7;rport=5062, SIP/2.0/TCP second.example.com:5070;branch=z9hG4bKsecond',
    );
    expect(m.via.received).toBe('198.51.100.7');
    expect(m.via.rport).toBe(5062);
    expect(m.vias().map((v) => v.host)).toEqual(['top.example.com', 'second.example.com', 'third.example.com']);
    expect(m.vias()[0].received).toBe('198.51.100.7');
  });

  it('setTopVia on a message without Via is a SipParseError, not a TypeError', () => {
    const m = base();
    m.remove('via');
    expect(parseError(() => m.setTopVia({ transport: 'UDP', host: 'h', port: undefined, params: new Map(), branch: undefined, received: undefined, rport: undefined })).message).toMatch(/Via/);
  });

  it('prepend puts a field above the first field of the same name', () => {
    const m = base();
    void m.vias();
    m.prepend('Via', 'SIP/2.0/UDP proxy.example.net;branch=z9hG4bKproxy');
    expect(m.headers[0].value).toBe('SIP/2.0/UDP proxy.example.net;branch=z9hG4bKproxy');
    expect(m.via.host).toBe('proxy.example.net');
    expect(m.vias().map((v) => v.host)).toEqual(['proxy.example.net', 'top.example.com', 'second.example.com', 'third.example.com']);
    m.prepend('Record-Route', '<sip:proxy.example.net;lr>');
    // No Record-Route yet: goes to the very top.
    expect(m.headers[0].key).toBe('record-route');
    expect(text(m).startsWith('INVITE sip:bob@example.com SIP/2.0\r\nRecord-Route: <sip:proxy.example.net;lr>\r\nVia: SIP/2.0/UDP proxy')).toBe(true);
  });

  it('set replaces every field of the key in place of the first one; append adds at the end', () => {
    const m = base();
    m.set('Route', '<sip:only.example.com;lr>');
    expect(m.getAll('route')).toEqual(['<sip:only.example.com;lr>']);
    const names = m.headers.map((h) => h.key);
    expect(names.indexOf('route')).toBe(BASE.indexOf('Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>') - 1);
    m.set('Via', 'SIP/2.0/UDP new.example.com;branch=z9hG4bKnew');
    expect(m.getAll('via')).toEqual(['SIP/2.0/UDP new.example.com;branch=z9hG4bKnew']);
    expect(m.headers[0].key).toBe('via');
    m.set('X-New', 'first');
    expect(m.headers.at(-1)).toMatchObject({ name: 'X-New', key: 'x-new', value: 'first', raw: undefined });
    m.append('X-New', 'second');
    expect(m.getAll('x-new')).toEqual(['first', 'second']);
    expect(m.remove('x-new')).toBe(2);
    expect(m.remove('x-new')).toBe(0);
  });

  it('invalidates every cached accessor when its header changes', () => {
    const m = base();
    expect(m.via.host).toBe('top.example.com');
    expect(m.vias()).toHaveLength(3);
    expect(m.from.uri).toBe('sip:alice@example.com');
    expect(m.to.uri).toBe('sip:bob@example.com');
    expect(m.callId).toBe('call-1@example.com');
    expect(m.cseq.seq).toBe(1);
    expect(m.maxForwards).toBe(70);
    expect(m.routes()).toHaveLength(2);
    expect(m.recordRoutes()).toHaveLength(0);
    expect(m.contacts()).toHaveLength(1);

    m.set('Via', 'SIP/2.0/TLS v.example.com;branch=z9hG4bKv');
    expect(m.via.transport).toBe('TLS');
    expect(m.vias()).toHaveLength(1);
    m.append('v', 'SIP/2.0/UDP w.example.com;branch=z9hG4bKw');
    expect(m.vias().map((v) => v.host)).toEqual(['v.example.com', 'w.example.com']);
    m.remove('via');
    expect(m.vias()).toEqual([]);

    m.set('From', '<sip:carol@example.com>;tag=c3');
    expect([m.from.uri, m.fromTag]).toEqual(['sip:carol@example.com', 'c3']);
    m.set('t', '<sip:dave@example.com>;tag=d4');
    expect([m.to.uri, m.toTag]).toEqual(['sip:dave@example.com', 'd4']);
    m.set('Call-ID', 'call-2');
    expect(m.callId).toBe('call-2');
    m.set('CSeq', '2 INVITE');
    expect(m.cseq).toEqual({ seq: 2, method: 'INVITE' });
    m.set('Max-Forwards', '69');
    expect(m.maxForwards).toBe(69);
    m.removeFirstValue('route');
    expect(m.routes().map((r) => r.uri)).toEqual(['sip:p2.example.com;lr']);
    m.prepend('Record-Route', '<sip:rr.example.com;lr>');
    expect(m.recordRoutes().map((r) => r.uri)).toEqual(['sip:rr.example.com;lr']);
    m.append('m', '<sip:alice@192.0.2.99>');
    expect(m.contacts()).toHaveLength(2);
    m.remove('max-forwards');
    expect(m.maxForwards).toBeUndefined();
  });

  it('setUri drops the cached Request-URI', () => {
    const m = base() as SipRequest;
    expect(m.requestUri).toMatchObject({ user: 'bob', host: 'example.com' });
    m.setUri('sip:carol@192.0.2.5:5080;transport=tcp');
    expect(m.requestUri).toMatchObject({ user: 'carol', host: '192.0.2.5', port: 5080 });
    expect(text(m).startsWith('INVITE sip:carol@192.0.2.5:5080;transport=tcp SIP/2.0\r\n')).toBe(true);
  });
});

describe('serializeMessage', () => {
  it('writes untouched messages back byte for byte (odd spacing, folding, compact names)', () => {
    const buf = msg(
      [
        'OPTIONS sip:x@example.com SIP/2.0',
        'v :SIP/2.0/UDP h.example.com;branch=z9hG4bK1   ',
        'From:<sip:a@example.com>;tag=1',
        'To: <sip:x@example.com>',
        'Subject: folded',
        '\t  across lines',
        'i:c',
        'CSeq: 1 OPTIONS',
        'l: 0',
      ],
    );
    const m = parseMessage(buf);
    expect(m.get('subject')).toBe('folded across lines');
    expect(m.via.host).toBe('h.example.com');
    expect(serializeMessage(m).equals(buf)).toBe(true);
  });

  it('recomputes Content-Length when the body changed, in place, keeping the name as written', () => {
    const m = parseMessage(msg([...BASE.slice(0, 8), 'l: 5', 'Content-Type: text/plain'], 'hello'));
    m.body = Buffer.from('hello, world');
    const out = text(m);
    expect(out).toContain('\r\nCSeq: 1 INVITE\r\nl: 12\r\nContent-Type: text/plain\r\n\r\nhello, world');
    expect(out.match(/^(l|content-length)\s*:/gim)).toHaveLength(1);
    expect(parseMessage(serializeMessage(m)).body.toString()).toBe('hello, world');
  });

  it('keeps a compact `l:` (and odd spacing) when the value is right', () => {
    const buf = msg([...BASE.slice(0, 8), 'l:    5'], 'hello');
    expect(serializeMessage(parseMessage(buf)).equals(buf)).toBe(true);
    const withZeros = msg([...BASE.slice(0, 8), 'Content-Length: 005'], 'hello');
    expect(serializeMessage(parseMessage(withZeros)).equals(withZeros)).toBe(true);
  });

  it('adds Content-Length when it is missing', () => {
    const m = base();
    m.remove('content-length');
    m.body = Buffer.from('abc');
    const out = text(m);
    expect(out.endsWith('Content-Type: application/sdp\r\nContent-Length: 3\r\n\r\nabc')).toBe(true);
    const empty = base();
    empty.remove('content-length');
    empty.body = Buffer.alloc(0);
    expect(text(empty).endsWith('Content-Length: 0\r\n\r\n')).toBe(true);
  });

  it('writes duplicate (equal) Content-Length headers once', () => {
    const m = parseMessage(msg([...BASE.slice(0, 8), 'Content-Length: 2', 'l: 2'], 'ab'));
    expect(text(m)).toBe(`${BASE.slice(0, 8).join(CRLF)}\r\nContent-Length: 2\r\n\r\nab`);
  });

  it('writes a field copied with a different raw line from that line, not from the received octets', () => {
    const m = base('');
    const i = m.headers.findIndex((h) => h.key === 'max-forwards');
    m.headers[i] = { ...m.headers[i], raw: 'Max-Forwards:   9' };
    m.headers[i + 1] = { ...m.headers[i + 1], value: 'Bob <sip:bob@example.com>', raw: undefined };
    const out = text(m);
    expect(out).toContain('\r\nMax-Forwards:   9\r\nFrom: Bob <sip:bob@example.com>\r\nTo: <sip:bob@example.com>\r\n');
  });

  it('writes changed fields as `Name: value` and leaves the others alone', () => {
    const m = base('');
    m.set('max-forwards', '69');
    const out = text(m);
    expect(out).toContain('\r\nmax-forwards: 69\r\n');
    expect(out).toContain('\r\nFrom: "Alice" <sip:alice@example.com>;tag=a1\r\n');
  });

  it('writes the start line from the fields once they change', () => {
    const buf = msg([...BASE, 'Content-Length: 4'], 'v=0\n');
    const req = parseMessage(buf) as SipRequest;
    req.setUri('sip:carol@example.com');
    expect(text(req).startsWith('INVITE sip:carol@example.com SIP/2.0\r\nVia: ')).toBe(true);
    req.method = 'BYE';
    expect(text(req).startsWith('BYE sip:carol@example.com SIP/2.0\r\n')).toBe(true);
    const res = parseMessage(msg(['SIP/2.0 180 Ringing', ...BASE.slice(1), 'Content-Length: 0'])) as SipResponse;
    res.status = 183;
    res.reason = 'Session Progress';
    expect(text(res).startsWith('SIP/2.0 183 Session Progress\r\n')).toBe(true);
  });

  it('normalises a start line it cannot copy (lower-case version, no reason phrase)', () => {
    const lower = msg(['INVITE sip:bob@example.com sip/2.0', ...BASE.slice(1), 'Content-Length: 0']);
    expect(text(parseMessage(lower)).startsWith('INVITE sip:bob@example.com SIP/2.0\r\n')).toBe(true);
    const bare = msg(['SIP/2.0 200', ...BASE.slice(1), 'Content-Length: 0']);
    expect(text(parseMessage(bare)).startsWith('SIP/2.0 200 \r\n')).toBe(true);
  });

  it('writes a replaced body (new buffer, or a part of the old one) with a matching Content-Length', () => {
    const m = parseMessage(msg([...BASE, 'Content-Length: 10'], '0123456789'));
    m.body = m.body.subarray(2, 6);
    expect(text(m).endsWith('Content-Length: 4\r\n\r\n2345')).toBe(true);
    m.body = Buffer.from('xyz');
    expect(text(m).endsWith('Content-Length: 3\r\n\r\nxyz')).toBe(true);
    m.body = Buffer.alloc(0);
    expect(text(m).endsWith('Content-Length: 0\r\n\r\n')).toBe(true);
  });

  it('serializes responses with their reason phrase', () => {
    const buf = msg([
      'SIP/2.0 486 Busy Here',
      'Via: SIP/2.0/UDP h;branch=z9hG4bK1',
      'From: <sip:a@example.com>;tag=1',
      'To: <sip:b@example.com>;tag=2',
      'Call-ID: c',
      'CSeq: 1 INVITE',
      'Content-Length: 0',
    ]);
    const m = parseMessage(buf);
    expect(m).toBeInstanceOf(SipResponse);
    expect([(m as SipResponse).status, (m as SipResponse).reason]).toEqual([486, 'Busy Here']);
    expect(serializeMessage(m).equals(buf)).toBe(true);
  });
});

describe('parseMessage', () => {
  it('ignores CRLFs before the start line', () => {
    const buf = msg([...BASE, 'Content-Length: 0']);
    const m = parseMessage(Buffer.concat([Buffer.from('\r\n\r\n\r\n'), buf]));
    expect((m as SipRequest).method).toBe('INVITE');
    expect(serializeMessage(m).equals(buf)).toBe(true);
  });

  it('takes the body from Content-Length and ignores extra octets', () => {
    const m = parseMessage(Buffer.concat([msg([...BASE, 'Content-Length: 3'], 'abc'), Buffer.from('garbage')]));
    expect(m.body.toString()).toBe('abc');
  });

  it('parses large messages the same way (header block and body over 4 KB)', () => {
    const body = 'x'.repeat(5000);
    const big = msg([...BASE, `Content-Length: ${body.length}`], body);
    const m = parseMessage(big);
    expect(m.body.toString()).toBe(body);
    expect(serializeMessage(m).equals(big)).toBe(true);
    const extra = Array.from({ length: 120 }, (_, i) => `X-Filler-${i}: ${'f'.repeat(30)}`);
    const bigHead = msg([...BASE, ...extra, 'Content-Length: 2'], 'ok');
    expect(bigHead.indexOf('\r\n\r\n')).toBeGreaterThan(4096);
    const m2 = parseMessage(bigHead);
    expect(m2.get('x-filler-119')).toBe('f'.repeat(30));
    expect(m2.body.toString()).toBe('ok');
    expect(serializeMessage(m2).equals(bigHead)).toBe(true);
    const unterminated = Buffer.from([...BASE, ...extra].join('\r\n') + '\r\n');
    expect(parseMessage(unterminated).get('x-filler-0')).toBe('f'.repeat(30));
  });

  it('takes the rest of the datagram as body when Content-Length is absent', () => {
    const m = parseMessage(msg(BASE, 'rest of it'));
    expect(m.body.toString()).toBe('rest of it');
  });

  it('accepts a CSeq number with more than 10 digits when it is leading zeros', () => {
    const noCseq = BASE.filter((l) => !l.startsWith('CSeq'));
    expect(parseMessage(msg([...noCseq, 'CSeq: 000000000000001 INVITE', 'Content-Length: 0'])).cseq.seq).toBe(1);
    expect(parseError(() => parseMessage(msg([...noCseq, 'CSeq: 000000004294967296 INVITE', 'Content-Length: 0']))).message).toMatch(/out of range/);
    expect(parseError(() => parseMessage(msg([...noCseq, 'CSeq: 36893488147419103232 INVITE', 'Content-Length: 0']))).message).toMatch(/out of range/);
  });

  it('accepts leading zeros (MaX-fOrWaRdS 0068, CSeq 0009)', () => {
    const m = parseMessage(msg(['OPTIONS sip:x@y SIP/2.0', 'Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'f: <sip:a@b>;tag=1', 't: <sip:x@y>', 'i: c', 'cseq: 0009 OPTIONS', 'MaX-fOrWaRdS: 0068', 'l: 0']));
    expect(m.cseq.seq).toBe(9);
    expect(m.maxForwards).toBe(68);
  });

  it.each([
    ['no colon', 'Bogus header line', /colon/],
    ['bad header name', 'Bad Name: x', /header name/],
    ['bad Max-Forwards', 'Max-Forwards: ten', /Max-Forwards/],
    ['bad CSeq', 'CSeq: INVITE 1', /CSeq/],
    ['duplicate Call-ID', 'Call-ID: other', /duplicate Call-ID/],
    ['duplicate From', 'f: <sip:z@example.com>;tag=9', /duplicate From/],
  ])('rejects a message with %s', (_name, extra, re) => {
    const err = parseError(() => parseMessage(msg([...BASE, extra, 'Content-Length: 0'])));
    expect(err.status).toBe(400);
    expect(err.message).toMatch(re);
    expect(err.code).toBe(ERROR_CODES.SIP_ERR_PARSE);
  });

  it.each([
    ['Via', /Via/],
    ['From', /From/],
    ['To', /To/],
    ['Call-ID', /Call-ID/],
    ['CSeq', /CSeq/],
  ])('rejects a message without %s', (name, re) => {
    const lines = [...BASE, 'Content-Length: 0'].filter((l) => !l.startsWith(`${name}:`));
    const err = parseError(() => parseMessage(msg(lines)));
    expect(err.message).toMatch(re);
    expect(err.status).toBe(400);
  });

  it('rejects whitespace in Call-ID and a CSeq above 2**32-1', () => {
    const noCid = BASE.filter((l) => !l.startsWith('Call-ID'));
    expect(parseError(() => parseMessage(msg([...noCid, 'Call-ID: a b', 'Content-Length: 0']))).message).toMatch(/Call-ID/);
    const noCseq = BASE.filter((l) => !l.startsWith('CSeq'));
    expect(parseMessage(msg([...noCseq, 'CSeq: 4294967295 INVITE', 'Content-Length: 0'])).cseq.seq).toBe(4294967295);
    expect(parseError(() => parseMessage(msg([...noCseq, 'CSeq: 4294967296 INVITE', 'Content-Length: 0']))).message).toMatch(/CSeq/);
  });

  it('rejects an unterminated header block, and accepts one that ends on CRLF (UDP, RFC 4475 baddn)', () => {
    const head = [...BASE, 'Content-Length: 0'].join(CRLF);
    expect(parseError(() => parseMessage(Buffer.from(head))).message).toMatch(/not terminated/);
    const m = parseMessage(Buffer.from(head + CRLF));
    expect(m.callId).toBe('call-1@example.com');
    expect(m.body.length).toBe(0);
  });

  it.each([
    ['SIP/2.0 200', 200, ''],
    ['SIP/2.0 180 Ringing', 180, 'Ringing'],
    ['SIP/2.0 699 Whatever you like', 699, 'Whatever you like'],
    ['sip/2.0 200 OK', null, /version/],
    ['SIP/2.0 099 Low', null, /status code/],
    ['SIP/2.0 700 High', null, /status code/],
    ['SIP/2.0 20 Short', null, /status code/],
    ['SIP/2.0 2000 Long', null, /status code/],
    ['SIP/3.0 200 OK', 505, /version/],
  ] as const)('status line %j', (line, status, expected) => {
    const buf = msg([line, ...BASE.slice(1), 'Content-Length: 0']);
    if (typeof expected === 'string') {
      const m = parseMessage(buf) as SipResponse;
      expect([m.status, m.reason]).toEqual([status, expected]);
    } else {
      const err = parseError(() => parseMessage(buf));
      expect(err.message).toMatch(expected);
      if (status !== null) expect(err.status).toBe(status);
    }
  });

  it.each([
    ['INVITE  sip:a@b SIP/2.0', /request line/, 400],
    ['INVITE sip:a@b SIP/2.0 ', /request line/, 400],
    ['INVITE\tsip:a@b SIP/2.0', /request line/, 400],
    ['INVITE sip:a@b', /request line/, 400],
    ['INVITE sip:a@b SIP/2.1', /version/, 505],
    ['INVITE sip:a@b HTTP/1.1', /version/, 400],
    ['INV@TE sip:a@b SIP/2.0', /method/, 400],
    ['INVITE <sip:a@b> SIP/2.0', /Request-URI/, 400],
    ['INVITE sip:a@b?Subject=x SIP/2.0', /Request-URI/, 400],
  ])('request line %j', (line, re, status) => {
    const err = parseError(() => parseMessage(msg([line, ...BASE.slice(1), 'Content-Length: 0'])));
    expect(err.message).toMatch(re);
    expect(err.status).toBe(status);
  });

  it('answers an unknown method with a mismatched CSeq with 501, a known one with 400', () => {
    const lines = [...BASE.slice(1), 'Content-Length: 0'];
    expect(parseError(() => parseMessage(msg(['FOO sip:a@b SIP/2.0', ...lines]))).status).toBe(501);
    expect(parseError(() => parseMessage(msg(['BYE sip:a@b SIP/2.0', ...lines]))).status).toBe(400);
  });

  it('rejects a Content-Length larger than the body (400) and a malformed one (framing)', () => {
    const big = parseError(() => parseMessage(msg([...BASE, 'Content-Length: 10'], 'short')));
    expect([big.status, big.code]).toEqual([400, ERROR_CODES.SIP_ERR_PARSE]);
    expect(big.message).toMatch(/Content-Length/);
    for (const v of ['-1', 'five', '1.5', '', '12345678901']) {
      const err = parseError(() => parseMessage(msg([...BASE, `Content-Length: ${v}`])));
      expect(err.code).toBe(ERROR_CODES.SIP_ERR_FRAMING);
      expect(err.message).toMatch(/Content-Length/);
    }
    const conflict = parseError(() => parseMessage(msg([...BASE, 'Content-Length: 1', 'l: 2'], 'ab')));
    expect(conflict.code).toBe(ERROR_CODES.SIP_ERR_FRAMING);
  });
});

describe('limits', () => {
  const limits = (over: Partial<ParseLimits>): ParseLimits => ({ ...DEFAULT_LIMITS, ...over });

  it('refuses a message over maxMessageBytes with 513 and SIP_ERR_LIMIT', () => {
    const buf = msg([...BASE, 'Content-Length: 0']);
    expect(parseMessage(buf, limits({ maxMessageBytes: buf.length })).callId).toBe('call-1@example.com');
    const err = parseError(() => parseMessage(buf, limits({ maxMessageBytes: buf.length - 1 })));
    expect(err.status).toBe(513);
    expect(err.code).toBe(ERROR_CODES.SIP_ERR_LIMIT);
    const huge = parseError(() => parseMessage(Buffer.alloc(DEFAULT_LIMITS.maxMessageBytes + 1, 0x41)));
    expect([huge.status, huge.code]).toEqual([513, ERROR_CODES.SIP_ERR_LIMIT]);
  });

  it('refuses more than maxHeaders header fields', () => {
    const lines = [...BASE, 'Content-Length: 0'];
    const n = lines.length - 1;
    expect(parseMessage(msg(lines), limits({ maxHeaders: n })).headers).toHaveLength(n);
    const err = parseError(() => parseMessage(msg(lines), limits({ maxHeaders: n - 1 })));
    expect(err.code).toBe(ERROR_CODES.SIP_ERR_LIMIT);
    expect(err.status).toBe(400);
    const many = [...BASE, ...Array.from({ length: 300 }, (_, i) => `X-H${i}: ${i}`), 'Content-Length: 0'];
    expect(parseError(() => parseMessage(msg(many))).code).toBe(ERROR_CODES.SIP_ERR_LIMIT);
  });

  it('refuses a header line or start line longer than maxLineLength', () => {
    const long = `X-Long: ${'a'.repeat(200)}`;
    const lines = [...BASE, long, 'Content-Length: 0'];
    expect(parseMessage(msg(lines), limits({ maxLineLength: long.length })).get('x-long')).toHaveLength(200);
    const err = parseError(() => parseMessage(msg(lines), limits({ maxLineLength: long.length - 1 })));
    expect([err.status, err.code]).toEqual([400, ERROR_CODES.SIP_ERR_LIMIT]);
    const startLine = `INVITE sip:${'u'.repeat(300)}@example.com SIP/2.0`;
    const err2 = parseError(() => parseMessage(msg([startLine, ...BASE.slice(1), 'Content-Length: 0']), limits({ maxLineLength: 100 })));
    expect([err2.status, err2.code]).toEqual([414, ERROR_CODES.SIP_ERR_LIMIT]);
  });

  it('default limits allow RFC 4475 longreq-sized headers (~3.5 KB)', () => {
    const vias = Array.from({ length: 40 }, (_, i) => `Via: SIP/2.0/TCP sip${i}.example.com;branch=z9hG4bK${'x'.repeat(40)}${i}`);
    const m = parseMessage(msg([BASE[0], ...vias, ...BASE.slice(3), 'Content-Length: 0']));
    expect(m.vias()).toHaveLength(40);
  });
});

describe('parseAuthParams / credentials', () => {
  it('parses Digest params, quoted and unquoted, with escapes', () => {
    const cred = parseAuthParams('Digest username="bob", realm="example.com", nonce="a\\"b", uri="sip:x", response="f00", algorithm=MD5, qop=auth, nc=00000001');
    expect(cred.scheme).toBe('Digest');
    expect(Object.fromEntries(cred.params)).toEqual({
      username: 'bob', realm: 'example.com', nonce: 'a"b', uri: 'sip:x', response: 'f00', algorithm: 'MD5', qop: 'auth', nc: '00000001',
    });
  });

  it('never invents characters for a backslash at the very end', () => {
    expect(parseAuthParams('Digest realm="abc\\').params.get('realm')).toBe('abc\\');
    expect(parseAuthParams('Digest realm="abc').params.get('realm')).toBe('abc');
    expect(parseAuthParams('Basic').params.size).toBe(0);
  });

  it('reads Authorization and Proxy-Authorization from a message', () => {
    const m = parseMessage(msg([...BASE, 'Proxy-Authorization: Digest username="u", realm="r"', 'Content-Length: 0']));
    expect(m.credentials()).toBeUndefined();
    expect(m.credentials('proxy-authorization')?.params.get('realm')).toBe('r');
  });
});
