/**
 * Relay records as the registry keeps them. Both adapters validate every record they are given
 * with `normalizeRelayRecord` (same rules as the config's `cluster.rtp-relays` entries) and store
 * its canonical form: known fields only, in a fixed order, absent optionals left out. Equal
 * records therefore serialise to equal JSON, which lets `putRelay` tell a real change from a
 * rewrite (a rewrite notifies nobody).
 */
import type { RelayAdminState, RelayRecord } from './cluster-store.ts';
import { assertHost, assertSwitchId, assertZone, invalid, isInt } from './validate-store-args.ts';

const STATES: ReadonlySet<string> = new Set<RelayAdminState>(['active', 'draining', 'disabled']);

/**
 * Validates a relay record and returns its canonical copy. `field` prefixes the name in errors
 * (`relay`, `relays[2]`).
 *
 * @throws SipfleetError `STORE_ERR_INVALID`, `detail.field` naming the culprit (`relay.port`).
 */
export function normalizeRelayRecord(relay: RelayRecord, field = 'relay'): RelayRecord {
  if (typeof relay !== 'object' || relay === null) throw invalid(field, 'must be an object');
  assertSwitchId(`${field}.id`, relay.id);
  assertHost(`${field}.host`, relay.host);
  if (!isInt(relay.port, 1, 65535)) throw invalid(`${field}.port`, 'must be an integer 1-65535');
  assertZone(`${field}.zone`, relay.zone);
  if (!isInt(relay.weight, 1, 1000)) throw invalid(`${field}.weight`, 'must be an integer 1-1000');
  if (!STATES.has(relay.state)) throw invalid(`${field}.state`, 'must be active, draining or disabled');

  const out: { -readonly [K in keyof RelayRecord]: RelayRecord[K] } = {
    id: relay.id,
    host: relay.host,
    port: relay.port,
    weight: relay.weight,
    state: relay.state,
  };
  if (relay.zone !== undefined) out.zone = relay.zone;
  return out;
}

/** A stored record read back (JSON); undefined when it is not a valid record. */
export function parseRelayRecord(json: string): RelayRecord | undefined {
  try {
    return normalizeRelayRecord(JSON.parse(json) as RelayRecord);
  } catch {
    return undefined;
  }
}

/**
 * Validates a relay seed list: every record (field `relays[i]`) and distinct ids.
 *
 * @throws SipfleetError `STORE_ERR_INVALID`
 */
export function normalizeRelaySeed(relays: readonly RelayRecord[]): RelayRecord[] {
  if (!Array.isArray(relays)) throw invalid('relays', 'must be an array');
  const seen = new Set<string>();
  return relays.map((relay, i) => {
    const rec = normalizeRelayRecord(relay, `relays[${i}]`);
    if (seen.has(rec.id)) throw invalid(`relays[${i}].id`, `is a duplicate of ${JSON.stringify(rec.id)}`);
    seen.add(rec.id);
    return rec;
  });
}
