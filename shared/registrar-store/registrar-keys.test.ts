import { describe, expect, it } from 'vitest';
import { bindingRef, registrarKeys } from './registrar-keys.ts';

describe('registrarKeys', () => {
  it('puts every key under the cluster hash tag, after the cluster store prefix', () => {
    const k = registrarKeys('main');
    const all = [k.users, k.userNames, k.expiry, k.banned, k.secret, k.bans, k.aor('alice'), k.owner('n:1'), k.fail('2001:db8::1'), k.nonce('abc')];
    for (const key of all) expect(key.startsWith('sf:{main}:reg:')).toBe(true);
    expect(new Set(all).size).toBe(all.length);
    expect(k.owner('node:{7}')).toBe('sf:{main}:reg:owner:node:{7}');
    expect(bindingRef('alice', 'sip:alice@[2001:db8::1]:5060')).toBe('alice:sip:alice@[2001:db8::1]:5060');
  });

  it('refuses cluster names that would break the hash tag', () => {
    for (const bad of ['', 'a{b', 'a}b']) expect(() => registrarKeys(bad)).toThrow(expect.objectContaining({ code: 'STORE_ERR_INVALID' }));
  });
});
