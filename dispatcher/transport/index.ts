/** The transport layer (RFC 3261 §18): UDP, TCP, TLS, WS, WSS behind one `TransportLayer`. */
export * from './transport.ts';
export { SipTransportLayer, type KeepaliveOptions, type ListenerConfig, type SipTransportLayerOptions, type TlsFiles } from './transport-layer.ts';
export type { SipTransportStats } from './transport-context.ts';
export type { PongListener } from './connection-pool.ts';
export { transportUrl } from './transport-errors.ts';
export { MAX_WRITE_QUEUE_BYTES } from './stream-connection.ts';
export { UDP_RECV_BUFFER_BYTES } from './udp-transport.ts';
