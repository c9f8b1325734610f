/** Test helper: the issues a config text is refused with (fails the test when it is accepted). */
import { expect } from 'vitest';
import { SipfleetError } from '../errors.ts';
import { parseConfig } from './load-config.ts';

export function configIssues(text: string, env: Record<string, string> = {}): Array<{ field: string; problem: string }> {
  try {
    parseConfig(text, { baseDir: '/tmp', env });
  } catch (err) {
    expect(err).toBeInstanceOf(SipfleetError);
    return (err as SipfleetError).detail?.issues as Array<{ field: string; problem: string }>;
  }
  throw new Error('expected a config error');
}
