/**
 * Server transaction key (RFC 3261 §17.2.3): the top Via branch and sent-by, plus the method
 * (ACK and CANCEL look up their INVITE by passing 'INVITE'). Requests from RFC 2543 peers
 * (no magic cookie) fall back to Call-ID, From tag, CSeq number and sent-by.
 */
import type { SipRequest } from '../shared/sip/message.ts';
import { BRANCH_MAGIC_COOKIE } from '../shared/sip/via.ts';

export function txnKey(req: SipRequest, method: string): string {
  const via = req.via;
  const sentBy = `${via.host}:${via.port ?? ''}`;
  if (via.branch !== undefined && via.branch.startsWith(BRANCH_MAGIC_COOKIE)) return `${method}\n${via.branch}\n${sentBy}`;
  return `${method}\n2543\n${req.callId}\n${req.fromTag ?? ''}\n${req.cseq.seq}\n${sentBy}\n${via.branch ?? ''}`;
}
