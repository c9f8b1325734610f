/**
 * SDP text → SessionDescription (RFC 8866 §5). Every line is kept in order, unknown types included.
 * Strict about what the rest of sipfleet reads (v=0 first, a well-formed o=, c=, m= and attribute
 * name, one-letter types) and liberal about the rest: LF or CRLF line ends, runs of blanks between
 * fields, blank lines, any order of the other lines. Failures are SDP_ERR_PARSE naming the line.
 */
import { ERROR_CODES, SipfleetError } from '../errors.ts';
import { MediaSection } from './media-section.ts';
import { parseAttribute, parseConnection, parseMedia, parseOrigin, parseRtpmap } from './sdp-fields.ts';
import type { SdpLine } from './sdp-line.ts';
import { SessionDescription } from './session-description.ts';

function parseError(lineNo: number, line: string, what: string): SipfleetError {
  const shown = line.length > 60 ? `${line.slice(0, 60)}...` : line;
  return new SipfleetError(ERROR_CODES.SDP_ERR_PARSE, `SDP line ${lineNo} (${JSON.stringify(shown)}): ${what}`, {
    detail: { line: lineNo, type: line.slice(0, 1) },
  });
}

/** What each checked line type must look like; the message used when it does not. */
const CHECKS: Record<string, [check: (value: string) => boolean, what: string]> = {
  o: [(v) => parseOrigin(v) !== undefined, 'expected o=<username> <sess-id> <sess-version> IN IP4|IP6 <address>'],
  c: [(v) => parseConnection(v) !== undefined, 'expected c=<nettype> IP4|IP6 <address>'],
  m: [(v) => parseMedia(v) !== undefined, 'expected m=<media> <port>[/<count>] <proto> <fmt> ...'],
  a: [checkAttribute, 'expected a=<name>[:<value>] (rtpmap: <pt> <encoding>/<rate>[/<channels>])'],
};

function checkAttribute(value: string): boolean {
  const attr = parseAttribute(value);
  if (attr === undefined) return false;
  if (attr.name === 'rtpmap') return attr.value !== undefined && parseRtpmap(attr.value) !== undefined;
  return true;
}

export function parseSdp(text: string | Buffer): SessionDescription {
  const source = typeof text === 'string' ? text : text.toString('utf8');
  const rawLines = source.split(/\r?\n/);
  const session: SdpLine[] = [];
  const media: MediaSection[] = [];
  let current: SdpLine[] = session;
  let seenVersion = false;
  let originCount = 0;
  for (let i = 0; i < rawLines.length; i++) {
    const raw = rawLines[i];
    const lineNo = i + 1;
    if (raw.trim().length === 0) continue;
    if (raw.length < 2 || raw[1] !== '=' || !/^[a-zA-Z]$/.test(raw[0])) {
      throw parseError(lineNo, raw, 'expected <letter>=<value>');
    }
    const type = raw[0];
    const value = raw.slice(2);
    if (!seenVersion) {
      if (type !== 'v' || value.trim() !== '0') throw parseError(lineNo, raw, 'the first line must be v=0');
      seenVersion = true;
    }
    const check = CHECKS[type];
    if (check !== undefined && !check[0](value)) throw parseError(lineNo, raw, check[1]);
    if (type === 'o') {
      if (current !== session) throw parseError(lineNo, raw, 'o= inside a media section');
      if (++originCount > 1) throw parseError(lineNo, raw, 'second o= line');
    }
    if (type === 'm') {
      current = [];
      media.push(new MediaSection(current));
    }
    current.push({ type, value });
  }
  if (!seenVersion) throw parseError(1, '', 'empty session description');
  if (originCount === 0) throw parseError(session.length + 1, '', 'missing o= line');
  return new SessionDescription(session, media);
}
