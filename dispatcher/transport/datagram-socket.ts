/**
 * What a UDP listener's socket does for udp-transport.ts, whichever implementation it is
 * (node:dgram, or the batched I/O addon: native-datagram-socket.ts).
 */

/** Receive buffer asked of the kernel (best effort; Linux caps it at net.core.rmem_max). */
export const UDP_RECV_BUFFER_BYTES = 4 * 1024 * 1024;

/** One received datagram and its source. */
export type DatagramHandler = (msg: Buffer, address: string, port: number) => void;

export interface DatagramSocket {
  readonly kind: 'native' | 'node';
  /** Binds (port 0: a free one); resolves with the bound address. Rejects with the OS error (`code`). */
  bind(): Promise<{ address: string; port: number }>;
  /**
   * Hands the datagram to the kernel: undefined when that is done already (no promise to make),
   * else a promise that resolves when it is done and rejects with the OS error.
   */
  send(data: Buffer, address: string, port: number): Promise<void> | undefined;
  /** Stops receiving; pending sends fail. */
  close(): Promise<void>;
}
