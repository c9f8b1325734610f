import { describe, expect, it } from 'vitest';
import { OperationStore } from './operations.ts';

describe('OperationStore', () => {
  it('runs the body in the background: running with its steps, then succeeded', async () => {
    const ops = new OperationStore();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const op = ops.start('restart', 'sw1', async (ctx) => {
      ctx.step('draining');
      await gate;
      ctx.step('restarted');
    });
    expect(op).toMatchObject({ action: 'restart', server: 'sw1', state: 'running', steps: [] });
    expect(op.id).toMatch(/^[0-9a-f-]{36}$/);
    await new Promise((r) => setImmediate(r));
    expect(ops.get(op.id)?.steps.map((s) => s.message)).toEqual(['draining']);
    expect(ops.running('sw1')?.id).toBe(op.id);
    release();
    const done = await ops.settled(op.id);
    expect(done).toMatchObject({ state: 'succeeded', steps: [{ message: 'draining' }, { message: 'restarted' }] });
    expect(done?.finishedAt).toBeDefined();
    expect(done?.error).toBeUndefined();
    expect(ops.running('sw1')).toBeUndefined();
  });

  it('a throw makes it failed with the message; snapshots are copies', async () => {
    const ops = new OperationStore();
    const op = ops.start('deploy', 'sw3', async () => {
      throw new Error('sw3 exited (code 2) before it was ready');
    });
    const done = await ops.settled(op.id);
    expect(done).toMatchObject({ state: 'failed', error: 'sw3 exited (code 2) before it was ready' });
    done!.steps.push({ at: 'x', message: 'tampered' });
    expect(ops.get(op.id)?.steps).toEqual([]);
  });

  it('keeps the latest `max`, forgetting finished ones first; lists newest first, by server', async () => {
    const ops = new OperationStore({ max: 3 });
    const held = ops.start('restart', 'a', () => new Promise<void>(() => undefined));
    const ids = [];
    for (const server of ['b', 'c', 'd', 'e']) {
      const op = ops.start('stop', server, async () => undefined);
      await ops.settled(op.id);
      ids.push(op.id);
    }
    expect(ops.list(10).map((o) => o.server)).toEqual(['e', 'd', 'a']);
    expect(ops.get(held.id)?.state).toBe('running');
    expect(ops.get(ids[0])).toBeUndefined();
    expect(ops.list(1).map((o) => o.server)).toEqual(['e']);
    expect(ops.list(10, 'd').map((o) => o.id)).toEqual([ids[2]]);
  });

  it('caps the steps of one operation, keeping the first and the latest', async () => {
    const ops = new OperationStore({ maxSteps: 3 });
    const op = ops.start('drain', 'd1', async (ctx) => {
      for (let i = 0; i < 10; i++) ctx.step(`s${i}`);
    });
    expect((await ops.settled(op.id))?.steps.map((s) => s.message)).toEqual(['s0', 's8', 's9']);
  });
});
