/**
 * One SDP line (RFC 8866 §5: `<type>=<value>`). Lines are kept in arrival order, unknown types
 * included, so that an edited description serializes with everything it did not touch unchanged.
 */
import { parseAttribute, parseRtpmap, type SdpAttribute, type SdpRtpmap } from './sdp-fields.ts';

export interface SdpLine {
  /** One character, case-significant (`v`, `o`, `c`, `m`, `a`...). */
  type: string;
  /** Everything after the `=`, as written. */
  value: string;
}

/** The a= lines of a block, parsed. */
export function attributesOf(lines: readonly SdpLine[]): SdpAttribute[] {
  const out: SdpAttribute[] = [];
  for (const line of lines) {
    if (line.type !== 'a') continue;
    const attr = parseAttribute(line.value);
    if (attr !== undefined) out.push(attr);
  }
  return out;
}

/** Every rtpmap attribute of a block, in order. */
export function rtpmapsOf(lines: readonly SdpLine[]): SdpRtpmap[] {
  const out: SdpRtpmap[] = [];
  for (const attr of attributesOf(lines)) {
    if (attr.name !== 'rtpmap' || attr.value === undefined) continue;
    const map = parseRtpmap(attr.value);
    if (map !== undefined) out.push(map);
  }
  return out;
}

/**
 * Replace the first line of `type`, or insert one before the first line whose type is in `before`
 * (RFC 8866 §5 fixes the line order), or at the end.
 */
export function upsertLine(lines: SdpLine[], type: string, value: string, before: string, from = 0): void {
  for (let i = from; i < lines.length; i++) {
    if (lines[i].type === type) {
      lines[i] = { type, value };
      return;
    }
  }
  let at = lines.length;
  for (let i = from; i < lines.length; i++) {
    if (before.includes(lines[i].type)) {
      at = i;
      break;
    }
  }
  lines.splice(at, 0, { type, value });
}
