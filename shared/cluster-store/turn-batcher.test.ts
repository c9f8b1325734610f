import { describe, expect, it } from 'vitest';
import { TurnBatcher } from './turn-batcher.ts';

/** Waits for the batcher's flush (setImmediate) and the batch promises it started. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('TurnBatcher', () => {
  it('sends what one turn queued as one batch per group, and gives each request its own result in order', async () => {
    const batches: Array<[string, number[]]> = [];
    const b = new TurnBatcher<number, string>(async (group, reqs) => {
      batches.push([group, [...reqs]]);
      return reqs.map((r) => `${group}:${r}`);
    });
    const all = Promise.all([b.add('a', 1), b.add('b', 2), b.add('a', 3), b.add('a', 4)]);
    expect(b.queued).toBe(4);
    expect(batches).toEqual([]); // nothing is sent within the turn
    expect(await all).toEqual(['a:1', 'b:2', 'a:3', 'a:4']);
    expect(batches).toEqual([
      ['a', [1, 3, 4]],
      ['b', [2]],
    ]);
    expect(b.queued).toBe(0);
    // The next turn is a batch of its own.
    expect(await b.add('a', 5)).toBe('a:5');
    expect(batches).toHaveLength(3);
  });

  it('splits a turn at maxBatch, keeping the order', async () => {
    const sizes: number[] = [];
    const b = new TurnBatcher<number, number>(async (_g, reqs) => {
      sizes.push(reqs.length);
      return reqs.map((r) => r * 10);
    }, { maxBatch: 3 });
    const out = await Promise.all(Array.from({ length: 8 }, (_, i) => b.add('g', i)));
    expect(out).toEqual([0, 10, 20, 30, 40, 50, 60, 70]);
    expect(sizes).toEqual([3, 3, 2]);
  });

  it('a failed batch fails each of its requests with that error, and only them', async () => {
    const boom = new Error('store down');
    const b = new TurnBatcher<number, number>(async (group, reqs) => {
      if (group === 'bad') throw boom;
      return reqs;
    });
    const [bad1, good, bad2] = await Promise.allSettled([b.add('bad', 1), b.add('good', 2), b.add('bad', 3)]);
    expect(bad1).toEqual({ status: 'rejected', reason: boom });
    expect(bad2).toEqual({ status: 'rejected', reason: boom });
    expect(good).toEqual({ status: 'fulfilled', value: 2 });
  });

  it('a run that throws at once, or answers with the wrong number of results, fails its batch', async () => {
    const throwing = new TurnBatcher<number, number>(() => {
      throw new Error('sync');
    });
    await expect(throwing.add('g', 1)).rejects.toThrow('sync');
    const short = new TurnBatcher<number, number>(async () => [1]);
    const r = await Promise.allSettled([short.add('g', 1), short.add('g', 2)]);
    expect(r.map((x) => x.status)).toEqual(['rejected', 'rejected']);
    expect(String((r[0] as PromiseRejectedResult).reason)).toContain('batch of 2 got 1 results');
  });

  it('batchers sharing one schedule are flushed in the order the schedule says', async () => {
    const sent: string[] = [];
    let pending: (() => void) | undefined;
    const schedule = (): void => {
      pending ??= () => {
        pending = undefined;
        second.flush();
        first.flush();
      };
    };
    const first = new TurnBatcher<string, string>(async (_g, reqs) => (sent.push(`first:${reqs.join()}`), reqs), { schedule });
    const second = new TurnBatcher<string, string>(async (_g, reqs) => (sent.push(`second:${reqs.join()}`), reqs), { schedule });
    const all = Promise.all([first.add('g', 'a'), second.add('g', 'b'), first.add('g', 'c')]);
    await nextTurn();
    expect(sent).toEqual([]); // nothing goes out until the shared schedule runs
    pending?.();
    expect(await all).toEqual(['a', 'b', 'c']);
    expect(sent).toEqual(['second:b', 'first:a,c']);
  });

  it('refuses a maxBatch that is not a positive integer', () => {
    expect(() => new TurnBatcher(async () => [], { maxBatch: 0 })).toThrow(/maxBatch/);
    expect(() => new TurnBatcher(async () => [], { maxBatch: 1.5 })).toThrow(/maxBatch/);
  });

  it('requests queued by a batch result are sent in a later turn', async () => {
    const batches: number[][] = [];
    const b = new TurnBatcher<number, number>(async (_g, reqs) => {
      batches.push([...reqs]);
      return reqs;
    });
    await b.add('g', 1).then(() => b.add('g', 2));
    await nextTurn();
    expect(batches).toEqual([[1], [2]]);
  });
});
