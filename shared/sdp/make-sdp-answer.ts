/**
 * Offer/answer (RFC 3264 §6): the answer a simple audio endpoint gives. The first audio stream
 * (RTP/AVP) that offers PCMU or PCMA is accepted with the common codecs (PCMU, PCMA,
 * telephone-event at 8000 Hz, in the offerer's order, with the offerer's payload type numbers);
 * every other stream is rejected with port 0, keeping one offered format (§6). When no stream can
 * be accepted every port is 0: the caller should answer 488 Not Acceptable Here instead
 * (`acceptedMedia` returns undefined).
 */
import { MediaSection } from './media-section.ts';
import { addrTypeOf, formatMedia, formatOrigin, type SdpRtpmap } from './sdp-fields.ts';
import type { SdpLine } from './sdp-line.ts';
import { SessionDescription } from './session-description.ts';

export interface SdpAnswerOptions {
  /** Where our RTP goes: the c= and o= address (IP4 or IP6 follows the address). */
  address: string;
  /** RTP port of the accepted stream. */
  port: number;
  /** o= sess-id; a fresh one (NTP-ish seconds) when absent (RFC 8866 §5.2). */
  sessionId?: string;
  /** o= sess-version; defaults to the session id. Increment it on each new answer in a dialog (RFC 3264 §8). */
  sessionVersion?: string;
  /** o= username; `-` when absent. */
  username?: string;
}

/** Codecs we accept, by upper-cased encoding name; all at 8000 Hz. */
const VOICE = new Set(['PCMU', 'PCMA']);
const EVENTS = 'TELEPHONE-EVENT';
/** RFC 3551 §6 static payload types we know. */
const STATIC: Record<string, SdpRtpmap> = {
  '0': { payloadType: 0, encoding: 'PCMU', clockRate: 8000, channels: undefined },
  '8': { payloadType: 8, encoding: 'PCMA', clockRate: 8000, channels: undefined },
};

/** RFC 3264 §6.1: the answer's direction mirrors the offer's. */
const MIRROR: Record<string, string> = { sendonly: 'recvonly', recvonly: 'sendonly', inactive: 'inactive', sendrecv: 'sendrecv' };
const DIRECTIONS = Object.keys(MIRROR);

let sessionCounter = 0;

/** A fresh numeric session id (RFC 8866 §5.2 suggests an NTP timestamp; uniqueness is what matters). */
export function newSessionId(): string {
  sessionCounter = (sessionCounter + 1) % 1000;
  return String(Math.floor(Date.now() / 1000) * 1000 + sessionCounter);
}

function codecOf(section: MediaSection, format: string): SdpRtpmap | undefined {
  return section.rtpmap(format) ?? STATIC[format];
}

function isAcceptedCodec(map: SdpRtpmap | undefined): boolean {
  if (map === undefined || map.clockRate !== 8000) return false;
  const name = map.encoding.toUpperCase();
  return VOICE.has(name) || name === EVENTS;
}

/** The formats of a section that we would accept, in offer order; empty when it has no voice codec. */
function commonFormats(section: MediaSection): string[] {
  if (section.type !== 'audio' || section.proto.toUpperCase() !== 'RTP/AVP' || section.port === 0) return [];
  const formats = section.formats.filter((f) => isAcceptedCodec(codecOf(section, f)));
  const hasVoice = formats.some((f) => VOICE.has(codecOf(section, f)!.encoding.toUpperCase()));
  return hasVoice ? formats : [];
}

function directionOf(lines: readonly { name: string }[]): string | undefined {
  return lines.find((a) => DIRECTIONS.includes(a.name))?.name;
}

export function makeSdpAnswer(offer: SessionDescription, options: SdpAnswerOptions): SessionDescription {
  const sessionId = options.sessionId ?? newSessionId();
  const addrType = addrTypeOf(options.address);
  const session: SdpLine[] = [
    { type: 'v', value: '0' },
    {
      type: 'o',
      value: formatOrigin({
        username: options.username ?? '-',
        sessionId,
        sessionVersion: options.sessionVersion ?? sessionId,
        netType: 'IN',
        addrType,
        address: options.address,
      }),
    },
    { type: 's', value: '-' },
    { type: 'c', value: `IN ${addrType} ${options.address}` },
    // RFC 3264 §6: the t= line of the answer equals the offer's.
    { type: 't', value: offer.session.find((l) => l.type === 't')?.value ?? '0 0' },
  ];
  const sessionDirection = directionOf(offer.attributes());
  let accepted = false;
  const media = offer.media.map((section) => {
    const formats = accepted ? [] : commonFormats(section);
    if (formats.length === 0) {
      const m = section.media;
      return new MediaSection([{ type: 'm', value: formatMedia({ ...m, port: 0, portCount: undefined, formats: m.formats.slice(0, 1) }) }]);
    }
    accepted = true;
    const lines: SdpLine[] = [
      { type: 'm', value: formatMedia({ type: 'audio', port: options.port, portCount: undefined, proto: section.proto, formats }) },
    ];
    for (const f of formats) {
      const map = codecOf(section, f)!;
      lines.push({ type: 'a', value: `rtpmap:${f} ${map.encoding}/${map.clockRate}` });
      const fmtp = section.attributes().find((a) => a.name === 'fmtp' && a.value?.split(' ')[0] === f);
      if (fmtp !== undefined) lines.push({ type: 'a', value: `fmtp:${fmtp.value}` });
    }
    const ptime = section.attribute('ptime');
    if (ptime !== undefined && ptime !== '') lines.push({ type: 'a', value: `ptime:${ptime}` });
    const direction = directionOf(section.attributes()) ?? sessionDirection ?? 'sendrecv';
    lines.push({ type: 'a', value: MIRROR[direction] });
    return new MediaSection(lines);
  });
  return new SessionDescription(session, media);
}

/** The accepted (non-zero port) media section of an answer, or undefined when everything was rejected. */
export function acceptedMedia(answer: SessionDescription): MediaSection | undefined {
  return answer.media.find((m) => m.port !== 0);
}
