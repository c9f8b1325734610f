import { describe, expect, it } from 'vitest';
import type { ClusterStore, NodeLease, ReapResult } from '../../shared/cluster-store/cluster-store.ts';
import { createLogger } from '../../shared/log.ts';
import { ManualClock } from '../transaction/manual-clock.ts';
import { settle } from '../transaction/transaction-test-kit.ts';
import { LocalCalls } from './local-calls.ts';
import { NodeMembership, type NodeMembershipOptions } from './node-membership.ts';

const logger = createLogger({ test: true });

/** Just what NodeMembership calls; `reaps` are handed out one per reap() (then none). */
function fakeStore(reaps: ReapResult[]): { store: ClusterStore; reapCalls: () => number } {
  let reapCalls = 0;
  const store = {
    connected: true,
    onConnectionChange: () => () => {},
    registerNode: async (nodeId: string): Promise<NodeLease> => ({ nodeId, epoch: 1, expiresAtMs: 0 }),
    heartbeat: async () => 'ok' as const,
    deregisterNode: async () => {},
    liveNodes: async (): Promise<NodeLease[]> => [{ nodeId: 'd1', epoch: 1, expiresAtMs: 0 }],
    resyncCalls: async () => 0,
    release: async () => true,
    reap: async (): Promise<ReapResult> => {
      reapCalls++;
      return reaps.shift() ?? { nodes: [], calls: 0 };
    },
  };
  return { store: store as unknown as ClusterStore, reapCalls: () => reapCalls };
}

async function start(reaps: ReapResult[], onReaped?: NodeMembershipOptions['onReaped']) {
  const clock = new ManualClock();
  const { store, reapCalls } = fakeStore(reaps);
  const membership = new NodeMembership({ store, nodeId: 'd1', ttlMs: 3000, reapIntervalMs: 1000, clock, logger, localCalls: new LocalCalls(), onReaped });
  await membership.start();
  const reapOnce = async (): Promise<void> => {
    clock.advance(1000);
    await settle();
  };
  return { membership, reapOnce, reapCalls };
}

describe('NodeMembership onReaped', () => {
  it('hands the nodes this node reaped to the hook, and only when there are some', async () => {
    const heard: string[][] = [];
    const m = await start([{ nodes: [], calls: 3 }, { nodes: ['d2', 'd3'], calls: 0 }, { nodes: ['d4'], calls: 1 }], (ids) => {
      heard.push([...ids]);
    });
    await m.reapOnce();
    expect(heard).toEqual([]);
    await m.reapOnce();
    expect(heard).toEqual([['d2', 'd3']]);
    await m.reapOnce();
    expect(heard).toEqual([['d2', 'd3'], ['d4']]);
    expect(m.membership.liveNodeCount).toBe(1);
    await m.membership.stop();
  });

  it('logs a failing hook (thrown or rejected) and keeps reaping', async () => {
    let calls = 0;
    const m = await start([{ nodes: ['d2'], calls: 0 }, { nodes: ['d3'], calls: 0 }, { nodes: ['d4'], calls: 0 }], (ids) => {
      calls++;
      if (ids[0] === 'd2') throw new Error('hand-over failed'); // synchronously
      if (ids[0] === 'd3') return Promise.reject(new Error('store down'));
      return undefined;
    });
    await m.reapOnce();
    await m.reapOnce();
    await m.reapOnce();
    expect(calls).toBe(3);
    expect(m.reapCalls()).toBe(3);
    await m.membership.stop();
  });

  it('waits for the hook before the next reap', async () => {
    let release: () => void = () => {};
    const m = await start([{ nodes: ['d2'], calls: 0 }], () => new Promise<void>((resolve) => (release = resolve)));
    await m.reapOnce();
    await m.reapOnce();
    expect(m.reapCalls()).toBe(1);
    release();
    await settle();
    await m.reapOnce();
    expect(m.reapCalls()).toBe(2);
    await m.membership.stop();
  });
});
