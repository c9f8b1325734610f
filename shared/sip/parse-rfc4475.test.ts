/**
 * RFC 4475 torture messages (shared/sip/fixtures/rfc4475, see INDEX.md there): every .dat file has
 * its own expectations. Valid messages are checked value by value, against the golden JSON and for
 * a byte-exact round trip; invalid ones must fail with a SipParseError whose status and message
 * name the fault.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, SipParseError } from '../errors.ts';
import { GOLDEN_DIR, GOLDEN_FILES, goldenOf } from './fixtures/golden/generate.ts';
import { SipRequest, SipResponse, type Contact, type SipMessage } from './message.ts';
import { KNOWN_METHODS } from './methods.ts';
import { parseMessage } from './parse.ts';
import { serializeMessage } from './serialize.ts';
import { isSipUri, parseUri, type SipUri } from './uri.ts';

const DIR = new URL('./fixtures/rfc4475/', import.meta.url);

function load(name: string): Buffer {
  return readFileSync(new URL(name.endsWith('.dat') ? name : `${name}.dat`, DIR));
}

function req(m: SipMessage): SipRequest {
  expect(m).toBeInstanceOf(SipRequest);
  return m as SipRequest;
}

function res(m: SipMessage): SipResponse {
  expect(m).toBeInstanceOf(SipResponse);
  return m as SipResponse;
}

function sipUri(text: string): SipUri {
  const u = parseUri(text);
  if (!isSipUri(u)) throw new Error(`not a SIP URI: ${text}`);
  return u;
}

function contactList(m: SipMessage): Contact[] {
  const c = m.contacts();
  if (c === '*') throw new Error('unexpected Contact: *');
  return c;
}

/** Offset of the blank line that ends the header block. */
function headEnd(buf: Buffer): number {
  return buf.indexOf('\r\n\r\n');
}

interface TopVia {
  transport: string;
  host: string;
  port?: number;
  branch?: string;
  received?: string;
  rport?: number | null;
}

interface ValidCase {
  file: string;
  method?: string;
  status?: number;
  uri?: string;
  callId: string;
  cseq: [number, string];
  from: [uri: string, tag: string | undefined];
  to: [uri: string, tag: string | undefined];
  via: TopVia;
  viaCount: number;
  maxForwards: number | undefined;
  bodyLength: number;
  /** The point the RFC makes about this message. */
  check: (m: SipMessage, buf: Buffer) => void;
}

const VALID: ValidCase[] = [
  {
    file: 'wsinv',
    method: 'INVITE',
    uri: 'sip:vivekg@chair-dnrc.example.com;unknownparam',
    callId: 'wsinv.ndaksdj@192.0.2.1',
    cseq: [9, 'INVITE'],
    from: ['sip:jdrosen@example.com', '98asjd8'],
    to: ['sip:vivekg@chair-dnrc.example.com', '1918181833n'],
    via: { transport: 'UDP', host: '192.0.2.2', branch: '390skdjuw' },
    viaCount: 3,
    maxForwards: 68,
    bodyLength: 150,
    check(m, buf) {
      // §3.1.1.1: the unknown header goes through unchanged, and so does everything else.
      expect(m.get('unknownheaderwithunusualvalue')).toBe(';;,,;;,;');
      const field = m.headers.find((h) => h.key === 'unknownheaderwithunusualvalue');
      expect(field?.raw).toBe('UnknownHeaderWithUnusualValue: ;;,,;;,;');
      expect(serializeMessage(m).equals(buf)).toBe(true);
      // Folding is unfolded in the value; LWS around ':' / '/' / ';' / '=' tolerated.
      expect(m.get('newfangledheader')).toBe('newfangled value continued newfangled value');
      expect(m.get('subject')).toBe('');
      expect(m.from.displayName).toBe('"J Rosenberg \\\\\\""');
      expect(m.vias().map((v) => [v.transport, v.host, v.branch])).toEqual([
        ['UDP', '192.0.2.2', '390skdjuw'],
        ['TCP', 'spindle.example.com', 'z9hG4bK9ikj8'],
        ['UDP', '192.168.255.111', 'z9hG4bK30239'],
      ]);
      const [contact] = contactList(m);
      expect(contact.displayName).toBe('"Quoted string \\"\\""');
      expect(contact.uri).toBe('sip:jdrosen@example.com');
      expect([...contact.params]).toEqual([['newparam', 'newvalue'], ['secondparam', null], ['q', '0.33']]);
      expect(contact.q).toBe(0.33);
      expect(m.routes().map((r) => r.uri)).toEqual(['sip:services.example.com;lr;unknownwith=value;unknown-no-value']);
      const rrUri = sipUri(m.routes()[0].uri);
      expect([...rrUri.params.keys()]).toEqual(['lr', 'unknownwith', 'unknown-no-value']);
      expect(req(m).requestUri).toMatchObject({ scheme: 'sip', user: 'vivekg', host: 'chair-dnrc.example.com' });
    },
  },
  {
    file: 'intmeth',
    method: "!interesting-Method0123456789_*+`.%indeed'~",
    uri: "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
    callId: 'intmeth.word%ZK-!.*_+\'@word`~)(><:\\/"][?}{',
    cseq: [139122385, "!interesting-Method0123456789_*+`.%indeed'~"],
    from: ['sip:mundane@example.com', "_token~1'+`*%!-."],
    to: ["sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com", undefined],
    via: { transport: 'TCP', host: 'host1.example.com', branch: "z9hG4bK-.!%66*_+`'~" },
    viaCount: 1,
    maxForwards: 255,
    bodyLength: 0,
    check(m) {
      const r = req(m);
      // The method is the weird token itself; '%' is not an escape in a method.
      expect(KNOWN_METHODS.has(r.method)).toBe(false);
      expect(r.method).toContain('%indeed');
      const u = r.requestUri as SipUri;
      expect(u.user).toBe("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
      expect(u.password).toBe("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
      expect(u.host).toBe('example.com');
      // Quoted NUL, BEL and DEL in the To display name survive.
      expect(m.to.displayName).toBe('"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f"');
      expect(m.from.displayName).toBe("token1~` token2'+_ token3*%!.-");
      // The UTF-8 in the From param stays as the latin1-held bytes.
      const fromParam = m.from.params.get("fromparam''~+*_!.-%");
      expect(Buffer.from(fromParam ?? '', 'latin1').toString('utf8')).toBe('"работающий"');
      expect(m.get("extensionheader-!.%*+_`'~")).toBeDefined();
    },
  },
  {
    file: 'esc01',
    method: 'INVITE',
    uri: 'sip:sips%3Auser%40example.com@example.net',
    callId: 'esc01.239409asdfakjkn23onasd0-3234',
    cseq: [234234, 'INVITE'],
    from: ['sip:I%20have%20spaces@example.net', '938'],
    to: ['sip:%75se%72@example.com', undefined],
    via: { transport: 'UDP', host: 'host5.example.net', branch: 'z9hG4bKkdjuw' },
    viaCount: 1,
    maxForwards: 87,
    bodyLength: 150,
    check(m) {
      // Escapes are kept as written (never unescaped recursively, never turned into structure).
      const u = req(m).requestUri as SipUri;
      expect(u.user).toBe('sips%3Auser%40example.com');
      expect(u.host).toBe('example.net');
      const [contact] = contactList(m);
      expect(contact.uri).toBe('sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31');
      expect([...sipUri(contact.uri).params]).toEqual([['%6c%72', null], ['n%61me', 'v%61lue%25%34%31']]);
      expect(m.contentType).toBe('application/sdp');
    },
  },
  {
    file: 'escnull',
    method: 'REGISTER',
    uri: 'sip:example.com',
    callId: 'escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd',
    cseq: [14398234, 'REGISTER'],
    from: ['sip:null-%00-null@example.com', '839923423'],
    to: ['sip:null-%00-null@example.com', undefined],
    via: { transport: 'UDP', host: 'host5.example.com', branch: 'z9hG4bKkdjuw' },
    viaCount: 1,
    maxForwards: 70,
    bodyLength: 0,
    check(m) {
      // The AOR is not truncated at the NUL, and the two contacts stay distinct.
      expect(sipUri(m.to.uri).user).toBe('null-%00-null');
      const contacts = contactList(m);
      expect(contacts.map((c) => c.uri)).toEqual(['sip:%00@host5.example.com', 'sip:%00%00@host5.example.com']);
      expect(contacts[0].uri).not.toBe(contacts[1].uri);
    },
  },
  {
    file: 'esc02',
    method: 'RE%47IST%45R',
    uri: 'sip:registrar.example.com',
    callId: 'esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf',
    cseq: [29344, 'RE%47IST%45R'],
    from: ['sip:resource@example.com', 'f232jadfj23'],
    to: ['sip:resource@example.com', undefined],
    via: { transport: 'TCP', host: 'host.example.com', branch: 'z9hG4bK209%fzsnel234' },
    viaCount: 1,
    maxForwards: 70,
    bodyLength: 0,
    check(m) {
      expect(req(m).method).not.toBe('REGISTER');
      expect(m.from.displayName).toBe('"%Z%45"');
      // Two Contact values; C%6Fntact is a different (extension) header.
      expect(contactList(m).map((c) => c.uri)).toEqual(['sip:alias1@host1.example.com', 'sip:alias3@host3.example.com']);
      expect(m.get('c%6fntact')).toBe('<sip:alias2@host2.example.com>');
    },
  },
  {
    file: 'lwsdisp',
    method: 'OPTIONS',
    uri: 'sip:user@example.com',
    callId: 'lwsdisp.1234abcd@funky.example.com',
    cseq: [60, 'OPTIONS'],
    from: ['sip:caller@example.com', '323'],
    to: ['sip:user@example.com', undefined],
    via: { transport: 'UDP', host: 'funky.example.com', branch: 'z9hG4bKkdjuw' },
    viaCount: 1,
    maxForwards: 70,
    bodyLength: 0,
    check(m) {
      expect(m.from.displayName).toBe('caller');
      expect(m.from.bracketed).toBe(true);
    },
  },
  {
    file: 'longreq',
    method: 'INVITE',
    uri: 'sip:user@example.com',
    callId:
      'longreq.onereallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallylongcallid',
    cseq: [3882340, 'INVITE'],
    from: [
      'sip:amazinglylongcallernameamazinglylongcallernameamazinglylongcallernameamazinglylongcallernameamazinglylongcallername@example.net',
      '12982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982424',
    ],
    to: [
      'sip:user@example.com:6000;unknownparam1=verylonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglongvalue;longparamnamenamenamenamenamenamenamenamenamenamenamenamenamenamenamenamenamenamenamenamenamenamenamenamename=shortvalue;verylonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglongParameterNameWithNoValue',
      undefined,
    ],
    via: { transport: 'TCP', host: 'sip33.example.com' },
    viaCount: 34,
    maxForwards: 70,
    bodyLength: 150,
    check(m, buf) {
      const vias = m.vias();
      expect(vias.map((v) => v.host)).toEqual([
        ...Array.from({ length: 33 }, (_, i) => `sip${33 - i}.example.com`),
        'host.example.com',
      ]);
      expect(vias[33].received).toBe('192.0.2.5');
      expect(vias[33].branch).toBe(`very${'long'.repeat(50)}branchvalue`);
      // Nothing truncated: every field's raw line is exactly the line in the file.
      const lines = buf.toString('latin1', 0, headEnd(buf)).split('\r\n').slice(1);
      expect(m.headers.map((h) => h.raw)).toEqual(lines);
      const unknown = m.headers.find((h) => h.key.startsWith('unknown-longlong'));
      expect(unknown?.value.length).toBeGreaterThan(300);
      expect(unknown?.value.endsWith(`-parameter-name = unknown-${'long'.repeat(20)}-parameter-value`)).toBe(true);
      expect(m.to.displayName).toBe(`"I have a user name of ${'extreme'.repeat(10)} proportion"`);
      expect(sipUri(m.to.uri).port).toBe(6000);
      expect(buf.indexOf('\r\n\r\n')).toBeGreaterThan(3000);
    },
  },
  {
    file: 'dblreq',
    method: 'REGISTER',
    uri: 'sip:example.com',
    callId: 'dblreq.0ha0isndaksdj99sdfafnl3lk233412',
    cseq: [8, 'REGISTER'],
    from: ['sip:j.user@example.com', '43251j3j324'],
    to: ['sip:j.user@example.com', undefined],
    via: { transport: 'UDP', host: '192.0.2.125', branch: 'z9hG4bKkdjuw23492' },
    viaCount: 1,
    maxForwards: 8,
    bodyLength: 0,
    check(m, buf) {
      expect(m.body.length).toBe(0);
      expect(contactList(m).map((c) => c.uri)).toEqual(['sip:j.user@host.example.com']);
      const out = serializeMessage(m);
      expect(out.equals(buf.subarray(0, headEnd(buf) + 4))).toBe(true);
      expect(out.includes('INVITE')).toBe(false);
      expect(out.includes('dblreq.0ha0isnda977644900765')).toBe(false);
    },
  },
  {
    file: 'semiuri',
    method: 'OPTIONS',
    uri: 'sip:user;par=u%40example.net@example.com',
    callId: 'semiuri.0ha0isndaksdj',
    cseq: [8, 'OPTIONS'],
    from: ['sip:caller@example.org', '33242'],
    to: ['sip:j_user@example.com', undefined],
    via: { transport: 'UDP', host: '192.0.2.1', branch: 'z9hG4bKkdjuw' },
    viaCount: 1,
    maxForwards: 3,
    bodyLength: 0,
    check(m) {
      const u = req(m).requestUri as SipUri;
      expect(u.user).toBe('user;par=u%40example.net');
      expect(decodeURIComponent(u.user ?? '')).toBe('user;par=u@example.net');
      expect(u.host).toBe('example.com');
      expect(u.params.size).toBe(0);
      expect(m.values('accept')).toEqual([
        'application/sdp', 'application/pkcs7-mime', 'multipart/mixed', 'multipart/signed', 'message/sip', 'message/sipfrag',
      ]);
    },
  },
  {
    file: 'transports',
    method: 'OPTIONS',
    uri: 'sip:user@example.com',
    callId: 'transports.kijh4akdnaqjkwendsasfdj',
    cseq: [60, 'OPTIONS'],
    from: ['sip:caller@example.com', '323'],
    to: ['sip:user@example.com', undefined],
    via: { transport: 'UDP', host: 't1.example.com', branch: 'z9hG4bKkdjuw' },
    viaCount: 5,
    maxForwards: 70,
    bodyLength: 0,
    check(m) {
      expect(m.vias().map((v) => v.transport)).toEqual(['UDP', 'SCTP', 'TLS', 'UNKNOWN', 'TCP']);
      expect(m.vias().map((v) => v.host)).toEqual([1, 2, 3, 4, 5].map((i) => `t${i}.example.com`));
    },
  },
  {
    file: 'mpart01',
    method: 'MESSAGE',
    uri: 'sip:kumiko@example.org',
    callId: '3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..',
    cseq: [1, 'MESSAGE'],
    from: ['sip:fluffy@example.com', '2fb0dcc9'],
    to: ['sip:kumiko@example.org', undefined],
    via: { transport: 'UDP', host: '127.0.0.1', port: 5070, branch: 'z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-', rport: null },
    viaCount: 1,
    maxForwards: 70,
    bodyLength: 553,
    check(m, buf) {
      // Framed by Content-Length: the body is the last 553 bytes, NULs and bare CR/LF included.
      expect(m.body.equals(buf.subarray(buf.length - 553))).toBe(true);
      expect(m.body.includes(0)).toBe(true);
      expect(m.contentType).toBe('multipart/mixed;boundary=7a9cbec02ceef655');
      expect(m.routes().map((r) => r.uri)).toEqual(['sip:127.0.0.1:5080']);
    },
  },
  {
    file: 'unreason',
    status: 200,
    callId: 'unreason.1234ksdfak3j2erwedfsASdf',
    cseq: [35, 'INVITE'],
    from: ['sip:user@example.com', '11141343'],
    to: ['sip:user@example.edu', '2229'],
    via: { transport: 'UDP', host: '192.0.2.198', branch: 'z9hG4bK1324923' },
    viaCount: 1,
    maxForwards: undefined,
    bodyLength: 154,
    check(m, buf) {
      const r = res(m);
      // The reason phrase is held as latin1 (one char per octet): the exact UTF-8 bytes of the wire.
      const lineBytes = buf.subarray('SIP/2.0 200 '.length, buf.indexOf('\r\n'));
      expect(Buffer.from(r.reason, 'latin1').equals(lineBytes)).toBe(true);
      expect(Buffer.from(r.reason, 'latin1').toString('utf8')).toBe('= 2**3 * 5**2 но сто девяносто девять - простое');
    },
  },
  {
    file: 'noreason',
    status: 100,
    callId: 'noreason.asndj203insdf99223ndf',
    cseq: [35, 'INVITE'],
    from: ['sip:user@example.com', '39ansfi3'],
    to: ['sip:user@example.edu', '902jndnke3'],
    via: { transport: 'UDP', host: '192.0.2.105', branch: 'z9hG4bK2398ndaoe' },
    viaCount: 1,
    maxForwards: undefined,
    bodyLength: 0,
    check(m) {
      expect(res(m).reason).toBe('');
      expect(m.startLine()).toBe('SIP/2.0 100 ');
    },
  },
  {
    file: 'badbranch',
    method: 'OPTIONS',
    uri: 'sip:user@example.com',
    callId: 'badbranch.sadonfo23i420jv0as0derf3j3n',
    cseq: [8, 'OPTIONS'],
    from: ['sip:caller@example.org', '33242'],
    to: ['sip:user@example.com', undefined],
    via: { transport: 'UDP', host: '192.0.2.1', branch: 'z9hG4bK' },
    viaCount: 1,
    maxForwards: 3,
    bodyLength: 0,
    check(m) {
      // Nothing after the magic cookie: the parser must not break; the branch is exactly the cookie.
      expect(m.via.branch).toBe('z9hG4bK');
    },
  },
  {
    file: 'baddate',
    method: 'INVITE',
    uri: 'sip:user@example.com',
    callId: 'baddate.239423mnsadf3j23lj42--sedfnm234',
    cseq: [1392934, 'INVITE'],
    from: ['sip:caller@example.net', '2234923'],
    to: ['sip:user@example.com', undefined],
    via: { transport: 'UDP', host: 'host.example.com', branch: 'z9hG4bKkdjuw' },
    viaCount: 1,
    maxForwards: 70,
    bodyLength: 150,
    check(m) {
      // An "I" row, but a proxy does not care about Date: it parses and is forwarded as is.
      expect(m.get('date')).toBe('Fri, 01 Jan 2010 16:00:00 EST');
    },
  },
  {
    file: 'unkscm',
    method: 'OPTIONS',
    uri: 'nobodyKnowsThisScheme:totallyopaquecontent',
    callId: 'unkscm.nasdfasser0q239nwsdfasdkl34',
    cseq: [3923423, 'OPTIONS'],
    from: ['sip:caller@example.net', '384'],
    to: ['sip:user@example.com', undefined],
    via: { transport: 'TCP', host: 'host9.example.com', branch: 'z9hG4bKkdjuw39234' },
    viaCount: 1,
    maxForwards: 3,
    bodyLength: 0,
    check(m) {
      const u = req(m).requestUri;
      expect(isSipUri(u)).toBe(false);
      expect(u).toEqual({ scheme: 'nobodyknowsthisscheme', opaque: 'totallyopaquecontent' });
    },
  },
  {
    file: 'novelsc',
    method: 'OPTIONS',
    uri: 'soap.beep://192.0.2.103:3002',
    callId: 'novelsc.asdfasser0q239nwsdfasdkl34',
    cseq: [3923423, 'OPTIONS'],
    from: ['sip:caller@example.net', '384'],
    to: ['sip:user@example.com', undefined],
    via: { transport: 'TCP', host: 'host9.example.com', branch: 'z9hG4bKkdjuw39234' },
    viaCount: 1,
    maxForwards: 3,
    bodyLength: 0,
    check(m) {
      const u = req(m).requestUri;
      expect(isSipUri(u)).toBe(false);
      expect(u).toEqual({ scheme: 'soap.beep', opaque: '//192.0.2.103:3002' });
    },
  },
  {
    file: 'unksm2',
    method: 'REGISTER',
    uri: 'sip:example.com',
    callId: 'unksm2.daksdj@hyphenated-host.example.com',
    cseq: [234902, 'REGISTER'],
    from: ['http://www.example.com', '3234233'],
    to: ['isbn:2983792873', undefined],
    via: { transport: 'UDP', host: '192.0.2.21', port: 5060, branch: 'z9hG4bKkdjuw' },
    viaCount: 1,
    maxForwards: 70,
    bodyLength: 0,
    check(m) {
      expect(contactList(m).map((c) => c.uri)).toEqual(['name:John_Smith']);
      expect(parseUri(m.to.uri).scheme).toBe('isbn');
      expect(parseUri(m.from.uri).scheme).toBe('http');
    },
  },
  {
    file: 'bext01',
    method: 'OPTIONS',
    uri: 'sip:user@example.com',
    callId: 'bext01.0ha0isndaksdj',
    cseq: [8, 'OPTIONS'],
    from: ['sip:caller@example.net', '242etr'],
    to: ['sip:j_user@example.com', undefined],
    via: { transport: 'TLS', host: 'fold-and-staple.example.com', branch: 'z9hG4bKkdjuw' },
    viaCount: 1,
    maxForwards: 6,
    bodyLength: 0,
    check(m) {
      expect(m.values('require')).toEqual(['nothingSupportsThis', 'nothingSupportsThisEither']);
      expect(m.values('proxy-require')).toEqual(['noProxiesSupportThis', 'norDoAnyProxiesSupportThis']);
    },
  },
  {
    file: 'invut',
    method: 'INVITE',
    uri: 'sip:user@example.com',
    callId: 'invut.0ha0isndaksdjadsfij34n23d',
    cseq: [235448, 'INVITE'],
    from: ['sip:caller@example.net', '8392034'],
    to: ['sip:j.user@example.com', undefined],
    via: { transport: 'UDP', host: 'somehost.example.com', branch: 'z9hG4bKkdjuw' },
    viaCount: 1,
    maxForwards: 70,
    bodyLength: 40,
    check(m) {
      expect(m.contentType).toBe('application/unknownformat');
      expect(m.body.toString('latin1')).toBe('<audio>\r\n <pcmu port="443"/>\r\n</audio>\r\n');
    },
  },
  {
    file: 'regaut01',
    method: 'REGISTER',
    uri: 'sip:example.com',
    callId: 'regaut01.0ha0isndaksdj',
    cseq: [9338, 'REGISTER'],
    from: ['sip:j.user@example.com', '87321hj23128'],
    to: ['sip:j.user@example.com', undefined],
    via: { transport: 'TCP', host: '192.0.2.253', branch: 'z9hG4bKkdjuw' },
    viaCount: 1,
    maxForwards: 8,
    bodyLength: 0,
    check(m) {
      expect(m.get('authorization')).toBe('NoOneKnowsThisScheme opaque-data=here');
      const cred = m.credentials();
      expect(cred?.scheme).toBe('NoOneKnowsThisScheme');
      expect(cred?.params.get('opaque-data')).toBe('here');
    },
  },
  {
    file: 'bcast',
    status: 200,
    callId: 'bcast.0384840201234ksdfak3j2erwedfsASdf',
    cseq: [35, 'INVITE'],
    from: ['sip:user@example.com', '11141343'],
    to: ['sip:user@example.edu', '2229'],
    via: { transport: 'UDP', host: '192.0.2.198', branch: 'z9hG4bK1324923' },
    viaCount: 2,
    maxForwards: undefined,
    bodyLength: 154,
    check(m) {
      expect(res(m).reason).toBe('OK');
      expect(m.vias()[1].host).toBe('255.255.255.255');
      expect(m.vias()[1].branch).toBe('z9hG4bK1saber23');
    },
  },
  {
    file: 'zeromf',
    method: 'OPTIONS',
    uri: 'sip:user@example.com',
    callId: 'zeromf.jfasdlfnm2o2l43r5u0asdfas',
    cseq: [39234321, 'OPTIONS'],
    from: ['sip:caller@example.net', '3ghsd41'],
    to: ['sip:user@example.com', undefined],
    via: { transport: 'UDP', host: 'host1.example.com', branch: 'z9hG4bKkdjuw2349i' },
    viaCount: 1,
    maxForwards: 0,
    bodyLength: 0,
    check(m) {
      expect(m.maxForwards).toBe(0);
    },
  },
  {
    file: 'cparam01',
    method: 'REGISTER',
    uri: 'sip:example.com',
    callId: 'cparam01.70710@saturn.example.com',
    cseq: [2, 'REGISTER'],
    from: ['sip:watson@example.com', 'DkfVgjkrtMwaerKKpe'],
    to: ['sip:watson@example.com', undefined],
    via: { transport: 'UDP', host: 'saturn.example.com', port: 5060, branch: 'z9hG4bKkdjuw' },
    viaCount: 1,
    maxForwards: 70,
    bodyLength: 0,
    check(m) {
      // No <>: ;unknownparam is a Contact header param, not part of the URI.
      const [c] = contactList(m);
      expect(c.bracketed).toBe(false);
      expect(c.uri).toBe('sip:+19725552222@gw1.example.net');
      expect(c.params.has('unknownparam')).toBe(true);
      expect(c.params.get('unknownparam')).toBeNull();
      expect(sipUri(c.uri).params.has('unknownparam')).toBe(false);
    },
  },
  {
    file: 'cparam02',
    method: 'REGISTER',
    uri: 'sip:example.com',
    callId: 'cparam02.70710@saturn.example.com',
    cseq: [3, 'REGISTER'],
    from: ['sip:watson@example.com', '838293'],
    to: ['sip:watson@example.com', undefined],
    via: { transport: 'UDP', host: 'saturn.example.com', port: 5060, branch: 'z9hG4bKkdjuw' },
    viaCount: 1,
    maxForwards: 70,
    bodyLength: 0,
    check(m) {
      // Inside <>: ;unknownparam is a URI param.
      const [c] = contactList(m);
      expect(c.bracketed).toBe(true);
      expect(c.uri).toBe('sip:+19725552222@gw1.example.net;unknownparam');
      expect(c.params.size).toBe(0);
      expect(sipUri(c.uri).params.get('unknownparam')).toBeNull();
      expect(sipUri(c.uri).params.has('unknownparam')).toBe(true);
    },
  },
  {
    file: 'regescrt',
    method: 'REGISTER',
    uri: 'sip:example.com',
    callId: 'regescrt.k345asrl3fdbv@192.0.2.1',
    cseq: [14398234, 'REGISTER'],
    from: ['sip:user@example.com', '8'],
    to: ['sip:user@example.com', undefined],
    via: { transport: 'UDP', host: 'host5.example.com', branch: 'z9hG4bKkdjuw' },
    viaCount: 1,
    maxForwards: 70,
    bodyLength: 0,
    check(m) {
      const [c] = contactList(m);
      expect(c.uri).toBe('sip:user@example.com?Route=%3Csip:sip.example.com%3E');
      expect(sipUri(c.uri).headers).toBe('Route=%3Csip:sip.example.com%3E');
      expect(m.routes()).toEqual([]);
    },
  },
  {
    file: 'sdp01',
    method: 'INVITE',
    uri: 'sip:user@example.com',
    callId: 'sdp01.ndaksdj9342dasdd',
    cseq: [8, 'INVITE'],
    from: ['sip:caller@example.net', '234'],
    to: ['sip:j_user@example.com', undefined],
    via: { transport: 'UDP', host: '192.0.2.15', branch: 'z9hG4bKkdjuw' },
    viaCount: 1,
    maxForwards: 5,
    bodyLength: 150,
    check(m) {
      expect(m.get('accept')).toBe('text/nobodyKnowsThis');
      expect(m.contentType).toBe('application/sdp');
    },
  },
  {
    file: 'inv2543',
    method: 'INVITE',
    uri: 'sip:UserB@example.com',
    callId: 'inv2543.1717@ift.client.example.com',
    cseq: [56, 'INVITE'],
    from: ['sip:+13035551111@ift.client.example.net;user=phone', undefined],
    to: ['sip:+16505552222@ss1.example.net', undefined],
    via: { transport: 'UDP', host: 'iftgw.example.com' },
    viaCount: 1,
    maxForwards: undefined,
    bodyLength: 105,
    check(m, buf) {
      // RFC 2543: no branch, no From tag, no Max-Forwards, no Content-Length; body = rest of the datagram.
      expect(m.via.branch).toBeUndefined();
      expect(m.fromTag).toBeUndefined();
      expect(m.has('content-length')).toBe(false);
      expect(m.body.equals(buf.subarray(headEnd(buf) + 4))).toBe(true);
      expect(m.to.params.get('user')).toBe('phone');
      expect(m.recordRoutes().map((r) => r.uri)).toEqual(['sip:UserB@example.com;maddr=ss1.example.com']);
    },
  },
];

interface InvalidCase {
  file: string;
  status: number;
  message: RegExp;
  code?: 'SIP_ERR_PARSE' | 'SIP_ERR_FRAMING';
  /** The fault is in a lazily parsed header: parseMessage succeeds and this accessor throws. */
  accessor?: (m: SipMessage) => unknown;
}

const INVALID: InvalidCase[] = [
  { file: 'badinv01', status: 400, message: /Via/ },
  { file: 'clerr', status: 400, message: /Content-Length/ },
  { file: 'ncl', status: 400, message: /Content-Length/, code: 'SIP_ERR_FRAMING' },
  { file: 'scalar02', status: 400, message: /CSeq/ },
  { file: 'scalarlg', status: 400, message: /CSeq/ },
  { file: 'quotbal', status: 400, message: /To/ },
  { file: 'ltgtruri', status: 400, message: /Request-URI/ },
  { file: 'lwsruri', status: 400, message: /request line/ },
  { file: 'lwsstart', status: 400, message: /request line/ },
  { file: 'trws', status: 400, message: /request line/ },
  { file: 'escruri', status: 400, message: /Request-URI/ },
  { file: 'regbadct', status: 400, message: /Contact/, accessor: (m) => m.contacts() },
  { file: 'badaspec', status: 400, message: /To/ },
  { file: 'baddn', status: 400, message: /From/ },
  { file: 'badvers', status: 505, message: /version/i },
  { file: 'mismatch01', status: 400, message: /CSeq/ },
  { file: 'mismatch02', status: 501, message: /CSeq/ },
  { file: 'bigcode', status: 400, message: /status code/ },
  { file: 'insuf', status: 400, message: /missing (To|From|Call-ID)/ },
  { file: 'multi01', status: 400, message: /duplicate (To|From|Call-ID|CSeq|Max-Forwards)/ },
  { file: 'mcl01', status: 400, message: /Content-Length/, code: 'SIP_ERR_FRAMING' },
];

function parseError(fn: () => unknown): SipParseError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SipParseError);
    return err as SipParseError;
  }
  throw new Error('expected a SipParseError, nothing was thrown');
}

describe('RFC 4475 fixtures', () => {
  it('every .dat file is covered by exactly one table', () => {
    const files = readdirSync(DIR).filter((f) => f.endsWith('.dat')).map((f) => f.slice(0, -4)).sort();
    const covered = [...VALID.map((c) => c.file), ...INVALID.map((c) => c.file), 'test'].sort();
    expect(covered).toEqual(files);
    expect(files).toHaveLength(50);
  });

  it('files are byte-identical to SHA256SUMS', () => {
    const sums = readFileSync(new URL('SHA256SUMS', DIR), 'latin1').trim().split('\n');
    expect(sums.length).toBeGreaterThanOrEqual(50);
    for (const line of sums) {
      const [hash, name] = line.split(/\s+/);
      const actual = createHash('sha256').update(readFileSync(new URL(name, DIR))).digest('hex');
      expect(actual, name).toBe(hash);
    }
  });
});

describe('RFC 4475 valid messages', () => {
  it.each(VALID.map((c) => [c.file, c] as const))('%s parses with the expected values', (_name, c) => {
    const buf = load(c.file);
    const m = parseMessage(buf);
    if (c.method !== undefined) {
      const r = req(m);
      expect(r.method).toBe(c.method);
      expect(r.uri).toBe(c.uri);
    } else {
      expect(res(m).status).toBe(c.status);
    }
    expect(m.callId).toBe(c.callId);
    expect(m.cseq).toEqual({ seq: c.cseq[0], method: c.cseq[1] });
    expect([m.from.uri, m.fromTag]).toEqual(c.from);
    expect([m.to.uri, m.toTag]).toEqual(c.to);
    const v = m.via;
    expect({
      transport: v.transport,
      host: v.host,
      port: v.port,
      branch: v.branch,
      received: v.received,
      rport: v.rport,
    }).toEqual({ port: undefined, branch: undefined, received: undefined, rport: undefined, ...c.via });
    expect(m.vias()).toHaveLength(c.viaCount);
    expect(m.vias()[0]).toEqual(v);
    expect(m.maxForwards).toBe(c.maxForwards);
    expect(m.body.length).toBe(c.bodyLength);
    c.check(m, buf);
  });

  const exact = VALID.filter((c) => c.file !== 'dblreq' && c.file !== 'inv2543');
  it.each(exact.map((c) => c.file))('%s round-trips byte for byte', (file) => {
    const buf = load(file);
    expect(serializeMessage(parseMessage(buf)).equals(buf)).toBe(true);
  });

  it('dblreq: the serialized REGISTER drops the trailing INVITE octets, nothing else', () => {
    const buf = load('dblreq');
    const end = headEnd(buf) + 4;
    const out = serializeMessage(parseMessage(buf));
    expect(out.equals(buf.subarray(0, end))).toBe(true);
    expect(buf.length - out.length).toBe(450);
    expect(buf.subarray(end).toString('latin1').trimStart().startsWith('INVITE sip:joe@example.com SIP/2.0')).toBe(true);
  });

  it('inv2543: the serialized message gains exactly one Content-Length header (105)', () => {
    const buf = load('inv2543');
    const end = headEnd(buf);
    const out = serializeMessage(parseMessage(buf));
    const expected = Buffer.concat([
      buf.subarray(0, end + 2),
      Buffer.from('Content-Length: 105\r\n', 'latin1'),
      buf.subarray(end + 2),
    ]);
    expect(out.equals(expected)).toBe(true);
    // And the result is itself a stable, well-formed message.
    expect(serializeMessage(parseMessage(out)).equals(out)).toBe(true);
  });

  it.each([...GOLDEN_FILES])('%s matches its reviewed golden JSON', (name) => {
    const golden = JSON.parse(readFileSync(`${GOLDEN_DIR}${name}.json`, 'utf8'));
    const actual = JSON.parse(JSON.stringify(goldenOf(parseMessage(load(name)))));
    expect(actual).toEqual(golden);
  });

  it('has a golden file for every valid message', () => {
    expect([...GOLDEN_FILES].sort()).toEqual(VALID.map((c) => c.file).sort());
  });
});

describe('RFC 4475 invalid messages', () => {
  it.each(INVALID.map((c) => [c.file, c] as const))('%s is refused with the right status', (_name, c) => {
    const buf = load(c.file);
    let err: SipParseError;
    if (c.accessor !== undefined) {
      const m = parseMessage(buf);
      err = parseError(() => c.accessor?.(m));
    } else {
      err = parseError(() => parseMessage(buf));
    }
    expect(err.status).toBe(c.status);
    expect(err.message).toMatch(c.message);
    expect(err.code).toBe(ERROR_CODES[c.code ?? 'SIP_ERR_PARSE']);
    expect(err.reason.length).toBeGreaterThan(0);
  });

  it('baddn-terminated (with its final CRLF) fails on From as well', () => {
    const err = parseError(() => parseMessage(readFileSync(new URL('variants/baddn-terminated.dat', DIR))));
    expect(err.status).toBe(400);
    expect(err.message).toMatch(/From/);
    expect(err.code).toBe(ERROR_CODES.SIP_ERR_PARSE);
  });

  it('baddn as archived ends without the empty line; the variant adds exactly the missing CRLF', () => {
    const archived = load('baddn');
    const terminated = readFileSync(new URL('variants/baddn-terminated.dat', DIR));
    expect(archived.includes('\r\n\r\n')).toBe(false);
    expect(terminated.equals(Buffer.concat([archived, Buffer.from('\r\n')]))).toBe(true);
  });
});

describe('RFC 4475 test.dat (referenced by no section)', () => {
  it('either parses or throws a SipParseError, nothing else', () => {
    const buf = load('test');
    try {
      const m = parseMessage(buf);
      serializeMessage(m);
    } catch (err) {
      expect(err).toBeInstanceOf(SipParseError);
    }
  });
});
