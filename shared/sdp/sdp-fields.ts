/**
 * Typed views of single SDP lines (RFC 8866 §5): o=, c=, m=, a= and a=rtpmap. Each parser takes
 * the value after `x=` and returns undefined when it does not fit the grammar; `parseSdp` turns
 * that into an SDP_ERR_PARSE naming the line. Each formatter writes the value back.
 */

export type SdpAddrType = 'IP4' | 'IP6';

/** `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>` (RFC 8866 §5.2). */
export interface SdpOrigin {
  username: string;
  sessionId: string;
  sessionVersion: string;
  netType: string;
  addrType: SdpAddrType;
  address: string;
}

/** `c=<nettype> <addrtype> <connection-address>` (RFC 8866 §5.7). Multicast `/ttl` stays in `address`. */
export interface SdpConnection {
  netType: string;
  addrType: SdpAddrType;
  address: string;
}

/** `m=<media> <port>[/<number of ports>] <proto> <fmt> ...` (RFC 8866 §5.14). */
export interface SdpMedia {
  type: string;
  port: number;
  portCount: number | undefined;
  proto: string;
  formats: string[];
}

/** `a=<name>[:<value>]` (RFC 8866 §5.13); `value` is undefined for a property attribute. */
export interface SdpAttribute {
  name: string;
  value: string | undefined;
}

/** `a=rtpmap:<payload type> <encoding name>/<clock rate>[/<channels>]` (RFC 8866 §6.6). */
export interface SdpRtpmap {
  payloadType: number;
  encoding: string;
  clockRate: number;
  channels: number | undefined;
}

const FIELD_SEP = /[ \t]+/;
const TOKEN = /^[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+$/;

function fields(value: string): string[] {
  const trimmed = value.trim();
  return trimmed.length === 0 ? [] : trimmed.split(FIELD_SEP);
}

function addrType(text: string): SdpAddrType | undefined {
  const upper = text.toUpperCase();
  return upper === 'IP4' || upper === 'IP6' ? upper : undefined;
}

/** IP6 when the address holds a colon (RFC 8866 §9: IP6 addresses are written without brackets). */
export function addrTypeOf(address: string): SdpAddrType {
  return address.includes(':') ? 'IP6' : 'IP4';
}

export function parseOrigin(value: string): SdpOrigin | undefined {
  const f = fields(value);
  if (f.length !== 6) return undefined;
  const type = addrType(f[4]);
  if (type === undefined || !/^\d+$/.test(f[1]) || !/^\d+$/.test(f[2])) return undefined;
  return { username: f[0], sessionId: f[1], sessionVersion: f[2], netType: f[3], addrType: type, address: f[5] };
}

export function formatOrigin(o: SdpOrigin): string {
  return `${o.username} ${o.sessionId} ${o.sessionVersion} ${o.netType} ${o.addrType} ${o.address}`;
}

export function parseConnection(value: string): SdpConnection | undefined {
  const f = fields(value);
  if (f.length !== 3) return undefined;
  const type = addrType(f[1]);
  if (type === undefined) return undefined;
  return { netType: f[0], addrType: type, address: f[2] };
}

export function formatConnection(c: SdpConnection): string {
  return `${c.netType} ${c.addrType} ${c.address}`;
}

export function parseMedia(value: string): SdpMedia | undefined {
  const f = fields(value);
  if (f.length < 4 || !TOKEN.test(f[0])) return undefined;
  const m = /^(\d{1,5})(?:\/(\d{1,5}))?$/.exec(f[1]);
  if (m === null || Number(m[1]) > 65535) return undefined;
  return {
    type: f[0],
    port: Number(m[1]),
    portCount: m[2] === undefined ? undefined : Number(m[2]),
    proto: f[2],
    formats: f.slice(3),
  };
}

export function formatMedia(m: SdpMedia): string {
  const port = m.portCount === undefined ? `${m.port}` : `${m.port}/${m.portCount}`;
  return `${m.type} ${port} ${m.proto} ${m.formats.join(' ')}`;
}

export function parseAttribute(value: string): SdpAttribute | undefined {
  const colon = value.indexOf(':');
  const name = colon < 0 ? value : value.slice(0, colon);
  if (!TOKEN.test(name)) return undefined;
  return { name, value: colon < 0 ? undefined : value.slice(colon + 1) };
}

export function formatAttribute(a: SdpAttribute): string {
  return a.value === undefined ? a.name : `${a.name}:${a.value}`;
}

/** Parse the value of an rtpmap attribute (what follows `a=rtpmap:`). */
export function parseRtpmap(value: string): SdpRtpmap | undefined {
  const m = /^(\d{1,3})[ \t]+([^ \t/]+)\/(\d+)(?:\/(\d+))?[ \t]*$/.exec(value);
  if (m === null || Number(m[1]) > 127) return undefined;
  return {
    payloadType: Number(m[1]),
    encoding: m[2],
    clockRate: Number(m[3]),
    channels: m[4] === undefined ? undefined : Number(m[4]),
  };
}

export function formatRtpmap(r: SdpRtpmap): string {
  const base = `${r.payloadType} ${r.encoding}/${r.clockRate}`;
  return r.channels === undefined ? base : `${base}/${r.channels}`;
}
