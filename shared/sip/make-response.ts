/**
 * Build a response to a request (RFC 3261 §8.2.6.2): Via (all values, in order), From, Call-ID and
 * CSeq copied byte for byte, To copied and given a tag when it has none (except for 100).
 */
import type { HeaderField, SipRequest } from './message.ts';
import { SipResponse } from './message.ts';
import { headerKey } from './header-names.ts';
import { generateTag } from './ids.ts';
import { reasonPhrase } from './status-codes.ts';

const COPIED = new Set(['via', 'from', 'to', 'call-id', 'cseq']);

export interface ResponseOptions {
  /** To tag for a response > 100 when the request's To has none; generated when omitted. */
  toTag?: string;
  headers?: ReadonlyArray<readonly [name: string, value: string]>;
  body?: Buffer;
  contentType?: string;
}

export function makeResponse(req: SipRequest, status: number, reason = reasonPhrase(status), opts: ResponseOptions = {}): SipResponse {
  const headers: HeaderField[] = [];
  for (const h of req.headers) {
    if (!COPIED.has(h.key)) continue;
    if (h.key === 'to' && status > 100 && req.toTag === undefined) {
      headers.push({ name: 'To', key: 'to', value: `${h.value};tag=${opts.toTag ?? generateTag()}`, raw: undefined });
    } else {
      headers.push(h);
    }
  }
  for (const [name, value] of opts.headers ?? []) {
    headers.push({ name, key: headerKey(name), value, raw: undefined });
  }
  const body = opts.body ?? Buffer.alloc(0);
  if (body.length > 0 && opts.contentType !== undefined) {
    headers.push({ name: 'Content-Type', key: 'content-type', value: opts.contentType, raw: undefined });
  }
  return new SipResponse(status, reason, headers, body);
}
