import { afterEach, describe, expect, it, vi } from 'vitest';
import { stringify } from 'yaml';
import { SipfleetError } from '../errors.ts';
import { envNameFor } from './env-overrides.ts';
import { loadConfig, parseConfig } from './load-config.ts';

const BASE = stringify({
  node: { id: 'd1', listen: ['udp://127.0.0.1:5060'], http: '127.0.0.1:9060' },
  cluster: {
    name: 'main',
    limits: { cps: 100 },
    switches: [{ id: 'sw1', address: '127.0.0.21:5060' }],
    users: [{ username: 'alice', password: 'pw' }],
  },
});

const load = (env: Record<string, string>) => parseConfig(BASE, { baseDir: '/nonexistent', env });

function errorOf(env: Record<string, string>): SipfleetError {
  try {
    load(env);
  } catch (err) {
    expect(err).toBeInstanceOf(SipfleetError);
    return err as SipfleetError;
  }
  throw new Error('expected an error');
}

afterEach(() => vi.unstubAllEnvs());

describe('SIPFLEET_* overrides', () => {
  it('override scalars, keeping string settings as text and parsing numbers', () => {
    const cfg = load({ SIPFLEET_NODE__ID: '007', SIPFLEET_STORE: 'redis://127.0.0.1:6379', SIPFLEET_CLUSTER__LIMITS__CPS: '20' });
    expect(cfg.node.id).toBe('007');
    expect(cfg.store).toEqual({ kind: 'redis', url: 'redis://127.0.0.1:6379' });
    expect(cfg.cluster.limits).toEqual({ cps: 20 });
  });

  it('override lists and mappings with YAML flow values', () => {
    const cfg = load({
      SIPFLEET_NODE__LISTEN: '[udp://127.0.0.1:5070, "tcp://[::1]:5070"]',
      SIPFLEET_CLUSTER__RTP_RELAYS: '[{id: r1, ng: 127.0.0.31:2223, zone: eu}]',
      SIPFLEET_CLUSTER__PROBE: '{interval: 3s, timeout: 1s}',
      SIPFLEET_CLUSTER__PROBE__FALL: '4',
    });
    expect(cfg.node.listen.map((l) => l.url)).toEqual(['udp://127.0.0.1:5070', 'tcp://[::1]:5070']);
    expect(cfg.cluster.rtpRelays).toEqual([{ id: 'r1', ng: '127.0.0.31:2223', host: '127.0.0.31', port: 2223, zone: 'eu', weight: 1, state: 'active' }]);
    // The whole-mapping override applies first, the more specific one on top of it.
    expect(cfg.cluster.probe).toMatchObject({ interval: 3000, timeout: 1000, fall: 4, rise: 2 });
  });

  it('address list entries by index, creating missing sections and appending the next entry', () => {
    const cfg = load({
      SIPFLEET_CLUSTER__SWITCHES__0__WEIGHT: '7',
      SIPFLEET_CLUSTER__SWITCHES__1__ID: 'sw2',
      SIPFLEET_CLUSTER__SWITCHES__1__ADDRESS: '127.0.0.22:5060',
      SIPFLEET_NODE__LIMITS__IDLETIMEOUT: '1m',
      SIPFLEET_NODE__LIMITS__MAX_HEADERS: '64',
      SIPFLEET_CLUSTER__USERS__0__PASSWORD: '123456',
    });
    expect(cfg.cluster.switches.map((s) => [s.id, s.weight])).toEqual([['sw1', 7], ['sw2', 1]]);
    expect(cfg.node.limits).toMatchObject({ idleTimeout: 60_000, maxHeaders: 64 });
    expect(cfg.cluster.users[0].ha1Md5).not.toBe(load({}).cluster.users[0].ha1Md5);
  });

  it('unset a key with an empty value', () => {
    expect(load({ SIPFLEET_NODE__HTTP: '' }).node.http).toBeUndefined();
  });

  it('an unknown override is an error naming the variable', () => {
    const err = errorOf({ SIPFLEET_NODE__IDD: 'd2', SIPFLEET_CLUSTER__RTPRELAYS: '[]' });
    expect(err.code).toBe('CFG_ERR_INVALID');
    expect(err.detail?.fields).toEqual(['SIPFLEET_CLUSTER__RTPRELAYS', 'SIPFLEET_NODE__IDD']);
    expect(err.message).toMatch(/^config error: SIPFLEET_NODE__IDD: unknown setting: .*did you mean SIPFLEET_NODE__ID\?/m);
    expect(err.message).toMatch(/^config error: SIPFLEET_CLUSTER__RTPRELAYS: .*did you mean SIPFLEET_CLUSTER__RTP_RELAYS\?/m);
    expect(errorOf({ SIPFLEET_NODE__ID__X: '1' }).message).toMatch(/SIPFLEET_NODE__ID is a single value/);
    expect(errorOf({ SIPFLEET_CLUSTER__SWITCHES__SW1__ID: '1' }).message).toMatch(/must be an entry index/);
    expect(errorOf({ SIPFLEET_CLUSTER__SWITCHES__5__ID: 'x' }).message).toMatch(/cluster.switches has 1 entries; the next index is 1/);
  });

  it('an invalid value is reported against the field, naming the variable', () => {
    const err = errorOf({ SIPFLEET_CLUSTER__SWITCHES__0__WEIGHT: 'abc', SIPFLEET_NODE__LISTEN: 'udp://127.0.0.1:5060' });
    expect(err.message).toContain('config error: cluster.switches[0].weight: must be an integer from 1 to 1000 (got "abc") (set by SIPFLEET_CLUSTER__SWITCHES__0__WEIGHT)');
    expect(err.message).toContain('config error: node.listen: must be a list (got "udp://127.0.0.1:5060") (set by SIPFLEET_NODE__LISTEN)');
  });

  it('bad YAML in a value names the variable', () => {
    const err = errorOf({ SIPFLEET_CLUSTER__LIMITS: '{cps: 1' });
    expect(err.message).toMatch(/^config error: SIPFLEET_CLUSTER__LIMITS: not a valid YAML value \(line 1, column \d+\)/);
  });

  it('ignores SIPFLEET_CONFIG and unrelated variables', () => {
    expect(load({ SIPFLEET_CONFIG: '/etc/sipfleet.yaml', PATH: '/usr/bin', SIPFLEETX: '1' }).node.id).toBe('d1');
  });

  it('loadConfig reads process.env by default', () => {
    vi.stubEnv('SIPFLEET_NODE__ID', 'd9');
    expect(loadConfig(new URL('./example.yaml', import.meta.url).pathname).node.id).toBe('d9');
  });

  it('derives variable names from key paths', () => {
    expect(envNameFor(['cluster', 'rtp-relays'])).toBe('SIPFLEET_CLUSTER__RTP_RELAYS');
    expect(envNameFor(['cluster', 'switches', 0, 'weight'])).toBe('SIPFLEET_CLUSTER__SWITCHES__0__WEIGHT');
    expect(envNameFor(['node', 'limits', 'maxMessageBytes'])).toBe('SIPFLEET_NODE__LIMITS__MAXMESSAGEBYTES');
  });
});
