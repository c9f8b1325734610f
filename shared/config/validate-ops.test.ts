import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SipfleetError } from '../errors.ts';
import { parseConfig } from './load-config.ts';

const BASE = `
node: { id: d1, listen: [udp://127.0.0.1:5060] }
cluster: { name: main }
`;
const HASH = createHash('sha256').update('alice-secret-token').digest('hex');

function fields(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SipfleetError);
    return (err as SipfleetError).detail?.fields as string[];
  }
  throw new Error('expected a config error');
}

describe('ops section', () => {
  it('is absent by default', () => {
    expect(parseConfig(BASE, { baseDir: '/etc/sipfleet' }).ops).toBeUndefined();
  });

  it('reads tokens, limits and the audit path with defaults', () => {
    const c = parseConfig(`${BASE}ops:\n  tokens: [{ name: alice, role: admin, sha256: ${HASH.toUpperCase()} }]\n  audit: ./audit.jsonl\n`, { baseDir: '/etc/sipfleet' });
    expect(c.ops).toEqual({
      listen: { host: '127.0.0.1', port: 8080 },
      tokens: [{ name: 'alice', role: 'admin', sha256: HASH }],
      rateLimit: { max: 100, window: 60_000 },
      bodyLimit: 65_536,
      audit: '/etc/sipfleet/audit.jsonl',
    });
  });

  it('names every bad field and never shows a hash', () => {
    let message = '';
    const yaml = `${BASE}ops:\n  listen: localhost\n  tokens: [{ name: a, role: root, sha256: nothex-secret }, { role: viewer, sha256: ${HASH} }]\n  rateLimit: { max: 0, window: 1ms }\n  bodyLimit: -1\n  bogus: 1\n`;
    try {
      parseConfig(yaml, { baseDir: '/' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).not.toContain('nothex-secret');
    expect(fields(() => parseConfig(yaml, { baseDir: '/' }))).toEqual(
      expect.arrayContaining(['ops.listen', 'ops.tokens[0].role', 'ops.tokens[0].sha256', 'ops.tokens[1].name', 'ops.rateLimit.max', 'ops.rateLimit.window', 'ops.bodyLimit', 'ops.bogus']),
    );
  });

  it('adds a hashed development token from SIPFLEET_OPS_TOKEN', () => {
    const c = parseConfig(BASE, { baseDir: '/', env: { SIPFLEET_OPS_TOKEN: 'operator:dev-token-0123456789' } });
    expect(c.ops?.tokens).toEqual([{ name: 'env', role: 'operator', sha256: createHash('sha256').update('dev-token-0123456789').digest('hex') }]);
    expect(JSON.stringify(c)).not.toContain('dev-token-0123456789');
    expect(fields(() => parseConfig(BASE, { baseDir: '/', env: { SIPFLEET_OPS_TOKEN: 'root:dev-token-0123456789' } }))).toEqual(['SIPFLEET_OPS_TOKEN']);
  });
});
