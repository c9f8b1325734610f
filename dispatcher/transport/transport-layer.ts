/**
 * The node's transport layer (RFC 3261 §18): builds one listener per configured URL and routes
 * `send` by protocol.
 *
 * - UDP leaves from a UDP listener of the target's address family (source port = listening port,
 *   RFC 3581), the one bound to `target.localPort` when there is one; no UDP listener means UDP
 *   cannot be sent.
 * - TCP/TLS: the flow's connection if still open, else a pooled connection to the target
 *   (inbound or outbound), else a new outgoing connection, also without a listener of that kind
 *   (client-only).
 * - WS/WSS: only over a live connection (phones connect to us, RFC 7118 §5).
 * - `keepalive`: a NAT keep-alive on a stream connection (CRLFCRLF on TCP/TLS, RFC 5626 §4.4.1;
 *   a WebSocket ping frame on WS/WSS), timed by the peer's pong.
 */
import { readFile } from 'node:fs/promises';
import { ERROR_CODES, SipfleetError } from '../../shared/errors.ts';
import { createLogger, type Logger } from '../../shared/log.ts';
import { poolKey, type PongListener } from './connection-pool.ts';
import { TcpTransport } from './tcp-transport.ts';
import { TlsTransport, type TlsMaterial } from './tls-transport.ts';
import { createTransportContext, type SipTransportStats, type TransportContext } from './transport-context.ts';
import { bindError, sendError, transportUrl } from './transport-errors.ts';
import {
  DEFAULT_TRANSPORT_LIMITS,
  type ListenerInfo,
  type Target,
  type TransportDelegate,
  type TransportLayer,
  type TransportLimits,
  type TransportProtocol,
} from './transport.ts';
import { UdpTransport, type UdpIo } from './udp-transport.ts';
import { WsTransport } from './ws-transport.ts';

export interface ListenerConfig {
  protocol: TransportProtocol;
  /** Bare address (no IPv6 brackets). */
  address: string;
  /** 0 picks a free port; `listeners()` reports the bound one after `start()`. */
  port: number;
  /** ws/wss only: the request path upgrades are accepted on (default: any). */
  path?: string;
  /** Bind with SO_REUSEPORT: the node's worker processes share this port (node.workers). */
  reusePort?: boolean;
}

export interface TlsFiles {
  /** PEM file paths. */
  cert: string;
  key: string;
  ca?: string;
  /** Verify peers on outgoing TLS connections (default true). */
  rejectUnauthorized?: boolean;
}

export interface SipTransportLayerOptions {
  listeners: ListenerConfig[];
  /** Host for Via / Record-Route instead of the bound address. */
  advertise?: string;
  /** Needed by tls/wss listeners; `ca` and `rejectUnauthorized` also apply to outgoing TLS. */
  tls?: TlsFiles;
  limits?: Partial<TransportLimits>;
  delegate: TransportDelegate;
  logger?: Logger;
  /** The UDP listeners' socket implementation (udp-transport.ts; default `auto`). */
  udpIo?: UdpIo;
}

/** Options of `SipTransportLayer.keepalive`. */
export interface KeepaliveOptions {
  /** The peer the connection must lead to (the flow's remote address and port). */
  readonly remote?: { readonly address: string; readonly port: number } | undefined;
  readonly onPong?: PongListener | undefined;
}

interface Listener {
  readonly config: ListenerConfig;
  info: ListenerInfo;
  udp?: UdpTransport;
  ws?: WsTransport;
}

export class SipTransportLayer implements TransportLayer {
  readonly #options: SipTransportLayerOptions;
  readonly #ctx: TransportContext;
  readonly #listeners: Listener[];
  #tcp: TcpTransport | undefined;
  #tls: TlsTransport | undefined;
  #state: 'new' | 'starting' | 'started' | 'closed' = 'new';

  constructor(options: SipTransportLayerOptions) {
    this.#options = options;
    const limits = Object.freeze({ ...DEFAULT_TRANSPORT_LIMITS, ...options.limits });
    this.#ctx = createTransportContext(options.delegate, limits, options.logger ?? createLogger({ component: 'transport' }));
    this.#listeners = options.listeners.map((config) => ({ config, info: this.#info(config, config.address, config.port) }));
  }

  async start(): Promise<void> {
    if (this.#state !== 'new') throw new SipfleetError(ERROR_CODES.TRANSPORT_ERR_BIND, `transport layer cannot start twice (${this.#state})`);
    this.#state = 'starting';
    try {
      const tls = await this.#loadTls();
      this.#tcp = new TcpTransport(this.#ctx);
      this.#tls = new TlsTransport(this.#ctx, tls);
      for (const listener of this.#listeners) await this.#bind(listener, tls);
      this.#state = 'started';
    } catch (err) {
      await this.#closeAll();
      this.#state = 'closed';
      throw err;
    }
  }

  send(data: Buffer, target: Target): Promise<void> {
    if (this.#state !== 'started') return Promise.reject(sendError(targetUrl(target), new Error('transport layer not started')));
    if (target.protocol === 'udp') {
      const udp = this.#udpFor(target.address, target.localPort);
      return udp === undefined ? Promise.reject(sendError(targetUrl(target), new Error('no udp listener'))) : udp.send(data, target);
    }
    const conn =
      (target.connectionId !== undefined ? this.#ctx.pool.byId(target.connectionId) : undefined) ??
      this.#ctx.pool.byKey(poolKey(target.protocol, target.address, target.port));
    if (conn !== undefined && conn.flow.protocol === target.protocol) return conn.send(data);
    const dialer = target.protocol === 'tcp' ? this.#tcp : target.protocol === 'tls' ? this.#tls : undefined;
    if (dialer === undefined) return Promise.reject(sendError(targetUrl(target), new Error('no open connection')));
    return dialer.connect(target).then((c) => c.send(data));
  }

  listeners(): readonly ListenerInfo[] {
    return this.#listeners.map((l) => l.info);
  }

  listenerFor(protocol: TransportProtocol): ListenerInfo | undefined {
    return this.#listeners.find((l) => l.config.protocol === protocol)?.info;
  }

  isConnectionOpen(connectionId: number): boolean {
    return this.#ctx.pool.byId(connectionId) !== undefined;
  }

  /**
   * Send a keep-alive over an open stream connection: CRLFCRLF on TCP/TLS (RFC 5626 §4.4.1), a
   * WebSocket ping frame on WS/WSS (RFC 7118 has no CRLF keep-alive). False, with nothing sent,
   * when no open connection has that id, or when `remote` is given and the connection does not
   * lead there (ids restart with the process, so a stored id may name someone else's connection).
   * `onPong` hears the round trip when the peer answers before the next keep-alive on that
   * connection (a CRLF pong is optional for a phone; browsers answer ping frames).
   */
  keepalive(connectionId: number, opts: KeepaliveOptions = {}): boolean {
    if (this.#state !== 'started') return false;
    const conn = this.#ctx.pool.byId(connectionId);
    if (conn === undefined) return false;
    const remote = opts.remote;
    if (remote !== undefined && (conn.flow.remoteAddress !== remote.address || conn.flow.remotePort !== remote.port)) return false;
    return conn.ping(opts.onPong);
  }

  stats(): SipTransportStats {
    return { ...this.#ctx.stats, openConnections: this.#ctx.pool.size };
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    await this.#closeAll();
  }

  async #closeAll(): Promise<void> {
    const conns = this.#ctx.pool.connections();
    for (const conn of conns) conn.close('shutdown');
    await Promise.all([
      ...this.#listeners.map((l) => l.udp?.close() ?? l.ws?.close()),
      this.#tcp?.close(),
      this.#tls?.close(),
      ...conns.map((c) => c.closed),
    ]);
  }

  async #bind(listener: Listener, tls: TlsMaterial): Promise<void> {
    const { protocol, address, port, path, reusePort = false } = listener.config;
    let bound: { address: string; port: number };
    switch (protocol) {
      case 'udp':
        listener.udp = new UdpTransport(this.#ctx, address, port, reusePort, this.#options.udpIo);
        bound = await listener.udp.listen();
        break;
      case 'tcp':
        bound = await this.#tcp!.listen(address, port, reusePort);
        break;
      case 'tls':
        bound = await this.#tls!.listen(address, port, reusePort);
        break;
      case 'ws':
      case 'wss':
        listener.ws = new WsTransport(this.#ctx, { protocol, address, port, path, tls, reusePort });
        bound = await listener.ws.listen();
        break;
    }
    listener.info = this.#info(listener.config, bound.address, bound.port);
    const url = transportUrl(protocol, bound.address, bound.port);
    if (listener.udp === undefined) this.#ctx.logger.info({ url }, 'listening');
    else this.#ctx.logger.info({ url, io: listener.udp.io }, 'listening');
  }

  #info(config: ListenerConfig, address: string, port: number): ListenerInfo {
    return Object.freeze({ protocol: config.protocol, address, port, advertisedHost: this.#options.advertise ?? address });
  }

  /** The socket implementation of each UDP listener, in listener order (udp-transport.ts, UdpIo). */
  udpIo(): Array<'native' | 'node'> {
    return this.#listeners.flatMap((l) => (l.udp === undefined ? [] : [l.udp.io]));
  }

  /** The UDP listener of the target's family on `localPort`, else the first of that family, else the first. */
  #udpFor(address: string, localPort: number | undefined): UdpTransport | undefined {
    // Of an IP literal only IPv6 has a colon; a host name (no colon) goes to IPv4 as with
    // net.isIPv6, whose regex showed in the send path's profile.
    const family = address.includes(':') ? 6 : 4;
    let sameFamily: UdpTransport | undefined;
    let first: UdpTransport | undefined;
    for (const l of this.#listeners) {
      const u = l.udp;
      if (u === undefined) continue;
      first ??= u;
      if (u.family !== family) continue;
      if (localPort === undefined || u.port === localPort) return u;
      sameFamily ??= u;
    }
    return sameFamily ?? first;
  }

  /** Reads the PEM files; a secure listener without them cannot bind. */
  async #loadTls(): Promise<TlsMaterial> {
    const files = this.#options.tls;
    const secure = this.#listeners.find((l) => l.config.protocol === 'tls' || l.config.protocol === 'wss');
    const secureUrl = secure && transportUrl(secure.config.protocol, secure.config.address, secure.config.port);
    if (files === undefined) {
      if (secureUrl !== undefined) throw bindError(secureUrl, new Error('no tls cert/key configured'));
      return {};
    }
    const read = async (file: string | undefined): Promise<Buffer | undefined> => {
      if (file === undefined) return undefined;
      try {
        return await readFile(file);
      } catch (err) {
        const code = (err as { code?: string }).code ?? 'unreadable';
        throw bindError(secureUrl ?? 'tls client', new Error(`cannot read ${file}: ${code}`));
      }
    };
    const [cert, key, ca] = await Promise.all([read(files.cert), read(files.key), read(files.ca)]);
    return { cert, key, ca, rejectUnauthorized: files.rejectUnauthorized };
  }
}

/** The target as a URL, for an error: not built for every message sent. */
function targetUrl(target: Target): string {
  return transportUrl(target.protocol, target.address, target.port);
}
