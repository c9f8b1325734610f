/**
 * Loop detection (RFC 3261 §16.3 step 4, §16.6 step 8): our branch ends with a hash of the fields
 * that stay the same when a request loops back to us unchanged (Request-URI, Call-ID, CSeq, tags,
 * Proxy-Require, Route). A request that carries one of our Vias with the same hash has looped
 * (482); a different hash is a spiral (legitimate: the Request-URI changed), and is forwarded.
 */
import type { SipRequest } from '../../shared/sip/index.ts';
import type { LocalIdentity } from './local-identity.ts';

/** Scans call the builtin through a module constant: see `charCodeAt` in shared/sip/syntax.ts. */
const charCodeAt = String.prototype.charCodeAt;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const BAR = 0x7c; // '|'
const COMMA = 0x2c;

function fnvString(h: number, s: string): number {
  for (let i = 0, n = s.length; i < n; i++) h = Math.imul(h ^ charCodeAt.call(s, i), FNV_PRIME);
  return h;
}

function fnvChar(h: number, c: number): number {
  return Math.imul(h ^ c, FNV_PRIME);
}

/**
 * FNV-1a 32-bit, base36: cheap and good enough to tell a loop from a spiral. The hash of
 * `uri|callId|cseq|fromTag|toTag|proxy-require|route,route…`, fed field by field rather than
 * through a joined string (one string less per request; the value is the same).
 */
export function loopHash(req: SipRequest): string {
  let h = fnvString(FNV_OFFSET, req.uri);
  h = fnvString(fnvChar(h, BAR), req.callId);
  h = fnvString(fnvChar(h, BAR), String(req.cseq.seq));
  h = fnvString(fnvChar(h, BAR), req.fromTag ?? '');
  h = fnvString(fnvChar(h, BAR), req.toTag ?? '');
  h = fnvString(fnvChar(h, BAR), req.get('proxy-require') ?? '');
  h = fnvChar(h, BAR);
  let first = true;
  for (const field of req.headers) {
    if (field.key !== 'route') continue;
    if (!first) h = fnvChar(h, COMMA);
    h = fnvString(h, field.value);
    first = false;
  }
  return (h >>> 0).toString(36);
}

/** True when the request already passed through this node with the same loop hash. */
export function isLooped(req: SipRequest, identity: LocalIdentity, hash: string): boolean {
  // Cheap pre-check on the raw Via lines: most requests carry none of our hosts.
  if (!mentionsUs(req, identity.hostTokens)) return false;
  for (const via of req.vias()) {
    if (!identity.isLocalHostPort(via.host, via.port)) continue;
    const branch = via.branch;
    if (branch !== undefined && branch.endsWith(`-${hash}`)) return true;
  }
  return false;
}

/** Whether any Via line contains one of our host tokens (none holds a comma, so line by line is enough). */
function mentionsUs(req: SipRequest, tokens: readonly string[]): boolean {
  for (const field of req.headers) {
    if (field.key !== 'via') continue;
    for (let i = 0; i < tokens.length; i++) if (field.value.includes(tokens[i])) return true;
  }
  return false;
}
