/**
 * A response for a request that could not be parsed (RFC 3261 §16.3 / RFC 4475): the status and
 * reason of the parse error, with the Via, From, To, Call-ID and CSeq lines copied as they came.
 * Returns undefined when no answer is possible: the bytes are a response (never answered), or
 * there is no Via line that starts like one (nowhere sane to address it).
 */
const LINE = /\r\n((via|v|from|f|to|t|call-id|i|cseq)[ \t]*:[^\r\n]*(?:\r\n[ \t][^\r\n]*)*)/gi;
const MAX_COPIED = 2_048;

export function makeErrorResponseBytes(data: Buffer, status: number, reason: string): Buffer | undefined {
  const end = data.indexOf('\r\n\r\n');
  const head = data.toString('latin1', 0, end < 0 ? Math.min(data.length, 16_384) : end);
  if (head.startsWith('SIP/')) return undefined;
  let copied = '';
  let hasVia = false;
  for (const m of ('\r\n' + head.slice(head.indexOf('\r\n') + 2)).matchAll(LINE)) {
    const line = m[1];
    const name = m[2].toLowerCase();
    if (name === 'via' || name === 'v') {
      const value = line.slice(line.indexOf(':') + 1).trim();
      if (!/^SIP[ \t]*\/[ \t]*\d+\.\d+[ \t]*\//i.test(value)) continue;
      hasVia = true;
    }
    if (copied.length + line.length > MAX_COPIED) break;
    copied += line + '\r\n';
  }
  if (!hasVia) return undefined;
  const safeReason = reason.replace(/[\r\n]/g, ' ').slice(0, 120);
  return Buffer.from(`SIP/2.0 ${status} ${safeReason}\r\n${copied}Content-Length: 0\r\n\r\n`, 'latin1');
}
