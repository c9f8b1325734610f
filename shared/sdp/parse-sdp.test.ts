import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isSipfleetError } from '../errors.ts';
import { parseSdp } from './parse-sdp.ts';
import { serializeSdp } from './serialize-sdp.ts';

function fixtureBody(name: string): string {
  const raw = readFileSync(new URL(`../sip/fixtures/rfc5118/${name}.dat`, import.meta.url), 'latin1');
  return raw.slice(raw.indexOf('\r\n\r\n') + 4);
}

const SIPP_OFFER = [
  'v=0',
  'o=user1 53655765 2353687637 IN IP4 127.0.0.1',
  's=-',
  'c=IN IP4 127.0.0.1',
  't=0 0',
  'm=audio 6000 RTP/AVP 0',
  'a=rtpmap:0 PCMU/8000',
  '',
].join('\r\n');

function expectSdpError(text: string, lineNo: number): void {
  try {
    parseSdp(text);
  } catch (err) {
    expect(isSipfleetError(err) && err.code).toBe('SDP_ERR_PARSE');
    expect((err as Error).message).toContain(`SDP line ${lineNo}`);
    return;
  }
  throw new Error(`expected SDP_ERR_PARSE for ${JSON.stringify(text)}`);
}

describe('parseSdp / serializeSdp', () => {
  it('round-trips byte for byte, unknown lines included', () => {
    const text = SIPP_OFFER.replace('t=0 0\r\n', 't=0 0\r\nx=vendor thing\r\nb=AS:64\r\n') + 'a=x-unknown\r\n';
    const sd = parseSdp(text);
    expect(serializeSdp(sd)).toBe(text);
    expect(sd.session.map((l) => l.type)).toEqual(['v', 'o', 's', 'c', 't', 'x', 'b']);
    expect(sd.media).toHaveLength(1);
    expect(sd.media[0].lines.map((l) => l.type)).toEqual(['m', 'a', 'a']);
  });

  it('accepts LF line ends and writes CRLF', () => {
    const sd = parseSdp(SIPP_OFFER.replaceAll('\r\n', '\n'));
    expect(serializeSdp(sd)).toBe(SIPP_OFFER);
  });

  it('accepts a Buffer', () => {
    expect(parseSdp(Buffer.from(SIPP_OFFER)).origin.sessionId).toBe('53655765');
  });

  it('reads origin, connection, media, attributes and rtpmap', () => {
    const sd = parseSdp(SIPP_OFFER);
    expect(sd.origin).toEqual({
      username: 'user1',
      sessionId: '53655765',
      sessionVersion: '2353687637',
      netType: 'IN',
      addrType: 'IP4',
      address: '127.0.0.1',
    });
    expect(sd.connection).toEqual({ netType: 'IN', addrType: 'IP4', address: '127.0.0.1' });
    const m = sd.media[0];
    expect(m.media).toEqual({ type: 'audio', port: 6000, portCount: undefined, proto: 'RTP/AVP', formats: ['0'] });
    expect(m.connection).toBeUndefined();
    expect(sd.connectionFor(m)?.address).toBe('127.0.0.1');
    expect(m.attributes()).toEqual([{ name: 'rtpmap', value: '0 PCMU/8000' }]);
    expect(m.rtpmap(0)).toEqual({ payloadType: 0, encoding: 'PCMU', clockRate: 8000, channels: undefined });
    expect(m.attribute('sendrecv')).toBeUndefined();
  });

  it('edits the connection address, media port and origin address', () => {
    const sd = parseSdp(SIPP_OFFER);
    sd.setConnectionAddress('2001:db8::1');
    sd.setOriginAddress('192.0.2.7');
    sd.media[0].setPort(40000);
    sd.media[0].setConnectionAddress('192.0.2.9');
    const out = serializeSdp(sd);
    expect(out).toContain('o=user1 53655765 2353687637 IN IP4 192.0.2.7\r\n');
    expect(out).toContain('\r\nc=IN IP6 2001:db8::1\r\nt=0 0\r\n');
    expect(out).toContain('m=audio 40000 RTP/AVP 0\r\nc=IN IP4 192.0.2.9\r\na=rtpmap:0 PCMU/8000\r\n');
    expect(() => sd.media[0].setPort(70000)).toThrow(RangeError);
  });

  it('adds a session c= in RFC 8866 order when there was none', () => {
    const sd = parseSdp('v=0\r\no=- 1 1 IN IP4 h.example\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\nc=IN IP4 192.0.2.1\r\n');
    sd.setConnectionAddress('192.0.2.2');
    expect(serializeSdp(sd)).toBe('v=0\r\no=- 1 1 IN IP4 h.example\r\ns=-\r\nc=IN IP4 192.0.2.2\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\nc=IN IP4 192.0.2.1\r\n');
  });

  it('keeps port counts (RFC 8866 §5.14)', () => {
    const sd = parseSdp('v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=video 49170/2 RTP/AVP 31\r\n');
    expect(sd.media[0].media.portCount).toBe(2);
    sd.media[0].setPort(50000);
    expect(serializeSdp(sd)).toContain('m=video 50000/2 RTP/AVP 31\r\n');
  });
});

describe('RFC 5118 SDP bodies', () => {
  it('§4.6 ipv6-in-sdp: IP6 o= and c=', () => {
    const body = fixtureBody('ipv6-in-sdp');
    const sd = parseSdp(body);
    expect(sd.origin.addrType).toBe('IP6');
    expect(sd.origin.address).toBe('2001:db8::20');
    expect(sd.connection).toEqual({ netType: 'IN', addrType: 'IP6', address: '2001:db8::20' });
    expect(sd.media.map((m) => [m.type, m.port])).toEqual([
      ['audio', 6000],
      ['video', 6024],
    ]);
    expect(sd.media[0].rtpmap(2)?.encoding).toBe('G726-32');
    expect(serializeSdp(sd)).toBe(body);
  });

  it('§4.8 mult-ip-in-sdp: per-media address families are kept', () => {
    const body = fixtureBody('mult-ip-in-sdp');
    const sd = parseSdp(body);
    expect(sd.connection).toBeUndefined();
    expect(sd.origin.address).toBe('host.example.com');
    expect(sd.media[0].connection).toEqual({ netType: 'IN', addrType: 'IP4', address: '192.0.2.1' });
    expect(sd.media[1].connection).toEqual({ netType: 'IN', addrType: 'IP6', address: '2001:db8::1' });
    expect(sd.sessionName).toBe('');
    expect(serializeSdp(sd)).toBe(body);
    // A relay rewriting only the IP6 stream leaves the IP4 one alone.
    sd.media[1].setConnectionAddress('2001:db8::99');
    expect(sd.media[0].connection?.address).toBe('192.0.2.1');
    expect(sd.media[1].connection).toEqual({ netType: 'IN', addrType: 'IP6', address: '2001:db8::99' });
  });

  it('§4.9 ipv4-mapped-ipv6', () => {
    const body = fixtureBody('ipv4-mapped-ipv6');
    const sd = parseSdp(body);
    expect(sd.origin.address).toBe('::ffff:192.0.2.2');
    expect(sd.connection).toEqual({ netType: 'IN', addrType: 'IP6', address: '::ffff:192.0.2.2' });
    expect(serializeSdp(sd)).toBe(body);
  });
});

describe('malformed SDP → SDP_ERR_PARSE naming the line', () => {
  it.each([
    ['', 1],
    ['o=- 1 1 IN IP4 h\r\n', 1],
    ['v=1\r\n', 1],
    ['v=0\r\no=- 1 1 IN IP4 h\r\nbogus\r\n', 3],
    ['v=0\r\no=- 1 1 IN IP4 h\r\n1=x\r\n', 3],
    ['v=0\r\no=- 1 IN IP4 h\r\n', 2],
    ['v=0\r\no=- 1 1 IN IPX h\r\n', 2],
    ['v=0\r\no=- x 1 IN IP4 h\r\n', 2],
    ['v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4\r\n', 4],
    ['v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP5 1.2.3.4\r\n', 4],
    ['v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=audio x RTP/AVP 0\r\n', 4],
    ['v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=audio 70000 RTP/AVP 0\r\n', 4],
    ['v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=audio 1 RTP/AVP\r\n', 4],
    ['v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=audio 1 RTP/AVP 0\r\na=rtpmap:0 PCMU\r\n', 5],
    ['v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=audio 1 RTP/AVP 0\r\na=bad name\r\n', 5],
    ['v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=audio 1 RTP/AVP 0\r\no=- 1 1 IN IP4 h\r\n', 5],
    ['v=0\r\ns=-\r\n', 3],
  ])('%j fails on line %i', (text, lineNo) => {
    expectSdpError(text, lineNo);
  });
});
