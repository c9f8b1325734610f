/**
 * `node.vip`: the floating IP of an active/standby pair (docs/ha.md), and its checks against the
 * rest of the node section (a listener on the address, the advertised host) and the store.
 */
import { parseIp } from './cidr.ts';
import { VIP_PRIORITIES, type ListenAddress, type StoreConfig, type VipConfig } from './config-types.ts';
import { formatDuration } from './duration.ts';
import type { Fields } from './fields.ts';

const SECOND = 1000;
/** Linux interface names: at most 15 bytes, no '/', ':' or whitespace. */
const IFNAME = /^[A-Za-z0-9_.@-]{1,15}$/;

function bool(f: Fields, key: string, def: boolean): boolean {
  const v = f.get(key);
  if (v === undefined) return def;
  if (typeof v === 'boolean') return v;
  f.invalid(key, 'must be true or false', v);
  return def;
}

function priority(f: Fields): number {
  const v = f.get('priority');
  if (v === undefined) return VIP_PRIORITIES.backup;
  if (v === 'primary' || v === 'backup') return VIP_PRIORITIES[v];
  if (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 255) return v;
  f.invalid('priority', 'must be primary, backup or an integer from 1 to 255 (higher wins)', v);
  return VIP_PRIORITIES.backup;
}

function address(f: Fields): { address: string; prefixLength: number } {
  const text = f.str('address');
  if (text === '') return { address: '', prefixLength: 32 };
  const m = /^([^/]+)(?:\/(\d{1,2}))?$/.exec(text);
  const ip = m === null ? undefined : parseIp(m[1]);
  const prefixLength = m?.[2] === undefined ? 32 : Number(m[2]);
  if (m === null || ip === undefined || ip.family !== 4 || prefixLength < 1 || prefixLength > 32) {
    f.invalid('address', 'must be an IPv4 address with an optional prefix length, e.g. 198.51.100.10/24 (IPv6 is not supported)');
    return { address: '', prefixLength: 32 };
  }
  return { address: m[1], prefixLength };
}

/** Reads `node.vip` (the mapping `f`). */
export function validateVip(f: Fields): VipConfig {
  const { address: addr, prefixLength } = address(f);
  const iface = f.str('interface', { pattern: IFNAME, maxLength: 15, hint: 'must be a network interface name of 1-15 characters (e.g. eth0)' });
  const vip: VipConfig = {
    address: addr,
    prefixLength,
    cidr: `${addr}/${prefixLength}`,
    interface: iface,
    priority: priority(f),
    rise: f.int('rise', 3, { min: 1, max: 100 }),
    fall: f.int('fall', 3, { min: 1, max: 100 }),
    autoReturn: bool(f, 'autoReturn', true),
    leaseTtl: f.duration('leaseTtl', 3 * SECOND, { min: SECOND, max: 60 * SECOND }),
    checkInterval: f.duration('checkInterval', SECOND, { min: 100, max: 10 * SECOND }),
    garp: f.int('garp', 2, { min: 0, max: 10 }),
  };
  // A claim is kept for one lease ttl and renewed by every check: checks must come more often.
  if (vip.checkInterval >= vip.leaseTtl) {
    f.invalid('checkInterval', `must be less than ${f.field('leaseTtl')} (${formatDuration(vip.leaseTtl)})`, formatDuration(vip.checkInterval));
  }
  return vip;
}

/**
 * The floating IP must be bound by a SIP listener (its own address, with
 * `net.ipv4.ip_nonlocal_bind=1`, or a wildcard) so that the node answers on it once it holds it.
 */
export function checkVipListeners(f: Fields, vip: VipConfig, listen: readonly ListenAddress[]): void {
  if (vip.address === '' || listen.length === 0) return;
  const bound = listen.some((l) => l.host === vip.address || l.host === '0.0.0.0');
  if (!bound) {
    f.issues.add(
      f.field('listen'),
      `no listener binds the floating IP ${vip.address} (node.vip.address): add e.g. udp://${vip.address}:5060 (with net.ipv4.ip_nonlocal_bind=1, see docs/ha.md)`,
    );
  }
}

/** Two nodes can only share a lease through a shared store. */
export function checkVipStore(f: Fields, store: StoreConfig): void {
  if (store.kind === 'memory') {
    f.issues.add(f.field('vip'), 'needs a shared store (store: redis://... or sentinel://...): the lease that fences the floating IP lives there');
  }
}
