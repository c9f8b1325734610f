/**
 * SIP over UDP (RFC 3261 §18): one datagram is one message.
 *
 * One socket per listener. Replies and requests leave from the listening socket, so the source
 * port is the listening port: NAT bindings and symmetric response routing (RFC 3581) depend on
 * it. Datagrams larger than maxMessageBytes are dropped and counted; datagrams of bare CRLFs
 * (RFC 5626 §3.5.1 style keep-alives some phones send over UDP) and empty ones are ignored.
 *
 * Two kinds of socket do the I/O (`UdpIo`), with the same behaviour seen from here:
 *   - `native`: the batched I/O addon (native/udp-io.c): a readable socket is drained with
 *     recvmmsg(2) and its datagrams come up in one call; a send is one synchronous sendto(2).
 *     What meets a full socket buffer (EAGAIN) waits in a bounded queue for the socket to drain.
 *   - `node`: node:dgram, one event per datagram and a callback per send.
 * `auto` (the default) takes `native` when the addon is built (Linux), else `node`.
 */
import { createSocket, type Socket } from 'node:dgram';
import { lookup as dnsLookup, type LookupOneOptions } from 'node:dns';
import type { NodeSection } from '../../shared/config/config-types.ts';
import { ipLiteralFamily } from '../../shared/net/ip-literal.ts';
import { UDP_RECV_BUFFER_BYTES, type DatagramHandler, type DatagramSocket } from './datagram-socket.ts';
import { NativeDatagramSocket } from './native-datagram-socket.ts';
import { loadUdpIo, udpIoUnavailable } from './native-udp-io.ts';
import type { TransportContext } from './transport-context.ts';
import { bindError, sendError, transportUrl } from './transport-errors.ts';
import { SENT, type Flow, type Target } from './transport.ts';

export { UDP_RECV_BUFFER_BYTES } from './datagram-socket.ts';

/** Which socket implementation a UDP listener uses (see the file comment; the config's `node.udpIo`). */
export type UdpIo = NodeSection['udpIo'];

let warnedFallback = false;

export class UdpTransport {
  readonly #ctx: TransportContext;
  readonly #socket: DatagramSocket;
  #address: string;
  #port: number;
  #bound = false;
  #closed = false;

  /**
   * `reusePort`: SO_REUSEPORT, the node's workers share the port (the kernel spreads datagrams
   * by 4-tuple). `io`: see UdpIo; `native` without the addon fails at `listen()`.
   */
  constructor(ctx: TransportContext, address: string, port: number, reusePort = false, io: UdpIo = 'auto') {
    this.#ctx = ctx;
    this.#address = address;
    this.#port = port;
    const onDatagram: DatagramHandler = (msg, from, fromPort) => this.#onMessage(msg, from, fromPort);
    // The addon binds IP literals only; a listener on a host name stays on node:dgram.
    const addon = io === 'node' || ipLiteralFamily(address) === 0 ? undefined : loadUdpIo();
    if (addon !== undefined) {
      this.#socket = new NativeDatagramSocket(addon, address, port, reusePort, onDatagram, (err) => ctx.logger.error({ err, url: this.#url() }, 'udp socket error'));
    } else if (io === 'native') {
      this.#socket = new UnavailableSocket(udpIoUnavailable() ?? 'batched UDP I/O unavailable');
    } else {
      if (io === 'auto' && !warnedFallback) {
        warnedFallback = true;
        ctx.logger.info({ reason: udpIoUnavailable() }, 'udp: batched I/O addon unavailable, using node:dgram');
      }
      this.#socket = new DgramSocket(address, port, reusePort, onDatagram, (err) => ctx.logger.error({ err, url: this.#url() }, 'udp socket error'));
    }
  }

  get family(): 4 | 6 {
    return this.#address.includes(':') ? 6 : 4;
  }

  get port(): number {
    return this.#port;
  }

  /** The socket implementation in use. */
  get io(): 'native' | 'node' {
    return this.#socket.kind;
  }

  #url(): string {
    return transportUrl('udp', this.#address, this.#port);
  }

  /** Binds; port 0 picks a free port, reported by `port` afterwards. */
  async listen(): Promise<{ address: string; port: number }> {
    let bound: { address: string; port: number };
    try {
      bound = await this.#socket.bind();
    } catch (err) {
      throw bindError(this.#url(), err);
    }
    this.#bound = true;
    this.#address = bound.address;
    this.#port = bound.port;
    return bound;
  }

  send(data: Buffer, target: Target): Promise<void> {
    if (!this.#bound) return Promise.reject(sendError(transportUrl('udp', target.address, target.port), new Error('udp listener not bound')));
    const stats = this.#ctx.stats;
    const pending = this.#socket.send(data, target.address, target.port);
    if (pending === undefined) {
      stats.messagesOut++;
      stats.bytesOut += data.length;
      return SENT;
    }
    return pending.then(
      () => {
        stats.messagesOut++;
        stats.bytesOut += data.length;
      },
      (err: unknown) => {
        throw sendError(transportUrl('udp', target.address, target.port), err);
      },
    );
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#bound = false;
    return this.#socket.close();
  }

  #onMessage(msg: Buffer, address: string, port: number): void {
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
      remoteAddress: address,
      remotePort: port,
      connectionId: undefined,
    };
    this.#ctx.deliver(msg, flow);
  }
}

/** node:dgram: an event per datagram, a callback per send. */
class DgramSocket implements DatagramSocket {
  readonly kind = 'node';
  readonly #socket: Socket;
  readonly #address: string;
  readonly #port: number;
  readonly #onError: (err: Error) => void;

  constructor(address: string, port: number, reusePort: boolean, onDatagram: DatagramHandler, onError: (err: Error) => void) {
    this.#address = address;
    this.#port = port;
    this.#onError = onError;
    this.#socket = createSocket({ type: address.includes(':') ? 'udp6' : 'udp4', lookup: literalLookup, reusePort });
    this.#socket.on('message', (msg, rinfo) => onDatagram(msg, rinfo.address, rinfo.port));
  }

  bind(): Promise<{ address: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.#socket.once('error', reject);
      this.#socket.bind({ address: this.#address, port: this.#port, exclusive: true }, () => {
        this.#socket.removeListener('error', reject);
        this.#socket.on('error', this.#onError);
        try {
          this.#socket.setRecvBufferSize(UDP_RECV_BUFFER_BYTES);
        } catch {
          // best effort: the kernel caps it (net.core.rmem_max)
        }
        const bound = this.#socket.address();
        resolve({ address: bound.address, port: bound.port });
      });
    });
  }

  send(data: Buffer, address: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#socket.send(data, port, address, (err) => (err ? reject(err) : resolve()));
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      try {
        this.#socket.close(() => resolve());
      } catch {
        resolve(); // never bound, or already closed
      }
    });
  }
}

/** A listener configured for `native` where the addon is not available: fails at bind, saying why. */
class UnavailableSocket implements DatagramSocket {
  readonly kind = 'native';
  readonly #reason: string;
  constructor(reason: string) {
    this.#reason = reason;
  }
  bind(): Promise<{ address: string; port: number }> {
    return Promise.reject(new Error(`udpIo native: ${this.#reason}`));
  }
  send(): Promise<void> {
    return Promise.reject(new Error('not bound'));
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string, family: number) => void;

/**
 * The dgram socket's resolver: an IP literal (every target of the proxy's hot path) is answered
 * at once, in the same tick, instead of going through dns.lookup, which defers even a literal to
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
