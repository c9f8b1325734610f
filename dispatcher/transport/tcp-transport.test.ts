import { afterEach, describe, expect, it } from 'vitest';
import { closeLayers, closedPort, destroyClients, RawClient, sipRequest, sipResponse, startLayer, waitUntil } from './transport-test-kit.ts';

const TCP = { protocol: 'tcp' as const, address: '127.0.0.1', port: 0 };

afterEach(async () => {
  destroyClients();
  await closeLayers();
});

describe('TCP transport', () => {
  it('frames two messages arriving in one chunk', async () => {
    const { port, recorder } = await startLayer([TCP]);
    const client = RawClient.tcp(port);
    await client.ready;
    client.socket.write(Buffer.concat([sipRequest('one', 'hello'), sipRequest('two')]));
    expect((await recorder.message(1)).data.toString()).toContain('Call-ID: one');
    expect((await recorder.message(1)).data.toString().endsWith('\r\n\r\nhello')).toBe(true);
    expect((await recorder.message(2)).data.toString()).toContain('Call-ID: two');
    const flow = recorder.messages[0].flow;
    expect(flow).toMatchObject({ protocol: 'tcp', localAddress: '127.0.0.1', localPort: port, remoteAddress: '127.0.0.1', remotePort: client.socket.localPort });
    expect(flow.connectionId).toBeTypeOf('number');
    expect(recorder.messages[1].flow.connectionId).toBe(flow.connectionId);
  });

  it('frames a message split byte by byte', async () => {
    const { port, recorder } = await startLayer([TCP]);
    const client = RawClient.tcp(port);
    await client.ready;
    const message = sipRequest('split', 'v=0\r\n');
    for (const byte of message) {
      client.socket.write(Buffer.of(byte));
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect((await recorder.message(1)).data.equals(message)).toBe(true);
    expect(recorder.messages).toHaveLength(1);
  });

  it('answers a CRLFCRLF ping with a CRLF pong (RFC 5626 §4.4.1)', async () => {
    const { port, recorder } = await startLayer([TCP]);
    const client = RawClient.tcp(port);
    await client.ready;
    client.socket.write('\r\n\r\n');
    await client.waitFor('\r\n');
    expect(client.received.toString()).toBe('\r\n');
    expect(recorder.messages).toHaveLength(0);
  });

  it('keepalive() sends CRLFCRLF on the connection and times a CRLF pong (RFC 5626 §4.4.1)', async () => {
    const { port, layer, recorder } = await startLayer([TCP]);
    const client = RawClient.tcp(port);
    await client.ready;
    client.socket.write(sipRequest());
    const { flow } = await recorder.message();
    const id = flow.connectionId!;
    const pongs: Array<[number, number]> = [];
    // A stale id or a connection leading elsewhere (ids restart with the process): nothing sent.
    expect(layer.keepalive(id + 1000)).toBe(false);
    expect(layer.keepalive(id, { remote: { address: flow.remoteAddress, port: flow.remotePort + 1 } })).toBe(false);
    expect(layer.keepalive(id, { remote: { address: flow.remoteAddress, port: flow.remotePort }, onPong: (c, rtt) => pongs.push([c, rtt]) })).toBe(true);
    await client.waitFor('\r\n\r\n');
    expect(client.received.toString()).toBe('\r\n\r\n');
    client.socket.write('\r\n');
    await waitUntil(() => pongs.length === 1, 'pong');
    expect(pongs[0][0]).toBe(id);
    expect(pongs[0][1]).toBeGreaterThanOrEqual(0);
    expect(layer.keepalive(id, { onPong: (c, rtt) => pongs.push([c, rtt]) })).toBe(true);
    await waitUntil(() => client.received.length === 8, 'second ping');
    client.socket.write('\r\n');
    await waitUntil(() => pongs.length === 2, 'second pong');
    // The pongs are not messages (and two of them are not taken for a ping of the phone's), and
    // the connection carries SIP as before.
    client.socket.write(sipRequest('after-pong'));
    expect((await recorder.message(2)).data.toString()).toContain('Call-ID: after-pong');
    await layer.send(sipResponse('after-pong'), { protocol: 'tcp', address: flow.remoteAddress, port: flow.remotePort, connectionId: id });
    await client.waitFor('SIP/2.0 200 OK');
    expect(client.received.toString().startsWith('\r\n\r\n\r\n\r\nSIP/2.0 200 OK')).toBe(true);
    client.socket.destroy();
    await recorder.closed();
    expect(layer.keepalive(id)).toBe(false);
  });

  it('closes the connection on an invalid Content-Length', async () => {
    const { port, layer, recorder } = await startLayer([TCP]);
    const client = RawClient.tcp(port);
    await client.ready;
    client.socket.write(Buffer.from(sipRequest().toString().replace('Content-Length: 0', 'Content-Length: -5')));
    await client.waitClosed();
    expect((await recorder.closed()).reason).toMatch(/^framing error/);
    expect(layer.stats().streamErrors).toBe(1);
    expect(recorder.messages).toHaveLength(0);
  });

  it('closes a connection that does not finish a started message within headerTimeout', async () => {
    const { port, layer, recorder } = await startLayer([TCP], { limits: { headerTimeout: 200 } });
    const client = RawClient.tcp(port);
    await client.ready;
    const half = sipRequest();
    client.socket.write(half.subarray(0, half.length / 2));
    const started = Date.now();
    // Keep dripping bytes of the same header: must not re-arm the timer.
    const drip = setInterval(() => client.socket.write('x'), 50);
    try {
      await client.waitClosed(2_000);
    } finally {
      clearInterval(drip);
    }
    expect(Date.now() - started).toBeLessThan(1_000);
    expect((await recorder.closed()).reason).toBe('header timeout');
    expect(layer.stats().streamErrors).toBe(1);
  });

  it('closes idle connections after idleTimeout', async () => {
    const { port, recorder, layer } = await startLayer([TCP], { limits: { idleTimeout: 200 } });
    const client = RawClient.tcp(port);
    await client.ready;
    await waitUntil(() => layer.stats().openConnections === 1, 'connection to register');
    await client.waitClosed(2_000);
    expect((await recorder.closed()).reason).toBe('idle timeout');
    expect(layer.stats().openConnections).toBe(0);
  });

  it('refuses the connection past connectionsPerIp', async () => {
    const { port, layer, recorder } = await startLayer([TCP], { limits: { connectionsPerIp: 2 } });
    const a = RawClient.tcp(port);
    const b = RawClient.tcp(port);
    await Promise.all([a.ready, b.ready]);
    await waitUntil(() => layer.stats().openConnections === 2, 'two connections');
    const c = RawClient.tcp(port);
    await c.waitClosed();
    expect(layer.stats().connectionsRefused).toBe(1);
    expect(recorder.closes).toHaveLength(0); // a refused socket never became a connection
    a.socket.write(sipRequest('still-alive'));
    expect((await recorder.message()).data.toString()).toContain('still-alive');
    expect(a.closed || b.closed).toBe(false);
    // A freed slot can be used again.
    b.socket.destroy();
    await waitUntil(() => layer.stats().openConnections === 1, 'b to go');
    const d = RawClient.tcp(port);
    await d.ready;
    await waitUntil(() => layer.stats().openConnections === 2, 'd to register');
  });

  it('sends a response back over the inbound connection by connectionId', async () => {
    const { port, layer, recorder } = await startLayer([TCP]);
    const client = RawClient.tcp(port);
    await client.ready;
    client.socket.write(sipRequest());
    const { flow } = await recorder.message();
    expect(layer.isConnectionOpen(flow.connectionId!)).toBe(true);
    await layer.send(sipResponse(), { protocol: 'tcp', address: flow.remoteAddress, port: flow.remotePort, connectionId: flow.connectionId });
    await client.waitFor('SIP/2.0 200 OK');
    // Without the id, the inbound connection is found by the peer's address and port.
    await layer.send(sipResponse('again'), { protocol: 'tcp', address: flow.remoteAddress, port: flow.remotePort });
    await client.waitFor('Call-ID: again');
    expect(layer.stats()).toMatchObject({ messagesIn: 1, messagesOut: 2, openConnections: 1 });
    client.socket.destroy();
    await recorder.closed();
    expect(layer.isConnectionOpen(flow.connectionId!)).toBe(false);
  });

  it('pools an outgoing connection (client-only tcp) and reuses it both ways', async () => {
    const server = await startLayer([TCP]);
    const client = await startLayer([{ protocol: 'udp', address: '127.0.0.1', port: 0 }]); // no tcp listener
    const target = { protocol: 'tcp' as const, address: '127.0.0.1', port: server.port };
    await Promise.all([client.layer.send(sipRequest('1'), target), client.layer.send(sipRequest('2'), target)]);
    await client.layer.send(sipRequest('3'), target);
    await server.recorder.message(3);
    const ids = new Set(server.recorder.messages.map((m) => m.flow.connectionId));
    expect(ids.size).toBe(1);
    expect(server.layer.stats().openConnections).toBe(1);
    expect(client.layer.stats().openConnections).toBe(1);
    // The server answers over the same connection; the client sees it on its outgoing connection.
    const { flow } = server.recorder.messages[0];
    await server.layer.send(sipResponse(), { protocol: 'tcp', address: flow.remoteAddress, port: flow.remotePort, connectionId: flow.connectionId });
    const reply = await client.recorder.message();
    expect(reply.flow).toMatchObject({ protocol: 'tcp', remoteAddress: '127.0.0.1', remotePort: server.port });
    expect(client.layer.isConnectionOpen(reply.flow.connectionId!)).toBe(true);
  });

  it('rejects a send to a closed port with TRANSPORT_ERR_SEND', async () => {
    const { layer } = await startLayer([TCP]);
    const port = await closedPort();
    await expect(layer.send(sipRequest(), { protocol: 'tcp', address: '127.0.0.1', port })).rejects.toMatchObject({
      code: 'TRANSPORT_ERR_SEND',
      message: `cannot send to tcp://127.0.0.1:${port}: ECONNREFUSED`,
    });
    expect(layer.stats().openConnections).toBe(0);
  });

  it('names the URL when a listener cannot bind', async () => {
    const first = await startLayer([TCP]);
    await expect(startLayer([{ ...TCP, port: first.port }])).rejects.toMatchObject({
      code: 'TRANSPORT_ERR_BIND',
      message: `cannot bind tcp://127.0.0.1:${first.port}: EADDRINUSE`,
    });
  });

  it('close() ends every connection and resolves once sockets are closed', async () => {
    const { port, layer, recorder } = await startLayer([TCP]);
    const client = RawClient.tcp(port);
    await client.ready;
    await waitUntil(() => layer.stats().openConnections === 1, 'connection');
    await layer.close();
    expect(recorder.closes.map((c) => c.reason)).toEqual(['shutdown']);
    await client.waitClosed();
    await expect(layer.send(sipRequest(), { protocol: 'tcp', address: '127.0.0.1', port })).rejects.toMatchObject({ code: 'TRANSPORT_ERR_SEND' });
  });
});
