/**
 * The internal-hop URI of a node behind a floating IP: like `internalHopUri` (registrar/owner-uri.ts),
 * the first UDP listener's port, but at the node's own address instead of the advertised host (the
 * floating IP would lead to whichever node holds it, maybe the sender itself).
 */
import type { LocalIdentity } from '../proxy/local-identity.ts';
import { internalHopUri } from '../registrar/owner-uri.ts';

export function ownHopUri(identity: LocalIdentity, ownAddress: string): string {
  const uri = internalHopUri(identity);
  const l = identity.listenerFor('udp');
  const host = l.advertisedHost.includes(':') ? `[${l.advertisedHost}]` : l.advertisedHost;
  // `<scheme>:<host>:<port><params>`: swap the host only.
  return uri.replace(`:${host}:${l.port}`, `:${ownAddress}:${l.port}`);
}
