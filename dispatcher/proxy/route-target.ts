/**
 * Where a URI sends a request (RFC 3263 simplified): transport from `transport=` (or TLS for
 * sips), port from the URI or the transport default, host as an IP literal or looked up with the
 * system resolver.
 *
 * Switches: a switch whose host is an SRV name (`_sip._udp.example.net`, RFC 3263 §4.1-4.2) is
 * resolved through DNS SRV (routing/srv-resolver.ts), one target per request; an IP or a plain
 * host name (given with a port) is used as is (the transport's lookup resolves a name).
 */
import { lookup } from 'node:dns/promises';
import type { SwitchRecord } from '../../shared/cluster-store/cluster-store.ts';
import { parseSrvName } from '../../shared/config/srv-name.ts';
import { ipLiteralFamily } from '../../shared/net/ip-literal.ts';
import { bareHost, isSipUri, type Uri } from '../../shared/sip/index.ts';
import type { SrvResolver } from '../routing/srv-resolver.ts';
import type { Target, TransportProtocol } from '../transport/transport.ts';

/** Scans call the builtin through a module constant: see `charCodeAt` in shared/sip/syntax.ts. */
const charCodeAt = String.prototype.charCodeAt;

const PROTOCOLS: Record<string, TransportProtocol> = { udp: 'udp', tcp: 'tcp', tls: 'tls', ws: 'ws', wss: 'wss' };

export function uriProtocol(uri: Uri): TransportProtocol | undefined {
  if (!isSipUri(uri)) return undefined;
  const t = uri.params.get('transport')?.toLowerCase();
  if (t !== undefined) return PROTOCOLS[t];
  return uri.scheme === 'sips' ? 'tls' : 'udp';
}

/**
 * The target for a URI, or undefined when it names no reachable SIP host: at once for an IP
 * literal (every in-dialog request through our Record-Route), a promise only when a host name
 * must be looked up.
 */
export function resolveUriTarget(uri: Uri): Target | undefined | Promise<Target | undefined> {
  if (!isSipUri(uri)) return undefined;
  const protocol = uriProtocol(uri);
  if (protocol === undefined) return undefined;
  const defaultPort = protocol === 'tls' || protocol === 'wss' ? 5061 : 5060;
  let address = bareHost(uri.host);
  const maddr = uri.params.get('maddr');
  if (maddr != null) address = bareHost(maddr);
  const port = uri.port ?? defaultPort;
  if (ipLiteralFamily(address) === 0) {
    if (isReservedName(address)) return undefined;
    return lookup(address).then(
      (r) => ({ protocol, address: r.address, port }),
      () => undefined,
    );
  }
  return { protocol, address, port };
}

/**
 * RFC 2606 / RFC 6761 names that never resolve to a real host: looking them up would only send
 * a query to the resolver (RFC 7118 phones use `*.invalid` Contacts; torture tests use example.com).
 */
const RESERVED = /(^|\.)(invalid|test|example|localhost|example\.(com|net|org))\.?$/i;

export function isReservedName(host: string): boolean {
  return RESERVED.test(host);
}

/** What locates a switch. */
export type SwitchAddress = Pick<SwitchRecord, 'host' | 'port' | 'transport'>;

export function isSrvSwitch(sw: SwitchAddress): boolean {
  return parseSrvName(sw.host) !== undefined;
}

/**
 * A switch's target now, without waiting: an SRV switch's from the cached answer (a request's
 * pick; with `key`, a deterministic one, e.g. the Call-ID, so that every node picks the same),
 * undefined while its name has no usable answer (a resolution is then started).
 */
export function switchTarget(sw: SwitchAddress, srv: SrvResolver, key?: string): Target | undefined {
  if (!isSrvSwitch(sw)) return { protocol: sw.transport, address: sw.host, port: sw.port };
  const answer = srv.peek(sw.host);
  return answer === undefined ? undefined : srv.pick(answer, key === undefined ? undefined : hashUnit(key));
}

/** A switch's target, resolving an SRV name when needed (synchronous otherwise); undefined when it does not resolve. */
export function resolveSwitchTarget(sw: SwitchAddress, srv: SrvResolver): Target | Promise<Target | undefined> {
  if (!isSrvSwitch(sw)) return { protocol: sw.transport, address: sw.host, port: sw.port };
  return srv.resolve(sw.host).then((answer) => srv.pick(answer));
}

/** FNV-1a of `key` as a number in [0, 1). */
function hashUnit(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0, n = key.length; i < n; i++) h = Math.imul(h ^ charCodeAt.call(key, i), 0x01000193);
  return (h >>> 0) / 0x1_0000_0000;
}
