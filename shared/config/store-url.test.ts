import { describe, expect, it } from 'vitest';
import { redactUrl, tryParseStore } from './store-url.ts';

describe('store URLs', () => {
  it('parses memory, redis and sentinel', () => {
    expect(tryParseStore('memory')).toEqual({ kind: 'memory' });
    expect(tryParseStore('redis://127.0.0.1:6379')).toEqual({ kind: 'redis', url: 'redis://127.0.0.1:6379' });
    expect(tryParseStore('redis://:p%40ss@redis.local:6379/2')).toEqual({ kind: 'redis', url: 'redis://:p%40ss@redis.local:6379/2' });
    expect(tryParseStore('sentinel://10.0.0.1:26379,[::1]:26380/mymaster')).toEqual({
      kind: 'sentinel',
      sentinels: [{ host: '10.0.0.1', port: 26379 }, { host: '::1', port: 26380 }],
      name: 'mymaster',
    });
    expect(tryParseStore('sentinel://:s3cret@s1:26379/m')).toMatchObject({ password: 's3cret', name: 'm' });
  });

  it('rejects bad URLs without echoing the password', () => {
    for (const bad of ['redis://127.0.0.1', 'redis://h:1/x', 'redis://user:pw@h:1', 'sentinel://h:1', 'sentinel://h:1,bad/m', 'mysql://h:1', 'Memory']) {
      expect(tryParseStore(bad), bad).toBeTypeOf('string');
    }
    expect(tryParseStore('redis://:hunter2@nohost')).not.toContain('hunter2');
    expect(redactUrl('redis://:hunter2@h:1/0')).toBe('redis://***@h:1/0');
  });
});
