/**
 * A TCP listener on node:net. Each connection, accepted or opened by the sim to send a request,
 * is cut into messages by StreamFramer (RFC 3261 §18.3) and answers RFC 5626 CRLFCRLF pings with
 * CRLF. A framing error closes the connection: there is no way to find the next message.
 */
import { connect, createServer, type Socket } from 'node:net';
import { ERROR_CODES, SipfleetError } from '../shared/errors.ts';
import type { Logger } from '../shared/log.ts';
import { StreamFramer } from '../shared/sip/stream-framer.ts';
import { isWildcard, type InboundHandler, type SimListener, type Source } from './sim-listener.ts';

export async function startTcpListener(host: string, port: number, onData: InboundHandler, log: Logger): Promise<SimListener> {
  /** Open connections by remote `address|port`, for sending requests to a peer. */
  const connections = new Map<string, Socket>();
  const sockets = new Set<Socket>();
  let listener: SimListener;

  const attach = (socket: Socket, remoteAddress: string, remotePort: number): void => {
    const key = `${remoteAddress}|${remotePort}`;
    connections.set(key, socket);
    sockets.add(socket);
    socket.setNoDelay(true);
    const source: Source = {
      transport: 'tcp',
      address: remoteAddress,
      port: remotePort,
      get localAddress() {
        return socket.localAddress ?? listener.host;
      },
      listener,
      reply: (out) => {
        if (!socket.destroyed && socket.writable) socket.write(out);
      },
    };
    const framer = new StreamFramer({
      onMessage: (frame) => onData(frame, source),
      onPing: () => source.reply(Buffer.from('\r\n')),
    });
    socket.on('data', (chunk) => {
      try {
        framer.push(chunk);
      } catch (err) {
        log.debug({ err: (err as Error).message, peer: key }, 'tcp framing error, closing the connection');
        socket.destroy();
      }
    });
    socket.on('error', (err) => log.debug({ err: err.message, peer: key }, 'tcp connection error'));
    socket.on('close', () => {
      sockets.delete(socket);
      if (connections.get(key) === socket) connections.delete(key);
    });
  };

  const server = createServer((socket) => {
    if (socket.remoteAddress === undefined || socket.remotePort === undefined) {
      socket.destroy();
      return;
    }
    attach(socket, socket.remoteAddress, socket.remotePort);
  });
  server.on('error', (err) => log.warn({ err: err.message }, 'tcp server error'));
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => {
      reject(new SipfleetError(ERROR_CODES.TRANSPORT_ERR_BIND, `cannot bind tcp ${host}:${port}: ${err.message}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const bound = server.address();
  if (bound === null || typeof bound === 'string') throw new SipfleetError(ERROR_CODES.TRANSPORT_ERR_BIND, 'tcp listener has no address');
  let closed = false;

  listener = {
    transport: 'tcp',
    host: bound.address,
    port: bound.port,
    send(address, toPort, data) {
      if (closed) return;
      let socket = connections.get(`${address}|${toPort}`);
      if (socket === undefined || socket.destroyed) {
        socket = connect({ host: address, port: toPort, ...(isWildcard(bound.address) ? {} : { localAddress: bound.address }) });
        attach(socket, address, toPort);
      }
      socket.write(data);
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (closed) return resolve();
        closed = true;
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  return listener;
}
