/**
 * A plain audio offer (RFC 3264 §5): PCMU, PCMA and telephone-event (RFC 4733) on one RTP port.
 * Used when an INVITE arrives without SDP and the 200 OK has to carry the offer (RFC 3261 §13.2.1).
 */
import { newSessionId } from './make-sdp-answer.ts';
import { parseSdp } from './parse-sdp.ts';
import { addrTypeOf } from './sdp-fields.ts';
import type { SessionDescription } from './session-description.ts';

export interface SdpOfferOptions {
  address: string;
  port: number;
  sessionId?: string;
  sessionVersion?: string;
  username?: string;
}

export function makeSdpOffer(options: SdpOfferOptions): SessionDescription {
  const id = options.sessionId ?? newSessionId();
  const type = addrTypeOf(options.address);
  return parseSdp(
    [
      'v=0',
      `o=${options.username ?? '-'} ${id} ${options.sessionVersion ?? id} IN ${type} ${options.address}`,
      's=-',
      `c=IN ${type} ${options.address}`,
      't=0 0',
      `m=audio ${options.port} RTP/AVP 0 8 101`,
      'a=rtpmap:0 PCMU/8000',
      'a=rtpmap:8 PCMA/8000',
      'a=rtpmap:101 telephone-event/8000',
      'a=fmtp:101 0-16',
      'a=sendrecv',
      '',
    ].join('\r\n'),
  );
}
