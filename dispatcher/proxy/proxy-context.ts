/**
 * What the proxy core needs from the response context of a proxied request (RFC 3261 §16.7),
 * whichever kind it is: the sequential one with capacity failover toward switches
 * (ResponseContext) or the parallel-forking one toward a user's registered contacts
 * (ForkContext). A server transaction's `context` holds one of them.
 */
import { ForkContext } from './fork-context.ts';
import { ResponseContext } from './response-context.ts';

export interface ProxyContext {
  /** CANCEL arrived for the INVITE (RFC 3261 §16.10). */
  cancel(): void;
  /** Answer upstream ourselves. */
  respond(status: number, reason: string, headers?: ReadonlyArray<readonly [string, string]>): void;
  /** A final response went upstream. */
  readonly finished: boolean;
  /** An upstream CANCEL was received. */
  readonly cancelled: boolean;
}

/** True for a server transaction's `context` made by the proxy core (either kind). */
export function isProxyContext(x: unknown): x is ProxyContext {
  return x instanceof ResponseContext || x instanceof ForkContext;
}
