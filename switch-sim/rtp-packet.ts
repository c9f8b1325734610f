/**
 * The fixed RTP header (RFC 3550 §5.1), enough to send a 20 ms G.711 stream and to read back what
 * a peer sent: V=2, no padding, no extension, no CSRC.
 */

export const RTP_HEADER_BYTES = 12;
/** 20 ms of G.711 at 8000 Hz: 160 samples, one byte each. */
export const G711_FRAME_SAMPLES = 160;
export const RTP_PACKET_MS = 20;

export interface RtpHeader {
  version: number;
  marker: boolean;
  payloadType: number;
  sequence: number;
  timestamp: number;
  ssrc: number;
}

/** A packet: header + payload. */
export function buildRtpPacket(h: Omit<RtpHeader, 'version'>, payload: Buffer): Buffer {
  const buf = Buffer.allocUnsafe(RTP_HEADER_BYTES + payload.length);
  buf[0] = 0x80; // V=2, P=0, X=0, CC=0
  buf[1] = (h.marker ? 0x80 : 0) | (h.payloadType & 0x7f);
  buf.writeUInt16BE(h.sequence & 0xffff, 2);
  buf.writeUInt32BE(h.timestamp >>> 0, 4);
  buf.writeUInt32BE(h.ssrc >>> 0, 8);
  payload.copy(buf, RTP_HEADER_BYTES);
  return buf;
}

/** The header of a datagram, or undefined when it is too short or not version 2. */
export function parseRtpHeader(data: Buffer): RtpHeader | undefined {
  if (data.length < RTP_HEADER_BYTES || data[0] >> 6 !== 2) return undefined;
  return {
    version: 2,
    marker: (data[1] & 0x80) !== 0,
    payloadType: data[1] & 0x7f,
    sequence: data.readUInt16BE(2),
    timestamp: data.readUInt32BE(4),
    ssrc: data.readUInt32BE(8),
  };
}

/** A frame of G.711 silence for the payload type (PCMU 0 → 0xFF, PCMA 8 → 0xD5). */
export function silenceFrame(payloadType: number): Buffer {
  return Buffer.alloc(G711_FRAME_SAMPLES, payloadType === 8 ? 0xd5 : 0xff);
}
