import { describe, expect, it } from 'vitest';
import type { SwitchRecord } from '../../shared/cluster-store/cluster-store.ts';
import { ManualClock } from '../transaction/manual-clock.ts';
import { WarmUp, type ProbeCounts } from './warm-up.ts';

function sw(id: string, state: SwitchRecord['state'] = 'active'): SwitchRecord {
  return { id, host: '10.0.0.1', port: 5060, transport: 'udp', weight: 1, priority: 0, state };
}

describe('WarmUp', () => {
  function setup(maxMs = 10_000) {
    const clock = new ManualClock(0);
    const state = { registered: false, loaded: false, switches: [sw('sw1'), sw('sw2'), sw('off', 'disabled')], probes: new Map<string, ProbeCounts>() };
    const warm = new WarmUp({
      clock,
      maxMs,
      fall: 3,
      registered: () => state.registered,
      registryLoaded: () => state.loaded,
      switches: () => state.switches,
      probes: (id) => state.probes.get(id),
    });
    return { clock, state, warm };
  }

  it('is warm once registered, loaded and every switch not disabled has one success or `fall` failures', () => {
    const { state, warm } = setup();
    expect(warm.done).toBe(false);
    expect(warm.pending()).toEqual(['store registration', 'switch registry', 'probes of sw1', 'probes of sw2']);
    state.registered = true;
    state.loaded = true;
    state.probes.set('sw1', { consecutiveSuccesses: 0, consecutiveFailures: 0 });
    state.probes.set('sw2', { consecutiveSuccesses: 0, consecutiveFailures: 2 });
    expect(warm.pending()).toEqual(['probes of sw1', 'probes of sw2']);
    state.probes.set('sw1', { consecutiveSuccesses: 1, consecutiveFailures: 0 });
    expect(warm.done).toBe(false);
    state.probes.set('sw2', { consecutiveSuccesses: 0, consecutiveFailures: 3 }); // decided: down
    expect(warm.done).toBe(true);
    // Latched: a later change does not make it cold again.
    state.registered = false;
    expect(warm.done).toBe(true);
    expect(warm.pending()).toEqual([]);
  });

  it('is warm when the deadline passes, whatever is pending; maxMs 0 is warm at once', () => {
    const { clock, warm } = setup(5000);
    clock.advance(4999);
    expect(warm.done).toBe(false);
    clock.advance(1);
    expect(warm.done).toBe(true);
    expect(setup(0).warm.done).toBe(true);
  });
});
