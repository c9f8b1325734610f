import { describe, expect, it } from 'vitest';
import { warmSipCodec } from './sip-warm-up.ts';

describe('warmSipCodec', () => {
  it('parses, forwards or relays and serializes every message of its sample call, the same way every round', () => {
    const one = warmSipCodec(1);
    expect(one).toBeGreaterThan(0);
    // Each round parses the samples afresh: a run that changed them would change the next round's sum.
    expect(warmSipCodec(3)).toBe(3 * one);
  });
});
