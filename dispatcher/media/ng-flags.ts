/**
 * How sipfleet asks rtpengine to rewrite the SDP of an offer or an answer (the ng keys besides the
 * call's identifiers). See docs/media.md, "What the relay is asked to do".
 *
 * Every offer and answer:
 *   replace: origin, session-connection — the o= and the session-level c= lines name the relay
 *            (not only the m=/c= of each stream), so neither side sees the other's address;
 *   ICE: remove — a SIP trunk or switch speaks plain RTP; ICE candidates naming the far end's
 *            addresses would let media bypass the relay.
 *   No address flags: rtpengine takes the media address from the SDP and then latches on where
 *   the packets really come from (its default symmetric mode), which covers NAT.
 *
 * WebRTC (an SDP with `UDP/TLS/RTP/SAVP(F)` or `a=ice-ufrag`): an offer from a browser goes to the
 * other side as plain `RTP/AVP`, RTCP demultiplexed (`rtcp-mux: demux`), ICE removed; the answer
 * back to the browser is translated back by rtpengine to the browser's DTLS-SRTP profile, with
 * rtpengine's own ICE candidates (`ICE: force`). An offer *to* a browser (a switch calling a WebRTC
 * phone) is not converted: the service does not know the callee's kind; such users should have
 * `zone: none` (docs/media.md, "Limits").
 */
import type { NgAnswerParams, NgOfferParams } from './ng-client.ts';

type SdpOptions = Pick<NgOfferParams, 'replace' | 'ice' | 'transportProtocol' | 'rtcpMux'>;

const REPLACE: readonly string[] = Object.freeze(['origin', 'session-connection']);

const WEBRTC_PROFILE = /^m=\S+ \d+(?:\/\d+)? UDP\/TLS\/RTP\/SAVPF?\s/m;
const ICE_UFRAG = /^a=ice-ufrag:/m;

/** Whether the SDP comes from a WebRTC endpoint (DTLS-SRTP profile or ICE credentials). */
export function isWebRtcSdp(sdp: Buffer | string): boolean {
  const text = typeof sdp === 'string' ? sdp : sdp.toString('latin1');
  return WEBRTC_PROFILE.test(text) || ICE_UFRAG.test(text);
}

/** The ng options of an offer whose SDP is `sdp`. */
export function offerOptions(sdp: Buffer | string): SdpOptions {
  if (isWebRtcSdp(sdp)) return { replace: REPLACE, ice: 'remove', transportProtocol: 'RTP/AVP', rtcpMux: ['demux'] };
  return { replace: REPLACE, ice: 'remove' };
}

/** The ng options of an answer to an offer that came from a WebRTC endpoint or not. */
export function answerOptions(offererIsWebRtc: boolean): Pick<NgAnswerParams, 'replace' | 'ice'> {
  return { replace: REPLACE, ice: offererIsWebRtc ? 'force' : 'remove' };
}
