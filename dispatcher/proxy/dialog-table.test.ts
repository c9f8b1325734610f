import { describe, expect, it } from 'vitest';
import { ManualClock } from '../transaction/manual-clock.ts';
import type { Flow } from '../transport/transport.ts';
import { DialogTable, type DialogRecord } from './dialog-table.ts';

function leg(callId: string, caller: string, sw: string, releases: string[]): DialogRecord {
  return {
    callId,
    fromTag: 'f1',
    toTag: undefined,
    state: 'early',
    switchTarget: { protocol: 'udp', address: sw, port: 5060 },
    switchId: sw,
    callerTarget: { protocol: 'udp', address: caller, port: 5060 },
    createdAt: 0,
    release: (reason) => releases.push(`${caller}:${reason}`),
  };
}

function flowFrom(address: string, port = 5060): Flow {
  return { protocol: 'udp', localAddress: '127.0.0.11', localPort: 5060, remoteAddress: address, remotePort: port, connectionId: undefined };
}

describe('DialogTable', () => {
  it('keeps both legs of a call that spirals back through the node (same Call-ID)', () => {
    const released: string[] = [];
    const t = new DialogTable(new ManualClock());
    const first = leg('c1', '10.0.0.1', '10.0.0.21', released);
    const spiral = leg('c1', '10.0.0.21', '10.0.0.22', released);
    expect(t.add(first)).toBe(true);
    expect(t.add(spiral)).toBe(true);
    expect(t.size).toBe(2);
    expect(released).toEqual([]);
    // Requests are matched to their leg by where they come from.
    expect(t.find('c1', flowFrom('10.0.0.1'))).toBe(first);
    expect(t.find('c1', flowFrom('10.0.0.22'))).toBe(spiral);
    t.end(spiral, 'bye');
    t.end(spiral, 'bye');
    expect(released).toEqual(['10.0.0.21:bye']);
    expect(t.find('c1', flowFrom('10.0.0.1', 7000))).toBe(first); // the one leg left, whatever the port
    t.end(first, 'bye');
    expect(released).toEqual(['10.0.0.21:bye', '10.0.0.1:bye']);
    expect(t.size).toBe(0);
  });

  it('releases a confirmed dialog at its maximum age, exactly once', () => {
    const released: string[] = [];
    const clock = new ManualClock();
    const t = new DialogTable(clock, 10, 1_000);
    const d = leg('c2', '10.0.0.1', '10.0.0.21', released);
    t.add(d);
    t.confirm(d, 'tt');
    clock.advance(999);
    expect(released).toEqual([]);
    clock.advance(1);
    expect(released).toEqual(['10.0.0.1:max-age']);
    t.end(d, 'bye');
    expect(released).toHaveLength(1);
  });

  it('ends confirmed dialogs at their max age oldest first, with one clock timer, none once all have ended', () => {
    const released: string[] = [];
    const clock = new ManualClock();
    const t = new DialogTable(clock, 10, 1_000);
    const a = leg('a', '10.0.0.1', '10.0.0.21', released);
    const b = leg('b', '10.0.0.2', '10.0.0.21', released);
    const c = leg('c', '10.0.0.3', '10.0.0.21', released);
    for (const d of [a, b, c]) t.add(d);
    t.confirm(a, 't');
    clock.advance(100);
    t.confirm(b, 't');
    t.confirm(c, 't');
    expect(clock.pending).toBe(1);
    t.end(b, 'bye'); // unlinked from the middle
    clock.advance(900);
    expect(released).toEqual(['10.0.0.2:bye', '10.0.0.1:max-age']);
    clock.advance(99);
    expect(released).toHaveLength(2);
    clock.advance(1);
    expect(released).toEqual(['10.0.0.2:bye', '10.0.0.1:max-age', '10.0.0.3:max-age']);
    expect(t.size).toBe(0);
    expect(clock.pending).toBe(0);
    // Confirming again after the list emptied arms the timer again; ending the only one stops it.
    const d = leg('d', '10.0.0.4', '10.0.0.21', released);
    t.add(d);
    t.confirm(d, 't');
    expect(clock.pending).toBe(1);
    t.end(d, 'bye');
    expect(clock.pending).toBe(0);
  });

  it('a release that throws at max age does not stop the later dialogs from ending', () => {
    const released: string[] = [];
    const clock = new ManualClock();
    const t = new DialogTable(clock, 10, 1_000);
    const bad = { ...leg('x', '10.0.0.1', '10.0.0.21', released), release: () => { throw new Error('release failed'); } };
    const ok = leg('y', '10.0.0.2', '10.0.0.21', released);
    t.add(bad);
    t.add(ok);
    t.confirm(bad, 't');
    clock.advance(10);
    t.confirm(ok, 't');
    expect(() => clock.advance(990)).toThrow('release failed');
    expect(t.size).toBe(1);
    clock.advance(10);
    expect(released).toEqual(['10.0.0.2:max-age']);
    expect(t.size).toBe(0);
  });

  it('refuses new legs when full', () => {
    const t = new DialogTable(new ManualClock(), 1);
    expect(t.add(leg('a', '10.0.0.1', '10.0.0.21', []))).toBe(true);
    expect(t.add(leg('b', '10.0.0.2', '10.0.0.21', []))).toBe(false);
  });
});
