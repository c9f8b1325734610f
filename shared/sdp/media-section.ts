/**
 * One media description (RFC 8866 §5.14): the `m=` line and the lines after it up to the next
 * `m=`. Accessors read the lines on every call, so edits made through the methods (or directly to
 * `lines`) are always reflected.
 */
import {
  addrTypeOf,
  formatConnection,
  formatMedia,
  parseConnection,
  parseMedia,
  type SdpAddrType,
  type SdpAttribute,
  type SdpConnection,
  type SdpMedia,
  type SdpRtpmap,
} from './sdp-fields.ts';
import { attributesOf, rtpmapsOf, upsertLine, type SdpLine } from './sdp-line.ts';

export class MediaSection {
  /** `lines[0]` is the m= line. */
  lines: SdpLine[];

  constructor(lines: SdpLine[]) {
    this.lines = lines;
  }

  /** The parsed m= line. */
  get media(): SdpMedia {
    const m = parseMedia(this.lines[0].value);
    if (m === undefined) throw new TypeError('media section does not start with a valid m= line');
    return m;
  }

  get type(): string {
    return this.media.type;
  }

  get port(): number {
    return this.media.port;
  }

  get proto(): string {
    return this.media.proto;
  }

  get formats(): string[] {
    return this.media.formats;
  }

  /** This section's own c= line; the session-level one applies when undefined (RFC 8866 §5.7). */
  get connection(): SdpConnection | undefined {
    const line = this.lines.find((l) => l.type === 'c');
    return line === undefined ? undefined : parseConnection(line.value);
  }

  attributes(): SdpAttribute[] {
    return attributesOf(this.lines);
  }

  /** First value of an attribute: undefined when absent, '' for a property attribute (`a=sendonly`). */
  attribute(name: string): string | undefined {
    const attr = this.attributes().find((a) => a.name === name);
    return attr === undefined ? undefined : (attr.value ?? '');
  }

  hasAttribute(name: string): boolean {
    return this.attributes().some((a) => a.name === name);
  }

  /** Every rtpmap, or the one for a payload type. */
  rtpmaps(): SdpRtpmap[] {
    return rtpmapsOf(this.lines);
  }

  rtpmap(payloadType: number | string): SdpRtpmap | undefined {
    const pt = Number(payloadType);
    return this.rtpmaps().find((r) => r.payloadType === pt);
  }

  setPort(port: number): void {
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`invalid media port ${port}`);
    this.lines[0] = { type: 'm', value: formatMedia({ ...this.media, port }) };
  }

  /**
   * Set (or add) this section's c= line. The address family follows the address unless given,
   * so one section can be IP6 while another stays IP4 (RFC 5118 §4.8).
   */
  setConnectionAddress(address: string, addrType: SdpAddrType = addrTypeOf(address)): void {
    const netType = this.connection?.netType ?? 'IN';
    // RFC 8866 §5.14: m= i= c= b= k= a= ; a new c= goes before b/k/a.
    upsertLine(this.lines, 'c', formatConnection({ netType, addrType, address }), 'bka', 1);
  }
}
