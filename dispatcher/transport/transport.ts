/**
 * The transport layer contract (RFC 3261 §18). Everything above it (transactions, proxy core)
 * sees only this: framed SIP messages in with the flow they arrived on, bytes out to a target.
 *
 * - UDP delivers one datagram per message; TCP/TLS are framed by Content-Length (StreamFramer);
 *   WS/WSS carry one SIP message per WebSocket message (RFC 7118 §5).
 * - A flow names the connection a message used, so responses and later requests to a phone behind
 *   NAT go back over the same connection (RFC 3261 §18.2.2, RFC 5626).
 * - Sending to a stream target reuses a live connection to that address (inbound or outbound)
 *   before opening a new one (connection reuse both ways, RFC 5923 spirit).
 */

export type TransportProtocol = 'udp' | 'tcp' | 'tls' | 'ws' | 'wss';

/** Where a message came from (or must go). Addresses are bare (no IPv6 brackets). */
export interface Flow {
  readonly protocol: TransportProtocol;
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** Stream connection id (unique within the node); undefined for UDP. */
  readonly connectionId: number | undefined;
}

/** A destination for `send`. */
export interface Target {
  readonly protocol: TransportProtocol;
  readonly address: string;
  readonly port: number;
  /** Prefer this connection when it is still open (streams). */
  readonly connectionId?: number | undefined;
  /**
   * UDP: leave from the listener bound to this port when one is (of the target's address family):
   * a phone's NAT pinhole leads to the socket its REGISTER arrived on.
   */
  readonly localPort?: number | undefined;
}

/** One listening socket, as configured by a `node.listen` URL. */
export interface ListenerInfo {
  readonly protocol: TransportProtocol;
  readonly address: string;
  readonly port: number;
  /** Host to write in Via / Record-Route (node.advertise, or the bound address). */
  readonly advertisedHost: string;
}

/** Upward delegate: the transaction layer implements it. */
export interface TransportDelegate {
  /** One complete message (unparsed bytes) and the flow it arrived on. */
  onMessage(data: Buffer, flow: Flow): void;
  /** A stream connection closed (idle, error, framing error, peer close). */
  onConnectionClosed?(flow: Flow, reason: string): void;
}

/**
 * What `send` returns for bytes the kernel took at once (a UDP datagram, usually): one shared,
 * settled promise. A caller that only attaches an error handler may skip it for this one: a
 * `.catch` on it would make a promise and a microtask per message for nothing (seven per proxied
 * call; BENCHMARKS.md, Session 17).
 */
export const SENT: Promise<void> = Promise.resolve();

export interface TransportLayer {
  /** Bind every listener; rejects with a TRANSPORT_ERR_BIND SipfleetError naming the address. */
  start(): Promise<void>;
  /**
   * Send bytes. Resolves once written to the socket; rejects with a TRANSPORT_ERR_SEND error when
   * the target cannot be reached (connect refused/timeout, connection gone). The transaction
   * layer maps that to 503 (RFC 3261 §8.1.3.1). `SENT` when the bytes were taken at once.
   */
  send(data: Buffer, target: Target): Promise<void>;
  /** Listeners, in config order. */
  listeners(): readonly ListenerInfo[];
  /** The listener a message to `protocol` leaves from (first of that protocol). */
  listenerFor(protocol: TransportProtocol): ListenerInfo | undefined;
  /** Whether a stream connection is still open. */
  isConnectionOpen(connectionId: number): boolean;
  /** Counters for /metrics. */
  stats(): TransportStats;
  /** Close listeners and connections. */
  close(): Promise<void>;
}

export interface TransportStats {
  openConnections: number;
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Connections refused by maxConnections / connectionsPerIp. */
  connectionsRefused: number;
  /** Streams closed for framing errors, header timeout or size limits. */
  streamErrors: number;
}

/** Explicit transport limits (node.limits in the config). */
export interface TransportLimits {
  maxMessageBytes: number;
  maxHeaders: number;
  maxLineLength: number;
  maxConnections: number;
  connectionsPerIp: number;
  /** ms without traffic before a stream connection is closed. */
  idleTimeout: number;
  /** ms a stream may take to deliver a message it has started (slowloris, RFC 4475 clerr). */
  headerTimeout: number;
  /** ms to establish an outgoing stream connection. */
  connectTimeout: number;
}

export const DEFAULT_TRANSPORT_LIMITS: Readonly<TransportLimits> = Object.freeze({
  maxMessageBytes: 65_535,
  maxHeaders: 256,
  maxLineLength: 8_192,
  maxConnections: 10_000,
  connectionsPerIp: 256,
  idleTimeout: 120_000,
  headerTimeout: 10_000,
  connectTimeout: 3_000,
});
