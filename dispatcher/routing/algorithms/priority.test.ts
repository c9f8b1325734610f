import { describe, expect, it } from 'vitest';
import { cand } from '../routing-test-kit.ts';
import { Priority } from './priority.ts';

describe('Priority', () => {
  it('lowest priority value first, ties by registry index', () => {
    const alg = new Priority();
    const order = alg.order({
      callId: 'x',
      source: 's',
      candidates: [cand('backup', 0, { priority: 2 }), cand('b2', 1, { priority: 1 }), cand('primary', 2, { priority: 1 }), cand('last', 3, { priority: 9 })],
    });
    expect(order).toEqual(['b2', 'primary', 'backup', 'last']);
  });
});
