/**
 * The UDP socket of the batched I/O addon, as udp-transport.ts uses it.
 */
import { lookup as dnsLookup } from 'node:dns';
import { constants as osConstants } from 'node:os';
import { getSystemErrorName } from 'node:util';
import { ipLiteralFamily } from '../../shared/net/ip-literal.ts';
import { UDP_RECV_BUFFER_BYTES, type DatagramHandler, type DatagramSocket } from './datagram-socket.ts';
import type { UdpIoAddon, UdpIoHandle } from './native-udp-io.ts';

/** Datagrams held back while the kernel's send buffer is full; more fail with ENOBUFS. */
export const UDP_SEND_QUEUE_MAX = 4096;

const RESOLVED = Promise.resolve();
// The addon returns -errno.
const EAGAIN = -osConstants.errno.EAGAIN;
const EWOULDBLOCK = -osConstants.errno.EWOULDBLOCK;
const EBADF = -osConstants.errno.EBADF;
const EINVAL = -osConstants.errno.EINVAL;
const ENOBUFS = -osConstants.errno.ENOBUFS;

interface QueuedSend {
  readonly data: Buffer;
  readonly address: string;
  readonly port: number;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

/**
 * A UDP socket of the batched I/O addon (native-udp-io.ts): datagrams come up a batch per call
 * and go to the handler one by one; a send is one synchronous sendto(2). What meets a full
 * kernel send buffer (EAGAIN) waits, in order, in a queue of at most UDP_SEND_QUEUE_MAX datagrams
 * until the socket drains; later sends queue behind it so that order is kept.
 */
export class NativeDatagramSocket implements DatagramSocket {
  readonly kind = 'native';
  readonly #addon: UdpIoAddon;
  readonly #address: string;
  readonly #port: number;
  readonly #reusePort: boolean;
  readonly #onDatagram: DatagramHandler;
  readonly #onError: (err: Error) => void;
  readonly #family: 4 | 6;
  readonly #meta: Uint32Array;
  readonly #bufs: Array<Buffer | undefined>;
  readonly #addrs: Array<string | undefined>;
  /** Sends waiting for the socket to drain (EAGAIN), in order; while any wait, new sends queue behind. */
  readonly #queue: QueuedSend[] = [];
  #handle: UdpIoHandle | undefined;

  constructor(addon: UdpIoAddon, address: string, port: number, reusePort: boolean, onDatagram: DatagramHandler, onError: (err: Error) => void) {
    this.#addon = addon;
    this.#address = address;
    this.#port = port;
    this.#reusePort = reusePort;
    this.#onDatagram = onDatagram;
    this.#onError = onError;
    this.#family = address.includes(':') ? 6 : 4;
    this.#meta = new Uint32Array(addon.BATCH * 3);
    this.#bufs = new Array<Buffer | undefined>(addon.BATCH).fill(undefined);
    this.#addrs = new Array<string | undefined>(addon.BATCH).fill(undefined);
  }

  bind(): Promise<{ address: string; port: number }> {
    try {
      const handle = this.#addon.open(this.#family, this.#address, this.#port, this.#reusePort, UDP_RECV_BUFFER_BYTES, this.#onRecv, this.#onWritable, this.#meta, this.#bufs, this.#addrs);
      let address: string;
      let port: number;
      try {
        [address, port] = this.#addon.localAddress(handle);
      } catch (err) {
        this.#addon.close(handle);
        throw err;
      }
      this.#handle = handle;
      return Promise.resolve({ address, port });
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** A batch from the addon: datagram i is bufs[i] from meta row i (see native-udp-io.ts). */
  readonly #onRecv = (n: number): void => {
    const meta = this.#meta;
    const bufs = this.#bufs;
    for (let i = 0; i < n; i++) {
      if (this.#handle === undefined) {
        bufs.fill(undefined); // closed by a handler earlier in this batch: deliver nothing more
        return;
      }
      const msg = bufs[i];
      bufs[i] = undefined;
      if (msg === undefined) continue;
      const row = i * 3;
      const address = this.#family === 4 ? ipv4Text(meta[row + 2]) : (this.#addrs[i] ?? '::');
      try {
        this.#onDatagram(msg, address, meta[row + 1]);
      } catch (err) {
        // Nothing may escape into the addon (it would end the process as an uncaught exception).
        this.#onError(err as Error);
      }
    }
  };

  send(data: Buffer, address: string, port: number): Promise<void> | undefined {
    const handle = this.#handle;
    if (handle === undefined) return Promise.reject(errnoError(EBADF, 'send'));
    if (this.#queue.length === 0) {
      // The addon parses the address (inet_pton): a host name comes back as EINVAL, and only then
      // is the address looked at here, off the hot path of IP literals.
      const r = this.#addon.send(handle, data, address, port);
      if (r >= 0) return undefined;
      if (r === EINVAL && ipLiteralFamily(address) === 0) return this.#sendToName(data, address, port);
      if (r !== EAGAIN && r !== EWOULDBLOCK) return Promise.reject(errnoError(r, 'send'));
    } else if (ipLiteralFamily(address) === 0) {
      return this.#sendToName(data, address, port);
    }
    if (this.#queue.length >= UDP_SEND_QUEUE_MAX) return Promise.reject(errnoError(ENOBUFS, 'send'));
    return new Promise((resolve, reject) => {
      this.#queue.push({ data, address, port, resolve, reject });
      if (this.#queue.length === 1) this.#addon.watchWritable(handle, true);
    });
  }

  /** A host name (not on the proxy's hot path): resolved first, as node:dgram does. */
  #sendToName(data: Buffer, name: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      dnsLookup(name, { family: this.#family }, (err, address) => {
        if (err) reject(err);
        else (this.send(data, address, port) ?? RESOLVED).then(resolve, reject);
      });
    });
  }

  /** The socket drained: send what waited, until it is full again. */
  readonly #onWritable = (): void => {
    const handle = this.#handle;
    const q = this.#queue;
    if (handle === undefined) return;
    let done = 0;
    while (done < q.length) {
      const s = q[done];
      const r = this.#addon.send(handle, s.data, s.address, s.port);
      if (r === EAGAIN || r === EWOULDBLOCK) break;
      done++;
      if (r >= 0) s.resolve();
      else s.reject(errnoError(r, 'send'));
    }
    q.splice(0, done);
    if (q.length === 0) this.#addon.watchWritable(handle, false);
  };

  close(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    if (handle !== undefined) this.#addon.close(handle);
    for (const s of this.#queue.splice(0)) s.reject(errnoError(EBADF, 'send'));
    return RESOLVED;
  }
}

/** An Error like node's for a negative errno (`code` EHOSTUNREACH ...). */
function errnoError(negErrno: number, syscall: string): Error {
  let code: string;
  try {
    code = getSystemErrorName(negErrno);
  } catch {
    code = `E${-negErrno}`;
  }
  return Object.assign(new Error(`${syscall} ${code}`), { code, errno: negErrno, syscall });
}

/** Source addresses as text, cached: a proxy hears from few peers, again and again. */
const IPV4_TEXT = new Map<number, string>();
const IPV4_TEXT_MAX = 4096;

function ipv4Text(n: number): string {
  let text = IPV4_TEXT.get(n);
  if (text === undefined) {
    if (IPV4_TEXT.size >= IPV4_TEXT_MAX) IPV4_TEXT.clear();
    text = `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
    IPV4_TEXT.set(n, text);
  }
  return text;
}

