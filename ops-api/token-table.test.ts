import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TokenTable } from './token-table.ts';

const hex = (t: string) => createHash('sha256').update(t).digest('hex');

describe('TokenTable', () => {
  const table = new TokenTable([
    { name: 'alice', role: 'admin', sha256: hex('alice-token-0123456789') },
    { name: 'bob', role: 'viewer', sha256: hex('bob-token-0123456789') },
  ]);

  it('finds the identity of a valid bearer token', () => {
    expect(table.authenticate('Bearer alice-token-0123456789')).toEqual({ name: 'alice', role: 'admin' });
    expect(table.authenticate('bearer bob-token-0123456789')).toEqual({ name: 'bob', role: 'viewer' });
  });

  it('refuses missing, malformed and unknown tokens', () => {
    for (const header of [undefined, '', 'Bearer', 'Bearer ', 'Basic alice-token-0123456789', 'alice-token-0123456789', 'Bearer alice-token-012345678', 'Bearer a b']) {
      expect(table.authenticate(header), String(header)).toBeUndefined();
    }
  });

  it('keeps no plaintext', () => {
    expect(JSON.stringify(table)).not.toContain('alice-token');
  });
});
