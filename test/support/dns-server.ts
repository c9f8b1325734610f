/**
 * A tiny authoritative DNS server over UDP on loopback, for tests of SRV resolution (RFC 1035
 * wire format): answers A, AAAA and SRV questions from an in-memory zone that tests edit live.
 * A name with no record of the asked type but other records gets NOERROR with no answer (NODATA),
 * an unknown name NXDOMAIN, a name in `servfail` SERVFAIL, a name in `drop` nothing at all.
 * Queries are counted. Not a general DNS server: one question per query, no compression in
 * what it parses, no TCP, no EDNS (an OPT record in the query is ignored).
 */
import { createSocket, type Socket } from 'node:dgram';

export type DnsRecord =
  | { type: 'A'; address: string; ttl?: number }
  | { type: 'AAAA'; address: string; ttl?: number }
  | { type: 'SRV'; priority: number; weight: number; port: number; target: string; ttl?: number };

const TYPES: Record<number, DnsRecord['type']> = { 1: 'A', 28: 'AAAA', 33: 'SRV' };
const CODES: Record<DnsRecord['type'], number> = { A: 1, AAAA: 28, SRV: 33 };

export interface DnsServer {
  /** `127.0.0.1:port`, for `Resolver#setServers`. */
  readonly server: string;
  /** Records by lower-case name (no trailing dot); edit freely. */
  readonly zone: Map<string, DnsRecord[]>;
  readonly servfail: Set<string>;
  readonly drop: Set<string>;
  /** Every question received, as `TYPE name`. */
  readonly queries: string[];
  /** Questions received for one name and type. */
  count(type: DnsRecord['type'], name: string): number;
  close(): Promise<void>;
}

function encodeName(name: string): Buffer {
  const parts = name.replace(/\.$/, '').split('.').filter((l) => l.length > 0);
  const bufs = parts.map((label) => Buffer.concat([Buffer.from([Buffer.byteLength(label)]), Buffer.from(label)]));
  return Buffer.concat([...bufs, Buffer.from([0])]);
}

function encodeIpv6(address: string): Buffer {
  const [head, tail = ''] = address.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = address.includes('::') ? (tail === '' ? [] : tail.split(':')) : [];
  const groups = address.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

function rdata(r: DnsRecord): Buffer {
  switch (r.type) {
    case 'A':
      return Buffer.from(r.address.split('.').map(Number));
    case 'AAAA':
      return encodeIpv6(r.address);
    case 'SRV': {
      const head = Buffer.alloc(6);
      head.writeUInt16BE(r.priority, 0);
      head.writeUInt16BE(r.weight, 2);
      head.writeUInt16BE(r.port, 4);
      return Buffer.concat([head, r.target === '.' ? Buffer.from([0]) : encodeName(r.target)]);
    }
  }
}

/** The question of a query: name, type, and where the question section ends. */
function parseQuestion(msg: Buffer): { name: string; qtype: number; end: number } | undefined {
  if (msg.length < 12 || msg.readUInt16BE(4) !== 1) return undefined;
  let off = 12;
  const labels: string[] = [];
  while (off < msg.length) {
    const len = msg[off];
    if (len === 0) break;
    if (len > 63 || off + 1 + len > msg.length) return undefined;
    labels.push(msg.toString('latin1', off + 1, off + 1 + len));
    off += 1 + len;
  }
  if (off + 5 > msg.length) return undefined;
  return { name: labels.join('.').toLowerCase(), qtype: msg.readUInt16BE(off + 1), end: off + 5 };
}

function respond(query: Buffer, q: { name: string; qtype: number; end: number }, rcode: number, answers: DnsRecord[]): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0);
  // QR, AA, RD copied, RA; the response code.
  header.writeUInt16BE(0x8000 | 0x0400 | (query.readUInt16BE(2) & 0x0100) | 0x0080 | rcode, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  const rrs = answers.map((r) => {
    const data = rdata(r);
    const fixed = Buffer.alloc(12);
    fixed.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
    fixed.writeUInt16BE(CODES[r.type], 2);
    fixed.writeUInt16BE(1, 4); // IN
    fixed.writeUInt32BE(r.ttl ?? 60, 6);
    fixed.writeUInt16BE(data.length, 10);
    return Buffer.concat([fixed, data]);
  });
  return Buffer.concat([header, query.subarray(12, q.end), ...rrs]);
}

export async function startDnsServer(zone: Record<string, DnsRecord[]> = {}): Promise<DnsServer> {
  const records = new Map(Object.entries(zone).map(([k, v]) => [k.toLowerCase(), v]));
  const servfail = new Set<string>();
  const drop = new Set<string>();
  const queries: string[] = [];
  const socket: Socket = createSocket('udp4');
  socket.on('message', (msg, rinfo) => {
    const q = parseQuestion(msg);
    if (q === undefined) return;
    const type = TYPES[q.qtype];
    queries.push(`${type ?? q.qtype} ${q.name}`);
    if (drop.has(q.name)) return;
    let reply: Buffer;
    if (servfail.has(q.name)) reply = respond(msg, q, 2, []);
    else {
      const rrs = records.get(q.name);
      if (rrs === undefined || rrs.length === 0) reply = respond(msg, q, 3, []);
      else reply = respond(msg, q, 0, rrs.filter((r) => r.type === type));
    }
    socket.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => resolve());
  });
  const { port } = socket.address();
  return {
    server: `127.0.0.1:${port}`,
    zone: records,
    servfail,
    drop,
    queries,
    count: (type, name) => queries.filter((q) => q === `${type} ${name.toLowerCase()}`).length,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
