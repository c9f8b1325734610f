import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, SipParseError, SipfleetError } from './errors.ts';

describe('error table', () => {
  const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
  const documented = new Set([...doc.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]));

  it('documents every exported code in docs/errors.md', () => {
    for (const code of Object.values(ERROR_CODES)) expect(documented, code).toContain(code);
  });

  it('documents no code that does not exist', () => {
    const codes = new Set<string>(Object.values(ERROR_CODES));
    for (const code of documented) expect(codes, code).toContain(code);
  });

  it('keeps the code and the SIP status on parse errors', () => {
    const err = new SipParseError('bad version', 505, 'Version Not Supported');
    expect(err).toBeInstanceOf(SipfleetError);
    expect(err.code).toBe('SIP_ERR_PARSE');
    expect(err.status).toBe(505);
  });
});
