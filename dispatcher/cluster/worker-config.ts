/**
 * One worker's copy of the node's config (`node.workers` > 1, docs/workers.md).
 *
 * Every worker is a cluster node of its own, `<id>-w<k>`: its calls, leases and bindings are its
 * own, so a worker that dies is reaped like a dead node (its channels released, its phones handed
 * over) while its siblings go on. What the workers share is the node's addresses:
 *
 * - the `node.listen` sockets, bound by every worker with SO_REUSEPORT: the kernel spreads
 *   datagrams by 4-tuple (a carrier's INVITE, its retransmissions, CANCEL and ACK, all from one
 *   source, reach one worker) and connections by accept;
 * - each worker also binds a UDP port of its own, `workerPortBase + k`, listed FIRST so it is the
 *   listener requests leave from: our Via names it (responses come straight back to the worker
 *   that holds the client transaction, RFC 3261 §18.2.2), so do the internal-hop URI and the
 *   Record-Route facing the switch (RFC 5658 double record-routing: the carrier's side names the
 *   shared port, the switch's side the worker's). An in-dialog request from the carrier that the
 *   kernel gives to another worker carries the owner's port in its Route set, and that worker
 *   loose-routes it there (RFC 3261 §16.4) like any proxy hop.
 *
 * `node.http` moves up by `k` per worker (each worker serves its own /metrics and /readyz).
 */
import type { ListenAddress, NodeConfig } from '../../shared/config/config-types.ts';
import { workerNodeId } from '../../shared/config/validate-node.ts';

export function workerNodeConfig(config: NodeConfig, index: number): NodeConfig {
  const node = config.node;
  if (!Number.isInteger(index) || index < 0 || index >= node.workers) {
    throw new RangeError(`worker index ${index} is not one of node.workers (0-${node.workers - 1})`);
  }
  const host = (node.listen.find((l) => l.transport === 'udp') ?? node.listen[0]).host;
  const port = node.workerPortBase + index;
  const own: ListenAddress = { transport: 'udp', host, port, url: `udp://${host.includes(':') ? `[${host}]` : host}:${port}` };
  return {
    ...config,
    node: {
      ...node,
      id: workerNodeId(node.id, index),
      listen: [own, ...node.listen.map((l) => ({ ...l, reusePort: true }))],
      ...(node.http === undefined ? {} : { http: { ...node.http, port: node.http.port + index } }),
      workers: 1,
      worker: { of: node.id, index, count: node.workers, portBase: node.workerPortBase },
    },
  };
}
