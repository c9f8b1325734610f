/**
 * The proxy core with a media relay (media relay issue, point 4): the SDP of every offer and
 * answer of a call goes through the relay chosen for it (offer on INVITE, answer on 18x/2xx, late
 * offer in the 2xx answered in the ACK, re-INVITE), and the relay session is deleted whichever way
 * the call ends (BYE, rejection, CANCEL), but not on a failover to the next switch. The media
 * service is a fake here; it rewrites SDP by tagging it.
 */
import { describe, expect, it } from 'vitest';
import { SipfleetError } from '../../shared/errors.ts';
import { CARRIER, parseRequest, parseResponse, request, settle } from '../transaction/transaction-test-kit.ts';
import type { MediaCall, MediaCallContext, MediaService } from './media-service.ts';
import { proxyHarness, sentRequests, sentResponses, statusesTo, switchAnswers, CARRIER_TARGET, SW1, SW2, type ProxyHarness } from './proxy-test-kit.ts';

const SDP = 'v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';
const SW_SDP = 'v=0\r\no=- 2 2 IN IP4 192.0.2.21\r\ns=-\r\nc=IN IP4 192.0.2.21\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n';

class FakeMediaCall implements MediaCall {
  readonly relayId = 'r1';
  readonly log: string[] = [];
  ended: string[] = [];
  async offer(fromTag: string, toTag: string | undefined, sdp: Buffer): Promise<Buffer> {
    this.log.push(`offer ${fromTag} ${toTag ?? '-'}`);
    return Buffer.from(`${sdp.toString('latin1')}a=relayed-offer\r\n`);
  }
  async answer(fromTag: string, toTag: string, sdp: Buffer): Promise<Buffer> {
    this.log.push(`answer ${fromTag} ${toTag}`);
    return Buffer.from(`${sdp.toString('latin1')}a=relayed-answer\r\n`);
  }
  async end(reason: string): Promise<void> {
    this.ended.push(reason);
  }
}

class FakeMedia implements MediaService {
  readonly calls = new Map<string, FakeMediaCall>();
  readonly started: MediaCallContext[] = [];
  refuse = false;
  async startCall(ctx: MediaCallContext): Promise<MediaCall | undefined> {
    this.started.push(ctx);
    if (this.refuse) throw new SipfleetError('STORE_ERR_UNAVAILABLE', 'no relay (test)');
    const call = new FakeMediaCall();
    this.calls.set(ctx.callId, call);
    return call;
  }
  find(callId: string): MediaCall | undefined {
    return this.calls.get(callId);
  }
}

function setup(): { h: ProxyHarness; media: FakeMedia } {
  const media = new FakeMedia();
  return { h: proxyHarness({ media }), media };
}

const invite = (body?: string) => request(body === undefined ? {} : { body, extra: ['Content-Type: application/sdp'] });

describe('the proxy core with a media relay', () => {
  it("offers the caller's SDP through the relay and answers the switch's 183 and 200 through it", async () => {
    const { h, media } = setup();
    h.transport.inject(invite(SDP), CARRIER);
    await settle();
    expect(media.started).toMatchObject([{ callId: 'call-1@198.51.100.7', fromTag: 'from-1', carrierId: undefined, sourceIp: '198.51.100.7' }]);
    const [fwd] = sentRequests(h, SW1, 'INVITE');
    expect(parseRequest(fwd).body.toString('latin1')).toContain('a=relayed-offer');
    switchAnswers(h, fwd, 183, 'Session Progress', { body: SW_SDP });
    switchAnswers(h, fwd, 200, 'OK', { body: SW_SDP });
    await settle();
    const ups = sentResponses(h, CARRIER_TARGET).map((r) => parseResponse(r)).filter((r) => r.status > 100);
    expect(ups.map((r) => r.status)).toEqual([183, 200]);
    for (const r of ups) expect(r.body.toString('latin1')).toContain('a=relayed-answer');
    const call = media.calls.get('call-1@198.51.100.7')!;
    expect(call.log).toEqual(['offer from-1 -', 'answer from-1 sw-tag', 'answer from-1 sw-tag']);
    expect(call.ended).toEqual([]);
  });

  it('a late offer: the 2xx SDP is offered from the callee side and the ACK SDP answers it', async () => {
    const { h, media } = setup();
    h.transport.inject(invite(), CARRIER);
    await settle();
    const [fwd] = sentRequests(h, SW1, 'INVITE');
    expect(parseRequest(fwd).body.length).toBe(0);
    switchAnswers(h, fwd, 200, 'OK', { body: SW_SDP });
    await settle();
    h.transport.inject(request({ method: 'ACK', branch: 'z9hG4bK-ack', toTag: 'sw-tag', body: SDP, extra: ['Content-Type: application/sdp'] }), CARRIER);
    await settle();
    const [ack] = sentRequests(h, SW1, 'ACK');
    expect(parseRequest(ack).body.toString('latin1')).toContain('a=relayed-answer');
    expect(media.calls.get('call-1@198.51.100.7')!.log).toEqual(['offer sw-tag from-1', 'answer sw-tag from-1']);
  });

  it('deletes the relay session on BYE, and re-offers a re-INVITE', async () => {
    const { h, media } = setup();
    h.transport.inject(invite(SDP), CARRIER);
    await settle();
    const [fwd] = sentRequests(h, SW1, 'INVITE');
    switchAnswers(h, fwd, 200, 'OK', { body: SW_SDP });
    await settle();
    h.transport.inject(request({ method: 'ACK', branch: 'z9hG4bK-ack', toTag: 'sw-tag' }), CARRIER);
    // re-INVITE from the switch side (callee): its From tag is the switch's.
    h.transport.inject(
      [
        'INVITE sip:carrier@198.51.100.7:5060 SIP/2.0',
        'Via: SIP/2.0/UDP 192.0.2.21:5060;branch=z9hG4bK-reinv',
        'Max-Forwards: 70',
        'From: <sip:+15551234567@192.0.2.100>;tag=sw-tag',
        'To: "Carrier" <sip:+15550001111@198.51.100.7>;tag=from-1',
        'Call-ID: call-1@198.51.100.7',
        'CSeq: 10 INVITE',
        'Content-Type: application/sdp',
        `Content-Length: ${SW_SDP.length}`,
        '',
        SW_SDP,
      ].join('\r\n'),
      { protocol: 'udp', remoteAddress: '192.0.2.21', remotePort: 5060 },
    );
    await settle();
    const call = media.calls.get('call-1@198.51.100.7')!;
    expect(call.log.slice(-1)).toEqual(['offer sw-tag from-1']);
    h.transport.inject(request({ method: 'BYE', branch: 'z9hG4bK-bye', toTag: 'sw-tag', cseq: 2 }), CARRIER);
    await settle();
    switchAnswers(h, sentRequests(h, SW1, 'BYE')[0], 200, 'OK');
    await settle();
    expect(call.ended).toEqual(['bye']);
  });

  it('keeps the session across a failover and deletes it once on the final rejection', async () => {
    const { h, media } = setup();
    h.transport.inject(invite(SDP), CARRIER);
    await settle();
    switchAnswers(h, sentRequests(h, SW1, 'INVITE')[0], 503, 'Service Unavailable');
    await settle();
    const call = media.calls.get('call-1@198.51.100.7')!;
    expect(call.ended).toEqual([]);
    const [second] = sentRequests(h, SW2, 'INVITE');
    expect(parseRequest(second).body.toString('latin1')).toContain('a=relayed-offer');
    switchAnswers(h, second, 486, 'Busy Here');
    await settle();
    expect(call.ended).toEqual(['rejected']);
    expect(media.started).toHaveLength(1);
  });

  it('deletes the session when the caller CANCELs', async () => {
    const { h, media } = setup();
    h.transport.inject(invite(SDP), CARRIER);
    await settle();
    const [fwd] = sentRequests(h, SW1, 'INVITE');
    switchAnswers(h, fwd, 180, 'Ringing');
    h.transport.inject(request({ method: 'CANCEL', cseqMethod: 'CANCEL' }), CARRIER);
    await settle();
    switchAnswers(h, fwd, 487, 'Request Terminated');
    await settle();
    expect(media.calls.get('call-1@198.51.100.7')!.ended).toEqual(['cancel']);
  });

  it('answers 503 (No Media Relay) when no relay can take the call, and sends nothing to a switch', async () => {
    const { h, media } = setup();
    media.refuse = true;
    h.transport.inject(invite(SDP), CARRIER);
    await settle();
    expect(statusesTo(h, CARRIER_TARGET)).toEqual([100, 503]);
    expect(sentResponses(h, CARRIER_TARGET)[1].text).toContain('503 Service Unavailable (No Media Relay)');
    expect(sentRequests(h, SW1, 'INVITE')).toHaveLength(0);
    expect(h.admission.admits).toHaveLength(0);
  });
});
