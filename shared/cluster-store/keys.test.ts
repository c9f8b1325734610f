import { describe, expect, it } from 'vitest';
import { storeKeys } from './keys.ts';

describe('storeKeys', () => {
  it('puts every key of a cluster under one hash-tagged prefix', () => {
    const k = storeKeys('main');
    const all = [
      k.nodes,
      k.fenced,
      k.callsByStart,
      k.callsByExpiry,
      k.nodeEpoch('d1'),
      k.nodeInfo('d1'),
      k.nodeCalls('d1', 42),
      k.call('abc@host'),
      k.levelCalls('switch:sw1'),
      k.levelAdmits('switch:sw1'),
      k.switches,
      k.events,
      k.probes,
      k.probe('sw1', 'd1'),
      k.sticky('2001:db8::1'),
      k.relays,
      k.mediaSession('abc@host'),
      k.mediaByStart,
      k.mediaByExpiry,
      k.mediaRelays,
      k.relayMedia('rtp1'),
      k.lease('vip:198.51.100.10'),
    ];
    for (const key of all) expect(key.startsWith('sf:{main}:')).toBe(true);
    expect(new Set(all).size).toBe(all.length);
    expect(k.nodeCalls('d:1', 42)).toBe('sf:{main}:node:calls:42:d:1');
    expect(k.levelCalls('user:alice')).toBe('sf:{main}:level:calls:user:alice');
    expect(k.probe('sw1', 'd:1')).toBe('sf:{main}:probe:sw1:d:1');
    expect(k.sticky('2001:db8::1')).toBe('sf:{main}:sticky:2001:db8::1');
    expect(k.events).toBe('sf:{main}:events');
    expect(k.mediaSession('by-start')).toBe('sf:{main}:media:session:by-start'); // never an index name
    expect(k.relayMedia('rtp1')).toBe('sf:{main}:relay:media:rtp1');
    expect(k.lease('vip:198.51.100.10')).toBe('sf:{main}:lease:vip:198.51.100.10');
  });

  it('refuses cluster names that would break the hash tag', () => {
    for (const bad of ['', 'a{b', 'a}b']) expect(() => storeKeys(bad)).toThrow(expect.objectContaining({ code: 'STORE_ERR_INVALID' }));
  });
});
