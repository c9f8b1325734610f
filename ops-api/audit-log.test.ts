import { describe, expect, it } from 'vitest';
import { summarizeBody } from './audit-log.ts';

describe('summarizeBody', () => {
  it('redacts the values of secret-looking keys and cuts long strings', () => {
    expect(summarizeBody({ cps: 5, token: 't', apiKey: 'k', nested: { password: 'p', zone: 'eu' }, long: 'x'.repeat(300) })).toEqual({
      cps: 5,
      token: '[redacted]',
      apiKey: '[redacted]',
      nested: { password: '[redacted]', zone: 'eu' },
      long: `${'x'.repeat(197)}...`,
    });
  });
});
