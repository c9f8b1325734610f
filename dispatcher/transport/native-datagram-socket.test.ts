/**
 * NativeDatagramSocket over a scripted addon: the EAGAIN queue (order, bound, drain), errors as
 * node-style errors, and a handler that throws. The real addon's I/O is in native-udp-io.test.ts
 * and, through the transport, in udp-transport.test.ts.
 */
import { constants } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ipLiteralFamily } from '../../shared/net/ip-literal.ts';
import { NativeDatagramSocket, UDP_SEND_QUEUE_MAX } from './native-datagram-socket.ts';
import type { UdpIoAddon, UdpIoHandle } from './native-udp-io.ts';

const EAGAIN = -constants.errno.EAGAIN;

/** `send` returns undefined for a datagram sent at once. */
function settled(p: Promise<void> | undefined): Promise<void> {
  return p ?? Promise.resolve();
}

/** An addon whose sends answer from `results` (then succeed); records sends and writable watching. */
function scriptedAddon(results: number[] = []) {
  const sent: string[] = [];
  const sentTo: string[] = [];
  const watching: boolean[] = [];
  let onRecv: (n: number) => void = () => {};
  let onWritable: () => void = () => {};
  let meta: Uint32Array = new Uint32Array(0);
  let bufs: Array<Buffer | undefined> = [];
  const handle = {} as UdpIoHandle;
  const addon: UdpIoAddon = {
    BATCH: 4,
    open: (_f, _a, _p, _r, _b, recv, writable, m, b) => {
      onRecv = recv;
      onWritable = writable;
      meta = m;
      bufs = b;
      return handle;
    },
    send: (_h, data, address) => {
      // As the addon: what inet_pton cannot read (a host name) is EINVAL.
      if (ipLiteralFamily(address) === 0) return -constants.errno.EINVAL;
      const r = results.length > 0 ? results.shift()! : data.length;
      if (r >= 0) {
        sent.push(data.toString());
        sentTo.push(address);
      }
      return r;
    },
    watchWritable: (_h, on) => void watching.push(on),
    localAddress: () => ['127.0.0.1', 5060],
    close: () => {},
  };
  const deliver = (datagrams: Array<[string, number, number]>): void => {
    datagrams.forEach(([text, port, ip], i) => {
      bufs[i] = Buffer.from(text);
      meta.set([text.length, port, ip], i * 3);
    });
    onRecv(datagrams.length);
  };
  return { addon, sent, sentTo, watching, deliver, writable: () => onWritable(), results };
}

async function bound(s: ReturnType<typeof scriptedAddon>, onDatagram = (_m: Buffer, _a: string, _p: number): void => {}, errors: Error[] = []) {
  const socket = new NativeDatagramSocket(s.addon, '127.0.0.1', 5060, false, onDatagram, (err) => errors.push(err));
  expect(await socket.bind()).toEqual({ address: '127.0.0.1', port: 5060 });
  return socket;
}

describe('NativeDatagramSocket', () => {
  it('holds what meets EAGAIN, keeps later sends behind it, and sends all in order once writable', async () => {
    const s = scriptedAddon([EAGAIN]);
    const socket = await bound(s);
    const done: string[] = [];
    const p1 = settled(socket.send(Buffer.from('one'), '10.0.0.1', 5060)).then(() => done.push('one'));
    const p2 = settled(socket.send(Buffer.from('two'), '10.0.0.1', 5060)).then(() => done.push('two'));
    await Promise.resolve();
    expect(s.sent).toEqual([]);
    expect(s.watching).toEqual([true]);
    s.results.push(EAGAIN); // still full on the first writable event
    s.writable();
    expect(s.sent).toEqual([]);
    s.writable();
    await Promise.all([p1, p2]);
    expect(s.sent).toEqual(['one', 'two']);
    expect(done).toEqual(['one', 'two']);
    expect(s.watching).toEqual([true, false]);
    expect(socket.send(Buffer.from('three'), '10.0.0.1', 5060)).toBeUndefined(); // sent at once: no promise
    expect(s.sent).toEqual(['one', 'two', 'three']);
  });

  it(`fails sends beyond ${UDP_SEND_QUEUE_MAX} held datagrams with ENOBUFS, and held ones with EBADF on close`, async () => {
    const s = scriptedAddon([EAGAIN]);
    const socket = await bound(s);
    const held = Array.from({ length: UDP_SEND_QUEUE_MAX }, () => settled(socket.send(Buffer.from('x'), '10.0.0.1', 5060)).catch((e: unknown) => e));
    await expect(settled(socket.send(Buffer.from('y'), '10.0.0.1', 5060))).rejects.toMatchObject({ code: 'ENOBUFS' });
    await socket.close();
    const errors = await Promise.all(held);
    expect(errors.every((e) => (e as { code?: string }).code === 'EBADF')).toBe(true);
    await expect(settled(socket.send(Buffer.from('z'), '10.0.0.1', 5060))).rejects.toMatchObject({ code: 'EBADF' });
  });

  it('turns -errno into an error with its code', async () => {
    const s = scriptedAddon([-constants.errno.EHOSTUNREACH]);
    const socket = await bound(s);
    await expect(settled(socket.send(Buffer.from('x'), '10.0.0.1', 5060))).rejects.toMatchObject({ code: 'EHOSTUNREACH', syscall: 'send' });
  });

  it('hands each datagram of a batch to the handler with its IPv4 source; a throwing handler does not stop the batch', async () => {
    const s = scriptedAddon();
    const got: string[] = [];
    const errors: Error[] = [];
    await bound(
      s,
      (m, address, port) => {
        if (m.toString() === 'bad') throw new Error('handler failed');
        got.push(`${m.toString()} ${address}:${port}`);
      },
      errors,
    );
    s.deliver([
      ['a', 5070, 0x0a000001],
      ['bad', 5071, 0x0a000002],
      ['c', 5072, 0xc0a80101],
    ]);
    expect(got).toEqual(['a 10.0.0.1:5070', 'c 192.168.1.1:5072']);
    expect(errors.map((e) => e.message)).toEqual(['handler failed']);
  });

  it('delivers nothing more of a batch once a handler closed the socket', async () => {
    const s = scriptedAddon();
    const got: string[] = [];
    let socket: NativeDatagramSocket | undefined;
    socket = await bound(s, (m) => {
      got.push(m.toString());
      if (m.toString() === 'close') void socket?.close();
    });
    s.deliver([
      ['a', 5070, 0x0a000001],
      ['close', 5070, 0x0a000001],
      ['late', 5070, 0x0a000001],
    ]);
    expect(got).toEqual(['a', 'close']);
  });

  it('resolves a host name before sending', async () => {
    const s = scriptedAddon();
    const socket = await bound(s);
    await settled(socket.send(Buffer.from('named'), 'localhost', 5060));
    expect(s.sent).toEqual(['named']);
    expect(ipLiteralFamily(s.sentTo[0])).toBe(4);
  });
});
