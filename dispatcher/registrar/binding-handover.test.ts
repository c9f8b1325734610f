import { describe, expect, it } from 'vitest';
import type { BindingFlow, BindingMove, BindingRef, FlowProtocol } from '../../shared/registrar-store/registrar-store.ts';
import { MemoryRegistrarStore } from '../../shared/registrar-store/memory-registrar-store.ts';
import { HANDOVER_BATCH, handOverBindings, rendezvousOwner } from './binding-handover.ts';

const DEAD = 'dead';
const NODES = [
  { nodeId: 'n1', ownerUri: 'sip:192.0.2.11:5060' },
  { nodeId: 'n2', ownerUri: 'sip:192.0.2.12:5060' },
  { nodeId: 'n3', ownerUri: 'sip:192.0.2.13:5060' },
];

let cseq = 0;

function flow(i: number, protocol: FlowProtocol = 'udp', nodeId = DEAD): BindingFlow {
  return {
    nodeId,
    protocol,
    address: `198.51.100.${(i % 250) + 1}`,
    port: 10_000 + i,
    connectionId: protocol === 'udp' ? undefined : i + 1,
    localAddress: '192.0.2.19',
    localPort: 5060,
    ownerUri: 'sip:192.0.2.19:5060',
  };
}

async function register(store: MemoryRegistrarStore, aor: string, f: BindingFlow, key = `sip:${aor}@${f.address}:${f.port}`): Promise<BindingRef> {
  const res = await store.register({
    aor,
    callId: `c-${aor}-${++cseq}`,
    cseq,
    removeAll: false,
    upserts: [{ key, contact: `sip:${aor}@${f.address}:${f.port}`, q: 1, path: [], flow: f, expires: 3600 }],
    removals: [],
    maxContacts: 10,
  });
  if (!res.ok) throw new Error(res.reason);
  return { aor, key };
}

describe('handOverBindings', () => {
  it('moves 3000 UDP bindings to their rendezvous winner, spread evenly over 3 live nodes', async () => {
    const store = new MemoryRegistrarStore();
    const refs: BindingRef[] = [];
    for (let i = 0; i < 3000; i++) refs.push(await register(store, `u${i}`, flow(i)));
    await register(store, 'other', flow(9999, 'udp', 'n2')); // not the dead node's
    const res = await handOverBindings({ store, deadNodeId: DEAD, liveNodes: NODES });
    expect(res).toEqual({ moved: 3000, dropped: 0 });
    expect(await store.countBindings(DEAD)).toBe(0);
    const counts = await Promise.all(NODES.map((n) => store.countBindings(n.nodeId)));
    expect(counts[0] + counts[1] + counts[2]).toBe(3001);
    for (const c of counts) {
      expect(c).toBeGreaterThan(850);
      expect(c).toBeLessThan(1150);
    }
    // Each one went to its HRW winner, named with the winner's URI; the order of the list does not matter.
    const reversed = [...NODES].reverse();
    for (const ref of refs.slice(0, 300)) {
      const [b] = await store.lookup(ref.aor);
      const winner = rendezvousOwner(ref, NODES)!;
      expect(rendezvousOwner(ref, reversed)).toBe(winner);
      expect(b.flow).toMatchObject({ nodeId: winner.nodeId, ownerUri: winner.ownerUri, protocol: 'udp', address: flow(Number(ref.aor.slice(1))).address });
    }
  });

  it('moves only the bindings of a node that left when the live set shrinks (rendezvous property)', () => {
    const refs = Array.from({ length: 1000 }, (_, i) => ({ aor: `u${i}`, key: `sip:u${i}@x` }));
    const without3 = NODES.slice(0, 2);
    for (const ref of refs) {
      const before = rendezvousOwner(ref, NODES)!;
      const after = rendezvousOwner(ref, without3)!;
      if (before.nodeId !== 'n3') expect(after).toBe(before);
    }
    expect(rendezvousOwner(refs[0], [])).toBeUndefined();
  });

  it('drops stream bindings (their connection died with the node) and keeps the batches within HANDOVER_BATCH', async () => {
    const inner = new MemoryRegistrarStore();
    const protocols: FlowProtocol[] = ['udp', 'tcp', 'tls', 'ws', 'wss'];
    for (let i = 0; i < 2500; i++) await register(inner, `s${i}`, flow(i, protocols[i % 5]));
    const calls: Array<{ moves: number; drops: number }> = [];
    const store = {
      bindingsOwnedBy: (n: string) => inner.bindingsOwnedBy(n),
      moveBindings: (from: string, moves: readonly BindingMove[], drops: readonly BindingRef[]) => {
        calls.push({ moves: moves.length, drops: drops.length });
        return inner.moveBindings(from, moves, drops);
      },
    };
    const res = await handOverBindings({ store, deadNodeId: DEAD, liveNodes: NODES });
    expect(res).toEqual({ moved: 500, dropped: 2000 });
    expect(calls).toHaveLength(3);
    for (const c of calls) expect(c.moves + c.drops).toBeLessThanOrEqual(HANDOVER_BATCH);
    expect(await inner.countBindings()).toBe(500);
    expect(await inner.lookup('s1')).toEqual([]); // tcp
    expect((await inner.lookup('s0'))[0].flow.nodeId).not.toBe(DEAD);
  });

  it('leaves alone a binding re-registered through a live node meanwhile', async () => {
    const inner = new MemoryRegistrarStore();
    const udp = await register(inner, 'alice', flow(1));
    const tcp = await register(inner, 'bob', flow(2, 'tcp'));
    const store = {
      // The phones re-register through n3 between the read and the moves.
      bindingsOwnedBy: async (n: string) => {
        const snapshot = await inner.bindingsOwnedBy(n);
        await register(inner, 'alice', { ...flow(11, 'udp', 'n3'), ownerUri: NODES[2].ownerUri }, udp.key);
        await register(inner, 'bob', { ...flow(12, 'tcp', 'n3'), ownerUri: NODES[2].ownerUri }, tcp.key);
        return snapshot;
      },
      moveBindings: inner.moveBindings.bind(inner),
    };
    const res = await handOverBindings({ store, deadNodeId: DEAD, liveNodes: NODES.slice(0, 2) });
    expect(res).toEqual({ moved: 0, dropped: 0 });
    expect((await inner.lookup('alice'))[0].flow).toMatchObject({ nodeId: 'n3', address: flow(11).address });
    expect((await inner.lookup('bob'))[0].flow).toMatchObject({ nodeId: 'n3', protocol: 'tcp' });
  });

  it('without a live node keeps the UDP bindings (they expire) and still drops the streams; never picks the dead node', async () => {
    const store = new MemoryRegistrarStore();
    await register(store, 'carol', flow(3));
    await register(store, 'dave', flow(4, 'ws'));
    expect(await handOverBindings({ store, deadNodeId: DEAD, liveNodes: [{ nodeId: DEAD, ownerUri: 'sip:x' }] })).toEqual({ moved: 0, dropped: 1 });
    expect((await store.lookup('carol'))[0].flow.nodeId).toBe(DEAD);
    expect(await store.lookup('dave')).toEqual([]);
    expect(await handOverBindings({ store, deadNodeId: 'nobody', liveNodes: NODES })).toEqual({ moved: 0, dropped: 0 });
  });
});
