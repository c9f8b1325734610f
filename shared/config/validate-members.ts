import { tryParseCidr } from './cidr.ts';
import {
  SELECTIONS,
  SWITCH_STATES,
  SWITCH_TRANSPORTS,
  type CarrierConfig,
  type RtpRelayConfig,
  type Selection,
  type SwitchConfig,
  type SwitchTransport,
  type UserConfig,
} from './config-types.ts';
import { digestHa1 } from './digest-ha1.ts';
import type { ConfigIssues } from './config-issues.ts';
import type { Fields } from './fields.ts';
import { formatHostPort, tryParseHostPort } from './host-port.ts';
import { tryParseSwitchAddress } from './srv-name.ts';

const ID = { pattern: /^[A-Za-z0-9._-]+$/, maxLength: 64, hint: 'must be 1-64 characters of A-Z, a-z, 0-9, ".", "_" and "-"' };
const ZONE = { maxLength: 64 };
const COUNT = { min: 0 };

/** Remembers where each key was first seen and reports later duplicates. */
class Uniques {
  private readonly seen = new Map<string, string>();

  check(issues: ConfigIssues, path: string, key: string, what: string): void {
    const first = this.seen.get(key);
    if (first === undefined) this.seen.set(key, path);
    else issues.add(path, `duplicate ${what} (first at ${first})`);
  }
}

/** Reads the mapping items of list `key` with `read`, dropping items that are not mappings. */
function eachItem<T>(f: Fields, key: string, read: (item: Fields) => T): T[] {
  return f
    .list(key)
    .map((value, i) => f.itemMap(key, i, value))
    .filter((item) => !item.broken)
    .map(read);
}

function address(item: Fields, key: string): { host: string; port: number; text: string } {
  const text = item.str(key);
  if (!text) return { host: '', port: 0, text: '' };
  const hp = tryParseHostPort(text, true);
  if (typeof hp === 'string') {
    item.invalid(key, hp);
    return { host: '', port: 0, text };
  }
  return { ...hp, text: formatHostPort(hp) };
}

function optionals<T extends object>(target: T, values: Record<string, unknown>): T {
  for (const [k, v] of Object.entries(values)) if (v !== undefined) (target as Record<string, unknown>)[k] = v;
  return target;
}

/** A switch address and its transport (see `tryParseSwitchAddress`); problems reported on their key. */
function switchAddress(s: Fields): { host: string; port: number; text: string; transport: SwitchTransport } {
  const text = s.str('address');
  // An invalid transport is reported by oneOf; the address is then parsed as if none was given.
  const known = (SWITCH_TRANSPORTS as readonly unknown[]).includes(s.get('transport'));
  const given = s.has('transport') ? s.oneOf('transport', SWITCH_TRANSPORTS, 'udp') : undefined;
  if (!text) return { host: '', port: 0, text: '', transport: given ?? 'udp' };
  const parsed = tryParseSwitchAddress(text, known ? given : undefined);
  if ('problem' in parsed) {
    s.invalid(parsed.field, parsed.problem);
    return { host: '', port: 0, text, transport: given ?? 'udp' };
  }
  return { host: parsed.host, port: parsed.port, text: parsed.srv ? parsed.host : formatHostPort(parsed), transport: parsed.transport };
}

export function validateSwitches(f: Fields): SwitchConfig[] {
  const ids = new Uniques();
  return eachItem(f, 'switches', (s) => {
    const id = s.str('id', ID);
    if (id) ids.check(s.issues, s.field('id'), id, `id ${JSON.stringify(id)}`);
    const { host, port, text, transport } = switchAddress(s);
    const sw: SwitchConfig = {
      id,
      address: text,
      host,
      port,
      transport,
      weight: s.int('weight', 1, { min: 1, max: 1000 }),
      priority: s.int('priority', 0),
      state: s.oneOf('state', SWITCH_STATES, 'active'),
    };
    return optionals(sw, { cps: s.optInt('cps', COUNT), channels: s.optInt('channels', COUNT), zone: s.optStr('zone', ZONE) });
  });
}

export function validateCarriers(f: Fields, clusterSelection: Selection): CarrierConfig[] {
  const ids = new Uniques();
  const sources = new Uniques();
  return eachItem(f, 'carriers', (c) => {
    const id = c.str('id', ID);
    if (id) ids.check(c.issues, c.field('id'), id, `id ${JSON.stringify(id)}`);
    const carrier: CarrierConfig = { id, sources: [], selection: c.oneOf('selection', SELECTIONS, clusterSelection) };
    c.list('sources', { required: true, nonEmpty: true }).forEach((value, i) => {
      const text = c.itemStr('sources', i, value);
      if (text === undefined) return;
      const cidr = tryParseCidr(text);
      if (typeof cidr === 'string') return c.issues.invalid(c.itemPath('sources', i), cidr, text);
      sources.check(c.issues, c.itemPath('sources', i), cidr.text, `source ${cidr.text}`);
      carrier.sources.push(cidr);
    });
    return optionals(carrier, {
      cps: c.optInt('cps', COUNT),
      channels: c.optInt('channels', COUNT),
      rejectCode: c.optInt('rejectCode', { min: 400, max: 599 }),
      zone: c.optStr('zone', ZONE),
    });
  });
}

export function validateUsers(f: Fields, realm: string): UserConfig[] {
  const names = new Uniques();
  return eachItem(f, 'users', (u) => {
    const username = u.str('username', { pattern: /^[A-Za-z0-9._+-]+$/, maxLength: 64, hint: 'must be 1-64 characters of A-Z, a-z, 0-9, ".", "_", "+" and "-"' });
    if (username) names.check(u.issues, u.field('username'), username, `username ${JSON.stringify(username)}`);
    const password = u.optStr('password', { maxLength: 1024 });
    const ha1 = u.optStr('ha1', { pattern: /^[0-9a-fA-F]{32}$/, hint: 'must be 32 hex digits (the MD5 HA1 of username:realm:password)' });
    if (u.has('password') && u.has('ha1')) u.issues.add(u.path, 'give either password or ha1, not both');
    else if (!u.has('password') && !u.has('ha1')) u.missing('password', 'is required (or give ha1, the hex MD5 of username:realm:password)');
    const user: UserConfig = {
      username,
      ha1Md5: password !== undefined ? digestHa1('md5', username, realm, password) : (ha1 ?? '').toLowerCase(),
    };
    return optionals(user, {
      ha1Sha256: password !== undefined ? digestHa1('sha256', username, realm, password) : undefined,
      channels: u.optInt('channels', COUNT),
      cps: u.optInt('cps', COUNT),
      zone: u.optStr('zone', ZONE),
    });
  });
}

export function validateRtpRelays(f: Fields): RtpRelayConfig[] {
  const ids = new Uniques();
  return eachItem(f, 'rtp-relays', (r) => {
    const id = r.str('id', ID);
    if (id) ids.check(r.issues, r.field('id'), id, `id ${JSON.stringify(id)}`);
    const { host, port, text } = address(r, 'ng');
    const relay: RtpRelayConfig = { id, ng: text, host, port, weight: r.int('weight', 1, { min: 1, max: 1000 }), state: r.oneOf('state', SWITCH_STATES, 'active') };
    return optionals(relay, { zone: r.optStr('zone', ZONE) });
  });
}
