import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { closeLayers, makeCert, sipRequest, sipResponse, startLayer, waitUntil } from './transport-test-kit.ts';

let cert: ReturnType<typeof makeCert>;
const clients: WebSocket[] = [];

beforeAll(() => {
  cert = makeCert();
});
afterAll(() => cert.cleanup());
afterEach(async () => {
  for (const ws of clients.splice(0)) ws.terminate();
  await closeLayers();
});

function client(url: string, protocols?: string | string[], options: { ca?: Buffer } = {}): { ws: WebSocket; received: string[]; open: Promise<void> } {
  const ws = new WebSocket(url, protocols, options);
  clients.push(ws);
  const received: string[] = [];
  ws.on('message', (data: Buffer) => received.push(data.toString()));
  const open = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, received, open };
}

/** The HTTP status an upgrade was refused with. */
function refusal(url: string, protocols?: string | string[]): Promise<number> {
  const ws = new WebSocket(url, protocols);
  clients.push(ws);
  return new Promise((resolve, reject) => {
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('open', () => reject(new Error('handshake unexpectedly accepted')));
    ws.on('error', () => {});
  });
}

describe('WebSocket transport (RFC 7118)', () => {
  it('carries one SIP message per WebSocket message and replies over the same connection', async () => {
    const { layer, recorder, port } = await startLayer([{ protocol: 'ws', address: '127.0.0.1', port: 0, path: '/sip' }]);
    const c = client(`ws://127.0.0.1:${port}/sip`, 'sip');
    await c.open;
    expect(c.ws.protocol).toBe('sip');
    c.ws.send(sipRequest('w1'));
    const { data, flow } = await recorder.message();
    expect(data.equals(sipRequest('w1'))).toBe(true);
    expect(flow).toMatchObject({ protocol: 'ws', localPort: port, remoteAddress: '127.0.0.1' });
    expect(flow.connectionId).toBeTypeOf('number');
    await layer.send(sipResponse('w1'), { protocol: 'ws', address: flow.remoteAddress, port: flow.remotePort, connectionId: flow.connectionId });
    await waitUntil(() => c.received.length === 1, 'reply');
    expect(c.received[0]).toContain('SIP/2.0 200 OK');
    // CRLF keep-alive answered with CRLF, not delivered.
    c.ws.send('\r\n\r\n');
    await waitUntil(() => c.received.length === 2, 'pong');
    expect(c.received[1]).toBe('\r\n');
    expect(recorder.messages).toHaveLength(1);
    c.ws.close();
    expect((await recorder.closed()).flow.connectionId).toBe(flow.connectionId);
    expect(layer.isConnectionOpen(flow.connectionId!)).toBe(false);
  });

  it('refuses handshakes without the sip subprotocol (400) and on another path (404)', async () => {
    const { port, layer } = await startLayer([{ protocol: 'ws', address: '127.0.0.1', port: 0, path: '/sip' }]);
    expect(await refusal(`ws://127.0.0.1:${port}/sip`)).toBe(400);
    expect(await refusal(`ws://127.0.0.1:${port}/sip`, 'chat')).toBe(400);
    expect(await refusal(`ws://127.0.0.1:${port}/other`, 'sip')).toBe(404);
    expect(layer.stats().openConnections).toBe(0);
  });

  it('closes a connection whose message exceeds maxMessageBytes', async () => {
    const { port, layer, recorder } = await startLayer([{ protocol: 'ws', address: '127.0.0.1', port: 0 }], { limits: { maxMessageBytes: 1_000 } });
    const c = client(`ws://127.0.0.1:${port}/`, 'sip');
    await c.open;
    const closed = new Promise<number>((resolve) => c.ws.once('close', resolve));
    c.ws.send(Buffer.alloc(2_000, 0x41));
    expect(await closed).toBe(1009);
    await recorder.closed();
    expect(layer.stats().streamErrors).toBe(1);
    expect(recorder.messages).toHaveLength(0);
  });

  it('rejects a send to a ws target without a live connection', async () => {
    const { layer } = await startLayer([{ protocol: 'ws', address: '127.0.0.1', port: 0 }]);
    await expect(layer.send(sipRequest(), { protocol: 'ws', address: '127.0.0.1', port: 40000 })).rejects.toMatchObject({ code: 'TRANSPORT_ERR_SEND' });
  });

  it('keepalive() sends a WebSocket ping frame and times its pong (RFC 6455 §5.5.2)', async () => {
    const { layer, recorder, port } = await startLayer([{ protocol: 'ws', address: '127.0.0.1', port: 0 }]);
    const c = client(`ws://127.0.0.1:${port}/`, 'sip');
    await c.open;
    let pinged = 0;
    c.ws.on('ping', () => pinged++); // ws answers with a pong by itself, as browsers do
    c.ws.send(sipRequest('w-ka'));
    const { flow } = await recorder.message();
    const pongs: Array<[number, number]> = [];
    expect(layer.keepalive(flow.connectionId!, { onPong: (id, rtt) => pongs.push([id, rtt]) })).toBe(true);
    await waitUntil(() => pongs.length === 1, 'pong');
    expect(pinged).toBe(1);
    expect(pongs[0][0]).toBe(flow.connectionId);
    expect(c.received).toHaveLength(0); // no SIP message, no CRLF
    c.ws.terminate();
    await recorder.closed();
    expect(layer.keepalive(flow.connectionId!)).toBe(false);
  });

  it('closes idle WebSocket connections', async () => {
    const { port, recorder } = await startLayer([{ protocol: 'ws', address: '127.0.0.1', port: 0 }], { limits: { idleTimeout: 200 } });
    const c = client(`ws://127.0.0.1:${port}/`, 'sip');
    await c.open;
    expect((await recorder.closed()).reason).toBe('idle timeout');
  });

  it('refuses the WebSocket connection past connectionsPerIp', async () => {
    const { port, layer } = await startLayer([{ protocol: 'ws', address: '127.0.0.1', port: 0 }], { limits: { connectionsPerIp: 1 } });
    const a = client(`ws://127.0.0.1:${port}/`, 'sip');
    await a.open;
    const b = client(`ws://127.0.0.1:${port}/`, 'sip');
    await expect(b.open).rejects.toThrow();
    expect(layer.stats().connectionsRefused).toBe(1);
    expect(layer.stats().openConnections).toBe(1);
  });

  it('serves wss with the tls certificate', async () => {
    const { layer, recorder, port } = await startLayer([{ protocol: 'wss', address: '127.0.0.1', port: 0 }], { tls: { cert: cert.cert, key: cert.key } });
    const c = client(`wss://127.0.0.1:${port}/`, 'sip', { ca: readFileSync(cert.cert) });
    await c.open;
    c.ws.send(sipRequest('s1').toString());
    const { flow } = await recorder.message();
    expect(flow.protocol).toBe('wss');
    // Found by the peer's address and port when no connectionId is given.
    await layer.send(sipResponse('s1'), { protocol: 'wss', address: flow.remoteAddress, port: flow.remotePort });
    await waitUntil(() => c.received.length === 1, 'reply');
    expect(c.received[0]).toContain('Call-ID: s1');
  });
});
