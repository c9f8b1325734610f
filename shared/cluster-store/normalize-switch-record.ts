/**
 * Switch records as the registry keeps them. Both adapters validate every record they are given
 * with `normalizeSwitchRecord` (same rules as the config's `switches:` entries) and store its
 * canonical form: known fields only, in a fixed order, absent optionals left out. Equal records
 * therefore serialise to equal JSON, which lets `putSwitch` tell a real change from a rewrite.
 */
import type { SwitchAdminState, SwitchRecord } from './cluster-store.ts';
import { assertHost, assertSwitchId, assertZone, invalid, isInt } from './validate-store-args.ts';

const TRANSPORTS: ReadonlySet<string> = new Set<SwitchRecord['transport']>(['udp', 'tcp', 'tls']);
const STATES: ReadonlySet<string> = new Set<SwitchAdminState>(['active', 'disabled', 'draining']);
/**
 * Validates a switch record and returns its canonical copy. `field` prefixes the name in errors
 * (`switch`, `switches[2]`).
 *
 * @throws SipfleetError `STORE_ERR_INVALID`, `detail.field` naming the culprit (`switch.port`).
 */
export function normalizeSwitchRecord(sw: SwitchRecord, field = 'switch'): SwitchRecord {
  if (typeof sw !== 'object' || sw === null) throw invalid(field, 'must be an object');
  assertSwitchId(`${field}.id`, sw.id);
  assertHost(`${field}.host`, sw.host);
  if (!isInt(sw.port, 1, 65535)) throw invalid(`${field}.port`, 'must be an integer 1-65535');
  if (!TRANSPORTS.has(sw.transport)) throw invalid(`${field}.transport`, 'must be udp, tcp or tls');
  if (!isInt(sw.weight, 1, 1000)) throw invalid(`${field}.weight`, 'must be an integer 1-1000');
  if (!isInt(sw.priority, Number.MIN_SAFE_INTEGER)) throw invalid(`${field}.priority`, 'must be an integer');
  if (sw.cps !== undefined && !(typeof sw.cps === 'number' && Number.isFinite(sw.cps) && sw.cps >= 0)) {
    throw invalid(`${field}.cps`, 'must be a number >= 0 (or absent for no cap)');
  }
  if (sw.channels !== undefined && !isInt(sw.channels, 0)) throw invalid(`${field}.channels`, 'must be an integer >= 0 (or absent for no cap)');
  assertZone(`${field}.zone`, sw.zone);
  if (!STATES.has(sw.state)) throw invalid(`${field}.state`, 'must be active, disabled or draining');

  const out: { -readonly [K in keyof SwitchRecord]: SwitchRecord[K] } = {
    id: sw.id,
    host: sw.host,
    port: sw.port,
    transport: sw.transport,
    weight: sw.weight,
    priority: sw.priority,
    state: sw.state,
  };
  if (sw.cps !== undefined) out.cps = sw.cps;
  if (sw.channels !== undefined) out.channels = sw.channels;
  if (sw.zone !== undefined) out.zone = sw.zone;
  return out;
}

/** A stored record read back (JSON); undefined when it is not a valid record. */
export function parseSwitchRecord(json: string): SwitchRecord | undefined {
  try {
    return normalizeSwitchRecord(JSON.parse(json) as SwitchRecord);
  } catch {
    return undefined;
  }
}

/**
 * Validates a seed list: every record (field `switches[i]`) and distinct ids.
 *
 * @throws SipfleetError `STORE_ERR_INVALID`
 */
export function normalizeSeed(switches: readonly SwitchRecord[]): SwitchRecord[] {
  if (!Array.isArray(switches)) throw invalid('switches', 'must be an array');
  const seen = new Set<string>();
  return switches.map((sw, i) => {
    const rec = normalizeSwitchRecord(sw, `switches[${i}]`);
    if (seen.has(rec.id)) throw invalid(`switches[${i}].id`, `is a duplicate of ${JSON.stringify(rec.id)}`);
    seen.add(rec.id);
    return rec;
  });
}
