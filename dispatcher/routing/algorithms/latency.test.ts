import { describe, expect, it } from 'vitest';
import { cand } from '../routing-test-kit.ts';
import { LowestLatency } from './latency.ts';

describe('LowestLatency', () => {
  it('lowest latency EWMA first, unmeasured last, ties by registry index', () => {
    const alg = new LowestLatency();
    const order = alg.order({
      callId: 'x',
      source: 's',
      candidates: [
        cand('unknown', 0),
        cand('slow', 1, { latencyMs: 80 }),
        cand('fast', 2, { latencyMs: 5 }),
        cand('fast2', 3, { latencyMs: 5 }),
        cand('unknown2', 4),
      ],
    });
    expect(order).toEqual(['fast', 'fast2', 'slow', 'unknown', 'unknown2']);
  });
});
