/**
 * Error helpers for the transport layer: every failure leaving it is a `SipfleetError` whose
 * message names the transport URL (`tcp://[::1]:5060`), so logs and the operator see which
 * listener or peer failed. TRANSPORT_ERR_SEND is mapped to 503 upstream (RFC 3261 §8.1.3.1).
 */
import { ERROR_CODES, SipfleetError } from '../../shared/errors.ts';
import type { TransportProtocol } from './transport.ts';

/** `proto://host:port`, with IPv6 hosts in brackets. */
export function transportUrl(protocol: TransportProtocol, address: string, port: number): string {
  return `${protocol}://${address.includes(':') ? `[${address}]` : address}:${port}`;
}

/** The short reason an OS/Node error gives (`ECONNREFUSED`), else its message. */
export function errorReason(err: unknown): string {
  if (err instanceof SipfleetError) return err.message;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  return err instanceof Error ? err.message : String(err);
}

export function bindError(url: string, cause: unknown): SipfleetError {
  return new SipfleetError(ERROR_CODES.TRANSPORT_ERR_BIND, `cannot bind ${url}: ${errorReason(cause)}`, { cause, detail: { url } });
}

export function sendError(url: string, cause: unknown): SipfleetError {
  return new SipfleetError(ERROR_CODES.TRANSPORT_ERR_SEND, `cannot send to ${url}: ${errorReason(cause)}`, { cause, detail: { url } });
}
