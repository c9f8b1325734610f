import { describe, expect, it } from 'vitest';
import { cand } from '../routing-test-kit.ts';
import { HashSource } from './hash-source.ts';

const three = [cand('sw1', 0), cand('sw2', 1), cand('sw3', 2)];

describe('HashSource', () => {
  it('hashes the source address, not the Call-ID', () => {
    const alg = new HashSource();
    const first = alg.order({ callId: 'a', source: '198.51.100.7', candidates: three });
    for (let i = 0; i < 20; i++) expect(alg.order({ callId: `call-${i}`, source: '198.51.100.7', candidates: three })).toEqual(first);
    expect([...first].sort()).toEqual(['sw1', 'sw2', 'sw3']);
  });

  it('spreads sources over the switches', () => {
    const alg = new HashSource();
    const counts = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const id = alg.order({ callId: 'x', source: `10.${(i >> 8) & 255}.${i & 255}.1`, candidates: three })[0];
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    for (const n of counts.values()) expect(Math.abs(n / 3000 - 1 / 3)).toBeLessThanOrEqual(0.03);
  });
});
