import { describe, expect, it } from 'vitest';
import { cand } from '../routing-test-kit.ts';
import { LeastChannels } from './least-channels.ts';

describe('LeastChannels', () => {
  it('orders by channels per unit of weight, ties by registry index', () => {
    const alg = new LeastChannels();
    const order = alg.order({
      callId: 'x',
      source: 's',
      candidates: [
        cand('a', 0, { channels: 10, weight: 1 }), // 10 per weight
        cand('b', 1, { channels: 30, weight: 5 }), // 6
        cand('c', 2, { channels: 6, weight: 1 }), // 6, later in the registry
        cand('d', 3, { channels: 0, weight: 1 }),
      ],
    });
    expect(order).toEqual(['d', 'b', 'c', 'a']);
  });
});
