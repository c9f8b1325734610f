/** SIP over TCP (RFC 3261 §18): plain sockets; everything else lives in StreamTransport. */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { StreamTransport, type DialedSocket } from './stream-transport.ts';
import type { Target } from './transport.ts';

export class TcpTransport extends StreamTransport {
  readonly protocol = 'tcp' as const;

  protected override createServer(accept: (socket: Socket) => void): Server {
    return createServer({ noDelay: true }, accept);
  }

  protected override dial(target: Target): DialedSocket {
    return { socket: connect({ host: target.address, port: target.port, noDelay: true }), readyEvent: 'connect' };
  }
}
