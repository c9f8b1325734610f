/** A UDP listener on node:dgram: one datagram = one message (RFC 3261 §18.1.1). */
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { ERROR_CODES, SipfleetError } from '../shared/errors.ts';
import type { Logger } from '../shared/log.ts';
import type { InboundHandler, SimListener, Source } from './sim-listener.ts';

export async function startUdpListener(host: string, port: number, onData: InboundHandler, log: Logger): Promise<SimListener> {
  const socket = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => {
      socket.close();
      reject(new SipfleetError(ERROR_CODES.TRANSPORT_ERR_BIND, `cannot bind udp ${host}:${port}: ${err.message}`, { cause: err }));
    };
    socket.once('error', onError);
    socket.bind(port, host, () => {
      socket.off('error', onError);
      resolve();
    });
  });
  const bound = socket.address();
  let closed = false;
  const send = (address: string, toPort: number, data: Buffer): void => {
    if (closed) return;
    socket.send(data, toPort, address, (err) => {
      if (err) log.debug({ err: err.message, to: `${address}:${toPort}` }, 'udp send failed');
    });
  };
  const listener: SimListener = {
    transport: 'udp',
    host: bound.address,
    port: bound.port,
    send,
    close: () =>
      new Promise<void>((resolve) => {
        if (closed) return resolve();
        closed = true;
        socket.close(() => resolve());
      }),
  };
  socket.on('error', (err) => log.warn({ err: err.message }, 'udp socket error'));
  socket.on('message', (data, rinfo) => {
    const source: Source = {
      transport: 'udp',
      address: rinfo.address,
      port: rinfo.port,
      localAddress: bound.address,
      listener,
      reply: (out) => send(rinfo.address, rinfo.port, out),
    };
    onData(data, source);
  });
  return listener;
}
