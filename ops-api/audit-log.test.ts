import { describe, expect, it } from 'vitest';
import { summarizeBody } from './audit-log.ts';

describe('summarizeBody', () => {
  it('drops secret-looking keys and cuts long strings', () => {
    expect(summarizeBody({ cps: 5, token: 't', apiKey: 'k', nested: { password: 'p', zone: 'eu' }, long: 'x'.repeat(300) })).toEqual({
      cps: 5,
      nested: { zone: 'eu' },
      long: `${'x'.repeat(197)}...`,
    });
  });
});
