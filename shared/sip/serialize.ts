/**
 * SipRequest | SipResponse → Buffer. Untouched header fields are written back byte for byte
 * (`raw`); changed ones as `Name: value`. Content-Length is always re-computed from the body and
 * written once (RFC 3261 §20.14), in the position it had.
 *
 * Runs of untouched fields that were adjacent in the parsed datagram are copied from its bytes in
 * one go (`SourceField`), which is what makes forwarding cheap; the result is the same as writing
 * each `raw` line.
 */
import { SourceField, type HeaderField, type SipMessage } from './message.ts';

/** Scans call the builtin through a module constant: see `charCodeAt` in shared/sip/syntax.ts. */
const charCodeAt = String.prototype.charCodeAt;

/** The text written for a field that is not copied from its source: `raw` when kept, else `Name: value`. */
function fieldText(h: HeaderField): string {
  return h.raw ?? `${h.name}: ${h.value}`;
}

/** Whether the Content-Length field `h` can be written as it arrived. */
function keepLength(h: HeaderField, bodyLength: number): boolean {
  return SourceField.rawLengthOf(h) >= 0 && Number(h.value) === bodyLength;
}

/**
 * Writes a latin1 string (one octet per char) at `o`; returns the octets written. A plain loop:
 * for the short strings written here it beats the native Buffer#write call.
 */
function put(out: Buffer, o: number, s: string): number {
  const n = s.length;
  if (n > 128) return out.write(s, o, 'latin1');
  for (let j = 0; j < n; j++) out[o + j] = charCodeAt.call(s, j);
  return n;
}

export function serializeMessage(msg: SipMessage): Buffer {
  const body = msg.body;
  const bodyLength = body.length;
  const lineSource = msg.startLineSource();
  const startLine = lineSource === undefined ? msg.startLine() : '';
  const hs = msg.headers;

  // Pass 1: the size. latin1: one octet per char, so a string's length is its byte length.
  let size = (lineSource === undefined ? startLine.length : lineSource.len) + 2;
  let wroteLength = false;
  let keep = false;
  for (let i = 0; i < hs.length; i++) {
    const h = hs[i];
    if (h.key === 'content-length') {
      if (wroteLength) continue;
      wroteLength = true;
      keep = keepLength(h, bodyLength);
      size += (keep ? SourceField.rawLengthOf(h) : h.name.length + 2 + String(bodyLength).length) + 2;
      continue;
    }
    const rawLength = SourceField.rawLengthOf(h);
    size += (rawLength >= 0 ? rawLength : h.name.length + 2 + h.value.length) + 2;
  }
  const missingLength = wroteLength ? '' : `Content-Length: ${bodyLength}\r\n`;
  size += missingLength.length + 2 + bodyLength;

  // Pass 2: write, copying runs of adjacent source fields.
  const out = Buffer.allocUnsafe(size);
  let o = 0;
  let runSrc: Buffer | undefined;
  let runStart = 0;
  let runEnd = 0;
  if (lineSource !== undefined) {
    // The start line is the first run; the first header usually continues it.
    runSrc = lineSource.src;
    runStart = lineSource.at;
    runEnd = lineSource.at + lineSource.len + 2;
  } else {
    o = put(out, 0, startLine);
    out[o++] = 13;
    out[o++] = 10;
  }
  wroteLength = false;
  for (let i = 0; i < hs.length; i++) {
    const h = hs[i];
    const rawLength = SourceField.rawLengthOf(h);
    let text: string | undefined;
    if (h.key === 'content-length') {
      if (wroteLength) continue;
      wroteLength = true;
      if (!keep) text = `${h.name}: ${bodyLength}`;
    } else if (rawLength < 0) {
      text = `${h.name}: ${h.value}`;
    }
    const src = text === undefined ? SourceField.sourceOf(h) : undefined;
    if (src !== undefined) {
      const at = SourceField.offsetOf(h as SourceField);
      const end = at + rawLength + 2;
      if (src === runSrc && at === runEnd) {
        runEnd = end;
      } else {
        if (runSrc !== undefined) o += runSrc.copy(out, o, runStart, runEnd);
        runSrc = src;
        runStart = at;
        runEnd = end;
      }
      continue;
    }
    if (runSrc !== undefined) {
      o += runSrc.copy(out, o, runStart, runEnd);
      runSrc = undefined;
    }
    o += put(out, o, text ?? fieldText(h));
    out[o++] = 13;
    out[o++] = 10;
  }
  if (
    runSrc !== undefined &&
    missingLength === '' &&
    bodyLength > 0 &&
    body.buffer === runSrc.buffer &&
    body.byteOffset === runSrc.byteOffset + runEnd + 2 &&
    runSrc[runEnd] === 13 &&
    runSrc[runEnd + 1] === 10
  ) {
    // The body still sits right after the copied header block's empty line: one copy for all.
    runSrc.copy(out, o, runStart, runEnd + 2 + bodyLength);
    return out;
  }
  if (runSrc !== undefined) o += runSrc.copy(out, o, runStart, runEnd);
  o += put(out, o, missingLength);
  out[o++] = 13;
  out[o++] = 10;
  if (bodyLength > 0) body.copy(out, o);
  return out;
}
