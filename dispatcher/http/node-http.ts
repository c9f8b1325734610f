/**
 * Node-local HTTP endpoints for load balancers and Prometheus (`node.http`, docs/ha.md):
 * `GET /healthz` (process alive), `GET /readyz` (200 while serving, 503 otherwise: warming up,
 * not connected to the store under fail-closed, shutting down or draining; the body says which),
 * `GET /leader` (200 on the node that holds the floating IP, 403 on the others; without
 * `node.vip`, 200 while ready: a lone node leads itself), `GET /metrics` (Prometheus text
 * format). Anything else is 404; non-GET is 405.
 */
import { createServer, type Server } from 'node:http';
import type { DispatcherNode } from '../dispatcher-node.ts';
import { renderMetrics } from '../observability/metrics.ts';

export interface NodeHttp {
  readonly address: { host: string; port: number };
  close(): Promise<void>;
}

export async function startNodeHttp(at: { host: string; port: number }, node: DispatcherNode, version: string): Promise<NodeHttp> {
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'application/json' }).end('{"code":"METHOD_NOT_ALLOWED","message":"use GET"}');
      return;
    }
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok', node: node.id, version, pid: process.pid }));
    } else if (path === '/readyz') {
      const ready = node.ready;
      const warmingUp = node.warmUp.pending();
      const body = { ready, node: node.id, draining: node.draining, storeConnected: node.store.connected, ...(warmingUp.length > 0 ? { warmingUp } : {}) };
      res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    } else if (path === '/leader') {
      const vip = node.vip;
      const body = vip === undefined ? { leader: node.ready, node: node.id } : { ...vip.status(), node: node.id };
      res.writeHead(body.leader ? 200 : 403, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    } else if (path === '/metrics') {
      renderMetrics(node).then(
        (text) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(text),
        () => res.writeHead(500, { 'content-type': 'application/json' }).end('{"code":"METRICS_FAILED","message":"metrics could not be rendered"}'),
      );
    } else {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"code":"NOT_FOUND","message":"no such endpoint"}');
    }
  });
  server.headersTimeout = 5_000;
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : at.port;
  return {
    address: { host: at.host, port },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
