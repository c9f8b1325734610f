/**
 * IPv4/IPv6 addresses and CIDR blocks as bigints, for carrier source matching.
 * `cidrContains` treats IPv4-mapped IPv6 (`::ffff:10.1.2.3`, what a dual-stack socket reports)
 * as the IPv4 address, so an IPv4 block matches either form.
 */
import { SipfleetError } from '../errors.ts';

export interface IpAddress {
  family: 4 | 6;
  value: bigint;
}

/** A parsed block; plain JSON-safe data (the bigint form used for matching is cached aside). */
export interface Cidr {
  family: 4 | 6;
  /** Canonical network address (host bits zero), e.g. `10.0.0.0`, `2001:db8::`. */
  network: string;
  prefix: number;
  /** Canonical `network/prefix`, e.g. `10.0.0.0/8`, `2001:db8::/32`. */
  text: string;
}

const BITS = { 4: 32, 6: 128 } as const;
const MAPPED_PREFIX = 0xffffn << 32n;

function parseIpv4(text: string): bigint | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(part) || Number(part) > 255) return undefined;
    value = (value << 8n) | BigInt(part);
  }
  return value;
}

function parseGroups(text: string): bigint[] | undefined {
  if (text === '') return [];
  const groups: bigint[] = [];
  const parts = text.split(':');
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    if (i === parts.length - 1 && part.includes('.')) {
      const v4 = parseIpv4(part);
      if (v4 === undefined) return undefined;
      groups.push(v4 >> 16n, v4 & 0xffffn);
    } else if (/^[0-9a-fA-F]{1,4}$/.test(part)) {
      groups.push(BigInt(`0x${part}`));
    } else {
      return undefined;
    }
  }
  return groups;
}

function parseIpv6(text: string): bigint | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = parseGroups(halves[0]);
  const tail = halves.length === 2 ? parseGroups(halves[1]) : [];
  if (!head || !tail) return undefined;
  // An embedded IPv4 address may only end the address.
  if (halves.length === 2 && halves[0].includes('.')) return undefined;
  const count = head.length + tail.length;
  if (halves.length === 2 ? count > 7 : count !== 8) return undefined;
  const groups = [...head, ...new Array<bigint>(8 - count).fill(0n), ...tail];
  return groups.reduce((acc, g) => (acc << 16n) | g, 0n);
}

/** Parses an IPv4 or IPv6 literal (no brackets, no zone id); undefined when it is neither. */
export function parseIp(text: string): IpAddress | undefined {
  const v4 = parseIpv4(text);
  if (v4 !== undefined) return { family: 4, value: v4 };
  const v6 = text.includes(':') ? parseIpv6(text) : undefined;
  return v6 === undefined ? undefined : { family: 6, value: v6 };
}

/** Canonical text: dotted quad, or RFC 5952 IPv6 (lower case, longest zero run as `::`). */
export function formatIp(ip: IpAddress): string {
  if (ip.family === 4) return [24n, 16n, 8n, 0n].map((s) => String((ip.value >> s) & 0xffn)).join('.');
  const groups = Array.from({ length: 8 }, (_, i) => Number((ip.value >> BigInt(112 - 16 * i)) & 0xffffn));
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [bestStart, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

const NUMERIC = new WeakMap<Cidr, { network: bigint; mask: bigint }>();

function numeric(cidr: Cidr): { network: bigint; mask: bigint } {
  let n = NUMERIC.get(cidr);
  if (!n) {
    const m = mask(cidr.family, cidr.prefix);
    const ip = parseIp(cidr.network);
    // -1n never equals a masked address: a hand-made Cidr with a bad network matches nothing.
    n = { network: ip && ip.family === cidr.family ? ip.value & m : -1n, mask: m };
    NUMERIC.set(cidr, n);
  }
  return n;
}

function mask(family: 4 | 6, prefix: number): bigint {
  const bits = BigInt(BITS[family]);
  return ((1n << bits) - 1n) ^ ((1n << (bits - BigInt(prefix))) - 1n);
}

/** Parses `addr` or `addr/prefix`; returns the problem as a string when invalid. */
export function tryParseCidr(text: string): Cidr | string {
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const ip = parseIp(addrText);
  if (!ip) return 'must be an IPv4 or IPv6 address, or a CIDR block like 10.0.0.0/8';
  const max = BITS[ip.family];
  let prefix: number = max;
  if (slash >= 0) {
    const prefixText = text.slice(slash + 1);
    if (!/^(0|[1-9]\d{0,2})$/.test(prefixText) || Number(prefixText) > max) {
      return `prefix length must be from 0 to ${max} for IPv${ip.family}`;
    }
    prefix = Number(prefixText);
  }
  const network = ip.value & mask(ip.family, prefix);
  const canonical = `${formatIp({ family: ip.family, value: network })}/${prefix}`;
  if (network !== ip.value) return `has host bits set beyond /${prefix} (did you mean ${canonical}?)`;
  const cidr: Cidr = { family: ip.family, network: formatIp({ family: ip.family, value: network }), prefix, text: canonical };
  NUMERIC.set(cidr, { network, mask: mask(ip.family, prefix) });
  return cidr;
}

/** Parses `addr` or `addr/prefix` (a bare address is a /32 or /128); throws CFG_ERR_INVALID. */
export function parseCidr(text: string): Cidr {
  const result = tryParseCidr(text);
  if (typeof result === 'string') {
    throw new SipfleetError('CFG_ERR_INVALID', `invalid CIDR ${JSON.stringify(text)}: ${result}`);
  }
  return result;
}

/** True when `ip` (text, zone id ignored, or parsed) lies in `cidr`. An unparsable ip is never contained. */
export function cidrContains(cidr: Cidr, ip: string | IpAddress): boolean {
  let addr = typeof ip === 'string' ? parseIp(ip.replace(/%.*$/, '')) : ip;
  if (!addr) return false;
  if (addr.family !== cidr.family) {
    if (addr.family === 6 && addr.value >> 32n === 0xffffn) addr = { family: 4, value: addr.value & 0xffffffffn };
    else if (addr.family === 4) addr = { family: 6, value: MAPPED_PREFIX | addr.value };
    else return false;
  }
  const n = numeric(cidr);
  return (addr.value & n.mask) === n.network;
}
