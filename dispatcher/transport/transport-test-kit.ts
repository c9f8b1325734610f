/**
 * Helpers for the transport tests: a recording delegate, raw stream clients, a throwaway TLS
 * certificate, and layers bound to 127.0.0.1 on free ports. Test-only (not exported by index.ts).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { SipTransportLayer, type ListenerConfig, type SipTransportLayerOptions } from './transport-layer.ts';
import type { Flow, TransportDelegate } from './transport.ts';

export interface Received {
  data: Buffer;
  flow: Flow;
}

export class Recorder implements TransportDelegate {
  readonly messages: Received[] = [];
  readonly closes: Array<{ flow: Flow; reason: string }> = [];

  onMessage(data: Buffer, flow: Flow): void {
    this.messages.push({ data: Buffer.from(data), flow });
  }

  onConnectionClosed(flow: Flow, reason: string): void {
    this.closes.push({ flow, reason });
  }

  /** Resolves with the n-th message (1-based) once it has arrived. */
  async message(n = 1): Promise<Received> {
    await waitUntil(() => this.messages.length >= n, `message #${n}`);
    return this.messages[n - 1];
  }

  async closed(n = 1): Promise<{ flow: Flow; reason: string }> {
    await waitUntil(() => this.closes.length >= n, `connection close #${n}`);
    return this.closes[n - 1];
  }
}

export async function waitUntil(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export function sipRequest(callId = 'a84b4c76e66710', body = ''): Buffer {
  return Buffer.from(
    'OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\n' +
      'Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK776asdhds\r\n' +
      'Max-Forwards: 70\r\n' +
      'To: <sip:bob@127.0.0.1>\r\n' +
      'From: <sip:alice@127.0.0.1>;tag=1928301774\r\n' +
      `Call-ID: ${callId}\r\n` +
      'CSeq: 1 OPTIONS\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n` +
      body,
  );
}

export function sipResponse(callId = 'a84b4c76e66710'): Buffer {
  return Buffer.from(
    'SIP/2.0 200 OK\r\n' +
      'Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK776asdhds\r\n' +
      'To: <sip:bob@127.0.0.1>;tag=a6c85cf\r\n' +
      'From: <sip:alice@127.0.0.1>;tag=1928301774\r\n' +
      `Call-ID: ${callId}\r\n` +
      'CSeq: 1 OPTIONS\r\n' +
      'Content-Length: 0\r\n\r\n',
  );
}

/** Layers started by `startLayer`, closed by `closeLayers` (call it in afterEach). */
const layers: SipTransportLayer[] = [];

export async function startLayer(
  listeners: ListenerConfig[],
  options: Partial<Omit<SipTransportLayerOptions, 'listeners'>> = {},
): Promise<{ layer: SipTransportLayer; recorder: Recorder; port: number }> {
  const recorder = new Recorder();
  const layer = new SipTransportLayer({ delegate: recorder, ...options, listeners });
  layers.push(layer);
  await layer.start();
  return { layer, recorder, port: layer.listeners()[0]?.port ?? 0 };
}

export async function closeLayers(): Promise<void> {
  await Promise.all(layers.splice(0).map((l) => l.close()));
}

/** A raw TCP or TLS client collecting everything it receives. */
export class RawClient {
  readonly socket: Socket;
  received = Buffer.alloc(0);
  closed = false;
  readonly ready: Promise<void>;

  constructor(socket: Socket, readyEvent: 'connect' | 'secureConnect') {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
    });
    this.ready = new Promise((resolve, reject) => {
      socket.once(readyEvent, () => resolve());
      socket.once('error', reject);
    });
    this.ready.catch(() => {}); // refused clients are expected in some tests; await `ready` to see it
  }

  static tcp(port: number): RawClient {
    return track(new RawClient(netConnect({ host: '127.0.0.1', port }), 'connect'));
  }

  static tls(port: number, ca: Buffer): RawClient {
    return track(new RawClient(tlsConnect({ host: '127.0.0.1', port, ca }), 'secureConnect'));
  }

  async waitFor(text: string): Promise<void> {
    await waitUntil(() => this.received.includes(text), `client to receive ${JSON.stringify(text)}`);
  }

  async waitClosed(timeoutMs = 5_000): Promise<void> {
    await waitUntil(() => this.closed, 'client socket to close', timeoutMs);
  }
}

const clients: RawClient[] = [];

function track(client: RawClient): RawClient {
  clients.push(client);
  return client;
}

export function destroyClients(): void {
  for (const client of clients.splice(0)) client.socket.destroy();
}

/** A throwaway self-signed EC P-256 certificate for 127.0.0.1 (openssl CLI), in a temp dir. */
export function makeCert(): { dir: string; cert: string; key: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'sipfleet-tls-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
    { stdio: 'ignore' },
  );
  return { dir, cert, key, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A TCP port on 127.0.0.1 nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
