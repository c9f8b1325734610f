import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestCertificates, type TestCertificates } from './certs.ts';
import { stopAllProcesses } from './managed-process.ts';
import { freePort } from './ports.ts';
import { requireTool } from './require-tool.ts';
import { startStunnelClient } from './stunnel.ts';

interface EchoServer {
  server: Server;
  port: number;
  /** TLS protocol of each accepted connection, to prove stunnel really spoke TLS. */
  protocols: string[];
}

async function startEchoServer(certs: TestCertificates): Promise<EchoServer> {
  const protocols: string[] = [];
  const server = createServer({ cert: await readFile(certs.cert), key: await readFile(certs.key) }, (socket: TLSSocket) => {
    protocols.push(socket.getProtocol() ?? 'none');
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  server.on('tlsClientError', () => {});
  const port = await freePort('127.0.0.1', ['tcp']);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { server, port, protocols };
}

/** Plain TCP round trip through stunnel: resolves with what came back before the close/timeout. */
function roundTrip(port: number, payload: string, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve) => {
    let received = '';
    const socket = createConnection({ host: '127.0.0.1', port });
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(received);
    };
    const timer = setTimeout(done, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(payload));
    socket.on('data', (chunk: string) => {
      received += chunk;
      if (received.length >= payload.length) done();
    });
    socket.on('error', done);
    socket.on('close', done);
  });
}

describe('stunnel client helper', () => {
  let dir: string;
  let good: TestCertificates;
  let wrongName: TestCertificates;

  beforeAll(async () => {
    requireTool('stunnel4', 'stunnel4');
    requireTool('openssl', 'openssl');
    dir = await mkdtemp(join(tmpdir(), 'sipfleet-stunnel-test-'));
    good = await makeTestCertificates(join(dir, 'good'), { ips: ['127.0.0.1'], dnsNames: ['localhost'] });
    wrongName = await makeTestCertificates(join(dir, 'wrong'), { ips: ['127.0.0.2'] });
  });

  afterAll(async () => {
    await stopAllProcesses();
    await rm(dir, { recursive: true, force: true });
  });

  it('carries plain TCP from its accept port over verified TLS to a node:tls echo server', async () => {
    const echo = await startEchoServer(good);
    const acceptPort = await freePort('127.0.0.1', ['tcp']);
    const stunnel = await startStunnelClient({
      acceptHost: '127.0.0.1',
      acceptPort,
      connectHost: '127.0.0.1',
      connectPort: echo.port,
      caFile: good.caCert,
    });
    try {
      expect(echo.protocols).toEqual([]); // readiness did not connect through
      const payload = 'OPTIONS sip:ping@127.0.0.1 SIP/2.0\r\n\r\n';
      expect(await roundTrip(acceptPort, payload)).toBe(payload);
      expect(echo.protocols).toHaveLength(1);
      expect(echo.protocols[0]).toMatch(/^TLSv1\.[23]$/);
      expect(stunnel.output()).toMatch(/accepted connection/);
    } finally {
      const exit = await stunnel.stop();
      expect(exit.code ?? exit.signal).not.toBe('SIGKILL');
      echo.server.close();
    }
  });

  it('refuses a server whose certificate does not name the address, unless verify is off', async () => {
    const echo = await startEchoServer(wrongName);
    const strictPort = await freePort('127.0.0.1', ['tcp']);
    const loosePort = await freePort('127.0.0.1', ['tcp']);
    const common = { acceptHost: '127.0.0.1', connectHost: '127.0.0.1', connectPort: echo.port, caFile: wrongName.caCert };
    const strict = await startStunnelClient({ ...common, acceptPort: strictPort });
    const loose = await startStunnelClient({ ...common, acceptPort: loosePort, verify: false });
    try {
      expect(await roundTrip(strictPort, 'hello', 2000)).toBe('');
      await strict.waitForOutput(/certificate|verif|check/i, 5000);
      expect(await roundTrip(loosePort, 'hello')).toBe('hello');
    } finally {
      await strict.stop();
      await loose.stop();
      echo.server.close();
    }
  });

  it('fails loudly with stunnel output when the accept port is taken', async () => {
    const blocker = await startEchoServer(good); // listens on its port: stunnel cannot bind it
    await expect(
      startStunnelClient({
        acceptHost: '127.0.0.1',
        acceptPort: blocker.port,
        connectHost: '127.0.0.1',
        connectPort: blocker.port,
        caFile: good.caCert,
        readyTimeoutMs: 3000,
      }),
    ).rejects.toThrow(/stunnel-client not ready[\s\S]*last output/);
    blocker.server.close();
  });
});
