/**
 * The CANCEL for a forwarded INVITE (RFC 3261 §9.1): the same Request-URI, Call-ID, From, To,
 * Route and CSeq number, and only the top Via, so that its branch matches the INVITE's client
 * transaction downstream.
 */
import { SipRequest, type HeaderField } from '../../shared/sip/index.ts';

export function cancelFor(invite: SipRequest): SipRequest {
  const headers: HeaderField[] = [];
  let via = false;
  for (const h of invite.headers) {
    if (h.key === 'via') {
      if (!via) headers.push({ name: 'Via', key: 'via', value: h.value, raw: undefined });
      via = true;
    } else if (h.key === 'from' || h.key === 'to' || h.key === 'call-id' || h.key === 'route') {
      headers.push(h);
    } else if (h.key === 'cseq') {
      headers.push({ name: 'CSeq', key: 'cseq', value: `${invite.cseq.seq} CANCEL`, raw: undefined });
    }
  }
  headers.push({ name: 'Max-Forwards', key: 'max-forwards', value: '70', raw: undefined });
  return new SipRequest('CANCEL', invite.uri, headers, Buffer.alloc(0));
}
