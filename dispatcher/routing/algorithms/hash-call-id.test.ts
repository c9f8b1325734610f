import { describe, expect, it } from 'vitest';
import type { SelectionCandidate } from '../selection-algorithm.ts';
import { cand } from '../routing-test-kit.ts';
import { HashCallId } from './hash-call-id.ts';

const callIds = Array.from({ length: 10_000 }, (_, i) => `${i.toString(16)}-a84b4c76e66710@192.0.2.4`);
const four = [cand('sw1', 0), cand('sw2', 1), cand('sw3', 2), cand('sw4', 3)];

function assign(candidates: readonly SelectionCandidate[]): Map<string, string> {
  const alg = new HashCallId();
  return new Map(callIds.map((id) => [id, alg.order({ callId: id, source: 'same', candidates })[0]]));
}

function shares(m: Map<string, string>): Map<string, number> {
  const out = new Map<string, number>();
  for (const v of m.values()) out.set(v, (out.get(v) ?? 0) + 1 / m.size);
  return out;
}

describe('HashCallId', () => {
  it('maps the same Call-ID to the same switch every time, with every candidate once', () => {
    const alg = new HashCallId();
    const first = alg.order({ callId: 'abc@host', source: 'x', candidates: four });
    expect([...first].sort()).toEqual(['sw1', 'sw2', 'sw3', 'sw4']);
    for (let i = 0; i < 20; i++) expect(alg.order({ callId: 'abc@host', source: `s${i}`, candidates: four })).toEqual(first);
    // Registry order does not matter, only the ids.
    expect(alg.order({ callId: 'abc@host', source: 'x', candidates: [...four].reverse() })).toEqual(first);
  });

  it('spreads evenly over equal weights', () => {
    for (const share of shares(assign(four)).values()) expect(Math.abs(share - 0.25)).toBeLessThanOrEqual(0.03);
  });

  it('spreads by weight (1:3)', () => {
    const s = shares(assign([cand('sw1', 0, { weight: 1 }), cand('sw2', 1, { weight: 3 })]));
    expect(Math.abs((s.get('sw1') ?? 0) - 0.25)).toBeLessThanOrEqual(0.03);
    expect(Math.abs((s.get('sw2') ?? 0) - 0.75)).toBeLessThanOrEqual(0.03);
  });

  it('removing a candidate moves only the calls that were on it (and they spread over the rest)', () => {
    const before = assign(four);
    const after = assign(four.filter((c) => c.id !== 'sw2'));
    const moved = new Map<string, number>();
    for (const [id, was] of before) {
      const now = after.get(id) ?? '';
      if (was !== 'sw2') expect(now).toBe(was);
      else moved.set(now, (moved.get(now) ?? 0) + 1);
    }
    expect([...moved.keys()].sort()).toEqual(['sw1', 'sw3', 'sw4']);
  });

  it('adding a candidate takes only calls for itself, about its share', () => {
    const before = assign(four);
    const after = assign([...four, cand('sw5', 4)]);
    let taken = 0;
    for (const [id, was] of before) {
      const now = after.get(id);
      if (now !== was) {
        expect(now).toBe('sw5');
        taken++;
      }
    }
    expect(Math.abs(taken / callIds.length - 0.2)).toBeLessThanOrEqual(0.03);
  });
});
