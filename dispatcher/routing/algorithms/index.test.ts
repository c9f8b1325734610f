import { describe, expect, it } from 'vitest';
import { SELECTIONS, type Selection } from '../../../shared/config/config-types.ts';
import { cand } from '../routing-test-kit.ts';
import { createAlgorithm } from './index.ts';

describe('createAlgorithm', () => {
  it.each(SELECTIONS)('%s: named after its selection, every candidate exactly once', (name) => {
    const alg = createAlgorithm(name);
    expect(alg.name).toBe(name);
    const candidates = [cand('a', 0, { weight: 3, channels: 4, latencyMs: 9 }), cand('b', 1, { priority: 2 }), cand('c', 2, { weight: 2, latencyMs: 3 })];
    for (let i = 0; i < 10; i++) {
      expect([...alg.order({ callId: `call-${i}`, source: `10.0.0.${i}`, candidates })].sort()).toEqual(['a', 'b', 'c']);
    }
  });

  it('gives each caller its own state', () => {
    expect(createAlgorithm('round-robin')).not.toBe(createAlgorithm('round-robin'));
  });

  it('refuses an unknown name', () => {
    expect(() => createAlgorithm('random' as Selection)).toThrow(/unknown selection/);
  });
});
