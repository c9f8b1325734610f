import { REDIS_OUTAGE_MODES, SELECTIONS, UNKNOWN_SOURCE_MODES, type ClusterConfig, type ClusterLimits, type ProbeConfig } from './config-types.ts';
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

function validateProbe(f: Fields): ProbeConfig {
  const probe: ProbeConfig = {
    interval: f.duration('interval', 5000, { min: 100, max: 3_600_000 }),
    timeout: f.duration('timeout', 2000, { min: 10, max: 3_600_000 }),
    fall: f.int('fall', 3, { min: 1, max: 100 }),
    rise: f.int('rise', 2, { min: 1, max: 100 }),
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
    switches: validateSwitches(f),
    carriers: validateCarriers(f, selection),
    users: validateUsers(f, realm),
    rtpRelays: validateRtpRelays(f),
  };
}
