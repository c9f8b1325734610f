/**
 * Where a request the sim sends in a dialog goes (RFC 3261 §12.2.1.1, §8.1.2): with a route set
 * whose first entry is a loose router (`;lr`), the Request-URI is the remote target, every route
 * becomes a Route header and the request goes to the first route. A strict router (no `lr`) gets
 * the Request-URI itself and the remote target goes last in Route. Without a route set, straight
 * to the remote target. Transport: the URI's `transport` param, else the one the dialog came on.
 */
import { parseNameAddr } from '../shared/sip/name-addr.ts';
import { bareHost, isSipUri, parseUri, type SipUri } from '../shared/sip/uri.ts';
import type { SimTransportName } from './listen-uri.ts';

export interface NextHop {
  requestUri: string;
  /** Route header values, in order. */
  routes: string[];
  host: string;
  port: number;
  transport: SimTransportName;
}

function sipUri(text: string): SipUri | undefined {
  try {
    const uri = parseUri(text, 'URI');
    return isSipUri(uri) ? uri : undefined;
  } catch {
    return undefined;
  }
}

/** Strip URI parameters not allowed in a Request-URI (§19.1.1: method, maddr, ttl, transport stay; headers go). */
function withoutHeaders(uri: string): string {
  const q = uri.indexOf('?');
  return q < 0 ? uri : uri.slice(0, q);
}

export function nextHop(routeSet: readonly string[], remoteTarget: string, dialogTransport: SimTransportName): NextHop | undefined {
  let requestUri = remoteTarget;
  let routes: string[] = [];
  let destination = sipUri(remoteTarget);
  if (routeSet.length > 0) {
    const first = parseNameAddr(routeSet[0], 'Route');
    const firstUri = sipUri(first.uri);
    if (firstUri === undefined) return undefined;
    destination = firstUri;
    if (firstUri.params.has('lr')) {
      routes = [...routeSet];
    } else {
      requestUri = withoutHeaders(first.uri);
      routes = [...routeSet.slice(1), `<${remoteTarget}>`];
    }
  }
  if (destination === undefined) return undefined;
  const transportParam = destination.params.get('transport')?.toLowerCase();
  const transport: SimTransportName = transportParam === 'udp' || transportParam === 'tcp' ? transportParam : dialogTransport;
  const maddr = destination.params.get('maddr');
  return {
    requestUri,
    routes,
    host: bareHost(maddr ?? destination.host),
    port: destination.port ?? (destination.scheme === 'sips' ? 5061 : 5060),
    transport,
  };
}
