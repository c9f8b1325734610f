/**
 * One TCP or TLS connection carrying SIP: a socket plus a StreamFramer (Content-Length framing,
 * RFC 3261 §18.3) with the timers and limits that keep a hostile peer from holding resources.
 *
 * - RFC 5626 §4.4.1: a CRLFCRLF ping is answered with a CRLF pong. `ping()` sends our own
 *   CRLFCRLF (the NAT keep-alive of a registered phone's flow); while it is unanswered, a chunk
 *   that is exactly one CRLF between messages is its pong: timed, and not handed to the framer.
 * - A framing error or an oversized message closes the connection: there is no way to find the
 *   next message boundary (RFC 4475 ncl, mcl01). Counted in `streamErrors`.
 * - Header timeout: a message that has started must complete within `headerTimeout` ms (slowloris,
 *   RFC 4475 clerr). The timer starts with the first byte of a message and is not re-armed by
 *   further bytes of the same message, so a byte-by-byte drip cannot keep it alive.
 * - Idle timeout: no traffic either way for `idleTimeout` ms closes the connection.
 * - Sends resolve when the bytes are handed to the kernel; the write queue is capped
 *   (MAX_WRITE_QUEUE_BYTES) and a peer that stops reading gets disconnected.
 */
import type { Socket } from 'node:net';
import { StreamFramer } from '../../shared/sip/stream-framer.ts';
import { nextConnectionId, type PongListener, type PooledConnection } from './connection-pool.ts';
import type { TransportContext } from './transport-context.ts';
import { errorReason, sendError, transportUrl } from './transport-errors.ts';
import type { Flow } from './transport.ts';

/** Bytes a connection may have queued for writing before it is dropped. */
export const MAX_WRITE_QUEUE_BYTES = 4 * 1024 * 1024;
/** TCP keep-alive probes, to notice peers that vanished without a FIN. */
const TCP_KEEPALIVE_MS = 60_000;
const PONG = Buffer.from('\r\n');
const PING = Buffer.from('\r\n\r\n');

export class StreamConnection implements PooledConnection {
  readonly id = nextConnectionId();
  readonly flow: Flow;
  readonly closed: Promise<void>;
  readonly #socket: Socket;
  readonly #ctx: TransportContext;
  readonly #framer: StreamFramer;
  #headerTimer: NodeJS.Timeout | undefined;
  #messages = 0;
  #reason: string | undefined;
  /** performance.now() of our unanswered keep-alive ping, and who wants its pong. */
  #pingAt: number | undefined;
  #onPong: PongListener | undefined;

  constructor(ctx: TransportContext, socket: Socket, protocol: 'tcp' | 'tls') {
    this.#ctx = ctx;
    this.#socket = socket;
    this.flow = Object.freeze({
      protocol,
      localAddress: socket.localAddress ?? '',
      localPort: socket.localPort ?? 0,
      remoteAddress: socket.remoteAddress ?? '',
      remotePort: socket.remotePort ?? 0,
      connectionId: this.id,
    });
    this.#framer = new StreamFramer(
      {
        onMessage: (frame) => {
          this.#messages++;
          if (this.isOpen) ctx.deliver(frame, this.flow);
        },
        onPing: () => {
          if (this.isOpen) socket.write(PONG);
        },
      },
      ctx.limits,
    );
    socket.setNoDelay(true);
    socket.setKeepAlive(true, TCP_KEEPALIVE_MS);
    socket.setTimeout(ctx.limits.idleTimeout);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('timeout', () => this.close('idle timeout'));
    socket.on('end', () => {
      this.#reason ??= 'peer closed';
    });
    socket.on('error', (err) => {
      this.#reason ??= `socket error: ${errorReason(err)}`;
    });
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        clearTimeout(this.#headerTimer);
        ctx.pool.remove(this);
        ctx.connectionClosed(this.flow, this.#reason ?? 'peer closed');
        resolve();
      });
    });
  }

  get isOpen(): boolean {
    return this.#reason === undefined && !this.#socket.destroyed;
  }

  send(data: Buffer): Promise<void> {
    const url = transportUrl(this.flow.protocol, this.flow.remoteAddress, this.flow.remotePort);
    if (!this.isOpen) return Promise.reject(sendError(url, new Error('connection closed')));
    if (this.#socket.writableLength + data.length > MAX_WRITE_QUEUE_BYTES) {
      this.#ctx.stats.streamErrors++;
      this.#ctx.logger.warn({ flow: this.flow, queued: this.#socket.writableLength }, 'write queue full, closing connection');
      this.close('write queue overflow');
      return Promise.reject(sendError(url, new Error('write queue overflow')));
    }
    return new Promise((resolve, reject) => {
      this.#socket.write(data, (err) => {
        if (err) return reject(sendError(url, err));
        this.#ctx.stats.messagesOut++;
        this.#ctx.stats.bytesOut += data.length;
        resolve();
      });
    });
  }

  close(reason: string): void {
    this.#reason ??= reason;
    clearTimeout(this.#headerTimer);
    this.#onPong = undefined;
    this.#socket.destroy();
  }

  ping(onPong?: PongListener): boolean {
    if (!this.isOpen || this.#socket.writableLength + PING.length > MAX_WRITE_QUEUE_BYTES) return false;
    this.#socket.write(PING);
    this.#pingAt = performance.now();
    this.#onPong = onPong;
    return true;
  }

  #onData(chunk: Buffer): void {
    if (!this.isOpen) return;
    this.#ctx.stats.bytesIn += chunk.length;
    if (this.#pingAt !== undefined && chunk.length === 2 && chunk[0] === 0x0d && chunk[1] === 0x0a && !this.#framer.hasPartial) {
      // Our pong. Kept from the framer, which would hold it as half a ping and take the next pong
      // for a whole one.
      this.#pong();
      return;
    }
    const before = this.#messages;
    try {
      this.#framer.push(chunk);
    } catch (err) {
      this.#ctx.stats.streamErrors++;
      this.#ctx.logger.info({ flow: this.flow, reason: errorReason(err) }, 'stream framing error, closing connection');
      this.close(`framing error: ${errorReason(err)}`);
      return;
    }
    if (!this.#framer.hasPartial) {
      clearTimeout(this.#headerTimer);
      this.#headerTimer = undefined;
    } else if (this.#headerTimer === undefined || this.#messages !== before) {
      // A new message has started: give it headerTimeout ms to complete.
      this.#armHeaderTimer();
    }
  }

  #pong(): void {
    const rtt = performance.now() - (this.#pingAt as number);
    const listener = this.#onPong;
    this.#pingAt = undefined;
    this.#onPong = undefined;
    try {
      listener?.(this.id, rtt);
    } catch (err) {
      this.#ctx.logger.error({ err, flow: this.flow }, 'keep-alive pong listener threw');
    }
  }

  #armHeaderTimer(): void {
    clearTimeout(this.#headerTimer);
    const ms = this.#ctx.limits.headerTimeout;
    if (ms <= 0) return;
    this.#headerTimer = setTimeout(() => {
      this.#ctx.stats.streamErrors++;
      this.#ctx.logger.info({ flow: this.flow }, 'message not completed within headerTimeout, closing connection');
      this.close('header timeout');
    }, ms);
    this.#headerTimer.unref();
  }
}
