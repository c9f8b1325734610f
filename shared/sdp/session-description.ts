/**
 * A parsed SDP session description (RFC 8866 §5): the session-level lines (everything before the
 * first m=) and the media sections, each line kept as written. Build one with `parseSdp`, write
 * it with `serializeSdp`.
 */
import {
  addrTypeOf,
  formatConnection,
  formatOrigin,
  parseConnection,
  parseOrigin,
  type SdpAddrType,
  type SdpAttribute,
  type SdpConnection,
  type SdpOrigin,
} from './sdp-fields.ts';
import { attributesOf, upsertLine, type SdpLine } from './sdp-line.ts';
import type { MediaSection } from './media-section.ts';

export class SessionDescription {
  /** Session-level lines, `v=` first. */
  session: SdpLine[];
  media: MediaSection[];

  constructor(session: SdpLine[], media: MediaSection[]) {
    this.session = session;
    this.media = media;
  }

  get origin(): SdpOrigin {
    const line = this.session.find((l) => l.type === 'o');
    const origin = line === undefined ? undefined : parseOrigin(line.value);
    if (origin === undefined) throw new TypeError('session description has no valid o= line');
    return origin;
  }

  /** `s=` value ('' when absent). */
  get sessionName(): string {
    return this.session.find((l) => l.type === 's')?.value ?? '';
  }

  /** Session-level c= line, if any. */
  get connection(): SdpConnection | undefined {
    const line = this.session.find((l) => l.type === 'c');
    return line === undefined ? undefined : parseConnection(line.value);
  }

  /** The connection that applies to a media section: its own c=, else the session's. */
  connectionFor(section: MediaSection): SdpConnection | undefined {
    return section.connection ?? this.connection;
  }

  /** Session-level attributes. */
  attributes(): SdpAttribute[] {
    return attributesOf(this.session);
  }

  /** First value of a session-level attribute: undefined when absent, '' for a property attribute. */
  attribute(name: string): string | undefined {
    const attr = this.attributes().find((a) => a.name === name);
    return attr === undefined ? undefined : (attr.value ?? '');
  }

  /** Set (or add) the session-level c= line. Media-level c= lines still override it. */
  setConnectionAddress(address: string, addrType: SdpAddrType = addrTypeOf(address)): void {
    const netType = this.connection?.netType ?? 'IN';
    // RFC 8866 §5: v o s i u e p c b t r z k a ; a new c= goes before b/t/r/z/k/a.
    upsertLine(this.session, 'c', formatConnection({ netType, addrType, address }), 'btrzka');
  }

  /** Rewrite the o= line's unicast address (and its address type). */
  setOriginAddress(address: string, addrType: SdpAddrType = addrTypeOf(address)): void {
    upsertLine(this.session, 'o', formatOrigin({ ...this.origin, addrType, address }), '');
  }
}
