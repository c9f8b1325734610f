import { createHook } from 'node:async_hooks';
import { describe, expect, it } from 'vitest';
import { warmProxyPath } from './proxy-warm-up.ts';

describe('warmProxyPath', () => {
  it('runs every call end to end through the proxy: answered, acknowledged and hung up', async () => {
    // The count is of BYE 200s relayed back to the caller: a proxy path that loses any step
    // (forwarding, response relay, loose routing of ACK/BYE) comes back short.
    expect(await warmProxyPath(250)).toBe(250);
  });

  it('does nothing for 0 calls', async () => {
    expect(await warmProxyPath(0)).toBe(0);
  });

  it('schedules nothing on Node\'s timers (its clock is its own)', async () => {
    // Every Timeout created from sipfleet's code while it runs, seen by an async hook (a count of
    // the active ones would move with whatever else in the worker, vitest included, has a timer).
    const created: string[] = [];
    const ours = /\/(dispatcher|shared)\/[\w/-]+\.ts/;
    const hook = createHook({
      init: (_id, type) => {
        const stack = type === 'Timeout' ? (new Error().stack ?? '') : '';
        if (ours.test(stack)) created.push(stack);
      },
    }).enable();
    try {
      expect(await warmProxyPath(20)).toBe(20);
    } finally {
      hook.disable();
    }
    expect(created).toEqual([]);
  });
});
