/**
 * Argument checks both registrar store adapters run before doing anything, so that the memory and
 * Redis stores refuse the same inputs the same way: `STORE_ERR_INVALID` with `detail.field` naming
 * the culprit (the cluster store's validation error). They also copy what they accept into fresh
 * plain objects holding only the known fields, so a caller's later mutation (or an extra
 * property) never reaches the store, and the two adapters store exactly the same values.
 */
import { SipfleetError } from '../errors.ts';
import type { AuthFailurePolicy, BindingFlow, BindingInput, BindingMove, BindingRef, FlowProtocol, RegisterChange, UserRecord } from './registrar-store.ts';

/** User names (= AORs): 1-64 of `A-Za-z0-9._+-` (never ':' or a space, which keys rely on). */
export const USERNAME_PATTERN = /^[A-Za-z0-9._+-]{1,64}$/;

/** True when `name` is a valid user name / AOR (check before `getUser`/`lookup` to avoid the throw). */
export function isValidUsername(name: unknown): name is string {
  return typeof name === 'string' && USERNAME_PATTERN.test(name);
}

/** Longest text field of a binding or user (contact, key, path entry, user agent...). */
export const TEXT_MAX = 4096;
/** Most Path entries of one binding. */
export const PATH_MAX = 32;
/** `listUsers` default and ceiling. */
export const USERS_LIMIT_DEFAULT = 1000;
export const USERS_LIMIT_MAX = 100_000;
/** Longest source IP text (IPv6 with a zone id fits). */
export const IP_MAX = 64;
/** Longest nonce. */
export const NONCE_MAX = 256;
/** Largest CSeq (RFC 3261 §8.1.1.5: less than 2**31). */
export const CSEQ_MAX = 2 ** 31 - 1;

const PROTOCOLS: ReadonlySet<string> = new Set<FlowProtocol>(['udp', 'tcp', 'tls', 'ws', 'wss']);
const HEX32 = /^[0-9a-f]{32}$/;
const HEX64 = /^[0-9a-f]{64}$/;

export function invalid(field: string, message: string): SipfleetError {
  return new SipfleetError('STORE_ERR_INVALID', `registrar store: ${field} ${message}`, { detail: { field } });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function assertUsername(field: string, value: unknown): asserts value is string {
  if (!isValidUsername(value)) throw invalid(field, 'must be 1-64 characters of A-Z, a-z, 0-9, ".", "_", "+" and "-"');
}

export function assertNodeId(field: string, value: unknown): asserts value is string {
  // The cluster store's id rule (any non-empty string), bounded.
  if (typeof value !== 'string' || value === '' || value.length > 256) throw invalid(field, 'must be a string of 1-256 characters');
}

function text(field: string, value: unknown, max = TEXT_MAX): string {
  if (typeof value !== 'string' || value === '' || value.length > max) throw invalid(field, `must be a string of 1-${max} characters`);
  return value;
}

function optionalText(field: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length > TEXT_MAX) throw invalid(field, `must be a string of at most ${TEXT_MAX} characters (or absent)`);
  return value;
}

function integer(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) throw invalid(field, `must be an integer in ${min}..${max}`);
  return value;
}

export function assertPositive(field: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw invalid(field, 'must be a positive number');
}

export function assertTtlMs(value: unknown): asserts value is number {
  assertPositive('ttlMs', value);
}

export function assertIp(value: unknown): asserts value is string {
  if (typeof value !== 'string' || value === '' || value.length > IP_MAX || /[\s\x00-\x1f]/.test(value)) {
    throw invalid('ip', `must be 1-${IP_MAX} characters without spaces`);
  }
}

export function assertNonce(value: unknown): asserts value is string {
  if (typeof value !== 'string' || value === '' || value.length > NONCE_MAX) throw invalid('nonce', `must be a string of 1-${NONCE_MAX} characters`);
}

/** nc of a digest response: a positive integer (8 hex digits on the wire). */
export function assertNonceCount(value: unknown): asserts value is number {
  integer('nc', value, 1, 0xffffffff);
}

export function assertPolicy(policy: AuthFailurePolicy): void {
  if (!isObject(policy)) throw invalid('policy', 'must be an object');
  assertPositive('policy.windowMs', policy.windowMs);
  integer('policy.threshold', policy.threshold, 1, Number.MAX_SAFE_INTEGER);
  assertPositive('policy.banMs', policy.banMs);
}

/** The effective `listUsers` limit. */
export function usersLimit(limit: number | undefined): number {
  if (limit === undefined) return USERS_LIMIT_DEFAULT;
  return integer('limit', limit, 1, USERS_LIMIT_MAX);
}

/** A checked copy of a user record (only the known fields; absent optional fields left out). */
export function normalizeUser(user: UserRecord, field = 'user'): UserRecord {
  if (!isObject(user)) throw invalid(field, 'must be an object');
  assertUsername(`${field}.username`, user.username);
  const out: { -readonly [K in keyof UserRecord]: UserRecord[K] } = {
    username: user.username,
    realm: text(`${field}.realm`, user.realm, 256),
    ha1Md5: '',
  };
  if (typeof user.ha1Md5 !== 'string' || !HEX32.test(user.ha1Md5)) throw invalid(`${field}.ha1Md5`, 'must be 32 lower-case hex digits');
  out.ha1Md5 = user.ha1Md5;
  if (user.ha1Sha256 !== undefined) {
    if (typeof user.ha1Sha256 !== 'string' || !HEX64.test(user.ha1Sha256)) throw invalid(`${field}.ha1Sha256`, 'must be 64 lower-case hex digits (or absent)');
    out.ha1Sha256 = user.ha1Sha256;
  }
  if (user.cps !== undefined) {
    // 0 is a valid account limit (the user may not place calls), as in the config.
    out.cps = integer(`${field}.cps`, user.cps, 0, Number.MAX_SAFE_INTEGER);
  }
  if (user.channels !== undefined) out.channels = integer(`${field}.channels`, user.channels, 0, Number.MAX_SAFE_INTEGER);
  if (user.zone !== undefined) out.zone = text(`${field}.zone`, user.zone, 64);
  return out;
}

export function assertRef(field: string, ref: BindingRef): void {
  if (!isObject(ref)) throw invalid(field, 'must be an object');
  assertUsername(`${field}.aor`, ref.aor);
  text(`${field}.key`, ref.key);
}

function normalizeFlow(field: string, flow: BindingFlow): BindingFlow {
  if (!isObject(flow)) throw invalid(field, 'must be an object');
  assertNodeId(`${field}.nodeId`, flow.nodeId);
  if (typeof flow.protocol !== 'string' || !PROTOCOLS.has(flow.protocol)) throw invalid(`${field}.protocol`, 'must be udp, tcp, tls, ws or wss');
  const out: { -readonly [K in keyof BindingFlow]: BindingFlow[K] } = {
    nodeId: flow.nodeId,
    protocol: flow.protocol,
    address: text(`${field}.address`, flow.address, 256),
    port: integer(`${field}.port`, flow.port, 0, 65535),
    localAddress: text(`${field}.localAddress`, flow.localAddress, 256),
    localPort: integer(`${field}.localPort`, flow.localPort, 0, 65535),
    ownerUri: text(`${field}.ownerUri`, flow.ownerUri),
  };
  if (flow.connectionId !== undefined) out.connectionId = integer(`${field}.connectionId`, flow.connectionId, 0, Number.MAX_SAFE_INTEGER);
  return out;
}

/** A checked binding input; the store adds aor, callId, cseq and the times. */
export interface NormalizedInput {
  readonly key: string;
  readonly contact: string;
  readonly q: number;
  readonly expires: number;
  readonly instanceId: string | undefined;
  readonly regId: number | undefined;
  readonly path: readonly string[];
  readonly flow: BindingFlow;
  readonly userAgent: string | undefined;
}

function normalizeInput(field: string, b: BindingInput): NormalizedInput {
  if (!isObject(b)) throw invalid(field, 'must be an object');
  if (typeof b.q !== 'number' || !Number.isFinite(b.q) || b.q < 0 || b.q > 1) throw invalid(`${field}.q`, 'must be a number in 0..1');
  assertPositive(`${field}.expires`, b.expires);
  if (!Array.isArray(b.path) || b.path.length > PATH_MAX) throw invalid(`${field}.path`, `must be an array of at most ${PATH_MAX} strings`);
  const path = b.path.map((p: unknown, i: number) => text(`${field}.path[${i}]`, p));
  return {
    key: text(`${field}.key`, b.key),
    contact: text(`${field}.contact`, b.contact),
    q: b.q,
    expires: b.expires,
    instanceId: optionalText(`${field}.instanceId`, b.instanceId),
    regId: b.regId === undefined ? undefined : integer(`${field}.regId`, b.regId, 0, CSEQ_MAX),
    path,
    flow: normalizeFlow(`${field}.flow`, b.flow),
    userAgent: optionalText(`${field}.userAgent`, b.userAgent),
  };
}

export interface NormalizedChange {
  readonly aor: string;
  readonly callId: string;
  readonly cseq: number;
  readonly removeAll: boolean;
  readonly upserts: readonly NormalizedInput[];
  /** Empty when `removeAll`. */
  readonly removals: readonly string[];
  readonly maxContacts: number;
}

/**
 * @throws SipfleetError `STORE_ERR_INVALID` for a bad AOR, an empty Call-ID, a CSeq outside
 *   0..2^31-1, a key given twice (in upserts and removals together), upserts with `removeAll`,
 *   or a binding that is not a plain JSON value of the documented shape.
 */
export function normalizeChange(change: RegisterChange): NormalizedChange {
  if (!isObject(change)) throw invalid('change', 'must be an object');
  assertUsername('aor', change.aor);
  const callId = text('callId', change.callId);
  const cseq = integer('cseq', change.cseq, 0, CSEQ_MAX);
  if (typeof change.removeAll !== 'boolean') throw invalid('removeAll', 'must be a boolean');
  const maxContacts = integer('maxContacts', change.maxContacts, 1, 100_000);
  if (!Array.isArray(change.upserts)) throw invalid('upserts', 'must be an array');
  if (!Array.isArray(change.removals)) throw invalid('removals', 'must be an array');
  if (change.removeAll && change.upserts.length > 0) throw invalid('upserts', 'must be empty with removeAll (Contact: *)');
  const seen = new Set<string>();
  const upserts = change.upserts.map((b, i) => {
    const n = normalizeInput(`upserts[${i}]`, b);
    if (seen.has(n.key)) throw invalid(`upserts[${i}].key`, 'is given twice');
    seen.add(n.key);
    return n;
  });
  const removals: string[] = [];
  for (const [i, key] of change.removals.entries()) {
    text(`removals[${i}]`, key);
    if (seen.has(key)) throw invalid(`removals[${i}]`, 'is given twice');
    seen.add(key);
    removals.push(key);
  }
  return { aor: change.aor, callId, cseq, removeAll: change.removeAll, upserts, removals: change.removeAll ? [] : removals, maxContacts };
}

export function assertMoves(fromNodeId: string, moves: readonly BindingMove[], drops: readonly BindingRef[]): void {
  assertNodeId('fromNodeId', fromNodeId);
  if (!Array.isArray(moves)) throw invalid('moves', 'must be an array');
  if (!Array.isArray(drops)) throw invalid('drops', 'must be an array');
  for (const [i, m] of moves.entries()) {
    assertRef(`moves[${i}]`, m);
    assertNodeId(`moves[${i}].nodeId`, m.nodeId);
    text(`moves[${i}].ownerUri`, m.ownerUri);
  }
  for (const [i, d] of drops.entries()) assertRef(`drops[${i}]`, d);
}

export function assertRttSamples(samples: readonly (BindingRef & { readonly rttMs: number })[]): void {
  if (!Array.isArray(samples)) throw invalid('samples', 'must be an array');
  for (const [i, s] of samples.entries()) {
    assertRef(`samples[${i}]`, s);
    if (typeof s.rttMs !== 'number' || !Number.isFinite(s.rttMs) || s.rttMs < 0) throw invalid(`samples[${i}].rttMs`, 'must be a number >= 0');
  }
}

/** Same flow for keep-alive purposes: the RTT measured over the old one still applies. */
export function sameFlow(a: BindingFlow, b: BindingFlow): boolean {
  return (
    a.nodeId === b.nodeId &&
    a.protocol === b.protocol &&
    a.address === b.address &&
    a.port === b.port &&
    a.connectionId === b.connectionId &&
    a.localAddress === b.localAddress &&
    a.localPort === b.localPort
  );
}

/** Result order: highest q first, then most recently registered, then key (so it is total). */
export function bindingOrder(a: { q: number; registeredAtMs: number; key: string }, b: { q: number; registeredAtMs: number; key: string }): number {
  return b.q - a.q || b.registeredAtMs - a.registeredAtMs || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
}
