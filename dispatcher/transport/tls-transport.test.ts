import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { closeLayers, destroyClients, makeCert, RawClient, sipRequest, sipResponse, startLayer, waitUntil } from './transport-test-kit.ts';

const TLS = { protocol: 'tls' as const, address: '127.0.0.1', port: 0 };
let cert: ReturnType<typeof makeCert>;
let ca: Buffer;

beforeAll(() => {
  cert = makeCert();
  ca = readFileSync(cert.cert);
});
afterAll(() => cert.cleanup());
afterEach(async () => {
  destroyClients();
  await closeLayers();
});

describe('TLS transport', () => {
  it('receives over TLS and answers over the same connection', async () => {
    const { layer, recorder, port } = await startLayer([TLS], { tls: { cert: cert.cert, key: cert.key } });
    const client = RawClient.tls(port, ca);
    await client.ready;
    client.socket.write(Buffer.concat([sipRequest('t1'), Buffer.from('\r\n\r\n')]));
    const { flow } = await recorder.message();
    expect(flow).toMatchObject({ protocol: 'tls', localPort: port, remoteAddress: '127.0.0.1', remotePort: client.socket.localPort });
    await client.waitFor('\r\n'); // CRLF pong
    await layer.send(sipResponse('t1'), { protocol: 'tls', address: flow.remoteAddress, port: flow.remotePort, connectionId: flow.connectionId });
    await client.waitFor('SIP/2.0 200 OK');
  });

  it('opens, verifies and pools outgoing TLS connections (client-only)', async () => {
    const server = await startLayer([TLS], { tls: { cert: cert.cert, key: cert.key } });
    const client = await startLayer([{ protocol: 'udp', address: '127.0.0.1', port: 0 }], { tls: { cert: cert.cert, key: cert.key, ca: cert.cert } });
    const target = { protocol: 'tls' as const, address: '127.0.0.1', port: server.port };
    await client.layer.send(sipRequest('o1'), target);
    await client.layer.send(sipRequest('o2'), target);
    await server.recorder.message(2);
    expect(new Set(server.recorder.messages.map((m) => m.flow.connectionId)).size).toBe(1);
    expect(server.layer.stats().openConnections).toBe(1);
  });

  it('rejects an outgoing connection to an untrusted certificate by default', async () => {
    const server = await startLayer([TLS], { tls: { cert: cert.cert, key: cert.key } });
    const { layer } = await startLayer([]); // no tls config: system CAs only
    await expect(layer.send(sipRequest(), { protocol: 'tls', address: '127.0.0.1', port: server.port })).rejects.toMatchObject({ code: 'TRANSPORT_ERR_SEND' });
    expect(layer.stats().openConnections).toBe(0);
  });

  it('applies connectionsPerIp before the TLS handshake', async () => {
    const { layer, recorder, port } = await startLayer([TLS], { tls: { cert: cert.cert, key: cert.key }, limits: { connectionsPerIp: 1 } });
    const a = RawClient.tls(port, ca);
    await a.ready;
    const b = RawClient.tls(port, ca);
    await b.waitClosed();
    expect(layer.stats().connectionsRefused).toBe(1);
    a.socket.write(sipRequest('a'));
    await recorder.message();
    expect(layer.stats().openConnections).toBe(1);
  });

  it('refuses to start a tls listener without a readable certificate', async () => {
    await expect(startLayer([TLS])).rejects.toMatchObject({ code: 'TRANSPORT_ERR_BIND', message: 'cannot bind tls://127.0.0.1:0: no tls cert/key configured' });
    await expect(startLayer([TLS], { tls: { cert: '/nonexistent.pem', key: cert.key } })).rejects.toMatchObject({
      code: 'TRANSPORT_ERR_BIND',
      message: 'cannot bind tls://127.0.0.1:0: cannot read /nonexistent.pem: ENOENT',
    });
  });

  it('closes a TLS connection whose message stalls (header timeout)', async () => {
    const { recorder, port } = await startLayer([TLS], { tls: { cert: cert.cert, key: cert.key }, limits: { headerTimeout: 200 } });
    const client = RawClient.tls(port, ca);
    await client.ready;
    client.socket.write('INVITE sip:x@y SIP/2.0\r\n');
    await client.waitClosed(2_000);
    await waitUntil(() => recorder.closes.length === 1, 'close');
    expect(recorder.closes[0].reason).toBe('header timeout');
  });
});
