/** SessionDescription → SDP text, every line CRLF-terminated (RFC 8866 §5). */
import type { SessionDescription } from './session-description.ts';

export function serializeSdp(sd: SessionDescription): string {
  let out = '';
  for (const line of sd.session) out += `${line.type}=${line.value}\r\n`;
  for (const section of sd.media) for (const line of section.lines) out += `${line.type}=${line.value}\r\n`;
  return out;
}
