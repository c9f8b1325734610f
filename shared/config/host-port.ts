import { formatIp, parseIp } from './cidr.ts';
import type { HostPort } from './config-types.ts';

const LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** RFC 1123 host name (not an IP literal). */
export function isHostname(text: string): boolean {
  if (text.length === 0 || text.length > 253 || /^[\d.]+$/.test(text)) return false;
  return text.replace(/\.$/, '').split('.').every((label) => LABEL.test(label));
}

/** A host: IPv4, IPv6 (bare or in brackets), or, when allowed, a host name. Returns the bare canonical host or the problem. */
export function tryParseHost(text: string, hostnames: boolean): string | { problem: string } {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const ip = parseIp(bare);
  if (ip && (ip.family === 6 || bare === text)) return formatIp(ip);
  if (hostnames && bare === text && isHostname(text)) return text.toLowerCase();
  return { problem: hostnames ? 'must be an IPv4 address, an IPv6 address or a host name' : 'must be an IPv4 or IPv6 address' };
}

/** `host:port` with host IPv4, `[IPv6]` or (when `hostnames`) a host name; port 1-65535. Returns the problem as a string when invalid. */
export function tryParseHostPort(text: string, hostnames: boolean): HostPort | string {
  const want = hostnames ? 'host:port (IPv4, [IPv6] or host name)' : 'host:port (IPv4 or [IPv6])';
  const m = /^(\[[^\]]*\]|[^:[\]]*):(\d{1,5})$/.exec(text);
  if (!m) {
    if (!text.startsWith('[') && (text.match(/:/g) ?? []).length > 1) return `must be ${want}; put an IPv6 address in brackets, e.g. [::1]:5060`;
    return `must be ${want}`;
  }
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return 'port must be from 1 to 65535';
  if (m[1].startsWith('[') && parseIp(m[1].slice(1, -1))?.family !== 6) return `must be ${want}; ${JSON.stringify(m[1])} is not an IPv6 address`;
  const host = tryParseHost(m[1], hostnames);
  if (typeof host !== 'string') return `must be ${want}`;
  return { host, port };
}

/** `1.2.3.4:5060`, `[::1]:5060`, `sw1.example.net:5060`. */
export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
