/**
 * The sim's transport surface: a listener bound to one address, and the source of every inbound
 * message. Responses go back through `Source.reply`: to the packet's source address and port on
 * UDP (RFC 3581 §4 symmetric response, whatever the Via says) and over the same connection on TCP
 * (RFC 3261 §18.2.2).
 */
import type { SimTransportName } from './listen-uri.ts';

export interface SimListener {
  readonly transport: SimTransportName;
  /** Bound address (may be a wildcard). */
  readonly host: string;
  /** Bound port (the real one when 0 was asked for). */
  readonly port: number;
  /** Send a new request: UDP from this socket; TCP over an open connection to that peer, else a new one. */
  send(address: string, port: number, data: Buffer): void;
  close(): Promise<void>;
}

export interface Source {
  readonly transport: SimTransportName;
  readonly address: string;
  readonly port: number;
  /** The address the message arrived on (the listener's, or the TCP socket's local address). */
  readonly localAddress: string;
  readonly listener: SimListener;
  reply(data: Buffer): void;
}

export type InboundHandler = (data: Buffer, source: Source) => void;

export function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::' || address === '';
}
