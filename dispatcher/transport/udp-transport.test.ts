import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { closeLayers, sipRequest, sipResponse, startLayer as startAnyLayer, waitUntil } from './transport-test-kit.ts';
import type { UdpIo } from './udp-transport.ts';
import { SENT, type TransportDelegate } from './transport.ts';

const UDP = { protocol: 'udp' as const, address: '127.0.0.1', port: 0 };
const sockets: Socket[] = [];

async function udpClient(): Promise<{ socket: Socket; port: number; received: Array<{ msg: Buffer; rinfo: RemoteInfo }> }> {
  const socket = createSocket('udp4');
  sockets.push(socket);
  const received: Array<{ msg: Buffer; rinfo: RemoteInfo }> = [];
  socket.on('message', (msg, rinfo) => received.push({ msg, rinfo }));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { socket, port: socket.address().port, received };
}

function sendFrom(socket: Socket, data: Buffer, port: number): Promise<void> {
  return new Promise((resolve, reject) => socket.send(data, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
}

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.close();
  await closeLayers();
});

// Every behaviour holds for both socket implementations (udp-transport.ts, UdpIo): the batched
// I/O addon (built by scripts/build-native.sh, which npm test runs) and node:dgram.
describe.each(['native', 'node'] as const)('UDP transport (%s sockets)', (io: UdpIo) => {
  const startLayer: typeof startAnyLayer = (listeners, options = {}) => startAnyLayer(listeners, { udpIo: io, ...options });

  it(`binds its listeners with ${io} sockets`, async () => {
    const { layer } = await startLayer([UDP, UDP]);
    expect(layer.udpIo()).toEqual([io, io]);
  });

  it('delivers a datagram with its flow and replies from the listening port (RFC 3581)', async () => {
    const { layer, recorder, port } = await startLayer([UDP]);
    expect(port).toBeGreaterThan(0);
    expect(layer.listenerFor('udp')).toEqual({ protocol: 'udp', address: '127.0.0.1', port, advertisedHost: '127.0.0.1' });
    const client = await udpClient();
    await sendFrom(client.socket, sipRequest(), port);
    const { data, flow } = await recorder.message();
    expect(data.equals(sipRequest())).toBe(true);
    expect(flow).toEqual({ protocol: 'udp', localAddress: '127.0.0.1', localPort: port, remoteAddress: '127.0.0.1', remotePort: client.port, connectionId: undefined });
    await layer.send(sipResponse(), { protocol: 'udp', address: flow.remoteAddress, port: flow.remotePort });
    await waitUntil(() => client.received.length === 1, 'reply');
    expect(client.received[0].msg.toString()).toContain('SIP/2.0 200 OK');
    expect(client.received[0].rinfo.port).toBe(port);
    expect(layer.stats()).toMatchObject({ messagesIn: 1, messagesOut: 1, openConnections: 0 });
  });

  it('sends from the udp listener named by target.localPort, else the first one', async () => {
    const { layer } = await startLayer([UDP, UDP]);
    const [a, b] = layer.listeners().map((l) => l.port);
    expect(a).not.toBe(b);
    const client = await udpClient();
    await layer.send(sipRequest('from-b'), { protocol: 'udp', address: '127.0.0.1', port: client.port, localPort: b });
    await layer.send(sipRequest('default'), { protocol: 'udp', address: '127.0.0.1', port: client.port });
    await layer.send(sipRequest('unknown'), { protocol: 'udp', address: '127.0.0.1', port: client.port, localPort: 1 });
    await waitUntil(() => client.received.length === 3, 'three datagrams');
    const sources = new Map(client.received.map((r) => [/Call-ID: (\S+)/.exec(r.msg.toString())![1], r.rinfo.port]));
    expect(Object.fromEntries(sources)).toEqual({ 'from-b': b, default: a, unknown: a });
  });

  it('shares a port between layers bound with reusePort (node.workers), spreading senders by source; an exclusive bind of it fails', async () => {
    const first = await startLayer([{ ...UDP, reusePort: true }]);
    const port = first.port;
    const second = await startLayer([{ ...UDP, port, reusePort: true }]);
    expect(second.port).toBe(port);
    await expect(startLayer([{ ...UDP, port }])).rejects.toMatchObject({ code: 'TRANSPORT_ERR_BIND' });
    // 64 senders, each its own source port: the kernel hashes each to one of the two sockets.
    for (let i = 0; i < 64; i++) await sendFrom((await udpClient()).socket, sipRequest(`spread-${i}`), port);
    await waitUntil(() => first.recorder.messages.length + second.recorder.messages.length === 64, 'all 64 delivered');
    expect(first.recorder.messages.length).toBeGreaterThan(0);
    expect(second.recorder.messages.length).toBeGreaterThan(0);
  });

  it('delivers a burst of datagrams whole, in order, each with its source', async () => {
    const { recorder, port } = await startLayer([UDP]);
    const a = await udpClient();
    const b = await udpClient();
    // One tick of sends: they wait together in the socket, and the native socket reads them in batches.
    for (let i = 0; i < 60; i++) (i % 2 === 0 ? a : b).socket.send(sipRequest(`burst-${i}`), port, '127.0.0.1');
    await waitUntil(() => recorder.messages.length === 60, '60 datagrams');
    const seen = recorder.messages.map(({ data, flow }) => ({ id: /Call-ID: (\S+)/.exec(data.toString())![1], from: flow.remotePort }));
    expect(seen.filter((m) => m.from === a.port).map((m) => m.id)).toEqual(Array.from({ length: 30 }, (_, k) => `burst-${2 * k}`));
    expect(seen.filter((m) => m.from === b.port).map((m) => m.id)).toEqual(Array.from({ length: 30 }, (_, k) => `burst-${2 * k + 1}`));
    expect(recorder.messages.every(({ data }, i) => data.equals(sipRequest(seen[i].id)))).toBe(true);
  });

  it('uses the advertised host in listener info', async () => {
    const { layer } = await startLayer([UDP], { advertise: 'sip.example.net' });
    expect(layer.listeners()[0].advertisedHost).toBe('sip.example.net');
  });

  it('drops and counts datagrams over maxMessageBytes, ignores CRLF keep-alives', async () => {
    const { layer, recorder, port } = await startLayer([UDP], { limits: { maxMessageBytes: 1_000 } });
    const client = await udpClient();
    await sendFrom(client.socket, Buffer.alloc(2_000, 0x41), port);
    await sendFrom(client.socket, Buffer.from('\r\n\r\n'), port);
    await sendFrom(client.socket, sipRequest(), port);
    await recorder.message();
    expect(recorder.messages).toHaveLength(1);
    expect(layer.stats().datagramsDropped).toBe(1);
  });

  it('survives a flood of 10,000 garbage datagrams with bounded memory', async () => {
    let count = 0;
    const delegate: TransportDelegate = { onMessage: () => void count++ };
    const { layer, port } = await startLayer([UDP], { delegate });
    const client = await udpClient();
    const garbage = Buffer.alloc(512);
    const heapBefore = process.memoryUsage().heapUsed;
    for (let sent = 0; sent < 10_000; sent += 200) {
      const batch: Promise<void>[] = [];
      for (let i = 0; i < 200; i++) {
        garbage.writeUInt32BE(sent + i, 0);
        batch.push(sendFrom(client.socket, garbage, port));
      }
      await Promise.all(batch);
      // Let the receiver drain so the kernel buffer never overflows (loopback drops silently).
      await waitUntil(() => count >= sent + 200, `datagram ${sent + 200}`);
    }
    expect(count).toBe(10_000);
    expect(layer.stats()).toMatchObject({ messagesIn: 10_000, bytesIn: 10_000 * 512 });
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 1024 * 1024);
    // Still serving.
    await layer.send(sipResponse(), { protocol: 'udp', address: '127.0.0.1', port: client.port });
    await waitUntil(() => client.received.length === 1, 'reply after flood');
  });

  it('sends to an IP literal at once and still resolves a host name (its own lookup)', async () => {
    const { layer } = await startLayer([UDP]);
    const client = await udpClient();
    const literal = layer.send(sipRequest('literal'), { protocol: 'udp', address: '127.0.0.1', port: client.port });
    // The addon sends in the call: the shared settled SENT, which callers need not wait on
    // (node:dgram's send completes in a callback).
    if (io === 'native') expect(literal).toBe(SENT);
    else expect(literal).not.toBe(SENT);
    await literal;
    const byName = layer.send(sipRequest('by-name'), { protocol: 'udp', address: 'localhost', port: client.port });
    expect(byName).not.toBe(SENT);
    await byName;
    await waitUntil(() => client.received.length === 2, 'two datagrams');
    expect(client.received.map((r) => /Call-ID: (\S+)/.exec(r.msg.toString())![1]).sort()).toEqual(['by-name', 'literal']);
    await expect(layer.send(sipRequest(), { protocol: 'udp', address: 'no-such-host.invalid', port: client.port })).rejects.toMatchObject({ code: 'TRANSPORT_ERR_SEND' });
  });

  it('rejects udp sends without a udp listener', async () => {
    const { layer } = await startLayer([{ protocol: 'tcp', address: '127.0.0.1', port: 0 }]);
    await expect(layer.send(sipRequest(), { protocol: 'udp', address: '127.0.0.1', port: 5060 })).rejects.toMatchObject({ code: 'TRANSPORT_ERR_SEND' });
  });

  it('rejects start() with TRANSPORT_ERR_BIND naming the URL, and releases what it bound', async () => {
    const first = await startLayer([UDP]);
    const second = startLayer([{ protocol: 'tcp', address: '127.0.0.1', port: 0 }, { ...UDP, port: first.port }]);
    await expect(second).rejects.toMatchObject({ code: 'TRANSPORT_ERR_BIND', message: `cannot bind udp://127.0.0.1:${first.port}: EADDRINUSE` });
  });

  it('binds IPv6 loopback with udp6', async (ctx) => {
    let started;
    try {
      started = await startLayer([{ protocol: 'udp', address: '::1', port: 0 }]);
    } catch {
      return ctx.skip(); // no IPv6 on this host
    }
    const client = createSocket('udp6');
    sockets.push(client);
    await new Promise<void>((resolve) => client.bind(0, '::1', resolve));
    client.send(sipRequest(), started.port, '::1');
    const { flow } = await started.recorder.message();
    expect(flow).toMatchObject({ protocol: 'udp', localAddress: '::1', remoteAddress: '::1', remotePort: client.address().port });
  });
});
