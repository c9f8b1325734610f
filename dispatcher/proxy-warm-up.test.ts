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

  it('leaves nothing scheduled on Node\'s timers (its clock is its own)', async () => {
    const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    await warmProxyPath(20);
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBe(before);
  });
});
