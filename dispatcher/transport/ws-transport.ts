/**
 * SIP over WebSocket (RFC 7118): an HTTP (ws) or HTTPS (wss) server whose upgrade requests must
 * ask for the `sip` subprotocol (§4.1); others get 400 (wrong path: 404, plain HTTP: 426).
 * `maxPayload` enforces maxMessageBytes. Connection caps are checked at TCP accept, before the
 * HTTP upgrade, as for TCP. Only inbound: phones connect to us; sends reuse their connections.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { poolKey } from './connection-pool.ts';
import type { TlsMaterial } from './tls-transport.ts';
import type { TransportContext } from './transport-context.ts';
import { bindError, transportUrl } from './transport-errors.ts';
import { WsConnection } from './ws-connection.ts';

export const SIP_SUBPROTOCOL = 'sip';

export interface WsListenerOptions {
  protocol: 'ws' | 'wss';
  address: string;
  port: number;
  /** Request path to accept upgrades on (default any path). */
  path?: string | undefined;
  /** cert/key for wss. */
  tls?: TlsMaterial | undefined;
  /** SO_REUSEPORT: the node's workers share the port. */
  reusePort?: boolean | undefined;
}

export class WsTransport {
  readonly #ctx: TransportContext;
  readonly #options: WsListenerOptions;
  readonly #server: Server;
  readonly #wss: WebSocketServer;
  readonly #sockets = new Set<Socket>();
  readonly #connections = new Set<WsConnection>();
  #closing = false;
  #listening = false;

  constructor(ctx: TransportContext, options: WsListenerOptions) {
    this.#ctx = ctx;
    this.#options = options;
    // Before the upgrade, HTTP's own timers guard the socket: headers within headerTimeout, and
    // `server.timeout` as the idle timeout (ws clears it on upgrade; WsConnection sets its own).
    const header = ctx.limits.headerTimeout;
    const timeouts = header > 0 ? { headersTimeout: header, requestTimeout: header, connectionsCheckingInterval: Math.min(1_000, header) } : {};
    this.#server =
      options.protocol === 'wss'
        ? createHttpsServer({ ...timeouts, cert: options.tls?.cert, key: options.tls?.key, ca: options.tls?.ca, handshakeTimeout: ctx.limits.headerTimeout || 120_000 })
        : createHttpServer(timeouts);
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: ctx.limits.maxMessageBytes,
      perMessageDeflate: false,
      clientTracking: false,
      handleProtocols: (protocols) => (protocols.has(SIP_SUBPROTOCOL) ? SIP_SUBPROTOCOL : false),
    });
    this.#server.timeout = ctx.limits.idleTimeout;
    this.#server.prependListener('connection', (raw: Socket) => this.#admit(raw));
    this.#server.on('upgrade', (req, socket, head) => this.#upgrade(req, socket, head));
    this.#server.on('request', (_req, res) => {
      res.writeHead(426, { Upgrade: 'websocket', Connection: 'close', 'Content-Length': 0 }).end();
    });
  }

  listen(): Promise<{ address: string; port: number }> {
    const { protocol, address, port, reusePort = false } = this.#options;
    return new Promise((resolve, reject) => {
      this.#server.once('error', (err) => reject(bindError(transportUrl(protocol, address, port), err)));
      this.#server.listen({ host: address, port, exclusive: true, reusePort }, () => {
        this.#server.removeAllListeners('error');
        this.#server.on('error', (err) => this.#ctx.logger.error({ err, protocol }, 'listener error'));
        this.#listening = true;
        const bound = this.#server.address();
        resolve(typeof bound === 'object' && bound !== null ? { address: bound.address, port: bound.port } : { address, port });
      });
    });
  }

  /** Stops listening and drops every socket; resolves when all are closed. */
  async close(): Promise<void> {
    this.#closing = true;
    const waits: Promise<unknown>[] = [];
    if (this.#listening) waits.push(new Promise((resolve) => this.#server.close(resolve)));
    for (const conn of this.#connections) conn.terminate('shutdown');
    for (const socket of this.#sockets) {
      waits.push(new Promise((resolve) => socket.once('close', resolve)));
      socket.destroy();
    }
    this.#wss.close();
    await Promise.all(waits);
  }

  #admit(raw: Socket): void {
    raw.on('error', () => {}); // errors surface on the WebSocket; never crash the node
    const ip = raw.remoteAddress;
    if (this.#closing || ip === undefined || !this.#ctx.pool.tryAcquire(ip, true)) {
      this.#ctx.stats.connectionsRefused++;
      this.#ctx.logger.warn({ protocol: this.#options.protocol, remoteAddress: ip }, 'connection refused by connection caps');
      raw.destroy();
      return;
    }
    this.#sockets.add(raw);
    raw.once('close', () => {
      this.#sockets.delete(raw);
      this.#ctx.pool.release(ip);
    });
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = this.#options.path;
    const url = new URL(req.url ?? '/', 'http://x');
    if (path !== undefined && url.pathname !== path) return reject(socket, 404);
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    if (!offered.includes(SIP_SUBPROTOCOL)) return reject(socket, 400);
    this.#wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      const raw = socket as Socket;
      if (this.#closing || raw.remoteAddress === undefined || raw.remotePort === undefined) return void ws.terminate();
      const conn = new WsConnection(this.#ctx, ws, raw, this.#options.protocol);
      this.#connections.add(conn);
      void conn.closed.then(() => this.#connections.delete(conn));
      this.#ctx.pool.add(conn, poolKey(this.#options.protocol, raw.remoteAddress, raw.remotePort));
    });
  }
}

/** Refuses an upgrade with a bare HTTP status (RFC 7118 §4.1, RFC 6455 §4.2.2). */
function reject(socket: Duplex, status: 400 | 404): void {
  const text = status === 400 ? 'Bad Request' : 'Not Found';
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  socket.once('finish', () => socket.destroy());
}
