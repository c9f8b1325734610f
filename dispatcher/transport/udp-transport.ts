/**
 * SIP over UDP (RFC 3261 §18): one datagram is one message.
 *
 * One socket per listener, event driven (`'message'`). Replies and requests leave from the
 * listening socket, so the source port is the listening port: NAT bindings and symmetric
 * response routing (RFC 3581) depend on it. Datagrams larger than maxMessageBytes are dropped
 * and counted; datagrams of bare CRLFs (RFC 5626 §3.5.1 style keep-alives some phones send over
 * UDP) and empty ones are ignored.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { lookup as dnsLookup, type LookupOneOptions } from 'node:dns';
import { ipLiteralFamily } from '../../shared/net/ip-literal.ts';
import type { TransportContext } from './transport-context.ts';
import { bindError, sendError, transportUrl } from './transport-errors.ts';
import type { Flow, Target } from './transport.ts';

/** Receive buffer asked of the kernel (best effort; Linux caps it at net.core.rmem_max). */
export const UDP_RECV_BUFFER_BYTES = 4 * 1024 * 1024;

export class UdpTransport {
  readonly #ctx: TransportContext;
  readonly #socket: Socket;
  #address: string;
  #port: number;
  #bound = false;
  #closed = false;

  /** `reusePort`: SO_REUSEPORT, the node's workers share the port (the kernel spreads datagrams by 4-tuple). */
  constructor(ctx: TransportContext, address: string, port: number, reusePort = false) {
    this.#ctx = ctx;
    this.#address = address;
    this.#port = port;
    this.#socket = createSocket({ type: address.includes(':') ? 'udp6' : 'udp4', lookup: literalLookup, reusePort });
    this.#socket.on('message', (msg, rinfo) => this.#onMessage(msg, rinfo));
  }

  get family(): 4 | 6 {
    return this.#address.includes(':') ? 6 : 4;
  }

  get port(): number {
    return this.#port;
  }

  /** Binds; port 0 picks a free port, reported by `port` afterwards. */
  listen(): Promise<{ address: string; port: number }> {
    const url = transportUrl('udp', this.#address, this.#port);
    return new Promise((resolve, reject) => {
      this.#socket.once('error', (err) => reject(bindError(url, err)));
      this.#socket.bind({ address: this.#address, port: this.#port, exclusive: true }, () => {
        this.#socket.removeAllListeners('error');
        this.#socket.on('error', (err) => this.#ctx.logger.error({ err, url }, 'udp socket error'));
        this.#bound = true;
        try {
          this.#socket.setRecvBufferSize(UDP_RECV_BUFFER_BYTES);
        } catch (err) {
          this.#ctx.logger.debug({ err, url }, 'could not enlarge the udp receive buffer');
        }
        const bound = this.#socket.address();
        this.#address = bound.address;
        this.#port = bound.port;
        resolve({ address: bound.address, port: bound.port });
      });
    });
  }

  send(data: Buffer, target: Target): Promise<void> {
    if (!this.#bound) return Promise.reject(sendError(transportUrl('udp', target.address, target.port), new Error('udp listener not bound')));
    return new Promise((resolve, reject) => {
      this.#socket.send(data, target.port, target.address, (err) => {
        if (err) return reject(sendError(transportUrl('udp', target.address, target.port), err));
        this.#ctx.stats.messagesOut++;
        this.#ctx.stats.bytesOut += data.length;
        resolve();
      });
    });
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#bound = false;
    return new Promise((resolve) => {
      try {
        this.#socket.close(() => resolve());
      } catch {
        resolve(); // never bound, or already closed
      }
    });
  }

  #onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    const stats = this.#ctx.stats;
    stats.bytesIn += msg.length;
    if (msg.length > this.#ctx.limits.maxMessageBytes) {
      stats.datagramsDropped++;
      return;
    }
    if (isBlank(msg)) return;
    const flow: Flow = {
      protocol: 'udp',
      localAddress: this.#address,
      localPort: this.#port,
      remoteAddress: rinfo.address,
      remotePort: rinfo.port,
      connectionId: undefined,
    };
    this.#ctx.deliver(msg, flow);
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string, family: number) => void;

/**
 * The socket's resolver: an IP literal (every target of the proxy's hot path) is answered at
 * once, in the same tick, instead of going through dns.lookup, which defers even a literal to
 * the next tick and runs net.isIP's regexes on it. A host name still goes to dns.lookup.
 */
function literalLookup(hostname: string, options: LookupOneOptions, callback: LookupCallback): void {
  const family = ipLiteralFamily(hostname);
  if (family !== 0) {
    callback(null, hostname, family);
    return;
  }
  // dgram passes the socket's family as a bare number (lib/internal/dgram.js lookup4/lookup6).
  const opts: LookupOneOptions = typeof (options as unknown) === 'number' ? { family: options as unknown as number } : options;
  dnsLookup(hostname, opts, callback);
}

/** Empty, or nothing but CR/LF. */
function isBlank(msg: Buffer): boolean {
  for (const byte of msg) if (byte !== 0x0d && byte !== 0x0a) return false;
  return true;
}
