import { describe, expect, it } from 'vitest';
import { DEFAULT_BEHAVIOUR, applyBehaviour } from './behaviour.ts';

describe('applyBehaviour', () => {
  it('applies a partial update and leaves the base alone', () => {
    const next = applyBehaviour(DEFAULT_BEHAVIOUR, { invite: 'slow', slowMs: 10, channels: 0, cps: null });
    expect(next).toEqual({ ...DEFAULT_BEHAVIOUR, invite: 'slow', slowMs: 10, channels: 0, cps: null });
    expect(DEFAULT_BEHAVIOUR.invite).toBe('answer');
  });

  it('throws CFG_ERR_INVALID with detail.field', () => {
    expect(() => applyBehaviour(DEFAULT_BEHAVIOUR, { answerMs: 'soon' })).toThrow(
      expect.objectContaining({ code: 'CFG_ERR_INVALID', detail: { field: 'answerMs' } }),
    );
    expect(() => applyBehaviour(DEFAULT_BEHAVIOUR, null)).toThrow(expect.objectContaining({ detail: { field: 'behaviour' } }));
  });
});
