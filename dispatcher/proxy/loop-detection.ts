/**
 * Loop detection (RFC 3261 §16.3 step 4, §16.6 step 8): our branch ends with a hash of the fields
 * that stay the same when a request loops back to us unchanged (Request-URI, Call-ID, CSeq, tags,
 * Proxy-Require, Route). A request that carries one of our Vias with the same hash has looped
 * (482); a different hash is a spiral (legitimate: the Request-URI changed), and is forwarded.
 */
import type { SipRequest } from '../../shared/sip/index.ts';
import type { LocalIdentity } from './local-identity.ts';

/** FNV-1a 32-bit, base36: cheap and good enough to tell a loop from a spiral. */
export function loopHash(req: SipRequest): string {
  const text = `${req.uri}|${req.callId}|${req.cseq.seq}|${req.fromTag ?? ''}|${req.toTag ?? ''}|${req.get('proxy-require') ?? ''}|${req.getAll('route').join(',')}`;
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(36);
}

/** True when the request already passed through this node with the same loop hash. */
export function isLooped(req: SipRequest, identity: LocalIdentity, hash: string): boolean {
  // Cheap pre-check on the raw Via lines: most requests carry none of our hosts.
  const viaText = req.getAll('via').join(',');
  if (!identity.hostTokens.some((h) => viaText.includes(h))) return false;
  for (const via of req.vias()) {
    if (!identity.isLocalHostPort(via.host, via.port)) continue;
    const branch = via.branch;
    if (branch !== undefined && branch.endsWith(`-${hash}`)) return true;
  }
  return false;
}
