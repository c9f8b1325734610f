import { SipfleetError } from '../errors.ts';
import { LISTEN_TRANSPORTS, type ListenAddress, type ListenTransport } from './config-types.ts';
import { formatHostPort, tryParseHostPort } from './host-port.ts';

const PATH = /^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/;

/** Parses `udp|tcp|tls|ws|wss://host:port[/path]` (host IPv4 or [IPv6]; path on ws/wss only). Returns the problem as a string when invalid. */
export function tryParseListenAddress(text: string): ListenAddress | string {
  const m = /^([A-Za-z]+):\/\/([^/]*)(\/.*)?$/.exec(text);
  if (!m) return 'must be a URL like udp://127.0.0.1:5060 (schemes udp, tcp, tls, ws, wss)';
  const transport = m[1].toLowerCase() as ListenTransport;
  if (!LISTEN_TRANSPORTS.includes(transport)) return `scheme must be one of ${LISTEN_TRANSPORTS.join(', ')}`;
  const hostPort = tryParseHostPort(m[2], false);
  if (typeof hostPort === 'string') return hostPort;
  const ws = transport === 'ws' || transport === 'wss';
  if (m[3] !== undefined && !ws) return `a path is only allowed on ws:// and wss:// listeners`;
  if (m[3] !== undefined && !PATH.test(m[3])) return 'path must start with / and contain only URL path characters (no query or fragment)';
  const path = ws ? (m[3] ?? '/') : undefined;
  const url = `${transport}://${formatHostPort(hostPort)}${path ?? ''}`;
  return path === undefined ? { transport, ...hostPort, url } : { transport, ...hostPort, path, url };
}

/** Parses a listen URL; throws CFG_ERR_INVALID. */
export function parseListenAddress(text: string): ListenAddress {
  const result = tryParseListenAddress(text);
  if (typeof result === 'string') {
    throw new SipfleetError('CFG_ERR_INVALID', `invalid listen address ${JSON.stringify(text)}: ${result}`);
  }
  return result;
}
