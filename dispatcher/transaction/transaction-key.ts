/**
 * Transaction matching keys (RFC 3261 §17.1.3 for responses, §17.2.3 for requests).
 */
import type { SipRequest, SipResponse, Via } from '../../shared/sip/index.ts';
import type { Flow } from '../transport/transport.ts';
import { BRANCH_MAGIC_COOKIE } from '../../shared/sip/index.ts';

/** True when the branch was made by an RFC 3261 element: the cookie plus something after it. */
export function isRfc3261Branch(branch: string | undefined): branch is string {
  return branch !== undefined && branch.length > BRANCH_MAGIC_COOKIE.length && branch.startsWith(BRANCH_MAGIC_COOKIE);
}

/**
 * Server transaction key. `method` is the transaction's method: INVITE for an ACK (a non-2xx ACK
 * belongs to the INVITE transaction), CANCEL for a CANCEL. A request without a valid RFC 3261
 * branch (RFC 2543 peers; RFC 4475 §3.2.1 badbranch) is matched on the fields §17.2.3 lists.
 *
 * Hardening beyond §17.2.3: the source (address, and port for UDP) is part of the key, so a
 * retransmission, ACK or CANCEL only matches when it comes from where the request came from.
 * A third party that copies a branch cannot CANCEL someone else's call or steal its responses.
 */
export function serverKey(req: SipRequest, method: string, flow: Flow): string {
  return serverKeyOf(req, req.via, method, flow);
}

/**
 * `serverKey` for the request as it left the element that sent `via` (a Via below the top one)
 * and arrived over `flow`: the key its own retransmissions, ACK and CANCEL would have.
 */
export function serverKeyOf(req: SipRequest, via: Via, method: string, flow: Flow): string {
  // Built with join: one flat string of its own. A template literal would be a tree of pieces
  // (cons strings) holding the branch and host, slices of the received datagram's text, which a
  // finished transaction's table entry would then keep alive for 32 s.
  const port = flow.protocol === 'udp' ? flow.remotePort : '';
  if (isRfc3261Branch(via.branch)) return [via.branch, '|', via.host, ':', via.port ?? '', '@', flow.remoteAddress, ':', port, '|', method].join('');
  // RFC 2543: the ACK carries the To tag of our response, the INVITE had none; leave it out.
  const toTag = method === 'INVITE' ? '' : (req.toTag ?? '');
  return ['2543|', req.uri, '|', req.fromTag ?? '', '|', toTag, '|', req.callId, '|', req.cseq.seq, '|', via.host, ':', via.port ?? '', '@', flow.remoteAddress, ':', port, '|', method].join('');
}

/** Client transaction key: our branch (always RFC 3261) and the CSeq method. */
export function clientKey(branch: string, method: string): string {
  return `${branch}|${method}`;
}

export function responseClientKey(res: SipResponse): string | undefined {
  const branch = res.via.branch;
  return branch === undefined ? undefined : clientKey(branch, res.cseq.method);
}
