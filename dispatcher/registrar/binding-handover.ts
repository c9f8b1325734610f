/**
 * The hand-over of a dead owner's bindings (the node that reaped it runs this once per dead node):
 *
 * - UDP bindings move to a live node, chosen per binding by rendezvous (HRW) hashing over the live
 *   nodes' ids with the binding's `aor` + `key`: deterministic (every node would pick the same
 *   one), spread evenly, and when the set of live nodes changes only the bindings of the node that
 *   left move again. The new owner then pings them from its own socket: a NAT that keys its
 *   pinhole on the remote address alone keeps working; one that does not loses the binding after
 *   the configured misses, as it would have anyway.
 * - Stream bindings (tcp, tls, ws, wss) are dropped: their connection ended with the node.
 *
 * Every change is conditional in the store on the dead node still owning the binding, so a phone
 * that re-registered through a live node meanwhile is left alone.
 */
import type { BindingMove, BindingRef, RegistrarStore } from '../../shared/registrar-store/registrar-store.ts';
import { hashString32, pairHash32 } from '../routing/algorithms/rendezvous-order.ts';

/** Moves + drops per `moveBindings` call. */
export const HANDOVER_BATCH = 1000;

export interface HandoverNode {
  readonly nodeId: string;
  /** The node's internal-hop URI (its lease info, see owner-uri.ts). */
  readonly ownerUri: string;
}

export interface HandOverOptions {
  store: Pick<RegistrarStore, 'bindingsOwnedBy' | 'moveBindings'>;
  deadNodeId: string;
  /** Candidates for the UDP bindings (the dead node itself is never one). */
  liveNodes: readonly HandoverNode[];
}

/** The HRW winner among `nodes` for one binding (undefined when there is no node). */
export function rendezvousOwner<N extends { readonly nodeId: string }>(ref: BindingRef, nodes: readonly N[]): N | undefined {
  return winner(hashString32(`${ref.aor}\n${ref.key}`), nodes.map((n) => ({ node: n, hash: hashString32(n.nodeId) })));
}

function winner<N extends { readonly nodeId: string }>(keyHash: number, nodes: readonly { node: N; hash: number }[]): N | undefined {
  let best: N | undefined;
  let bestScore = -1;
  for (const { node, hash } of nodes) {
    const score = pairHash32(keyHash, hash);
    // Ties (2^-32) go to the lower node id, so the choice never depends on the list's order.
    if (score > bestScore || (score === bestScore && best !== undefined && node.nodeId < best.nodeId)) {
      best = node;
      bestScore = score;
    }
  }
  return best;
}

/**
 * Hand `deadNodeId`'s bindings over: UDP ones to their HRW winner among `liveNodes`, stream ones
 * dropped, in `moveBindings` calls of at most HANDOVER_BATCH items. Without a live node the UDP
 * bindings stay where they are (they expire on their own). Store errors propagate (the caller
 * logs; a later reap finds nothing, but the bindings expire at their own pace).
 */
export async function handOverBindings(opts: HandOverOptions): Promise<{ moved: number; dropped: number }> {
  const { store, deadNodeId } = opts;
  const candidates = opts.liveNodes.filter((n) => n.nodeId !== deadNodeId).map((n) => ({ node: n, hash: hashString32(n.nodeId) }));
  const bindings = await store.bindingsOwnedBy(deadNodeId);
  let moves: BindingMove[] = [];
  let drops: BindingRef[] = [];
  let moved = 0;
  let dropped = 0;
  const flush = async (): Promise<void> => {
    if (moves.length === 0 && drops.length === 0) return;
    const res = await store.moveBindings(deadNodeId, moves, drops);
    moved += res.moved;
    dropped += res.dropped;
    moves = [];
    drops = [];
  };
  for (const b of bindings) {
    if (b.flow.nodeId !== deadNodeId) continue;
    if (b.flow.protocol === 'udp') {
      const to = winner(hashString32(`${b.aor}\n${b.key}`), candidates);
      if (to === undefined) continue;
      moves.push({ aor: b.aor, key: b.key, nodeId: to.nodeId, ownerUri: to.ownerUri });
    } else {
      drops.push({ aor: b.aor, key: b.key });
    }
    if (moves.length + drops.length >= HANDOVER_BATCH) await flush();
  }
  await flush();
  return { moved, dropped };
}
