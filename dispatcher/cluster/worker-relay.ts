/**
 * Which worker handles a datagram that arrived on the node's shared UDP port (`node.workers` > 1,
 * docs/workers.md).
 *
 * SO_REUSEPORT spreads datagrams by 4-tuple, so a carrier trunk that sends everything from one
 * address and port would land on one worker. Instead, every message of a call goes to the worker
 * its Call-ID hashes to (FNV-1a modulo the worker count), whichever worker the kernel gave it to:
 * the INVITE, its retransmissions, CANCEL, the ACK and the BYE all meet the transactions and the
 * dialog they belong to. The rules, for a datagram on a shared UDP socket:
 *
 * - a request: to its Call-ID's worker; but REGISTER stays where the kernel put it, because a
 *   phone's NAT flow (and the keep-alive answers on it) keep reaching that same worker, which
 *   then holds the binding (calls for the phone reach it over the internal hop, as between nodes);
 * - a response: to the worker whose own port is its top Via's sent-by (we sent that request with
 *   `rport` from the shared socket; the answer came back to the socket's source port); else here;
 * - anything unreadable stays here (the transaction layer answers it as usual).
 *
 * A relayed datagram travels to the owner's own port wrapped in one line naming the flow it came
 * in on (`\0SFW1 <localAddress> <localPort> <remoteAddress> <remotePort>\n`); the owner accepts
 * the wrapper only from a sibling's own port on the node's address (Linux drops packets from
 * outside that claim a local source address) and delivers the message as if it had received it
 * on the shared socket, so its responses leave from there. Never relayed twice.
 */
import type { Flow, Target } from '../transport/transport.ts';

const MAGIC = '\0SFW1 ';
const MAGIC_BYTES = Buffer.from(MAGIC, 'latin1');
/** Longest wrapper line: two IPv6 addresses and two ports, with room to spare. */
const MAX_HEADER_BYTES = 128;
const REGISTER = Buffer.from('REGISTER ', 'latin1');
/** Header names looked for, long and compact form, lower case (RFC 3261 §7.3.3). */
const VIA = ['via', 'v'] as const;
const CALL_ID = ['call-id', 'i'] as const;

export interface WorkerRelayOptions {
  /** This worker's index and the node's worker count. */
  index: number;
  count: number;
  /** Worker k's own UDP port is `portBase + k`. */
  portBase: number;
  /** The address the workers' own ports are bound to (and send from). */
  address: string;
  /** Local ports of the shared UDP sockets (`node.listen`). */
  sharedPorts: ReadonlySet<number>;
  /** Sends from this worker's own port (fire and forget; failures are counted by the transport). */
  send(data: Buffer, target: Target): void;
  /** The transaction layer's entry. */
  deliver(data: Buffer, flow: Flow): void;
}

export interface WorkerRelayStats {
  /** Datagrams passed to a sibling worker. */
  relayedOut: number;
  /** Datagrams a sibling passed here. */
  relayedIn: number;
  /** Wrapped datagrams refused (not from a sibling's port, or malformed). */
  refused: number;
}

export class WorkerRelay {
  readonly #o: WorkerRelayOptions;
  readonly #ownPort: number;
  readonly #stats: WorkerRelayStats = { relayedOut: 0, relayedIn: 0, refused: 0 };

  constructor(o: WorkerRelayOptions) {
    if (!(o.index >= 0 && o.index < o.count)) throw new RangeError(`worker index ${o.index} outside 0-${o.count - 1}`);
    this.#o = o;
    this.#ownPort = o.portBase + o.index;
  }

  stats(): WorkerRelayStats {
    return { ...this.#stats };
  }

  /** The transport's upward delegate: deliver here, or relay to the owning worker. */
  onMessage(data: Buffer, flow: Flow): void {
    const o = this.#o;
    if (flow.protocol !== 'udp') return o.deliver(data, flow);
    if (flow.localPort === this.#ownPort) {
      if (data[0] === 0 && data.subarray(0, MAGIC_BYTES.length).equals(MAGIC_BYTES)) return this.#unwrap(data, flow);
      return o.deliver(data, flow);
    }
    if (!o.sharedPorts.has(flow.localPort)) return o.deliver(data, flow);
    const owner = ownerWorker(data, o.count, o.portBase);
    if (owner < 0 || owner === o.index) return o.deliver(data, flow);
    const header = Buffer.from(`${MAGIC}${flow.localAddress} ${flow.localPort} ${flow.remoteAddress} ${flow.remotePort}\n`, 'latin1');
    this.#stats.relayedOut++;
    o.send(Buffer.concat([header, data]), { protocol: 'udp', address: o.address, port: o.portBase + owner, localPort: this.#ownPort });
  }

  #unwrap(data: Buffer, flow: Flow): void {
    const o = this.#o;
    const fromSibling = flow.remoteAddress === o.address && flow.remotePort >= o.portBase && flow.remotePort < o.portBase + o.count && flow.remotePort !== this.#ownPort;
    const end = data.indexOf(0x0a, MAGIC_BYTES.length);
    if (!fromSibling || end < 0 || end > MAX_HEADER_BYTES) {
      this.#stats.refused++;
      return;
    }
    const [localAddress, localPort, remoteAddress, remotePort] = data.toString('latin1', MAGIC_BYTES.length, end).split(' ');
    const lp = Number(localPort);
    const rp = Number(remotePort);
    if (!o.sharedPorts.has(lp) || !(rp > 0 && rp < 65536) || remoteAddress === undefined || remoteAddress === '') {
      this.#stats.refused++;
      return;
    }
    this.#stats.relayedIn++;
    o.deliver(data.subarray(end + 1), { protocol: 'udp', localAddress, localPort: lp, remoteAddress, remotePort: rp, connectionId: undefined });
  }
}

/**
 * The worker a datagram belongs to, or -1 for "whoever has it": a request by its Call-ID (not a
 * REGISTER), a response by its top Via's port. A byte scan over the header block, no parse.
 */
export function ownerWorker(data: Buffer, count: number, portBase: number): number {
  if (count <= 1 || data.length < 8) return -1;
  const isResponse = data[0] === 0x53 && data[1] === 0x49 && data[2] === 0x50 && data[3] === 0x2f; // "SIP/"
  if (!isResponse && data.compare(REGISTER, 0, REGISTER.length, 0, REGISTER.length) === 0) return -1;
  let i = data.indexOf(0x0a);
  while (i >= 0 && i + 1 < data.length) {
    const start = i + 1;
    const c = data[start];
    if (c === 0x0d || c === 0x0a) return -1; // end of the header block
    const colon = data.indexOf(0x3a, start);
    const eol = data.indexOf(0x0a, start);
    if (colon < 0) return -1;
    if (eol < 0 || colon < eol) {
      const valueEnd = eol < 0 ? data.length : eol;
      const [long, compact] = isResponse ? VIA : CALL_ID;
      if (nameIs(data, start, colon, long) || nameIs(data, start, colon, compact)) {
        return isResponse ? viaWorker(data, colon + 1, valueEnd, count, portBase) : callIdWorker(data, colon + 1, valueEnd, count);
      }
    }
    i = eol;
  }
  return -1;
}

/** Whether the header name in `data[start, colon)` (trailing blanks allowed) is `lower`, ignoring case; no allocation. */
function nameIs(data: Buffer, start: number, colon: number, lower: string): boolean {
  let end = colon;
  while (end > start && (data[end - 1] === 0x20 || data[end - 1] === 0x09)) end--;
  if (end - start !== lower.length) return false;
  for (let k = 0; k < lower.length; k++) {
    const c = data[start + k];
    if ((c >= 0x41 && c <= 0x5a ? c | 0x20 : c) !== lower.charCodeAt(k)) return false;
  }
  return true;
}

/** FNV-1a over the Call-ID's bytes (trimmed), modulo the worker count. */
function callIdWorker(data: Buffer, from: number, to: number, count: number): number {
  while (from < to && (data[from] === 0x20 || data[from] === 0x09)) from++;
  while (to > from && (data[to - 1] === 0x0d || data[to - 1] === 0x20 || data[to - 1] === 0x09)) to--;
  if (to <= from) return -1;
  let h = 0x811c9dc5;
  for (let k = from; k < to; k++) h = Math.imul(h ^ data[k], 0x01000193);
  return (h >>> 0) % count;
}

/** The worker whose own port the first Via value's sent-by names, or -1. */
function viaWorker(data: Buffer, from: number, to: number, count: number, portBase: number): number {
  // `SIP/2.0/UDP host:port;params`, the first value up to a comma.
  const text = data.toString('latin1', from, to);
  const m = /^\s*SIP\s*\/\s*2\.0\s*\/\s*UDP\s+(\[[^\]]+\]|[^\s:;,]+)\s*:\s*(\d+)/i.exec(text);
  if (m === null) return -1;
  const k = Number(m[2]) - portBase;
  return k >= 0 && k < count ? k : -1;
}
