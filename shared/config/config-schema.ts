/**
 * Every key the YAML file may hold. One source of truth for the unknown-key check and for
 * resolving `SIPFLEET_*` override names. Leaves are `'string'` (an override's text is taken
 * verbatim, so `SIPFLEET_NODE__ID=007` stays a string) or `'value'` (an override is parsed
 * as YAML: numbers, durations, lists); a one-element array describes a list of that item.
 */
export type SchemaLeaf = 'string' | 'value';
export type SchemaNode = SchemaLeaf | readonly [SchemaNode] | { readonly [key: string]: SchemaNode };

const S = 'string';
const V = 'value';

export const CONFIG_SCHEMA: SchemaNode = {
  node: {
    id: S,
    listen: [S],
    advertise: S,
    tls: { cert: S, key: S, ca: S },
    http: S,
    limits: {
      maxMessageBytes: V,
      maxHeaders: V,
      maxLineLength: V,
      maxConnections: V,
      connectionsPerIp: V,
      idleTimeout: V,
      headerTimeout: V,
      transactions: V,
      transactionLinger: V,
      overloadBacklog: V,
    },
    warmup: V,
    warmupCalls: V,
    workers: V,
    udpIo: S,
    workerPortBase: V,
    vip: { address: S, interface: S, priority: V, rise: V, fall: V, autoReturn: V, leaseTtl: V, checkInterval: V, garp: V },
  },
  store: S,
  cluster: {
    name: S,
    realm: S,
    limits: { cps: V, channels: V, burst: V },
    selection: S,
    probe: { interval: V, timeout: V, fall: V, rise: V, accept: [V], warmup: V, quorum: V },
    redisOutage: S,
    unknownSources: S,
    spikeBuffer: V,
    maxCallAge: V,
    leases: { ttl: V, reapInterval: V },
    stickyTtl: V,
    failover: { codes: [V], attempts: V, timeout: V },
    switches: [{ id: S, address: S, transport: S, weight: V, priority: V, cps: V, channels: V, zone: S, state: S }],
    carriers: [{ id: S, sources: [S], cps: V, channels: V, selection: S, rejectCode: V, zone: S }],
    users: [{ username: S, password: S, ha1: S, channels: V, cps: V, zone: S }],
    media: {
      zones: [{ sources: [S], zone: S }],
      defaultZone: S,
      zoneOrder: [S],
      required: V,
      probe: { interval: V, timeout: V, fall: V, rise: V },
      statsInterval: V,
    },
    registrar: {
      enabled: V,
      minExpires: V,
      maxExpires: V,
      defaultExpires: V,
      maxContacts: V,
      algorithms: [S],
      nonceTtl: V,
      keepalive: { enabled: V, interval: V, timeout: V, misses: V },
      abuse: { threshold: V, window: V, banTime: V, scanners: [S] },
    },
    'rtp-relays': [{ id: S, ng: S, zone: S, weight: V, state: S }],
  },
  ops: {
    listen: S,
    tokens: [{ name: S, role: S, sha256: S }],
    rateLimit: { max: V, window: V },
    bodyLimit: V,
    audit: S,
  },
};

export function isSchemaList(node: SchemaNode): node is readonly [SchemaNode] {
  return Array.isArray(node);
}

export function isSchemaMap(node: SchemaNode): node is { readonly [key: string]: SchemaNode } {
  return typeof node === 'object' && !Array.isArray(node);
}

export function isPlainMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

/** `cluster.switches[2].id` from a parent path and a key or index. */
export function childPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  return parent === '' ? key : `${parent}.${key}`;
}
