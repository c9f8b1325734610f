import { describe, expect, it } from 'vitest';
import { ExpiryLanes, type Expirable } from './expiry-lanes.ts';
import { ManualClock } from './manual-clock.ts';

/** Records every expiry it is told of, with the clock's time then. */
function recorder(clock: ManualClock, log: Array<[string, number, number]>, name: string): Expirable {
  return { expire: (token) => log.push([name, token, clock.now()]) };
}

describe('ExpiryLanes', () => {
  it('expires each entry exactly its delay after it was added, in order, with one clock timer per lane', () => {
    const clock = new ManualClock();
    const lanes = new ExpiryLanes(clock);
    const log: Array<[string, number, number]> = [];
    lanes.add(32_000, recorder(clock, log, 'a'), 1);
    clock.advance(10);
    lanes.add(32_000, recorder(clock, log, 'b'), 2);
    lanes.add(5_000, recorder(clock, log, 'k'), 3);
    clock.advance(10);
    lanes.add(32_000, recorder(clock, log, 'c'), 4);
    // Three entries in the 32 s lane, one in the 5 s lane: one timer each.
    expect(clock.pending).toBe(2);
    expect(lanes.size).toBe(4);
    clock.advance(31_979);
    expect(log).toEqual([['k', 3, 5_010]]);
    clock.advance(1);
    expect(log.slice(1)).toEqual([['a', 1, 32_000]]);
    clock.advance(20);
    expect(log.slice(2)).toEqual([
      ['b', 2, 32_010],
      ['c', 4, 32_020],
    ]);
    // Plain items never drop their entries: the lane still counts them live, its timer is done.
    expect(clock.pending).toBe(0);
  });

  it('keeps due times small after a long uptime (past 2^30 ms it moves its epoch): entries before and after still expire on time', () => {
    const clock = new ManualClock();
    const lanes = new ExpiryLanes(clock);
    const log: Array<[string, number, number]> = [];
    // Never dropped: the lane is never empty, so it keeps its first epoch (0) until it moves it.
    const keepAlive = lanes.add(32_000, { expire: () => {} }, 0);
    clock.advance(2 ** 30 - 32_005);
    const t0 = clock.now();
    lanes.add(32_000, recorder(clock, log, 'before'), 1); // due 2^30 − 5
    clock.advance(10);
    lanes.add(32_000, recorder(clock, log, 'after'), 2); // due 2^30 + 5: the lane moves its epoch first
    clock.advance(31_989);
    expect(log).toEqual([]);
    clock.advance(1);
    expect(log).toEqual([['before', 1, t0 + 32_000]]);
    clock.advance(9);
    expect(log).toHaveLength(1);
    clock.advance(1);
    expect(log.slice(1)).toEqual([['after', 2, t0 + 32_010]]);
    keepAlive.drop();
  });

  it('hands the token back, so the owner can tell a stale entry (it changed state meanwhile)', () => {
    const clock = new ManualClock();
    const lanes = new ExpiryLanes(clock);
    let state = 7;
    let terminated = 0;
    const owner: Expirable = {
      expire(token) {
        if (token === state) terminated++;
      },
    };
    lanes.add(1_000, owner, state);
    const other = lanes.add(1_000, { expire: () => {} }, 1);
    state = 8; // left the state before the entry came due (and did not drop it yet)
    clock.advance(1_000);
    expect(terminated).toBe(0);
    other.drop();
    lanes.add(1_000, owner, state);
    clock.advance(1_000);
    expect(terminated).toBe(1);
  });

  it('stops its timer once every entry is dropped: a stopped owner leaves no timer behind', () => {
    const clock = new ManualClock();
    const lanes = new ExpiryLanes(clock);
    let fired = 0;
    const item: Expirable = { expire: () => fired++ };
    const a = lanes.add(32_000, item, 1);
    const b = lanes.add(32_000, item, 1);
    expect(clock.pending).toBe(1);
    a.drop();
    expect(lanes.size).toBe(1);
    expect(clock.pending).toBe(1);
    b.drop();
    expect(lanes.size).toBe(0);
    expect(clock.pending).toBe(0);
    // The lane works again afterwards, and a second drop of a done entry changes nothing.
    b.drop();
    lanes.add(32_000, item, 2);
    clock.advance(32_000);
    expect(fired).toBe(1);
  });

  it('an owner dropping the last live entry from its expiry ends the run (stale entries after it are forgotten)', () => {
    const clock = new ManualClock();
    const lanes = new ExpiryLanes(clock);
    let expired = 0;
    // Like a transaction: its expiry terminates it, and leaving the state drops the entry.
    const owner: Expirable & { entry?: { drop(): void } } = {
      expire() {
        expired++;
        owner.entry?.drop();
      },
    };
    owner.entry = lanes.add(1_000, owner, 1);
    lanes.add(1_000, { expire: () => expect.unreachable('a stale entry was run') }, 1).drop();
    clock.advance(1_000);
    expect(expired).toBe(1);
    expect(lanes.size).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('an entry added by an expiry callback is due its own delay later, not in the same run', () => {
    const clock = new ManualClock();
    const lanes = new ExpiryLanes(clock);
    const seen: number[] = [];
    const again: Expirable = {
      expire(token) {
        seen.push(clock.now());
        if (token < 3) lanes.add(500, again, token + 1);
      },
    };
    lanes.add(500, again, 1);
    clock.advance(10_000);
    expect(seen).toEqual([500, 1_000, 1_500]);
    expect(clock.pending).toBe(0);
  });

  it('a callback that throws does not stall the lane: the entries behind it still expire', () => {
    const clock = new ManualClock();
    const lanes = new ExpiryLanes(clock);
    const seen: number[] = [];
    lanes.add(100, { expire: () => { throw new Error('hook failed'); } }, 1);
    lanes.add(100, { expire: (t) => seen.push(t) }, 2);
    clock.advance(50);
    lanes.add(100, { expire: (t) => seen.push(t) }, 3);
    expect(() => clock.advance(50)).toThrow('hook failed');
    // The second entry (due at 100) runs on the re-armed timer, the third at 150.
    clock.advance(0);
    expect(seen).toEqual([2]);
    clock.advance(50);
    expect(seen).toEqual([2, 3]);
  });

  it('times entries on the clock\'s monotonic time when it has one: a wall-clock step neither fires nor holds them', () => {
    const manual = new ManualClock();
    let wallOffset = 0;
    // A clock whose wall time can be stepped while its monotonic time runs on.
    const clock = {
      now: () => manual.now() + wallOffset,
      monotonic: () => manual.now(),
      setTimer: (ms: number, fn: () => void) => manual.setTimer(ms, fn),
    };
    const lanes = new ExpiryLanes(clock);
    const seen: string[] = [];
    lanes.add(32_000, { expire: () => seen.push('a') }, 1);
    wallOffset = 3_600_000; // the wall clock jumps an hour ahead
    manual.advance(1_000);
    expect(seen).toEqual([]);
    wallOffset = -3_600_000; // and an hour back
    lanes.add(32_000, { expire: () => seen.push('b') }, 1);
    manual.advance(31_000);
    expect(seen).toEqual(['a']);
    manual.advance(1_000);
    expect(seen).toEqual(['a', 'b']);
  });

  it('a zero delay (reliable transports: Timer I, J, K are 0) expires on the next timer run', () => {
    const clock = new ManualClock();
    const lanes = new ExpiryLanes(clock);
    const log: Array<[string, number, number]> = [];
    lanes.add(0, recorder(clock, log, 'z'), 1);
    expect(log).toEqual([]);
    clock.advance(0);
    expect(log).toEqual([['z', 1, 0]]);
  });

  it('keeps order and frees its slots across many entries (the queue compacts)', () => {
    const clock = new ManualClock();
    const lanes = new ExpiryLanes(clock);
    const out: number[] = [];
    const item: Expirable = { expire: (token) => out.push(token) };
    let next = 0;
    // 50 000 entries, one per ms, while earlier ones expire: the head moves past the compaction point.
    for (let ms = 0; ms < 50_000; ms++) {
      lanes.add(2_000, item, next++);
      clock.advance(1);
    }
    clock.advance(2_000);
    expect(out.length).toBe(50_000);
    expect(out.every((t, i) => t === i)).toBe(true);
  });

  it('clear drops every entry and stops the lanes (shutdown)', () => {
    const clock = new ManualClock();
    const lanes = new ExpiryLanes(clock);
    const log: Array<[string, number, number]> = [];
    lanes.add(100, recorder(clock, log, 'a'), 1);
    lanes.add(200, recorder(clock, log, 'b'), 1);
    lanes.clear();
    expect(clock.pending).toBe(0);
    clock.advance(1_000);
    expect(log).toEqual([]);
    expect(lanes.size).toBe(0);
  });
});
