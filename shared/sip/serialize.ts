/**
 * SipRequest | SipResponse → Buffer. Untouched header fields are written back byte for byte
 * (`raw`); changed ones as `Name: value`. Content-Length is always re-computed from the body and
 * written once (RFC 3261 §20.14), in the position it had.
 */
import type { SipMessage } from './message.ts';

export function serializeMessage(msg: SipMessage): Buffer {
  const body = msg.body;
  let head = msg.startLine() + '\r\n';
  let wroteLength = false;
  const hs = msg.headers;
  for (let i = 0; i < hs.length; i++) {
    const h = hs[i];
    if (h.key === 'content-length') {
      if (wroteLength) continue;
      wroteLength = true;
      head += h.raw !== undefined && Number(h.value) === body.length ? h.raw : `${h.name}: ${body.length}`;
      head += '\r\n';
      continue;
    }
    head += (h.raw ?? `${h.name}: ${h.value}`) + '\r\n';
  }
  if (!wroteLength) head += `Content-Length: ${body.length}\r\n`;
  head += '\r\n';
  // latin1: one octet per char, so the string length is the byte length.
  const out = Buffer.allocUnsafe(head.length + body.length);
  out.write(head, 0, head.length, 'latin1');
  if (body.length > 0) body.copy(out, head.length);
  return out;
}
