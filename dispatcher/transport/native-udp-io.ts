/**
 * The batched UDP I/O addon (native/udp-io.c): loading it, and its contract.
 *
 * Built by `scripts/build-native.sh` (which `npm test` and `npm start` run) into
 * `native/build/udp-io.node`. When it is not there or does not load (another OS, no compiler),
 * the UDP listeners use node:dgram and `udpIoUnavailable()` says why (udp-transport.ts logs it).
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** Where the build script puts the addon. */
export const UDP_IO_ADDON_PATH = fileURLToPath(new URL('./native/build/udp-io.node', import.meta.url));

/** How to get it built, for error messages and the test that requires it. */
export const UDP_IO_BUILD_HINT = 'run `bash scripts/build-native.sh` (needs gcc and libc6-dev: apt-get install gcc libc6-dev)';

/** An open socket of the addon (opaque). */
export type UdpIoHandle = object & { readonly __udpIo: unique symbol };

export interface UdpIoAddon {
  /** Datagrams per batch: the rows `meta`, `bufs` and `addrs` must have room for. */
  readonly BATCH: number;
  /**
   * Binds a UDP socket and starts reading. `onRecv(n)`: datagrams 0..n-1 are `bufs[i]`, with
   * `meta[3i]` its length, `meta[3i+1]` the source port, `meta[3i+2]` the IPv4 source address
   * (host order), or on an IPv6 socket `addrs[i]` the source address. Throws an Error whose
   * `code` is the errno name (EADDRINUSE ...).
   */
  open(
    family: 4 | 6,
    address: string,
    port: number,
    reusePort: boolean,
    recvBufferBytes: number,
    onRecv: (n: number) => void,
    onWritable: () => void,
    meta: Uint32Array,
    bufs: Array<Buffer | undefined>,
    addrs: Array<string | undefined>,
  ): UdpIoHandle;
  /** One sendto(2): the bytes sent, or -errno (-EAGAIN: wait for `onWritable`). */
  send(handle: UdpIoHandle, data: Buffer, address: string, port: number): number;
  /** Whether `onWritable` is wanted (once the socket can take a datagram again). */
  watchWritable(handle: UdpIoHandle, on: boolean): void;
  localAddress(handle: UdpIoHandle): [string, number];
  /** Stops reading and closes; no callback comes after it. Idempotent. */
  close(handle: UdpIoHandle): void;
}

let loaded: UdpIoAddon | undefined;
let failure: string | undefined;
let tried = false;

/** The addon, or undefined when it is not built or does not load (see `udpIoUnavailable`). */
export function loadUdpIo(): UdpIoAddon | undefined {
  if (!tried) {
    tried = true;
    if (process.platform !== 'linux') {
      failure = `batched UDP I/O is Linux-only (this is ${process.platform})`;
    } else {
      try {
        loaded = createRequire(import.meta.url)(UDP_IO_ADDON_PATH) as UdpIoAddon;
      } catch (err) {
        const code = (err as { code?: string }).code;
        failure = code === 'MODULE_NOT_FOUND' ? `${UDP_IO_ADDON_PATH} is not built: ${UDP_IO_BUILD_HINT}` : `${UDP_IO_ADDON_PATH} does not load: ${(err as Error).message}`;
      }
    }
  }
  return loaded;
}

/** Why `loadUdpIo()` returns undefined (undefined when it loads). */
export function udpIoUnavailable(): string | undefined {
  loadUdpIo();
  return failure;
}
