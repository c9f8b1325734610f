/**
 * What the proxy core needs for the drain hand-off (docs/ops-api.md, "Drain"): a draining node
 * forwards each new INVITE to a live peer, with a Route whose user part is a signed token naming
 * the call's original source; the peer, recognising the token, treats the request as coming from
 * that source (carrier, unknown-source check, phone auth, hash-source, admission key). The proxy
 * sees this interface only; dispatcher/cluster/drain-handoff.ts implements it (peers from the
 * leases, tokens signed with the cluster secret).
 */
import type { TransportProtocol } from '../transport/transport.ts';

/** Where a handed-off request originally came from, as the draining node received it. */
export interface HandoffSource {
  readonly protocol: TransportProtocol;
  readonly address: string;
  readonly port: number;
  /** It reached the draining node at the floating IP, so the caller expects answers from there. */
  readonly floatingIp?: boolean;
}

/**
 * A token in a Route's user part: not one (`undefined`), valid (its source), `invalid` (forged,
 * expired, made for another Call-ID) or `unavailable` (this node has not loaded the cluster
 * secret yet, so it cannot tell).
 */
export type HandoffDecoded = HandoffSource | 'invalid' | 'unavailable' | undefined;

export interface HandoffService {
  /** The internal-hop URI of a live peer (not this node) for a new call; undefined when none is known. */
  peer(callId: string): string | undefined;
  /** A token naming `source` for the call `callId`; undefined until the cluster secret is loaded. */
  encode(source: HandoffSource, callId: string, nowS: number): string | undefined;
  /** What a Route value's user part says (see HandoffDecoded). */
  decode(user: string | undefined, callId: string, nowS: number): HandoffDecoded;
}
