/**
 * Argument checks both adapters run before doing anything, so that the memory and Redis stores
 * refuse the same inputs the same way (`STORE_ERR_INVALID`, `detail.field` naming the culprit).
 */
import { SipfleetError } from '../errors.ts';
import type { AdmitRequest, CallRecord, DialogStateRecord, MediaSessionRecord, ProbeReport } from './cluster-store.ts';
import { CALLS_LIMIT_DEFAULT, CALLS_LIMIT_MAX, STICKY_KEY_MAX } from './store-limits.ts';

/** Switch ids follow the config's id rule: 1-64 of A-Z a-z 0-9 . _ - (so never ':' in a key). */
export const SWITCH_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export function invalid(field: string, message: string): SipfleetError {
  return new SipfleetError('STORE_ERR_INVALID', `cluster store: ${field} ${message}`, { detail: { field } });
}

function isNonNegativeFinite(n: number): boolean {
  return Number.isFinite(n) && n >= 0;
}

export function assertId(field: string, value: string): void {
  if (typeof value !== 'string' || value === '') throw invalid(field, 'must be a non-empty string');
}

/** Longest host name or address literal (DNS names are at most 253; an IPv6 zone id adds some). */
export const HOST_MAX = 255;
/** Same bound as the config's `zone`. */
export const ZONE_MAX = 64;

export function isInt(v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max;
}

/** A bare host: IPv6 without brackets, no whitespace or control characters, 1-HOST_MAX characters. */
export function assertHost(field: string, host: string): void {
  if (typeof host !== 'string' || host === '' || host.length > HOST_MAX || /[\s[\]\u0000-\u001f\u007f]/.test(host)) {
    throw invalid(field, `must be a bare host name or address of 1-${HOST_MAX} characters (IPv6 without brackets)`);
  }
}

/** An optional zone: absent, or a string of 1-ZONE_MAX characters. */
export function assertZone(field: string, zone: string | undefined): void {
  if (zone !== undefined && (typeof zone !== 'string' || zone === '' || zone.length > ZONE_MAX)) {
    throw invalid(field, `must be a string of 1-${ZONE_MAX} characters (or absent)`);
  }
}

export function assertSwitchId(field: string, value: string): void {
  if (typeof value !== 'string' || !SWITCH_ID_PATTERN.test(value)) throw invalid(field, 'must be 1-64 characters of A-Z, a-z, 0-9, ".", "_" and "-"');
}

/** An epoch handed out by `registerNode`: a positive safe integer. */
export function assertEpoch(epoch: number): void {
  if (!Number.isSafeInteger(epoch) || epoch < 1) throw invalid('epoch', 'must be a positive integer');
}

export function assertTtl(ttlMs: number): void {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw invalid('ttlMs', 'must be a positive number of ms');
}

/** @throws SipfleetError `STORE_ERR_INVALID` for an empty id, a duplicate level, cps <= 0, negative burst/channels, maxAgeMs <= 0. */
export function assertAdmitRequest(req: AdmitRequest): void {
  assertId('callId', req.callId);
  assertId('nodeId', req.nodeId);
  assertEpoch(req.epoch);
  if (!Number.isFinite(req.maxAgeMs) || req.maxAgeMs <= 0) throw invalid('maxAgeMs', 'must be a positive number of ms');
  const seen = new Set<string>();
  for (const [i, l] of req.levels.entries()) {
    const field = `levels[${i}]`;
    assertId(`${field}.level`, l.level);
    if (seen.has(l.level)) throw invalid(`${field}.level`, `is a duplicate of ${JSON.stringify(l.level)}`);
    seen.add(l.level);
    if (l.cps !== undefined && !(Number.isFinite(l.cps) && l.cps > 0)) throw invalid(`${field}.cps`, 'must be > 0 (leave it out for no cap)');
    if (l.burst !== undefined && !isNonNegativeFinite(l.burst)) throw invalid(`${field}.burst`, 'must be >= 0');
    if (l.channels !== undefined && !(Number.isSafeInteger(l.channels) && l.channels >= 0)) {
      throw invalid(`${field}.channels`, 'must be an integer >= 0 (leave it out for no cap)');
    }
  }
}

export function assertResyncCalls(calls: readonly Omit<CallRecord, 'nodeId' | 'epoch'>[]): void {
  for (const [i, c] of calls.entries()) {
    assertId(`calls[${i}].callId`, c.callId);
    for (const [j, level] of c.levels.entries()) assertId(`calls[${i}].levels[${j}]`, level);
    if (!Number.isFinite(c.startedAtMs) || !Number.isFinite(c.expiresAtMs)) throw invalid(`calls[${i}]`, 'needs finite startedAtMs and expiresAtMs');
  }
}

/** The effective `calls()` limit: default when absent, clamped to [0, CALLS_LIMIT_MAX]. */
export function callsLimit(limit: number | undefined): number {
  if (limit === undefined) return CALLS_LIMIT_DEFAULT;
  if (Number.isNaN(limit)) throw invalid('limit', 'must be a number');
  return Math.max(0, Math.min(CALLS_LIMIT_MAX, Math.floor(limit)));
}

/** @throws SipfleetError `STORE_ERR_INVALID` for a bad switch id, empty node id, non-boolean `up`, negative latencies. */
export function assertProbeReport(report: Omit<ProbeReport, 'atMs'>): void {
  if (typeof report !== 'object' || report === null) throw invalid('report', 'must be an object');
  assertSwitchId('report.switchId', report.switchId);
  assertId('report.nodeId', report.nodeId);
  if (typeof report.up !== 'boolean') throw invalid('report.up', 'must be a boolean');
  for (const name of ['latencyMs', 'p99Ms'] as const) {
    const v = report[name];
    if (v !== undefined && !(typeof v === 'number' && isNonNegativeFinite(v))) throw invalid(`report.${name}`, 'must be a number >= 0 (or absent)');
  }
}

/** A stickiness source key: non-empty, at most STICKY_KEY_MAX characters. */
export function assertStickyKey(key: string): void {
  if (typeof key !== 'string' || key === '' || key.length > STICKY_KEY_MAX) throw invalid('key', `must be a string of 1-${STICKY_KEY_MAX} characters`);
}

/**
 * A media session as `putMediaSession` takes it: non-empty call id, from tag and node id, a relay
 * id following the switch id rule.
 *
 * @throws SipfleetError `STORE_ERR_INVALID`, `detail.field` naming the culprit (`session.relayId`).
 */
export function assertMediaSession(session: Omit<MediaSessionRecord, 'startedAtMs'>): void {
  if (typeof session !== 'object' || session === null) throw invalid('session', 'must be an object');
  assertId('session.callId', session.callId);
  assertId('session.fromTag', session.fromTag);
  assertSwitchId('session.relayId', session.relayId);
  assertId('session.nodeId', session.nodeId);
}

/** Longest lease name (e.g. `vip:<address>`). */
export const LEASE_NAME_MAX = 200;

/** A lease name: 1-LEASE_NAME_MAX characters, no whitespace or control characters. */
export function assertLeaseName(name: string): void {
  if (typeof name !== 'string' || name === '' || name.length > LEASE_NAME_MAX || /[\s\u0000-\u001f\u007f]/.test(name)) {
    throw invalid('name', `must be 1-${LEASE_NAME_MAX} characters without whitespace or control characters`);
  }
}

/** A lease claim's priority: an integer 0-1000000 (higher wins). */
export function assertLeasePriority(priority: number): void {
  if (!isInt(priority, 0, 1_000_000)) throw invalid('priority', 'must be an integer from 0 to 1000000');
}

/** A lease epoch handed out by `acquireLease`: a positive safe integer. */
export function assertLeaseEpoch(epoch: number): void {
  if (!Number.isSafeInteger(epoch) || epoch < 1) throw invalid('epoch', 'must be a positive integer');
}

/**
 * A dialog record as `putDialog` takes it: non-empty ids and tags, bare hosts, ports 1-65535, a
 * switch id (and relay id) following the switch id rule. Returns the canonical copy both adapters
 * store: known fields only, absent optionals left out.
 *
 * @throws SipfleetError `STORE_ERR_INVALID`, `detail.field` naming the culprit (`dialog.caller.port`).
 */
export function normalizeDialogRecord(d: DialogStateRecord): DialogStateRecord {
  if (typeof d !== 'object' || d === null) throw invalid('dialog', 'must be an object');
  assertId('dialog.callId', d.callId);
  assertId('dialog.fromTag', d.fromTag);
  assertId('dialog.toTag', d.toTag);
  assertId('dialog.callKey', d.callKey);
  assertId('dialog.nodeId', d.nodeId);
  for (const [name, side] of [['caller', d.caller], ['switch', d.switch]] as const) {
    if (typeof side !== 'object' || side === null) throw invalid(`dialog.${name}`, 'must be an object');
    if (side.protocol !== 'udp' && side.protocol !== 'tcp' && side.protocol !== 'tls') throw invalid(`dialog.${name}.protocol`, 'must be udp, tcp or tls');
    assertHost(`dialog.${name}.address`, side.address);
    if (!isInt(side.port, 1, 65535)) throw invalid(`dialog.${name}.port`, 'must be an integer 1-65535');
  }
  assertSwitchId('dialog.switch.switchId', d.switch.switchId);
  if (d.relayId !== undefined) assertSwitchId('dialog.relayId', d.relayId);
  return {
    callId: d.callId,
    fromTag: d.fromTag,
    toTag: d.toTag,
    caller: { protocol: d.caller.protocol, address: d.caller.address, port: d.caller.port },
    switch: { protocol: d.switch.protocol, address: d.switch.address, port: d.switch.port, switchId: d.switch.switchId },
    ...(d.relayId === undefined ? {} : { relayId: d.relayId }),
    callKey: d.callKey,
    nodeId: d.nodeId,
  };
}
