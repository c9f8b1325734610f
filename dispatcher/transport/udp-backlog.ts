/**
 * How many bytes wait in the kernel receive queues of this node's UDP sockets: the `rx_queue`
 * column of /proc/net/udp and /proc/net/udp6 (Linux; `sk_rmem_alloc`, so datagrams are counted
 * with their buffer overhead). A proxy that falls behind shows it here first: the event loop
 * still turns (libuv reads a few dozen datagrams per turn), so timer lag stays small while the
 * queue, and every message's wait in it, grows. Elsewhere (no /proc) the backlog reads as 0.
 */
import { readFileSync } from 'node:fs';

export interface UdpSocketAddress {
  readonly address: string;
  readonly port: number;
}

/** `rx_queue` bytes per local `address:port` in a /proc/net/udp or udp6 text (IPv6 addresses expanded). */
export function parseProcNetUdp(text: string): Map<string, number> {
  const out = new Map<string, number>();
  const lines = text.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const cols = lines[i].trim().split(/\s+/);
    if (cols.length < 5) continue;
    const local = cols[1];
    const queues = cols[4];
    const colon = local.lastIndexOf(':');
    const q = queues.indexOf(':');
    if (colon < 0 || q < 0) continue;
    const address = decodeAddress(local.slice(0, colon));
    if (address === undefined) continue;
    const key = `${address}:${parseInt(local.slice(colon + 1), 16)}`;
    out.set(key, (out.get(key) ?? 0) + parseInt(queues.slice(q + 1), 16));
  }
  return out;
}

/** The kernel's hex address (host byte order words, little-endian here) as text. */
function decodeAddress(hex: string): string | undefined {
  if (hex.length === 8) {
    const n = parseInt(hex, 16);
    return `${n & 0xff}.${(n >>> 8) & 0xff}.${(n >>> 16) & 0xff}.${n >>> 24}`;
  }
  if (hex.length === 32) {
    const groups: string[] = [];
    for (let w = 0; w < 4; w++) {
      const word = hex.slice(w * 8, w * 8 + 8);
      // Each 32-bit word is little-endian: its bytes reversed give the address bytes.
      const bytes = [word.slice(6, 8), word.slice(4, 6), word.slice(2, 4), word.slice(0, 2)];
      groups.push(parseInt(bytes[0] + bytes[1], 16).toString(16), parseInt(bytes[2] + bytes[3], 16).toString(16));
    }
    return groups.join(':');
  }
  return undefined;
}

/** Expanded lower-case form of an address, as parseProcNetUdp writes it (`::1` → `0:0:0:0:0:0:0:1`). */
export function expandAddress(address: string): string {
  if (!address.includes(':')) return address;
  const [head, tail] = address.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? [] : Array<string>(8 - h.length - t.length).fill('0');
  return [...h, ...fill, ...t].map((g) => parseInt(g, 16).toString(16)).join(':');
}

export class UdpBacklog {
  readonly #keys: string[];
  readonly #read: (path: string) => string;
  #available = true;

  /** `sockets` as bound (port 0 already resolved); `read` is injectable for tests. */
  constructor(sockets: readonly UdpSocketAddress[], read: (path: string) => string = (p) => readFileSync(p, 'latin1')) {
    this.#keys = sockets.map((s) => `${expandAddress(s.address)}:${s.port}`);
    this.#read = read;
  }

  /** Bytes queued now on the fullest of the sockets (0 without /proc or sockets). */
  bytes(): number {
    if (!this.#available || this.#keys.length === 0) return 0;
    let max = 0;
    for (const path of ['/proc/net/udp', '/proc/net/udp6']) {
      let text: string;
      try {
        text = this.#read(path);
      } catch {
        if (path === '/proc/net/udp') this.#available = false; // not Linux: never try again
        continue;
      }
      const queues = parseProcNetUdp(text);
      for (const k of this.#keys) max = Math.max(max, queues.get(k) ?? 0);
    }
    return max;
  }
}
