/**
 * Where a URI sends a request (RFC 3263 simplified): transport from `transport=` (or TLS for
 * sips), port from the URI or the transport default, host as an IP literal or looked up with the
 * system resolver. DNS SRV/NAPTR for switch names is the node-HA issue's work.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { bareHost, isSipUri, type Uri } from '../../shared/sip/index.ts';
import type { Target, TransportProtocol } from '../transport/transport.ts';

const PROTOCOLS: Record<string, TransportProtocol> = { udp: 'udp', tcp: 'tcp', tls: 'tls', ws: 'ws', wss: 'wss' };

export function uriProtocol(uri: Uri): TransportProtocol | undefined {
  if (!isSipUri(uri)) return undefined;
  const t = uri.params.get('transport')?.toLowerCase();
  if (t !== undefined) return PROTOCOLS[t];
  return uri.scheme === 'sips' ? 'tls' : 'udp';
}

/** The target for a URI, or undefined when it names no reachable SIP host. */
export async function resolveUriTarget(uri: Uri): Promise<Target | undefined> {
  if (!isSipUri(uri)) return undefined;
  const protocol = uriProtocol(uri);
  if (protocol === undefined) return undefined;
  const defaultPort = protocol === 'tls' || protocol === 'wss' ? 5061 : 5060;
  let address = bareHost(uri.host);
  const maddr = uri.params.get('maddr');
  if (maddr != null) address = bareHost(maddr);
  if (isIP(address) === 0) {
    if (isReservedName(address)) return undefined;
    try {
      address = (await lookup(address)).address;
    } catch {
      return undefined;
    }
  }
  return { protocol, address, port: uri.port ?? defaultPort };
}

/**
 * RFC 2606 / RFC 6761 names that never resolve to a real host: looking them up would only send
 * a query to the resolver (RFC 7118 phones use `*.invalid` Contacts; torture tests use example.com).
 */
const RESERVED = /(^|\.)(invalid|test|example|localhost|example\.(com|net|org))\.?$/i;

export function isReservedName(host: string): boolean {
  return RESERVED.test(host);
}
