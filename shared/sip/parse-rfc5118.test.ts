/**
 * RFC 5118 IPv6 torture messages (shared/sip/fixtures/rfc5118, see INDEX.md there). The `.dat`
 * files are the wire form (CRLF, terminated header block, correct Content-Length); `archive/` holds
 * the RFC's bare-LF bytes, which only have to be handled deterministically.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, SipParseError } from '../errors.ts';
import { SipRequest, type Contact, type SipMessage } from './message.ts';
import { parseMessage } from './parse.ts';
import { serializeMessage } from './serialize.ts';
import { bareHost, isSipUri, parseUri, type SipUri } from './uri.ts';

const DIR = new URL('./fixtures/rfc5118/', import.meta.url);

function load(name: string): Buffer {
  return readFileSync(new URL(`${name}.dat`, DIR));
}

function ruri(m: SipMessage): SipUri {
  expect(m).toBeInstanceOf(SipRequest);
  const u = (m as SipRequest).requestUri;
  if (!isSipUri(u)) throw new Error('not a SIP Request-URI');
  return u;
}

function sipUri(text: string): SipUri {
  const u = parseUri(text);
  if (!isSipUri(u)) throw new Error(`not a SIP URI: ${text}`);
  return u;
}

function contacts(m: SipMessage): Contact[] {
  const c = m.contacts();
  if (c === '*') throw new Error('unexpected Contact: *');
  return c;
}

/** The SDP body as text, after checking it is exactly the octets after the header block. */
function sdp(m: SipMessage, buf: Buffer, length: number): string {
  expect(m.body.length).toBe(length);
  expect(m.body.equals(buf.subarray(buf.indexOf('\r\n\r\n') + 4))).toBe(true);
  expect(m.contentType).toBe('application/sdp');
  return m.body.toString('latin1');
}

interface ValidCase {
  file: string;
  method: string;
  uri: string;
  callId: string;
  cseq: [number, string];
  fromTag: string;
  viaHosts: Array<[transport: string, host: string, port: number | undefined]>;
  check: (m: SipMessage, buf: Buffer) => void;
}

const VALID: ValidCase[] = [
  {
    file: 'ipv6-good',
    method: 'REGISTER',
    uri: 'sip:[2001:db8::10]',
    callId: 'SSG9559905523997077@hlau_4100',
    cseq: [98176, 'REGISTER'],
    fromTag: '81x2',
    viaHosts: [['UDP', '[2001:db8::9:1]', undefined]],
    check(m) {
      expect(ruri(m)).toMatchObject({ host: '[2001:db8::10]', port: undefined, user: undefined });
      expect(bareHost(ruri(m).host)).toBe('2001:db8::10');
      const [c] = contacts(m);
      expect(c.displayName).toBe('"Caller"');
      expect(sipUri(c.uri).host).toBe('[2001:db8::1]');
      expect(m.via.branch).toBe('z9hG4bKas3-111');
    },
  },
  {
    file: 'port-ambiguous',
    method: 'REGISTER',
    uri: 'sip:[2001:db8::10:5070]',
    callId: 'SSG9559905523997077@hlau_4100',
    cseq: [98176, 'REGISTER'],
    fromTag: '81x2',
    viaHosts: [['UDP', '[2001:db8::9:1]', undefined]],
    check(m) {
      // The whole bracketed text is the address; there is no port.
      expect(ruri(m).host).toBe('[2001:db8::10:5070]');
      expect(ruri(m).port).toBeUndefined();
    },
  },
  {
    file: 'port-unambiguous',
    method: 'REGISTER',
    uri: 'sip:[2001:db8::10]:5070',
    callId: 'SSG9559905523997077@hlau_4100',
    cseq: [98176, 'REGISTER'],
    fromTag: '81x2',
    viaHosts: [['UDP', '[2001:db8::9:1]', undefined]],
    check(m) {
      expect(ruri(m).host).toBe('[2001:db8::10]');
      expect(ruri(m).port).toBe(5070);
    },
  },
  {
    file: 'via-received-param-with-delim',
    method: 'BYE',
    uri: 'sip:[2001:db8::10]',
    callId: 'SSG9559905523997077@hlau_4100',
    cseq: [321, 'BYE'],
    fromTag: '81x2',
    viaHosts: [['UDP', '[2001:db8::9:1]', undefined]],
    check(m) {
      expect(m.via.received).toBe('[2001:db8::9:255]');
      expect(m.via.branch).toBe('z9hG4bKas3-111');
      expect(m.toTag).toBe('bd76ya');
    },
  },
  {
    file: 'via-received-param-no-delim',
    method: 'OPTIONS',
    uri: 'sip:[2001:db8::10]',
    callId: 'SSG95523997077@hlau_4100',
    cseq: [921, 'OPTIONS'],
    fromTag: '81x2',
    viaHosts: [['UDP', '[2001:db8::9:1]', undefined]],
    check(m) {
      expect(m.via.received).toBe('2001:db8::9:255');
      expect(m.via.branch).toBe('z9hG4bKas3');
      expect([...m.via.params.keys()]).toEqual(['received', 'branch']);
    },
  },
  {
    file: 'ipv6-in-sdp',
    method: 'INVITE',
    uri: 'sip:user@[2001:db8::10]',
    callId: 'SSG9559905523997077@hlau_4100',
    cseq: [8612, 'INVITE'],
    fromTag: '81x2',
    viaHosts: [['UDP', '[2001:db8::20]', undefined]],
    check(m, buf) {
      expect(ruri(m)).toMatchObject({ user: 'user', host: '[2001:db8::10]' });
      expect(sipUri(m.to.uri).host).toBe('[2001:db8::10]');
      const body = sdp(m, buf, 251);
      expect(body).toContain('\r\no=assistant 971731711378798081 0 IN IP6 2001:db8::20\r\n');
      expect(body).toContain('\r\nc=IN IP6 2001:db8::20\r\n');
    },
  },
  {
    file: 'mult-ip-in-header',
    method: 'BYE',
    uri: 'sip:user@host.example.net',
    callId: '997077@lau_4100',
    cseq: [89187, 'BYE'],
    fromTag: '81x2',
    viaHosts: [
      ['UDP', '[2001:db8::9:1]', 6050],
      ['UDP', '192.0.2.1', undefined],
      ['TCP', '[2001:db8::9:255]', undefined],
    ],
    check(m) {
      const vias = m.vias();
      expect(vias.map((v) => v.branch)).toEqual(['z9hG4bKas3-111', 'z9hG4bKjhja8781hjuaij65144', 'z9hG4bK451jj']);
      expect(vias.map((v) => v.received)).toEqual([undefined, undefined, '192.0.2.200']);
      expect(m.toTag).toBe('9817--94');
    },
  },
  {
    file: 'mult-ip-in-sdp',
    method: 'INVITE',
    uri: 'sip:user@[2001:db8::10]',
    callId: 'SSG9559905523997077@hlau_4100',
    cseq: [8912, 'INVITE'],
    fromTag: '81x2',
    viaHosts: [['UDP', '[2001:db8::9:1]', undefined]],
    check(m, buf) {
      const body = sdp(m, buf, 189);
      expect(body).toContain('\r\no=bob 280744730 28977631 IN IP4 host.example.com\r\n');
      // Per-media c= lines, one per address family, in order.
      expect(body.match(/^c=[^\r]*/gm)).toEqual(['c=IN IP4 192.0.2.1', 'c=IN IP6 2001:db8::1']);
      expect(sipUri(contacts(m)[0].uri).host).toBe('[2001:db8::9:1]');
    },
  },
  {
    file: 'ipv4-mapped-ipv6',
    method: 'INVITE',
    uri: 'sip:user@example.com',
    callId: 'SSG9559905523997077@hlau_4100',
    cseq: [612, 'INVITE'],
    fromTag: '81x2',
    viaHosts: [
      ['UDP', '[::ffff:192.0.2.10]', 19823],
      ['UDP', '[::ffff:192.0.2.2]', undefined],
    ],
    check(m, buf) {
      const [c] = contacts(m);
      expect(c.displayName).toBe('"T. desk phone"');
      expect(sipUri(c.uri).host).toBe('[::ffff:192.0.2.2]');
      const body = sdp(m, buf, 245);
      expect(body).toContain('\r\nc=IN IP6 ::ffff:192.0.2.2\r\n');
    },
  },
  {
    file: 'ipv6-bug-abnf-3-colons',
    method: 'OPTIONS',
    uri: 'sip:user@[2001:db8:::192.0.2.1]',
    callId: 'G9559905523997077@hlau_4100',
    cseq: [689, 'OPTIONS'],
    fromTag: '810x2',
    viaHosts: [['UDP', 'lab1.east.example.com', undefined]],
    check(m) {
      // §4.10: tolerated; kept as written.
      expect(ruri(m).host).toBe('[2001:db8:::192.0.2.1]');
      expect(sipUri(m.to.uri).host).toBe('[2001:db8:::192.0.2.1]');
    },
  },
  {
    file: 'ipv6-correct-abnf-2-colons',
    method: 'OPTIONS',
    uri: 'sip:user@[2001:db8::192.0.2.1]',
    callId: 'G9559905523997077@hlau_4100',
    cseq: [689, 'OPTIONS'],
    fromTag: '810x2',
    viaHosts: [['UDP', 'lab1.east.example.com', undefined]],
    check(m) {
      expect(ruri(m).host).toBe('[2001:db8::192.0.2.1]');
      expect(sipUri(m.to.uri).host).toBe('[2001:db8::192.0.2.1]');
    },
  },
];

describe('RFC 5118 fixtures', () => {
  it('every .dat file is covered', () => {
    const files = readdirSync(DIR).filter((f) => f.endsWith('.dat')).map((f) => f.slice(0, -4)).sort();
    expect([...VALID.map((c) => c.file), 'ipv6-bad'].sort()).toEqual(files);
    expect(files).toHaveLength(12);
  });

  it('files are byte-identical to SHA256SUMS', () => {
    const sums = readFileSync(new URL('SHA256SUMS', DIR), 'latin1').trim().split('\n');
    expect(sums).toHaveLength(24);
    for (const line of sums) {
      const [hash, name] = line.split(/\s+/);
      expect(createHash('sha256').update(readFileSync(new URL(name, DIR))).digest('hex'), name).toBe(hash);
    }
  });
});

describe('RFC 5118 valid messages', () => {
  it.each(VALID.map((c) => [c.file, c] as const))('%s parses with the expected values', (_name, c) => {
    const buf = load(c.file);
    const m = parseMessage(buf);
    expect(m).toBeInstanceOf(SipRequest);
    const r = m as SipRequest;
    expect(r.method).toBe(c.method);
    expect(r.uri).toBe(c.uri);
    expect(m.callId).toBe(c.callId);
    expect(m.cseq).toEqual({ seq: c.cseq[0], method: c.cseq[1] });
    expect(m.fromTag).toBe(c.fromTag);
    expect(m.maxForwards).toBe(70);
    expect(m.vias().map((v) => [v.transport, v.host, v.port])).toEqual(c.viaHosts);
    expect([m.via.transport, m.via.host, m.via.port]).toEqual(c.viaHosts[0]);
    c.check(m, buf);
  });

  it.each(VALID.map((c) => c.file))('%s round-trips byte for byte', (file) => {
    const buf = load(file);
    expect(serializeMessage(parseMessage(buf)).equals(buf)).toBe(true);
  });
});

describe('RFC 5118 invalid messages', () => {
  it('ipv6-bad: an IPv6 Request-URI host without [] is a 400 naming the Request-URI', () => {
    let err: unknown;
    try {
      parseMessage(load('ipv6-bad'));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SipParseError);
    const e = err as SipParseError;
    expect(e.status).toBe(400);
    expect(e.message).toMatch(/Request-URI/);
    expect(e.code).toBe(ERROR_CODES.SIP_ERR_PARSE);
  });
});

describe('RFC 5118 archive (bare-LF) forms', () => {
  const names = readdirSync(new URL('archive/', DIR));
  it.each(names)('archive/%s parses or throws SipParseError, deterministically', (name) => {
    const buf = readFileSync(new URL(`archive/${name}`, DIR));
    const outcome = () => {
      try {
        const m = parseMessage(buf);
        return `ok ${m.callId}`;
      } catch (err) {
        expect(err).toBeInstanceOf(SipParseError);
        return `err ${(err as SipParseError).status} ${(err as SipParseError).message}`;
      }
    };
    expect(outcome()).toBe(outcome());
  });
});
