/**
 * `LocalIdentity` of a node behind a floating IP (docs/ha.md, "Addresses"): Record-Route names
 * the floating IP (the advertised host), so that in-dialog requests reach whichever node holds it;
 * Via names the node's own address, so that responses come back to the node that sent the request,
 * and so that a peer never mistakes this node's Via for its own (they share the floating IP: a
 * request one hands to the other, e.g. the drain hand-off, would look like a loop).
 */
import type { ListenerInfo, TransportProtocol } from '../transport/transport.ts';
import { LocalIdentity } from '../proxy/local-identity.ts';

const VIA_TRANSPORT: Record<TransportProtocol, string> = { udp: 'UDP', tcp: 'TCP', tls: 'TLS', ws: 'WS', wss: 'WSS' };

export class VipIdentity extends LocalIdentity {
  readonly #own: string;

  /** `ownAddress` (IPv4) is one of ours too (an alias), besides the listeners' hosts. */
  constructor(listeners: readonly ListenerInfo[], ownAddress: string) {
    super(listeners, [ownAddress]);
    this.#own = ownAddress;
  }

  override viaValue(protocol: TransportProtocol, branch: string): string {
    const l = this.listenerFor(protocol);
    return `SIP/2.0/${VIA_TRANSPORT[protocol]} ${this.#own}:${l.port};branch=${branch};rport`;
  }
}
