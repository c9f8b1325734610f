import { describe, expect, it } from 'vitest';
import { acceptedMedia, makeSdpAnswer } from './make-sdp-answer.ts';
import { makeSdpOffer } from './make-sdp-offer.ts';
import { parseSdp } from './parse-sdp.ts';
import { serializeSdp } from './serialize-sdp.ts';

function sdp(...lines: string[]): string {
  return [...lines, ''].join('\r\n');
}

describe('makeSdpAnswer (RFC 3264 §6)', () => {
  it('answers a SIPp offer with PCMU at the given address and port', () => {
    const offer = parseSdp(
      sdp('v=0', 'o=user1 53655765 2353687637 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 6000 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000'),
    );
    const answer = makeSdpAnswer(offer, { address: '127.0.0.21', port: 20000, sessionId: '42' });
    expect(serializeSdp(answer)).toBe(
      sdp('v=0', 'o=- 42 42 IN IP4 127.0.0.21', 's=-', 'c=IN IP4 127.0.0.21', 't=0 0', 'm=audio 20000 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', 'a=sendrecv'),
    );
    // The answer parses back.
    expect(parseSdp(serializeSdp(answer)).media[0].port).toBe(20000);
  });

  it('keeps the common codecs in offer order with the offerer\'s payload types', () => {
    const offer = parseSdp(
      sdp(
        'v=0',
        'o=- 1 1 IN IP4 192.0.2.1',
        's=-',
        'c=IN IP4 192.0.2.1',
        't=0 0',
        'm=audio 4000 RTP/AVP 18 8 0 96 9',
        'a=rtpmap:18 G729/8000',
        'a=rtpmap:96 telephone-event/8000',
        'a=fmtp:96 0-15',
        'a=fmtp:18 annexb=no',
        'a=ptime:20',
        'a=sendonly',
      ),
    );
    const answer = makeSdpAnswer(offer, { address: '127.0.0.21', port: 30000, sessionId: '7', sessionVersion: '8' });
    const m = answer.media[0];
    expect(m.formats).toEqual(['8', '0', '96']);
    expect(m.rtpmaps().map((r) => `${r.payloadType} ${r.encoding}`)).toEqual(['8 PCMA', '0 PCMU', '96 telephone-event']);
    expect(m.attribute('fmtp')).toBe('96 0-15');
    expect(m.attribute('ptime')).toBe('20');
    expect(m.hasAttribute('recvonly')).toBe(true);
    expect(answer.origin.sessionVersion).toBe('8');
  });

  it('accepts only the first usable audio stream and rejects the rest with port 0', () => {
    const offer = parseSdp(
      sdp(
        'v=0',
        'o=- 1 1 IN IP4 192.0.2.1',
        's=-',
        't=0 0',
        'm=video 5000 RTP/AVP 31',
        'c=IN IP4 192.0.2.1',
        'm=audio 4000 RTP/AVP 18',
        'c=IN IP4 192.0.2.1',
        'm=audio 4002 RTP/AVP 0 101',
        'c=IN IP6 2001:db8::1',
        'a=rtpmap:101 telephone-event/8000',
        'm=audio 4004 RTP/AVP 8',
      ),
    );
    const answer = makeSdpAnswer(offer, { address: '2001:db8::20', port: 30000 });
    expect(answer.media.map((m) => `${m.type} ${m.port} ${m.formats.join(',')}`)).toEqual([
      'video 0 31',
      'audio 0 18',
      'audio 30000 0,101',
      'audio 0 8',
    ]);
    expect(answer.connection).toEqual({ netType: 'IN', addrType: 'IP6', address: '2001:db8::20' });
    expect(answer.origin.addrType).toBe('IP6');
    expect(acceptedMedia(answer)?.port).toBe(30000);
  });

  it('rejects everything when no voice codec is common (caller answers 488)', () => {
    const offer = parseSdp(sdp('v=0', 'o=- 1 1 IN IP4 h', 's=-', 't=0 0', 'm=audio 4000 RTP/AVP 18 101', 'a=rtpmap:101 telephone-event/8000'));
    const answer = makeSdpAnswer(offer, { address: '127.0.0.1', port: 30000 });
    expect(answer.media[0].port).toBe(0);
    expect(acceptedMedia(answer)).toBeUndefined();
  });

  it('mirrors a session-level direction attribute', () => {
    const offer = parseSdp(sdp('v=0', 'o=- 1 1 IN IP4 h', 's=-', 't=0 0', 'a=recvonly', 'm=audio 4000 RTP/AVP 0'));
    expect(makeSdpAnswer(offer, { address: '127.0.0.1', port: 1 }).media[0].hasAttribute('sendonly')).toBe(true);
  });

  it('answers our own offer', () => {
    const offer = makeSdpOffer({ address: '127.0.0.5', port: 8000 });
    const answer = makeSdpAnswer(offer, { address: '127.0.0.6', port: 9000 });
    expect(answer.media[0].formats).toEqual(['0', '8', '101']);
    expect(answer.media[0].attribute('fmtp')).toBe('101 0-16');
  });
});
