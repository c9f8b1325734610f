import { describe, expect, it } from 'vitest';
import { MemoryClusterStore } from '../../shared/cluster-store/memory-cluster-store.ts';
import { ManualClock } from '../transaction/manual-clock.ts';
import { MediaReaper } from './media-reaper.ts';
import { FakeRelayClient, logger, settle } from './media-test-kit.ts';
import { SessionDeleter } from './session-deleter.ts';

async function setup() {
  const store = new MemoryClusterStore();
  const clock = new ManualClock(0);
  const relays = new Map([
    ['r1', new FakeRelayClient('r1')],
    ['r2', new FakeRelayClient('r2')],
  ]);
  const deleter = new SessionDeleter({ clientOf: (id) => relays.get(id), isUp: () => true, clock, logger });
  const reaper = new MediaReaper({ store, deleter, nodeId: 'n1', clock, logger, sweepIntervalMs: 10_000, concurrency: 2 });
  await store.registerNode('n1', 60_000);
  await store.registerNode('n2', 60_000);
  const session = async (callId: string, nodeId: string, relayId: string) => {
    relays.get(relayId)!.sessions.set(callId, new Set(['ft']));
    await store.putMediaSession({ callId, fromTag: 'ft', relayId, nodeId }, 3_600_000);
  };
  return { store, clock, relays, reaper, session };
}

describe('MediaReaper', () => {
  it("deletes the sessions of reaped nodes on their relays and forgets them; other nodes' stay", async () => {
    const { store, relays, reaper, session } = await setup();
    await session('a', 'dead', 'r1');
    await session('b', 'dead', 'r2');
    await session('c', 'dead', 'r1');
    await session('d', 'n2', 'r1');
    await session('e', 'other-dead', 'r2');
    expect(await reaper.onNodesReaped(['dead', 'n1'])).toBe(3);
    expect((await store.listMediaSessions()).map((s) => s.callId).sort()).toEqual(['d', 'e']);
    expect([...relays.get('r1')!.sessions.keys()]).toEqual(['d']);
    expect([...relays.get('r2')!.sessions.keys()]).toEqual(['e']);
    expect(reaper.stats().reaped).toBe(3);
  });

  it('sweeps sessions whose node has no live lease, never its own or a live node\'s', async () => {
    const { store, clock, relays, reaper, session } = await setup();
    await session('own', 'n1', 'r1');
    await session('live', 'n2', 'r1');
    await session('gone', 'ghost', 'r2');
    reaper.start();
    clock.advance(10_000);
    await settle(10);
    expect((await store.listMediaSessions()).map((s) => s.callId).sort()).toEqual(['live', 'own']);
    expect(relays.get('r2')!.sessions.size).toBe(0);
    expect(relays.get('r2')!.log).toEqual(['delete gone ft']);
    reaper.stop();
  });

  it('leaves the sessions of calls carried on (a dialog record in the store) to the node that carries their BYE', async () => {
    const { store, relays, reaper, session } = await setup();
    await session('carried', 'dead', 'r1');
    await session('plain', 'dead', 'r1');
    await store.putDialog(
      {
        callId: 'carried',
        fromTag: 'ft',
        toTag: 'tt',
        caller: { protocol: 'udp', address: '192.0.2.10', port: 5060 },
        switch: { protocol: 'udp', address: '10.0.0.1', port: 5060, switchId: 'sw1' },
        relayId: 'r1',
        callKey: 'carried|192.0.2.10',
        nodeId: 'dead',
      },
      60_000,
    );
    expect(await reaper.onNodesReaped(['dead'])).toBe(1);
    expect(await reaper.sweep()).toBe(0);
    expect((await store.listMediaSessions()).map((s) => s.callId)).toEqual(['carried']);
    expect([...relays.get('r1')!.sessions.keys()]).toEqual(['carried']);
    await store.removeDialog('carried');
    expect(await reaper.sweep()).toBe(1);
  });

  it('a session on a relay no longer in the registry is still forgotten', async () => {
    const { store, reaper } = await setup();
    await store.putMediaSession({ callId: 'x', fromTag: 'ft', relayId: 'removed', nodeId: 'ghost' }, 60_000);
    expect(await reaper.sweep()).toBe(1);
    expect(await store.listMediaSessions()).toEqual([]);
  });

  it('never rejects when the store is down', async () => {
    const { store, reaper } = await setup();
    await store.close();
    expect(await reaper.sweep()).toBe(0);
    expect(await reaper.onNodesReaped(['dead'])).toBe(0);
  });
});
