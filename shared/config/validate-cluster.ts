import { tryParseCidr } from './cidr.ts';
import { DIGEST_ALGORITHMS, REDIS_OUTAGE_MODES, type MediaConfig, type DigestAlgorithm, type RegistrarConfig, SELECTIONS, UNKNOWN_SOURCE_MODES, type ClusterConfig, type ClusterLimits, type ProbeConfig } from './config-types.ts';
import { formatDuration } from './duration.ts';
import type { Fields } from './fields.ts';
import { validateCarriers, validateRtpRelays, validateSwitches, validateUsers } from './validate-members.ts';

function validateLimits(f: Fields): ClusterLimits {
  const limits: ClusterLimits = {};
  for (const key of ['cps', 'channels', 'burst'] as const) {
    const value = f.optInt(key, { min: 0 });
    if (value !== undefined) limits[key] = value;
  }
  return limits;
}

/** A list of SIP status codes (100-699); `def` when absent. */
function statusList(f: Fields, key: string, def: number[]): number[] {
  if (!f.has(key)) return def;
  const items = f.list(key, { nonEmpty: true });
  const out: number[] = [];
  items.forEach((v, i) => {
    if (typeof v === 'number' && Number.isInteger(v) && v >= 100 && v <= 699) out.push(v);
    else f.invalid(key, `item ${i} must be a SIP status code from 100 to 699`, v);
  });
  return out;
}

function bool(f: Fields, key: string, def: boolean): boolean {
  if (!f.has(key)) return def;
  const v = f.get(key);
  if (typeof v === 'boolean') return v;
  f.invalid(key, 'must be true or false', v);
  return def;
}

function validateFailover(f: Fields): { codes: number[]; attempts: number; timeout: number } {
  return {
    codes: statusList(f, 'codes', [408, 500, 503]),
    attempts: f.int('attempts', 3, { min: 1, max: 10 }),
    timeout: f.duration('timeout', 2000, { min: 0, max: 32_000 }),
  };
}

function validateProbe(f: Fields): ProbeConfig {
  const probe: ProbeConfig = {
    interval: f.duration('interval', 5000, { min: 100, max: 3_600_000 }),
    timeout: f.duration('timeout', 2000, { min: 10, max: 3_600_000 }),
    fall: f.int('fall', 3, { min: 1, max: 100 }),
    rise: f.int('rise', 2, { min: 1, max: 100 }),
    accept: statusList(f, 'accept', [200]),
    warmup: f.duration('warmup', 30_000, { min: 0, max: 3_600_000 }),
    quorum: bool(f, 'quorum', false),
  };
  if (probe.timeout >= probe.interval) {
    f.invalid('timeout', `must be less than ${f.field('interval')} (${formatDuration(probe.interval)})`, formatDuration(probe.timeout));
  }
  return probe;
}

function validateLeases(f: Fields): { ttl: number; reapInterval: number } {
  const ttl = f.duration('ttl', 3000, { min: 500, max: 600_000 });
  const reapInterval = f.duration('reapInterval', 1000, { min: 100, max: 600_000 });
  if (reapInterval > ttl) f.invalid('reapInterval', `must not exceed ${f.field('ttl')} (${formatDuration(ttl)})`, formatDuration(reapInterval));
  return { ttl, reapInterval };
}

/** Scanner User-Agents dropped by default (SIPVicious and its kin). */
export const DEFAULT_SCANNERS = ['friendly-scanner', 'sipvicious', 'sipcli', 'sip-scan', 'sipsak', 'iWar', 'sundayddr', 'VaxSIPUserAgent', 'PortSIP VoIP SDK'];

function stringList(f: Fields, key: string, def: string[], allowed?: readonly string[]): string[] {
  if (!f.has(key)) return def;
  const out: string[] = [];
  f.list(key).forEach((v, i) => {
    const s = f.itemStr(key, i, v);
    if (s === undefined) return;
    if (allowed !== undefined && !allowed.includes(s)) f.invalid(key, `item ${i} must be one of ${allowed.join(', ')}`, v);
    else out.push(s);
  });
  return out;
}

function validateRegistrar(f: Fields): RegistrarConfig {
  const minExpires = f.int('minExpires', 60, { min: 1, max: 86_400 });
  const maxExpires = f.int('maxExpires', 3600, { min: 1, max: 7 * 86_400 });
  const defaultExpires = f.int('defaultExpires', 3600, { min: 1, max: 7 * 86_400 });
  if (maxExpires < minExpires) f.invalid('maxExpires', `must not be less than ${f.field('minExpires')} (${minExpires})`);
  if (defaultExpires < minExpires || defaultExpires > maxExpires) {
    f.invalid('defaultExpires', `must lie between ${f.field('minExpires')} (${minExpires}) and ${f.field('maxExpires')} (${maxExpires})`);
  }
  const ka = f.map('keepalive');
  const interval = ka.duration('interval', 30_000, { min: 1000, max: 3_600_000 });
  const keepalive = {
    enabled: bool(ka, 'enabled', true),
    interval,
    timeout: ka.duration('timeout', Math.min(interval, 5000), { min: 100, max: 3_600_000 }),
    misses: ka.int('misses', 3, { min: 1, max: 100 }),
  };
  if (keepalive.timeout > interval) ka.invalid('timeout', `must not exceed ${ka.field('interval')} (${formatDuration(interval)})`, formatDuration(keepalive.timeout));
  const ab = f.map('abuse');
  const algorithms = stringList(f, 'algorithms', ['SHA-256', 'MD5'], DIGEST_ALGORITHMS) as DigestAlgorithm[];
  if (f.has('algorithms') && algorithms.length === 0) f.invalid('algorithms', 'must name at least one of SHA-256, MD5');
  return {
    enabled: bool(f, 'enabled', true),
    minExpires,
    maxExpires,
    defaultExpires,
    maxContacts: f.int('maxContacts', 10, { min: 1, max: 1000 }),
    algorithms,
    nonceTtl: f.duration('nonceTtl', 300_000, { min: 1000, max: 86_400_000 }),
    keepalive,
    abuse: {
      threshold: ab.int('threshold', 20, { min: 1, max: 1_000_000 }),
      window: ab.duration('window', 60_000, { min: 1000, max: 86_400_000 }),
      banTime: ab.duration('banTime', 600_000, { min: 1000, max: 30 * 86_400_000 }),
      scanners: stringList(ab, 'scanners', DEFAULT_SCANNERS),
    },
  };
}

const ZONE_RULE = { maxLength: 64, pattern: /^[A-Za-z0-9._-]+$/, hint: 'must be 1-64 characters of A-Z, a-z, 0-9, ".", "_" and "-"' };

function validateMedia(f: Fields): MediaConfig {
  const zones: MediaConfig['zones'] = [];
  f.list('zones').forEach((value, i) => {
    const z = f.itemMap('zones', i, value);
    const zone = z.str('zone', ZONE_RULE);
    const sources: MediaConfig['zones'][number]['sources'] = [];
    z.list('sources', { required: true, nonEmpty: true }).forEach((v, j) => {
      const text = z.itemStr('sources', j, v);
      if (text === undefined) return;
      const cidr = tryParseCidr(text);
      if (typeof cidr === 'string') z.issues.invalid(z.itemPath('sources', j), cidr, text);
      else sources.push(cidr);
    });
    zones.push({ sources, zone });
  });
  const p = f.map('probe');
  const interval = p.duration('interval', 2000, { min: 100, max: 3_600_000 });
  const probe = {
    interval,
    timeout: p.duration('timeout', Math.min(1000, interval), { min: 10, max: 60_000 }),
    fall: p.int('fall', 3, { min: 1, max: 100 }),
    rise: p.int('rise', 2, { min: 1, max: 100 }),
  };
  if (probe.timeout > interval) p.invalid('timeout', `must not exceed ${p.field('interval')} (${formatDuration(interval)})`, formatDuration(probe.timeout));
  const media: MediaConfig = {
    zones,
    required: bool(f, 'required', true),
    probe,
    statsInterval: f.duration('statsInterval', 5000, { min: 100, max: 3_600_000 }),
  };
  const defaultZone = f.optStr('defaultZone', ZONE_RULE);
  if (defaultZone !== undefined) media.defaultZone = defaultZone;
  if (f.has('zoneOrder')) media.zoneOrder = stringList(f, 'zoneOrder', []);
  return media;
}

export function validateCluster(f: Fields): ClusterConfig {
  const name = f.str('name', { pattern: /^[A-Za-z0-9._-]+$/, maxLength: 64, hint: 'must be 1-64 characters of A-Z, a-z, 0-9, ".", "_" and "-"' });
  const realm =
    f.optStr('realm', { pattern: /^[^"\\\x00-\x1f\x7f]+$/, hint: 'must not contain quotes, backslashes or control characters' }) ?? name;
  const limits = validateLimits(f.map('limits'));
  const selection = f.oneOf('selection', SELECTIONS, 'round-robin');
  return {
    name,
    realm,
    limits,
    selection,
    probe: validateProbe(f.map('probe')),
    redisOutage: f.oneOf('redisOutage', REDIS_OUTAGE_MODES, 'fail-closed'),
    unknownSources: f.oneOf('unknownSources', UNKNOWN_SOURCE_MODES, 'reject'),
    spikeBuffer: f.duration('spikeBuffer', 0, { min: 0, max: 10_000 }),
    maxCallAge: f.duration('maxCallAge', 6 * 3_600_000, { min: 60_000, max: 7 * 86_400_000 }),
    leases: validateLeases(f.map('leases')),
    stickyTtl: f.duration('stickyTtl', 1_800_000, { min: 1000, max: 7 * 86_400_000 }),
    failover: validateFailover(f.map('failover')),
    switches: validateSwitches(f),
    carriers: validateCarriers(f, selection),
    users: validateUsers(f, realm),
    registrar: validateRegistrar(f.map('registrar')),
    media: validateMedia(f.map('media')),
    rtpRelays: validateRtpRelays(f),
  };
}
