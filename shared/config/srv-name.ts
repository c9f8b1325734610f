/**
 * SIP DNS SRV owner names (RFC 3263 §4.1, RFC 2782): `_sip._udp.<domain>`, `_sip._tcp.<domain>`,
 * `_sips._tcp.<domain>`, one per switch transport. A switch whose host is such a name is resolved
 * through SRV (dispatcher/routing/srv-resolver.ts); the config turns a host name given without a
 * port into one (a name with a port is looked up as A/AAAA only, §4.2).
 */
import type { SwitchTransport } from './config-types.ts';
import { isHostname, tryParseHostPort } from './host-port.ts';

export const SRV_PREFIX: Readonly<Record<SwitchTransport, string>> = { udp: '_sip._udp.', tcp: '_sip._tcp.', tls: '_sips._tcp.' };

/** The port a transport uses when DNS names none (RFC 3261 §19.1.2): 5061 for TLS, else 5060. */
export const DEFAULT_SIP_PORT: Readonly<Record<SwitchTransport, number>> = { udp: 5060, tcp: 5060, tls: 5061 };

/** `_sip._udp.` + domain (lower-cased, no trailing dot). */
export function srvName(domain: string, transport: SwitchTransport): string {
  return SRV_PREFIX[transport] + domain.toLowerCase().replace(/\.$/, '');
}

/** The transport and domain of an SRV owner name; undefined when `host` is not one. */
export function parseSrvName(host: string): { transport: SwitchTransport; domain: string } | undefined {
  const lower = host.toLowerCase();
  for (const transport of ['udp', 'tcp', 'tls'] as const) {
    const prefix = SRV_PREFIX[transport];
    if (lower.startsWith(prefix) && lower.length > prefix.length) return { transport, domain: lower.slice(prefix.length).replace(/\.$/, '') };
  }
  return undefined;
}

/**
 * A switch address (config `cluster.switches[].address`): `host:port` (IPv4, `[IPv6]` or a host
 * name, looked up as A/AAAA only), or without a port an SRV name (its prefix names the transport)
 * or a host name, which becomes the SRV name of `transport` (RFC 3263 §4.2). An SRV switch's port
 * is the transport's default, used when the name has no SRV records and falls back to A/AAAA.
 * `transport` is the one given with the address (undefined: udp, or the SRV name's). Returns the
 * problem as a string (`field` says which key is wrong).
 */
export function tryParseSwitchAddress(
  text: string,
  transport: SwitchTransport | undefined,
): { host: string; port: number; transport: SwitchTransport; srv: boolean } | { field: 'address' | 'transport'; problem: string } {
  if (text.includes(':') || text.startsWith('[')) {
    const hp = tryParseHostPort(text, true);
    if (typeof hp === 'string') return { field: 'address', problem: hp };
    return { ...hp, transport: transport ?? 'udp', srv: false };
  }
  const srv = parseSrvName(text);
  if (srv !== undefined && isHostname(srv.domain)) {
    if (transport !== undefined && transport !== srv.transport) {
      return { field: 'transport', problem: `must be ${srv.transport} for an SRV name starting with ${SRV_PREFIX[srv.transport]}` };
    }
    return { host: srvName(srv.domain, srv.transport), port: DEFAULT_SIP_PORT[srv.transport], transport: srv.transport, srv: true };
  }
  if (srv === undefined && isHostname(text)) {
    const t = transport ?? 'udp';
    return { host: srvName(text, t), port: DEFAULT_SIP_PORT[t], transport: t, srv: true };
  }
  return { field: 'address', problem: 'must be host:port (IPv4, [IPv6] or host name), or without a port a host name or an SRV name (_sip._udp.example.net)' };
}
