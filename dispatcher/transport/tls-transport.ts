/**
 * SIP over TLS (RFC 3261 §26.2, RFC 5630): the TCP machinery over node:tls.
 *
 * Certificates come as PEM bytes (the layer reads the configured files). The TLS handshake must
 * finish within `headerTimeout`. Outgoing connections verify the peer (`rejectUnauthorized`,
 * default true) against `ca` or the system store; SNI is sent for host names only (RFC 6066 §3
 * forbids IP literals in server_name).
 */
import { isIP, type Server, type Socket } from 'node:net';
import { connect, createServer, type ConnectionOptions } from 'node:tls';
import { StreamTransport, type DialedSocket } from './stream-transport.ts';
import type { TransportContext } from './transport-context.ts';
import { errorReason } from './transport-errors.ts';
import type { Target } from './transport.ts';

/** PEM material; cert and key are needed to listen, optional for client-only use. */
export interface TlsMaterial {
  cert?: Buffer | undefined;
  key?: Buffer | undefined;
  ca?: Buffer | undefined;
  /** Verify the certificate of peers we connect to (default true). */
  rejectUnauthorized?: boolean | undefined;
}

export class TlsTransport extends StreamTransport {
  readonly protocol = 'tls' as const;
  readonly #tls: TlsMaterial;

  constructor(ctx: TransportContext, tls: TlsMaterial) {
    super(ctx);
    this.#tls = tls;
  }

  protected override createServer(accept: (socket: Socket) => void): Server {
    const server = createServer(
      { cert: this.#tls.cert, key: this.#tls.key, ca: this.#tls.ca, handshakeTimeout: this.ctx.limits.headerTimeout || 120_000 },
      accept,
    );
    server.on('tlsClientError', (err, socket) => {
      this.ctx.logger.info({ remoteAddress: socket.remoteAddress, reason: errorReason(err) }, 'TLS handshake failed');
    });
    return server;
  }

  protected override dial(target: Target): DialedSocket {
    const options: ConnectionOptions = {
      host: target.address,
      port: target.port,
      cert: this.#tls.cert,
      key: this.#tls.key,
      ca: this.#tls.ca,
      rejectUnauthorized: this.#tls.rejectUnauthorized ?? true,
    };
    if (isIP(target.address) === 0) options.servername = target.address;
    return { socket: connect(options), readyEvent: 'secureConnect' };
  }
}
