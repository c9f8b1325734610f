import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { codeForStatus, OPS_ERRORS, OpsError } from './errors.ts';

describe('ops API error table', () => {
  const doc = readFileSync(new URL('../docs/ops-api.md', import.meta.url), 'utf8');
  const documented = new Map([...doc.matchAll(/^\| `(OPS_ERR_[A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]));

  it('documents every code with its status in docs/ops-api.md, and no other', () => {
    expect(Object.fromEntries(documented)).toEqual(OPS_ERRORS);
  });

  it('gives each error its status', () => {
    expect(new OpsError('OPS_ERR_CONFLICT', 'x').statusCode).toBe(409);
    expect(codeForStatus(413)).toBe('OPS_ERR_BODY_TOO_LARGE');
    expect(codeForStatus(418)).toBe('OPS_ERR_INTERNAL');
  });
});
