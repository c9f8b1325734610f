/**
 * The response to a request that did not parse (RFC 3261 §8.2: 400, 505, 513...). Built from the
 * raw header lines when the five headers a response copies (Via, From, To, Call-ID, CSeq, §8.2.6.2)
 * can be found; otherwise undefined and the message is dropped. Never answers a response or an ACK
 * (§17.2.3: an ACK gets no response).
 */
import { SipParseError } from '../shared/errors.ts';
import { headerKey } from '../shared/sip/header-names.ts';
import { generateTag } from '../shared/sip/ids.ts';

const COPIED = ['via', 'from', 'to', 'call-id', 'cseq'];

export function parseErrorResponse(data: Buffer, err: unknown, extraHeaders: readonly string[] = []): Buffer | undefined {
  const text = data.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  const head = (end < 0 ? text : text.slice(0, end)).replace(/^(\r\n)+/, '');
  const lines = head.split('\r\n');
  const start = /^([!%'*+\-.0-9A-Z_`a-z~]+) [^ ]+ SIP\/[^ ]+$/.exec(lines[0] ?? '');
  if (start === null || start[1] === 'ACK') return undefined;
  // Unfold (RFC 3261 §7.3.1) and keep the copied header lines, every Via, the first of the others.
  const fields: { key: string; line: string }[] = [];
  for (const line of lines.slice(1)) {
    if (/^[ \t]/.test(line) && fields.length > 0) {
      fields[fields.length - 1].line += ` ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    fields.push({ key: headerKey(line.slice(0, colon).trim()), line });
  }
  const out: string[] = [];
  for (const key of COPIED) {
    const found = fields.filter((f) => f.key === key);
    if (found.length === 0) return undefined;
    for (const f of key === 'via' ? found : found.slice(0, 1)) {
      out.push(key === 'to' && !/;\s*tag\s*=/i.test(f.line) ? `${f.line};tag=${generateTag()}` : f.line);
    }
  }
  let status = err instanceof SipParseError ? err.status : 400;
  if (status < 300 || status > 699) status = 400;
  const reason = (err instanceof SipParseError ? err.reason : 'Bad Request').replace(/[^\x20-\x7e]/g, '').slice(0, 120) || 'Bad Request';
  const response = [`SIP/2.0 ${status} ${reason}`, ...out, ...extraHeaders, 'Content-Length: 0', '', ''].join('\r\n');
  return Buffer.from(response, 'latin1');
}
