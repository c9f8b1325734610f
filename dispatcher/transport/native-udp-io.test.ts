/**
 * The batched UDP I/O addon itself (native/udp-io.c), through its raw contract
 * (native-udp-io.ts). npm test builds it (scripts/build-native.sh); a missing build fails here,
 * saying how to build it, rather than letting the suite pass on node:dgram alone.
 */
import { createSocket, type Socket } from 'node:dgram';
import { constants } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { loadUdpIo, udpIoUnavailable, UDP_IO_BUILD_HINT, type UdpIoAddon, type UdpIoHandle } from './native-udp-io.ts';
import { waitUntil } from './transport-test-kit.ts';

const handles: UdpIoHandle[] = [];
const sockets: Socket[] = [];

function addon(): UdpIoAddon {
  const a = loadUdpIo();
  if (a === undefined) throw new Error(`the batched UDP I/O addon is not available: ${udpIoUnavailable() ?? '?'} (${UDP_IO_BUILD_HINT})`);
  return a;
}

interface Opened {
  handle: UdpIoHandle;
  port: number;
  batches: number[];
  got: Array<{ data: string; address: string; port: number }>;
}

function open(family: 4 | 6 = 4, address = '127.0.0.1', port = 0, reusePort = false): Opened {
  const a = addon();
  const meta = new Uint32Array(a.BATCH * 3);
  const bufs = new Array<Buffer | undefined>(a.BATCH).fill(undefined);
  const addrs = new Array<string | undefined>(a.BATCH).fill(undefined);
  const batches: number[] = [];
  const got: Opened['got'] = [];
  const onRecv = (n: number): void => {
    batches.push(n);
    for (let i = 0; i < n; i++) {
      const v4 = meta[i * 3 + 2];
      const from = family === 4 ? `${v4 >>> 24}.${(v4 >>> 16) & 255}.${(v4 >>> 8) & 255}.${v4 & 255}` : String(addrs[i]);
      expect(bufs[i]!.length).toBe(meta[i * 3]);
      got.push({ data: bufs[i]!.toString(), address: from, port: meta[i * 3 + 1] });
    }
  };
  const handle = a.open(family, address, port, reusePort, 1 << 20, onRecv, () => {}, meta, bufs, addrs);
  handles.push(handle);
  return { handle, port: a.localAddress(handle)[1], batches, got };
}

async function client(type: 'udp4' | 'udp6' = 'udp4', address = '127.0.0.1'): Promise<{ socket: Socket; port: number; got: string[] }> {
  const socket = createSocket(type);
  sockets.push(socket);
  const got: string[] = [];
  socket.on('message', (m) => got.push(m.toString()));
  await new Promise<void>((resolve) => socket.bind(0, address, resolve));
  return { socket, port: socket.address().port, got };
}

afterEach(() => {
  const a = loadUdpIo();
  for (const h of handles.splice(0)) a?.close(h);
  for (const s of sockets.splice(0)) s.close();
});

describe('batched UDP I/O addon', () => {
  it('is built and loads', () => {
    expect(udpIoUnavailable(), UDP_IO_BUILD_HINT).toBeUndefined();
    expect(addon().BATCH).toBe(32);
  });

  it('reads a burst in batches of up to BATCH datagrams, in order, with lengths and sources', async () => {
    const s = open();
    const c = await client();
    for (let i = 0; i < 100; i++) c.socket.send(`d${i}-${'x'.repeat(i)}`, s.port, '127.0.0.1');
    await waitUntil(() => s.got.length === 100, '100 datagrams');
    expect(s.got.map((g) => g.data)).toEqual(Array.from({ length: 100 }, (_, i) => `d${i}-${'x'.repeat(i)}`));
    expect(s.got.every((g) => g.address === '127.0.0.1' && g.port === c.port)).toBe(true);
    expect(Math.max(...s.batches)).toBeGreaterThan(1);
    expect(Math.max(...s.batches)).toBeLessThanOrEqual(32);
  });

  it('sends one datagram per call from its own port, returning the bytes sent', async () => {
    const s = open();
    const c = await client();
    const msg = Buffer.from('hello from the addon');
    expect(addon().send(s.handle, msg, '127.0.0.1', c.port)).toBe(msg.length);
    await waitUntil(() => c.got.length === 1, 'datagram');
    expect(c.got[0]).toBe('hello from the addon');
  });

  it('answers a bad target with -errno instead of throwing', () => {
    const s = open();
    expect(addon().send(s.handle, Buffer.from('x'), 'not-an-ip', 5060)).toBe(-constants.errno.EINVAL);
    expect(addon().send(s.handle, Buffer.from('x'), '127.0.0.1', 70000)).toBe(-constants.errno.EINVAL);
  });

  it('fails a taken port with code EADDRINUSE, and shares one with SO_REUSEPORT', () => {
    const s = open(4, '127.0.0.1', 0);
    expect(() => open(4, '127.0.0.1', s.port)).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }));
    const r = open(4, '127.0.0.1', 0, true);
    expect(open(4, '127.0.0.1', r.port, true).port).toBe(r.port);
  });

  it('carries IPv6 sources as text, and sends IPv4 targets from a dual-stack socket', async () => {
    const s = open(6, '::1');
    const c = await client('udp6', '::1');
    c.socket.send('over v6', s.port, '::1');
    await waitUntil(() => s.got.length === 1, 'v6 datagram');
    expect(s.got[0]).toEqual({ data: 'over v6', address: '::1', port: c.port });
    const any = open(6, '::');
    const c4 = await client();
    expect(addon().send(any.handle, Buffer.from('to v4'), '127.0.0.1', c4.port)).toBe(5);
    await waitUntil(() => c4.got.length === 1, 'v4 datagram from ::');
  });

  it('calls nothing after close, and a closed handle refuses sends with -EBADF', async () => {
    const s = open();
    const c = await client();
    addon().close(s.handle);
    addon().close(s.handle); // idempotent
    c.socket.send('late', s.port, '127.0.0.1');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(s.got).toEqual([]);
    expect(addon().send(s.handle, Buffer.from('x'), '127.0.0.1', c.port)).toBe(-constants.errno.EBADF);
    // The port is free again.
    expect(open(4, '127.0.0.1', s.port).port).toBe(s.port);
  });
});
