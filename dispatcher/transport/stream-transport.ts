/**
 * What TCP and TLS share (RFC 3261 §18): listening sockets that accept connections under the
 * connection caps, and outgoing connections opened on demand (with `connectTimeout`), registered
 * in the pool under `protocol|address|port` so later sends reuse them. Concurrent sends to the
 * same target share one connection attempt. Subclasses only say how to create the server and
 * how to dial.
 */
import type { Server, Socket } from 'node:net';
import { poolKey } from './connection-pool.ts';
import { StreamConnection } from './stream-connection.ts';
import type { TransportContext } from './transport-context.ts';
import { bindError, errorReason, sendError, transportUrl } from './transport-errors.ts';
import type { Target } from './transport.ts';

/** An outgoing socket and the event that says it is ready for SIP. */
export interface DialedSocket {
  readonly socket: Socket;
  readonly readyEvent: 'connect' | 'secureConnect';
}

export abstract class StreamTransport {
  abstract readonly protocol: 'tcp' | 'tls';
  protected readonly ctx: TransportContext;
  readonly #servers: Server[] = [];
  /** Every raw socket (accepted or dialed) until it closes. */
  readonly #sockets = new Set<Socket>();
  readonly #dialing = new Map<string, Promise<StreamConnection>>();
  #closing = false;

  constructor(ctx: TransportContext) {
    this.ctx = ctx;
  }

  /** Creates a server that calls `accept` with each socket once it is ready for SIP. */
  protected abstract createServer(accept: (socket: Socket) => void): Server;
  /** Starts an outgoing connection. */
  protected abstract dial(target: Target): DialedSocket;

  /**
   * Binds one listener; resolves with the bound address and port (port 0 = any free port).
   * `reusePort`: SO_REUSEPORT, the node's workers share the port (the kernel spreads connections).
   */
  listen(address: string, port: number, reusePort = false): Promise<{ address: string; port: number }> {
    const server = this.createServer((socket) => this.#accept(socket));
    // Before the TCP accept / TLS wrap listeners, so a refused socket never becomes a connection.
    server.prependListener('connection', (raw: Socket) => this.#admit(raw));
    return new Promise((resolve, reject) => {
      server.once('error', (err) => reject(bindError(transportUrl(this.protocol, address, port), err)));
      server.listen({ host: address, port, exclusive: true, reusePort }, () => {
        server.removeAllListeners('error');
        server.on('error', (err) => this.ctx.logger.error({ err, protocol: this.protocol }, 'listener error'));
        this.#servers.push(server);
        const bound = server.address();
        resolve(typeof bound === 'object' && bound !== null ? { address: bound.address, port: bound.port } : { address, port });
      });
    });
  }

  /** An open connection to `target`, dialing one if needed. Rejects with TRANSPORT_ERR_SEND. */
  connect(target: Target): Promise<StreamConnection> {
    const key = poolKey(this.protocol, target.address, target.port);
    const pending = this.#dialing.get(key);
    if (pending !== undefined) return pending;
    const attempt = this.#dial(target, key).finally(() => this.#dialing.delete(key));
    this.#dialing.set(key, attempt);
    return attempt;
  }

  /** Stops listening and destroys every socket; resolves when all are closed. */
  async close(): Promise<void> {
    this.#closing = true;
    const waits: Promise<unknown>[] = this.#servers.map((server) => new Promise((resolve) => server.close(resolve)));
    for (const socket of this.#sockets) {
      waits.push(new Promise((resolve) => socket.once('close', resolve)));
      socket.destroy();
    }
    await Promise.all(waits);
  }

  /** Caps check at TCP accept, before any TLS handshake work. */
  #admit(raw: Socket): void {
    raw.on('error', () => {}); // reported by the StreamConnection; an unhandled 'error' would crash the node
    const ip = raw.remoteAddress;
    if (this.#closing || ip === undefined || !this.ctx.pool.tryAcquire(ip, true)) {
      this.ctx.stats.connectionsRefused++;
      this.ctx.logger.warn({ protocol: this.protocol, remoteAddress: ip }, 'connection refused by connection caps');
      raw.destroy();
      return;
    }
    this.#track(raw, ip);
  }

  #track(socket: Socket, ip: string): void {
    this.#sockets.add(socket);
    socket.once('close', () => {
      this.#sockets.delete(socket);
      this.ctx.pool.release(ip);
    });
  }

  #accept(socket: Socket): void {
    if (socket.destroyed || socket.remoteAddress === undefined || socket.remotePort === undefined) {
      socket.destroy();
      return;
    }
    const conn = new StreamConnection(this.ctx, socket, this.protocol);
    this.ctx.pool.add(conn, poolKey(this.protocol, socket.remoteAddress, socket.remotePort));
  }

  #dial(target: Target, key: string): Promise<StreamConnection> {
    const url = transportUrl(this.protocol, target.address, target.port);
    if (this.#closing) return Promise.reject(sendError(url, new Error('transport closed')));
    if (!this.ctx.pool.tryAcquire(target.address, false)) {
      this.ctx.stats.connectionsRefused++;
      return Promise.reject(sendError(url, new Error('maxConnections reached')));
    }
    let dialed: DialedSocket;
    try {
      dialed = this.dial(target);
    } catch (err) {
      this.ctx.pool.release(target.address);
      return Promise.reject(sendError(url, err));
    }
    const { socket, readyEvent } = dialed;
    this.#track(socket, target.address);
    return new Promise((resolve, reject) => {
      const fail = (err: unknown): void => {
        clearTimeout(timer);
        socket.off(readyEvent, ready);
        socket.off('close', closedEarly);
        socket.on('error', () => {});
        socket.destroy();
        this.ctx.logger.debug({ url, reason: errorReason(err) }, 'outgoing connection failed');
        reject(sendError(url, err));
      };
      const closedEarly = (): void => fail(new Error('connection closed while connecting'));
      const ready = (): void => {
        clearTimeout(timer);
        socket.off('error', fail);
        socket.off('close', closedEarly);
        const conn = new StreamConnection(this.ctx, socket, this.protocol);
        this.ctx.pool.add(conn, key);
        resolve(conn);
      };
      const timer = setTimeout(() => fail(new Error(`connect timeout after ${this.ctx.limits.connectTimeout} ms`)), this.ctx.limits.connectTimeout);
      socket.once('error', fail);
      socket.once('close', closedEarly);
      socket.once(readyEvent, ready);
    });
  }
}
