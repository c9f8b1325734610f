/**
 * Who "we" are on the wire: the hosts and ports a URI may name to mean this node (RFC 3261
 * §16.4: "if the Request-URI contains a value this proxy previously placed into a Record-Route"),
 * and the Via / Record-Route values we write for each listener.
 */
import { bareHost, isSipUri, type Uri } from '../../shared/sip/index.ts';
import type { Flow, ListenerInfo, TransportProtocol } from '../transport/transport.ts';

function hostForUri(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

const VIA_TRANSPORT: Record<TransportProtocol, string> = { udp: 'UDP', tcp: 'TCP', tls: 'TLS', ws: 'WS', wss: 'WSS' };

export class LocalIdentity {
  readonly #listeners: readonly ListenerInfo[];
  readonly #hosts = new Set<string>();
  readonly #ports = new Set<number>();
  /** Substrings that mark one of our Vias/Routes, for a cheap pre-check before parsing. */
  readonly hostTokens: readonly string[];

  constructor(listeners: readonly ListenerInfo[], aliases: readonly string[] = []) {
    this.#listeners = listeners;
    for (const l of listeners) {
      this.#hosts.add(l.advertisedHost.toLowerCase());
      if (l.address !== '0.0.0.0' && l.address !== '::') this.#hosts.add(l.address.toLowerCase());
      this.#ports.add(l.port);
    }
    for (const a of aliases) this.#hosts.add(a.toLowerCase());
    // The pre-check is a plain substring test: besides the lower-cased hosts, the forms as
    // configured, which is how our own Via and Record-Route values spell them.
    const tokens = new Set(this.#hosts);
    for (const l of listeners) tokens.add(l.advertisedHost);
    for (const a of aliases) tokens.add(a);
    this.hostTokens = [...tokens];
  }

  isLocalHostPort(host: string, port: number | undefined, defaultPort = 5060): boolean {
    return this.#hosts.has(bareHost(host).toLowerCase()) && this.#ports.has(port ?? defaultPort);
  }

  isLocalUri(uri: Uri): boolean {
    if (!isSipUri(uri)) return false;
    const tls = uri.scheme === 'sips' || uri.params.get('transport')?.toLowerCase() === 'tls';
    return this.isLocalHostPort(uri.host, uri.port, tls ? 5061 : 5060);
  }

  /** The listener a message for `protocol` leaves from (falls back to the first listener). */
  listenerFor(protocol: TransportProtocol): ListenerInfo {
    return this.#listeners.find((l) => l.protocol === protocol) ?? this.#listeners[0];
  }

  /** The listener a flow arrived on. */
  listenerOf(flow: Flow): ListenerInfo {
    return (
      this.#listeners.find((l) => l.protocol === flow.protocol && l.port === flow.localPort) ??
      this.listenerFor(flow.protocol)
    );
  }

  /** `SIP/2.0/UDP host:port;branch=...;rport` for a message sent over `protocol`. */
  viaValue(protocol: TransportProtocol, branch: string): string {
    const l = this.listenerFor(protocol);
    return `SIP/2.0/${VIA_TRANSPORT[protocol]} ${hostForUri(l.advertisedHost)}:${l.port};branch=${branch};rport`;
  }

  /** Record-Route value facing the side reached through `listener`; `user` carries a flow token. */
  recordRouteValue(listener: ListenerInfo, user?: string): string {
    const scheme = listener.protocol === 'tls' || listener.protocol === 'wss' ? 'sips' : 'sip';
    const transport = listener.protocol === 'udp' || listener.protocol === 'tls' ? '' : `;transport=${listener.protocol}`;
    const userPart = user === undefined ? '' : `${user}@`;
    return `<${scheme}:${userPart}${hostForUri(listener.advertisedHost)}:${listener.port}${transport};lr>`;
  }
}
