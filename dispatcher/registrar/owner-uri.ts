/**
 * The internal hop between dispatcher nodes: a call for a phone registered through node A that
 * arrives at node B is sent by B to A's `ownerUri` (with an owner-hop Route, see owner-hop.ts),
 * and A relays it over the phone's flow. A node publishes its URI in its lease info (`sip`)
 * so that a node taking over a dead node's bindings can name itself, and the others find it.
 */
import type { NodeLease } from '../../shared/cluster-store/cluster-store.ts';
import type { LocalIdentity } from '../proxy/local-identity.ts';

/** The lease-info field that holds a node's internal-hop URI. */
export const OWNER_URI_INFO = 'sip';

/** This node's internal-hop URI: its UDP listener when it has one (else its first), advertised host. */
export function internalHopUri(identity: LocalIdentity): string {
  const l = identity.listenerFor('udp');
  const host = l.advertisedHost.includes(':') ? `[${l.advertisedHost}]` : l.advertisedHost;
  const transport = l.protocol === 'udp' ? '' : `;transport=${l.protocol === 'wss' ? 'tls' : l.protocol === 'ws' ? 'tcp' : l.protocol}`;
  const scheme = l.protocol === 'tls' ? 'sips' : 'sip';
  return `${scheme}:${host}:${l.port}${transport}`;
}

/** A live node's internal-hop URI from its lease info, if it published one. */
export function ownerUriOf(lease: NodeLease): string | undefined {
  return lease.info?.[OWNER_URI_INFO];
}
