/**
 * One WebSocket connection carrying SIP (RFC 7118): each WebSocket message, text or binary, is
 * exactly one SIP message (§5), so no Content-Length framing. A CRLFCRLF message is answered with
 * CRLF, the keep-alive SIP.js and other WebRTC stacks send (RFC 5626 §4.4.1 style). Outgoing
 * messages go as text frames when they are valid UTF-8, binary otherwise (§5.2: text frames must
 * be UTF-8). Idle timeout and write-queue cap as for TCP. RFC 7118 defines no CRLF keep-alive of
 * our own, so `ping()` sends a WebSocket ping frame (RFC 6455 §5.5.2; browsers answer it without
 * the application) and times its pong.
 */
import type { Socket } from 'node:net';
import { isUtf8 } from 'node:buffer';
import { WebSocket } from 'ws';
import { nextConnectionId, type PongListener, type PooledConnection } from './connection-pool.ts';
import { MAX_WRITE_QUEUE_BYTES } from './stream-connection.ts';
import type { TransportContext } from './transport-context.ts';
import { errorReason, sendError, transportUrl } from './transport-errors.ts';
import type { Flow } from './transport.ts';

/** How long a closing handshake may take before the socket is dropped. */
const CLOSE_GRACE_MS = 1_000;

export class WsConnection implements PooledConnection {
  readonly id = nextConnectionId();
  readonly flow: Flow;
  readonly closed: Promise<void>;
  readonly #ws: WebSocket;
  readonly #ctx: TransportContext;
  #reason: string | undefined;
  #graceTimer: NodeJS.Timeout | undefined;
  /** performance.now() of our unanswered ping frame, and who wants its pong. */
  #pingAt: number | undefined;
  #onPong: PongListener | undefined;

  constructor(ctx: TransportContext, ws: WebSocket, socket: Socket, protocol: 'ws' | 'wss') {
    this.#ctx = ctx;
    this.#ws = ws;
    this.flow = Object.freeze({
      protocol,
      localAddress: socket.localAddress ?? '',
      localPort: socket.localPort ?? 0,
      remoteAddress: socket.remoteAddress ?? '',
      remotePort: socket.remotePort ?? 0,
      connectionId: this.id,
    });
    // ws clears the socket timeout on upgrade; set ours after it.
    socket.setTimeout(ctx.limits.idleTimeout);
    socket.on('timeout', () => this.close('idle timeout'));
    ws.on('message', (data: Buffer) => this.#onMessage(data));
    ws.on('pong', () => this.#pong());
    ws.on('error', (err) => {
      if ((err as { code?: string }).code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') ctx.stats.streamErrors++;
      this.#reason ??= `websocket error: ${errorReason(err)}`;
    });
    this.closed = new Promise((resolve) => {
      ws.once('close', (code: number) => {
        clearTimeout(this.#graceTimer);
        ctx.pool.remove(this);
        ctx.connectionClosed(this.flow, this.#reason ?? `peer closed (${code})`);
        resolve();
      });
    });
  }

  get isOpen(): boolean {
    return this.#reason === undefined && this.#ws.readyState === WebSocket.OPEN;
  }

  send(data: Buffer): Promise<void> {
    const url = transportUrl(this.flow.protocol, this.flow.remoteAddress, this.flow.remotePort);
    if (!this.isOpen) return Promise.reject(sendError(url, new Error('connection closed')));
    if (this.#ws.bufferedAmount + data.length > MAX_WRITE_QUEUE_BYTES) {
      this.#ctx.stats.streamErrors++;
      this.close('write queue overflow');
      return Promise.reject(sendError(url, new Error('write queue overflow')));
    }
    return new Promise((resolve, reject) => {
      this.#ws.send(data, { binary: !isUtf8(data) }, (err) => {
        if (err) return reject(sendError(url, err));
        this.#ctx.stats.messagesOut++;
        this.#ctx.stats.bytesOut += data.length;
        resolve();
      });
    });
  }

  ping(onPong?: PongListener): boolean {
    if (!this.isOpen || this.#ws.bufferedAmount > MAX_WRITE_QUEUE_BYTES) return false;
    try {
      this.#ws.ping();
    } catch {
      return false;
    }
    this.#pingAt = performance.now();
    this.#onPong = onPong;
    return true;
  }

  #pong(): void {
    if (this.#pingAt === undefined) return;
    const rtt = performance.now() - this.#pingAt;
    const listener = this.#onPong;
    this.#pingAt = undefined;
    this.#onPong = undefined;
    try {
      listener?.(this.id, rtt);
    } catch (err) {
      this.#ctx.logger.error({ err, flow: this.flow }, 'keep-alive pong listener threw');
    }
  }

  /** Starts the closing handshake (1001 going away), dropping the socket if it stalls. */
  close(reason: string): void {
    this.#reason ??= reason;
    if (this.#ws.readyState === WebSocket.CLOSED || this.#graceTimer !== undefined) return;
    this.#ws.close(1001, reason.slice(0, 100));
    this.#graceTimer = setTimeout(() => this.#ws.terminate(), CLOSE_GRACE_MS);
    this.#graceTimer.unref();
  }

  /** Drops the socket at once (shutdown). */
  terminate(reason: string): void {
    this.#reason ??= reason;
    this.#ws.terminate();
  }

  #onMessage(data: Buffer): void {
    if (!this.isOpen) return;
    this.#ctx.stats.bytesIn += data.length;
    if (data.length === 4 && data.toString('latin1') === '\r\n\r\n') {
      this.#ws.send('\r\n');
      return;
    }
    if (data.length === 0 || (data.length === 2 && data[0] === 0x0d && data[1] === 0x0a)) return;
    this.#ctx.deliver(data, this.flow);
  }
}
