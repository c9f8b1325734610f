import { DEFAULT_SCANNERS } from './validate-cluster.ts';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { SipfleetError } from '../errors.ts';
import { formatConfigError } from './format-config-error.ts';
import { loadConfig, parseConfig } from './load-config.ts';

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sipfleet-config-'));
  for (const name of ['d1.crt', 'd1.key', 'ca.crt']) writeFileSync(join(dir, name), `dummy ${name}\n`);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FULL = `
node:
  id: d1
  listen:
    - udp://127.0.0.11:5060
    - tcp://127.0.0.11:5060
    - tls://127.0.0.11:5061
    - ws://127.0.0.11:8080
    - wss://127.0.0.11:8443/sip
    - "udp://[::1]:5060"
  advertise: 203.0.113.5
  tls: { cert: ./d1.crt, key: d1.key, ca: ./ca.crt }
  http: 127.0.0.11:9060
  limits:
    maxMessageBytes: 32768
    maxHeaders: 128
    maxLineLength: 4096
    maxConnections: 5000
    connectionsPerIp: 64
    idleTimeout: 2m
    headerTimeout: 500ms
    transactions: 50000
    transactionLinger: 5s
    overloadBacklog: 2097152
store: sentinel://:s3cret@10.0.0.1:26379,10.0.0.2:26379/mymaster
cluster:
  name: main
  realm: testrealm@host.com
  limits: { cps: 100, channels: 1000, burst: 0 }
  selection: weighted
  probe: { interval: 10s, timeout: 1500, fall: 5, rise: 1 }
  redisOutage: fail-open
  switches:
    - { id: sw1, address: 127.0.0.21:5060, transport: tcp, weight: 3, priority: -1, cps: 50, channels: 500, zone: eu }
    - { id: sw2, address: "sw2.example.net:5080" }
  carriers:
    - { id: acme, sources: [127.0.0.0/8, 10.1.2.3, "2001:db8::/32"], cps: 20, channels: 200, selection: priority, rejectCode: 486, zone: eu }
    - { id: other, sources: [192.0.2.0/24] }
  users:
    - { username: Mufasa, password: Circle Of Life, channels: 2, cps: 1 }
    - { username: bob, ha1: 0123456789ABCDEF0123456789abcdef }
  rtp-relays:
    - { id: r1, ng: 127.0.0.31:2223, zone: eu, weight: 2 }
    - { id: r2, ng: "[::1]:2223" }
`;

const MINIMAL = { node: { id: 'd1', listen: ['udp://127.0.0.1:5060'] }, cluster: { name: 'main' } };

type Tree = Record<string, any>;

/** Parses `MINIMAL` after `edit` and returns the thrown config error. */
function errorOf(edit: (cfg: Tree) => void, env: Record<string, string> = {}): SipfleetError {
  const cfg = structuredClone(MINIMAL) as Tree;
  edit(cfg);
  return errorOfText(stringify(cfg), env);
}

function errorOfText(text: string, env: Record<string, string> = {}): SipfleetError {
  try {
    parseConfig(text, { baseDir: dir, env });
  } catch (err) {
    expect(err).toBeInstanceOf(SipfleetError);
    return err as SipfleetError;
  }
  throw new Error('expected parseConfig to throw');
}

/** The message line about `field`, asserting the error names it. */
function lineFor(err: SipfleetError, field: string): string {
  expect(err.code).toBe('CFG_ERR_INVALID');
  expect(err.detail?.fields).toContain(field);
  const line = err.message.split('\n').find((l) => l.startsWith(`config error: ${field}: `));
  expect(line, err.message).toBeDefined();
  return line as string;
}

describe('a valid configuration', () => {
  it('parses every field of a full file', () => {
    const cfg = parseConfig(FULL, { baseDir: dir });
    expect(cfg.node.id).toBe('d1');
    expect(cfg.node.listen).toEqual([
      { transport: 'udp', host: '127.0.0.11', port: 5060, url: 'udp://127.0.0.11:5060' },
      { transport: 'tcp', host: '127.0.0.11', port: 5060, url: 'tcp://127.0.0.11:5060' },
      { transport: 'tls', host: '127.0.0.11', port: 5061, url: 'tls://127.0.0.11:5061' },
      { transport: 'ws', host: '127.0.0.11', port: 8080, path: '/', url: 'ws://127.0.0.11:8080/' },
      { transport: 'wss', host: '127.0.0.11', port: 8443, path: '/sip', url: 'wss://127.0.0.11:8443/sip' },
      { transport: 'udp', host: '::1', port: 5060, url: 'udp://[::1]:5060' },
    ]);
    expect(cfg.node.advertise).toBe('203.0.113.5');
    expect(cfg.node.tls).toEqual({ cert: join(dir, 'd1.crt'), key: join(dir, 'd1.key'), ca: join(dir, 'ca.crt') });
    expect(cfg.node.http).toEqual({ host: '127.0.0.11', port: 9060 });
    expect(cfg.node.limits).toEqual({
      maxMessageBytes: 32768,
      maxHeaders: 128,
      maxLineLength: 4096,
      maxConnections: 5000,
      connectionsPerIp: 64,
      idleTimeout: 120_000,
      headerTimeout: 500,
      transactions: 50_000,
      transactionLinger: 5_000,
      overloadBacklog: 2_097_152,
    });
    expect(cfg.store).toEqual({
      kind: 'sentinel',
      sentinels: [{ host: '10.0.0.1', port: 26379 }, { host: '10.0.0.2', port: 26379 }],
      name: 'mymaster',
      password: 's3cret',
    });
    const c = cfg.cluster;
    expect(c).toMatchObject({ name: 'main', realm: 'testrealm@host.com', selection: 'weighted', redisOutage: 'fail-open' });
    expect(c.limits).toEqual({ cps: 100, channels: 1000, burst: 0 });
    expect(c.probe).toEqual({ interval: 10_000, timeout: 1500, fall: 5, rise: 1, accept: [200], warmup: 30_000, quorum: false });
    expect(c.switches).toEqual([
      { id: 'sw1', address: '127.0.0.21:5060', host: '127.0.0.21', port: 5060, transport: 'tcp', weight: 3, priority: -1, cps: 50, channels: 500, zone: 'eu', state: 'active' },
      { id: 'sw2', address: 'sw2.example.net:5080', host: 'sw2.example.net', port: 5080, transport: 'udp', weight: 1, priority: 0, state: 'active' },
    ]);
    expect(c.carriers[0]).toMatchObject({ id: 'acme', cps: 20, channels: 200, selection: 'priority', rejectCode: 486, zone: 'eu' });
    expect(c.carriers[0].sources.map((s) => s.text)).toEqual(['127.0.0.0/8', '10.1.2.3/32', '2001:db8::/32']);
    expect(c.carriers[1]).toEqual({ id: 'other', sources: [{ family: 4, network: '192.0.2.0', prefix: 24, text: '192.0.2.0/24' }], selection: 'weighted' });
    expect(c.rtpRelays).toEqual([
      { id: 'r1', ng: '127.0.0.31:2223', host: '127.0.0.31', port: 2223, zone: 'eu', weight: 2, state: 'active' },
      { id: 'r2', ng: '[::1]:2223', host: '::1', port: 2223, weight: 1, state: 'active' },
    ]);
  });

  it('keeps HA1 digests and drops the clear password', () => {
    const [mufasa, bob] = parseConfig(FULL, { baseDir: dir }).cluster.users;
    // RFC 2617 §3.5 example: HA1 for Mufasa / testrealm@host.com / "Circle Of Life".
    expect(mufasa.ha1Md5).toBe('939e7578ed9e3c518a452acee763bce9');
    expect(mufasa.ha1Sha256).toBe(createHash('sha256').update('Mufasa:testrealm@host.com:Circle Of Life').digest('hex'));
    expect(mufasa).toMatchObject({ username: 'Mufasa', channels: 2, cps: 1 });
    expect(JSON.stringify(mufasa)).not.toContain('Circle');
    expect(bob).toEqual({ username: 'bob', ha1Md5: '0123456789abcdef0123456789abcdef' });
  });

  it('applies every default to a minimal file', () => {
    const cfg = parseConfig(stringify(MINIMAL), { baseDir: dir });
    expect(cfg.store).toEqual({ kind: 'memory' });
    expect(cfg.node.limits).toEqual({
      maxMessageBytes: 65535,
      maxHeaders: 256,
      maxLineLength: 8192,
      maxConnections: 10_000,
      connectionsPerIp: 256,
      idleTimeout: 120_000,
      headerTimeout: 10_000,
      transactions: 1_000_000,
      transactionLinger: 32_000,
      overloadBacklog: 4_194_304,
    });
    expect(cfg.node.warmupCalls).toBe(2000);
    expect(cfg.node.tls).toBeUndefined();
    expect(cfg.node.advertise).toBeUndefined();
    expect(cfg.cluster).toEqual({
      name: 'main',
      realm: 'main',
      limits: {},
      selection: 'round-robin',
      probe: { interval: 5000, timeout: 2000, fall: 3, rise: 2, accept: [200], warmup: 30_000, quorum: false },
      redisOutage: 'fail-closed',
      unknownSources: 'reject',
      spikeBuffer: 0,
      maxCallAge: 21_600_000,
      leases: { ttl: 3000, reapInterval: 1000 },
      stickyTtl: 1_800_000,
      failover: { codes: [408, 500, 503], attempts: 3, timeout: 2000 },
      switches: [],
      carriers: [],
      users: [],
      registrar: {
        enabled: true,
        minExpires: 60,
        maxExpires: 3600,
        defaultExpires: 3600,
        maxContacts: 10,
        algorithms: ['SHA-256', 'MD5'],
        nonceTtl: 300_000,
        keepalive: { enabled: true, interval: 30_000, timeout: 5000, misses: 3 },
        abuse: { threshold: 20, window: 60_000, banTime: 600_000, scanners: DEFAULT_SCANNERS },
      },
      media: { zones: [], required: true, probe: { interval: 2000, timeout: 1000, fall: 3, rise: 2 }, statsInterval: 5000 },
      rtpRelays: [],
    });
  });

  it('names the registrar field that is out of bounds', () => {
    expect(() => parseConfig(stringify({ ...MINIMAL, cluster: { name: 'main', registrar: { minExpires: 600, maxExpires: 60 } } }), { baseDir: dir })).toThrow(
      /cluster\.registrar\.maxExpires/,
    );
    expect(() => parseConfig(stringify({ ...MINIMAL, cluster: { name: 'main', registrar: { algorithms: ['SHA-512'] } } }), { baseDir: dir })).toThrow(
      /cluster\.registrar\.algorithms/,
    );
    expect(() =>
      parseConfig(stringify({ ...MINIMAL, cluster: { name: 'main', registrar: { keepalive: { interval: '2s', timeout: '3s' } } } }), { baseDir: dir }),
    ).toThrow(/cluster\.registrar\.keepalive\.timeout/);
  });

  it('derives HA1 with the cluster name when no realm is set', () => {
    const cfg = parseConfig(stringify({ ...MINIMAL, cluster: { name: 'main', users: [{ username: 'alice', password: 'pw' }] } }), { baseDir: dir });
    expect(cfg.cluster.users[0].ha1Md5).toBe(createHash('md5').update('alice:main:pw').digest('hex'));
  });

  it('loads the shipped example.yaml', () => {
    const cfg = loadConfig(new URL('./example.yaml', import.meta.url).pathname, {});
    expect(cfg.node.id).toBe('d1');
    expect(cfg.node.listen.map((l) => l.transport)).toEqual(['udp', 'tcp']);
    expect(cfg.cluster.switches.length).toBeGreaterThan(0);
    expect(cfg.cluster.rtpRelays[0].id).toBe('r1');
  });
});

describe('configuration errors name the field', () => {
  it('reports the problem in the documented format', () => {
    const err = errorOf((c) => (c.cluster.switches = [{ id: 'sw1', address: '127.0.0.1:5060' }, { id: 'sw2', address: '127.0.0.2:5060', weight: 'abc' }]));
    expect(err.message).toBe('config error: cluster.switches[1].weight: must be an integer from 1 to 1000 (got "abc")');
    expect(err.detail).toMatchObject({ field: 'cluster.switches[1].weight' });
  });

  it('unknown key, with a suggestion', () => {
    const err = errorOf((c) => (c.cluster.switches = [{ id: 'sw1', address: '127.0.0.1:5060', wieght: 2 }]));
    expect(lineFor(err, 'cluster.switches[0].wieght')).toMatch(/unknown key \(did you mean "weight"\?\)/);
    const top = errorOf((c) => (c.clutser = {}));
    expect(lineFor(top, 'clutser')).toMatch(/did you mean "cluster"/);
    expect(lineFor(errorOf((c) => (c.cluster.rtpRelays = [])), 'cluster.rtpRelays')).toMatch(/did you mean "rtp-relays"/);
  });

  it('bad listen URL', () => {
    const err = errorOf((c) => c.node.listen.push('udp://127.0.0.1', 'sctp://127.0.0.1:5060', 'udp://127.0.0.1:5060'));
    expect(lineFor(err, 'node.listen[1]')).toMatch(/host:port.*\(got "udp:\/\/127.0.0.1"\)/);
    expect(lineFor(err, 'node.listen[2]')).toMatch(/scheme must be one of udp, tcp, tls, ws, wss/);
    expect(lineFor(err, 'node.listen[3]')).toMatch(/binds the same address as node.listen\[0\]/);
    expect(lineFor(errorOf((c) => (c.node.listen = [])), 'node.listen')).toMatch(/at least one/);
    expect(lineFor(errorOf((c) => (c.node.listen = 'udp://127.0.0.1:5060')), 'node.listen')).toMatch(/must be a list/);
  });

  it('tls missing when a tls or wss listener exists', () => {
    const err = errorOf((c) => c.node.listen.push('wss://127.0.0.1:8443'));
    expect(lineFor(err, 'node.tls')).toMatch(/is required .*wss:\/\/127.0.0.1:8443\//);
  });

  it('tls file unreadable', () => {
    const err = errorOf((c) => {
      c.node.listen.push('tls://127.0.0.1:5061');
      c.node.tls = { cert: './d1.crt', key: './missing.key', ca: '.' };
    });
    expect(lineFor(err, 'node.tls.key')).toBe(`config error: node.tls.key: cannot read file ${JSON.stringify(join(dir, 'missing.key'))} (no such file)`);
    expect(lineFor(err, 'node.tls.ca')).toMatch(/not a regular file/);
    expect(lineFor(errorOf((c) => (c.node.tls = { cert: './d1.crt' })), 'node.tls.key')).toMatch(/is required/);
  });

  it('duplicate switch id', () => {
    const err = errorOf((c) => (c.cluster.switches = [{ id: 'sw1', address: '127.0.0.1:5060' }, { id: 'sw1', address: '127.0.0.2:5060' }]));
    expect(lineFor(err, 'cluster.switches[1].id')).toMatch(/duplicate id "sw1" \(first at cluster.switches\[0\].id\)/);
  });

  it('bad CIDR and duplicate sources', () => {
    const err = errorOf(
      (c) =>
        (c.cluster.carriers = [
          { id: 'a', sources: ['10.0.0.0/8', '10.0.0.0/33', '10.1.2.3/8'] },
          { id: 'b', sources: ['10.0.0.0/8'] },
          { id: 'c', sources: [] },
        ]),
    );
    expect(lineFor(err, 'cluster.carriers[0].sources[1]')).toMatch(/prefix length must be from 0 to 32 .*got "10.0.0.0\/33"/);
    expect(lineFor(err, 'cluster.carriers[0].sources[2]')).toMatch(/host bits set/);
    expect(lineFor(err, 'cluster.carriers[1].sources[0]')).toMatch(/duplicate source 10.0.0.0\/8 \(first at cluster.carriers\[0\].sources\[0\]\)/);
    expect(lineFor(err, 'cluster.carriers[2].sources')).toMatch(/at least one entry/);
  });

  it('probe timeout must be below the interval', () => {
    const err = errorOf((c) => (c.cluster.probe = { interval: '2s', timeout: '2s' }));
    expect(lineFor(err, 'cluster.probe.timeout')).toMatch(/must be less than cluster.probe.interval \(2s\)/);
  });

  it('bad duration and out-of-range duration', () => {
    const err = errorOf((c) => (c.node.limits = { idleTimeout: '2 days', headerTimeout: '20m' }));
    expect(lineFor(err, 'node.limits.idleTimeout')).toMatch(/must be a duration like 500ms, 5s, 2m, 1h .*\(got "2 days"\)/);
    expect(lineFor(err, 'node.limits.headerTimeout')).toMatch(/must be from 100ms to 10m/);
  });

  it('transactionLinger: 5s to 32s (under T4 a retransmitted request outlives it)', () => {
    const err = errorOf((c) => (c.node.limits = { transactionLinger: '2s' }));
    expect(lineFor(err, 'node.limits.transactionLinger')).toMatch(/must be from 5s to 32s/);
    expect(lineFor(errorOf((c) => (c.node.limits = { transactionLinger: '1m' })), 'node.limits.transactionLinger')).toMatch(/must be from 5s to 32s/);
  });

  it('warmupCalls: 0 (no JIT warm-up) to 20000', () => {
    expect(parseConfig(stringify({ ...MINIMAL, node: { ...(MINIMAL.node as Tree), warmupCalls: 0 } }), { baseDir: dir }).node.warmupCalls).toBe(0);
    expect(lineFor(errorOf((c) => ((c.node as Tree).warmupCalls = 50_000)), 'node.warmupCalls')).toMatch(/must be an integer from 0 to 20000/);
    expect(lineFor(errorOf((c) => ((c.node as Tree).warmupCalls = 'lots')), 'node.warmupCalls')).toMatch(/must be an integer from 0 to 20000/);
  });

  it('bad store URL, with the password redacted', () => {
    const err = errorOf((c) => (c.store = 'redis://:hunter2@127.0.0.1'));
    expect(lineFor(err, 'store')).toMatch(/redis host must be host:port .*\(got "redis:\/\/\*\*\*@127.0.0.1"\)/);
    expect(err.message).not.toContain('hunter2');
    expect(lineFor(errorOf((c) => (c.store = 'postgres://x')), 'store')).toMatch(/must be "memory", redis:\/\//);
  });

  it('never shows a password, whatever is wrong', () => {
    const secret = 'hunter2-Secret';
    const cases = [
      errorOf((c) => (c.cluster.users = [{ username: 'a', password: secret, ha1: '0123456789abcdef0123456789abcdef' }])),
      errorOf((c) => (c.cluster.users = [{ username: 'bad name!', password: secret }])),
      errorOf((c) => (c.cluster.users = [{ username: 'a', password: secret.repeat(100) }])),
      errorOf((c) => (c.cluster.users = [{ username: 'a', pasword: secret }])),
      errorOf((c) => (c.cluster.users = [{ username: 'a', ha1: secret }])),
      errorOfText(`node:\n  id: d1\ncluster:\n  users:\n    - { username: a, password: "${secret} }\n`),
      errorOf(() => {}, { SIPFLEET_CLUSTER__USERS: `[{username: a, password: ${secret}, bogus: 1}]` }),
      errorOf(() => {}, { SIPFLEET_CLUSTER__USERS: `[{username: a, password: "${secret}` }),
      errorOf(() => {}, { SIPFLEET_CLUSTER__USERS__0__PASSWORD: `"${secret}` }),
    ];
    for (const err of cases) {
      expect(err.code).toBe('CFG_ERR_INVALID');
      expect(err.message).not.toContain('hunter2');
      expect(JSON.stringify(err.detail)).not.toContain('hunter2');
    }
    expect(lineFor(cases[0], 'cluster.users[0]')).toMatch(/either password or ha1, not both/);
    expect(lineFor(cases[2], 'cluster.users[0].password')).toMatch(/at most 1024 characters \(got a string, not shown\)/);
  });

  it('reports all errors together, one per line', () => {
    const err = errorOf((c) => {
      c.node.id = 'D1_bad';
      c.node.limits = { maxMessageBytes: 100 };
      c.cluster.selection = 'random';
      c.cluster.limits = { cps: -1 };
    });
    const lines = err.message.split('\n');
    expect(lines).toHaveLength(4);
    expect(lines.every((l) => l.startsWith('config error: '))).toBe(true);
    expect(err.detail?.fields).toEqual(['node.id', 'node.limits.maxMessageBytes', 'cluster.limits.cps', 'cluster.selection']);
    expect(lineFor(err, 'node.id')).toMatch(/1-32 characters of a-z, 0-9 and -/);
    expect(lineFor(err, 'node.limits.maxMessageBytes')).toMatch(/from 1024 to 1048576 \(got 100\)/);
    expect(lineFor(err, 'cluster.selection')).toMatch(/must be one of round-robin, weighted, hash-call-id/);
    expect(lineFor(err, 'cluster.limits.cps')).toMatch(/non-negative integer \(got -1\)/);
    expect(formatConfigError(err)).toBe(err.message);
  });

  it('missing required fields and wrong types', () => {
    const err = errorOfText('node: { listen: [udp://127.0.0.1:5060] }\ncluster: []\n');
    expect(lineFor(err, 'node.id')).toMatch(/is required/);
    expect(lineFor(err, 'cluster')).toMatch(/must be a mapping \(got a list\)/);
    expect(err.message).not.toMatch(/cluster.name/);
    const noNode = errorOfText('cluster: { name: main }\n');
    expect(noNode.message).toBe('config error: node: is required');
    expect(errorOfText('').message).toMatch(/^config error: the configuration is empty/);
    expect(errorOfText('- a\n').message).toMatch(/^config error: must be a mapping with the keys node, store and cluster \(got a list\)/);
  });

  it('member fields: addresses, codes, users', () => {
    const err = errorOf((c) => {
      c.node.http = 'localhost:9060';
      c.node.advertise = 'not a host';
      c.cluster.switches = [{ id: 'sw 1', address: '127.0.0.1', transport: 'ws' }];
      c.cluster.carriers = [{ id: 'c', sources: ['10.0.0.1'], rejectCode: 700 }];
      c.cluster.users = [{ username: 'a' }, { username: 'a', ha1: 12345 }];
      c.cluster['rtp-relays'] = [{ id: 'r1', ng: '127.0.0.1:99999', weight: 0 }];
    });
    expect(lineFor(err, 'node.http')).toMatch(/IPv4 or \[IPv6\]/);
    expect(lineFor(err, 'node.advertise')).toMatch(/IPv4 address, an IPv6 address or a host name/);
    expect(lineFor(err, 'cluster.switches[0].id')).toMatch(/1-64 characters/);
    expect(lineFor(err, 'cluster.switches[0].address')).toMatch(/must be host:port/);
    expect(lineFor(err, 'cluster.switches[0].transport')).toMatch(/must be one of udp, tcp, tls \(got "ws"\)/);
    expect(lineFor(err, 'cluster.carriers[0].rejectCode')).toMatch(/from 400 to 599 \(got 700\)/);
    expect(lineFor(err, 'cluster.users[0].password')).toMatch(/is required \(or give ha1/);
    expect(lineFor(err, 'cluster.users[1].username')).toMatch(/duplicate username "a"/);
    expect(lineFor(err, 'cluster.users[1].ha1')).toMatch(/must be a string \(quote it in YAML\) \(got a number\)/);
    expect(lineFor(err, 'cluster.rtp-relays[0].ng')).toMatch(/port must be from 1 to 65535/);
    expect(lineFor(err, 'cluster.rtp-relays[0].weight')).toMatch(/from 1 to 1000 \(got 0\)/);
  });
});

describe('YAML syntax errors', () => {
  it('name the line and column', () => {
    const err = errorOfText('node:\n  id: d1\n  id: d2\ncluster: { name: main }\n');
    expect(err.code).toBe('CFG_ERR_INVALID');
    expect(err.message).toBe('config error: YAML syntax error at line 3, column 3: Map keys must be unique');
    expect(err.detail).toMatchObject({ line: 3, column: 3 });
  });

  it('report every syntax error', () => {
    const err = errorOfText('node: [a\ncluster: "x\n');
    expect(err.message.split('\n').length).toBeGreaterThanOrEqual(1);
    expect(err.message).toMatch(/^config error: YAML syntax error at line \d+, column \d+: /);
  });
});

describe('reading the file', () => {
  it('names an unreadable path with CFG_ERR_READ', () => {
    const path = join(dir, 'nope.yaml');
    expect(() => loadConfig(path, {})).toThrow(expect.objectContaining({ code: 'CFG_ERR_READ', message: `config error: cannot read ${path} (no such file)` }));
    try {
      loadConfig(dir, {});
    } catch (err) {
      expect(formatConfigError(err)).toMatch(/cannot read .* \(is a directory\)/);
    }
  });

  it('resolves tls paths against the file directory', () => {
    const file = join(dir, 'node.yaml');
    writeFileSync(file, stringify({ ...MINIMAL, node: { ...MINIMAL.node, tls: { cert: 'd1.crt', key: 'd1.key' } } }));
    expect(loadConfig(file, {}).node.tls).toEqual({ cert: join(dir, 'd1.crt'), key: join(dir, 'd1.key') });
  });

  it('formats foreign errors without a stack', () => {
    expect(formatConfigError(new Error('boom'))).toBe('config error: boom');
    expect(formatConfigError(new SipfleetError('TRANSPORT_ERR_BIND', 'x'))).toBe('TRANSPORT_ERR_BIND: x');
  });
});
