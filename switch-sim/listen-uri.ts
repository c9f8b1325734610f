/**
 * `udp://127.0.0.21:5060`, `tcp://[::1]:5060` → transport, host, port; and `HOST:PORT` for the
 * control server. Hosts must be IP literals: the sim binds them directly.
 */
import { isIP } from 'node:net';

export type SimTransportName = 'udp' | 'tcp';

export interface ListenSpec {
  transport: SimTransportName;
  host: string;
  port: number;
}

export interface HostPort {
  host: string;
  port: number;
}

/** Parse `HOST:PORT` / `[V6]:PORT`; returns an error text on failure. */
export function parseHostPort(text: string): HostPort | string {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(text);
  if (m === null) return `expected HOST:PORT with an IP address (IPv6 in brackets), got "${text}"`;
  const host = m[1] ?? m[2];
  const port = Number(m[3]);
  if (isIP(host) === 0) return `"${host}" is not an IP address`;
  if (port > 65535) return `port ${port} out of range`;
  return { host, port };
}

export function parseListenUri(text: string): ListenSpec | string {
  const m = /^(udp|tcp):\/\/(.*)$/i.exec(text);
  if (m === null) return `expected udp://HOST:PORT or tcp://HOST:PORT, got "${text}"`;
  const hp = parseHostPort(m[2]);
  if (typeof hp === 'string') return hp;
  return { transport: m[1].toLowerCase() as SimTransportName, host: hp.host, port: hp.port };
}

/** `host` as it goes into a URI or Via: IPv6 in brackets. */
export function uriHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export function formatListenUri(spec: ListenSpec): string {
  return `${spec.transport}://${uriHost(spec.host)}:${spec.port}`;
}
