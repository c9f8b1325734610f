/**
 * Warms V8's JIT on the SIP codec before the node takes traffic.
 *
 * A fresh process runs the parser and serializer as bytecode until V8 has seen them often enough
 * to optimise them, which takes the first second or so of real traffic. A node that starts into full
 * load (a restart, or a floating IP taken over, docs/ha.md) then answers slowly for that second:
 * at 5000 cps, 0.5–1.25 s of 80–280 ms response times and new calls shed while the queue is
 * behind (BENCHMARKS.md, Session 11). Parsing, touching and re-serializing a typical call's
 * messages a few thousand times first moves that cost before the listeners open.
 *
 * Only the codec (shared/sip) is exercised: it is pure, so the warm-up has no side effect on
 * the store, the transactions or the logs.
 */
import { parseMessage, serializeMessage, SipRequest, type SipMessage } from '../shared/sip/index.ts';

/** Rounds over SAMPLE_CALL: ~7 messages each, a few hundred ms of CPU in all on this project's VM. */
export const SIP_WARM_UP_ROUNDS = 3000;

/** The sample call's offer (an answer too: the warm-ups do not read SDP). */
export const SDP =
  'v=0\r\no=- 3901938217 3901938217 IN IP4 203.0.113.17\r\ns=-\r\nc=IN IP4 203.0.113.17\r\nt=0 0\r\n' +
  'm=audio 34568 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n' +
  'a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n';

const VIA = 'Via: SIP/2.0/UDP 203.0.113.17:5060;branch=z9hG4bK-warm-6c2f7b1e3a9d4f01;rport';
const VIA_RECEIVED = 'Via: SIP/2.0/UDP 203.0.113.17:5060;branch=z9hG4bK-warm-6c2f7b1e3a9d4f01;rport=5060;received=203.0.113.17';
const OURS = 'Via: SIP/2.0/UDP 192.0.2.100:5060;branch=z9hG4bK-warm-ours.1';
const FROM = 'From: "ACME" <sip:+12125550199@203.0.113.17:5060;user=phone>;tag=8f3a2c71';
const TO = 'To: <sip:+14155550123@192.0.2.100;user=phone>';
const CALL = 'Call-ID: 5f9c1e7a2b8d4c3e9a1f6b2d7c8e4a0b@203.0.113.17';

function message(lines: readonly string[], body = ''): Buffer {
  return Buffer.from(`${lines.join('\r\n')}\r\nContent-Length: ${body.length}\r\n\r\n${body}`, 'latin1');
}

/** A carrier's call through the proxy, as the dispatcher sees it: requests in, responses from a switch. */
const SAMPLE_CALL: readonly Buffer[] = [
  message(['INVITE sip:+14155550123@192.0.2.100:5060;user=phone SIP/2.0', VIA, 'Max-Forwards: 70', FROM, TO, CALL, 'CSeq: 1 INVITE', 'Contact: <sip:+12125550199@203.0.113.17:5060>', 'Content-Type: application/sdp'], SDP),
  message(['SIP/2.0 100 Trying', OURS, VIA_RECEIVED, FROM, TO, CALL, 'CSeq: 1 INVITE']),
  message(['SIP/2.0 180 Ringing', OURS, VIA_RECEIVED, 'Record-Route: <sip:192.0.2.100;lr>', FROM, `${TO};tag=sw-1`, CALL, 'CSeq: 1 INVITE', 'Contact: <sip:+14155550123@192.0.2.21:5060>']),
  message(['SIP/2.0 200 OK', OURS, VIA_RECEIVED, 'Record-Route: <sip:192.0.2.100;lr>', FROM, `${TO};tag=sw-1`, CALL, 'CSeq: 1 INVITE', 'Contact: <sip:+14155550123@192.0.2.21:5060>', 'Content-Type: application/sdp'], SDP),
  message(['ACK sip:+14155550123@192.0.2.21:5060 SIP/2.0', VIA, 'Route: <sip:192.0.2.100;lr>', 'Max-Forwards: 70', FROM, `${TO};tag=sw-1`, CALL, 'CSeq: 1 ACK']),
  message(['BYE sip:+14155550123@192.0.2.21:5060 SIP/2.0', VIA, 'Route: <sip:192.0.2.100;lr>', 'Max-Forwards: 70', FROM, `${TO};tag=sw-1`, CALL, 'CSeq: 2 BYE']),
  message(['SIP/2.0 200 OK', OURS, VIA_RECEIVED, FROM, `${TO};tag=sw-1`, CALL, 'CSeq: 2 BYE']),
];

/** What the proxy core reads of a message and writes into its copy (proxy-core.ts, response-context.ts). */
function exercise(m: SipMessage): number {
  let n = m.via.host.length + m.callId.length + m.cseq.seq + (m.fromTag?.length ?? 0) + (m.toTag?.length ?? 0);
  if (m instanceof SipRequest) {
    n += (m.maxForwards ?? 0) + m.routes().length;
    const fwd = new SipRequest(m.method, m.uri, m.headers.slice(), m.body);
    fwd.set('Max-Forwards', String((m.maxForwards ?? 70) - 1));
    fwd.prepend('Record-Route', '<sip:192.0.2.100;lr>');
    fwd.prepend('Via', 'SIP/2.0/UDP 192.0.2.100:5060;branch=z9hG4bK-warm-fwd');
    return n + serializeMessage(fwd).length;
  }
  n += m.recordRoutes().length;
  m.removeFirstValue('via');
  return n + serializeMessage(m).length;
}

/** Run the codec over SAMPLE_CALL `rounds` times; returns a checksum (so the work is not optimised away). */
export function warmSipCodec(rounds = SIP_WARM_UP_ROUNDS): number {
  let sum = 0;
  for (let r = 0; r < rounds; r++) for (const data of SAMPLE_CALL) sum += exercise(parseMessage(data));
  return sum;
}
