/** The registry record a `POST /v1/servers` body of `type: switch` describes (registry only, or deployed). */
import type { SwitchRecord } from '../shared/cluster-store/cluster-store.ts';
import type { CreateServerBody } from './schemas.ts';

export function switchRecordFromBody(b: CreateServerBody, hp: { host: string; port: number }): SwitchRecord {
  const record: { -readonly [K in keyof SwitchRecord]: SwitchRecord[K] } = {
    id: b.id,
    host: hp.host,
    port: hp.port,
    transport: b.transport ?? 'udp',
    weight: b.weight ?? 1,
    priority: b.priority ?? 0,
    state: b.state ?? 'active',
  };
  if (b.cps !== undefined) record.cps = b.cps;
  if (b.channels !== undefined) record.channels = b.channels;
  if (b.zone !== undefined) record.zone = b.zone;
  return record;
}
