import { afterEach, describe, expect, it } from 'vitest';
import type { DispatcherNode } from '../dispatcher-node.ts';
import type { VipStatus } from '../ha/vip-manager.ts';
import { startNodeHttp, type NodeHttp } from './node-http.ts';

interface FakeNode {
  id: string;
  ready: boolean;
  draining: boolean;
  store: { connected: boolean };
  warmUp: { pending(): string[] };
  vip: { status(): VipStatus } | undefined;
}

let http: NodeHttp | undefined;
afterEach(async () => {
  await http?.close();
  http = undefined;
});

async function serve(node: FakeNode): Promise<(path: string) => Promise<{ status: number; body: Record<string, unknown> }>> {
  http = await startNodeHttp({ host: '127.0.0.1', port: 0 }, node as unknown as DispatcherNode, '1.2.3');
  const base = `http://127.0.0.1:${http.address.port}`;
  return async (path) => {
    const res = await fetch(`${base}${path}`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
}

function fakeNode(extra: Partial<FakeNode> = {}): FakeNode {
  return { id: 'd1', ready: true, draining: false, store: { connected: true }, warmUp: { pending: () => [] }, vip: undefined, ...extra };
}

describe('node HTTP endpoints', () => {
  it('/healthz is 200 while the process runs; /readyz follows ready and says why not', async () => {
    const node = fakeNode({ ready: false, warmUp: { pending: () => ['probes of sw1'] } });
    const get = await serve(node);
    expect(await get('/healthz')).toEqual({ status: 200, body: { status: 'ok', node: 'd1', version: '1.2.3', pid: process.pid } });
    expect(await get('/readyz')).toEqual({ status: 503, body: { ready: false, node: 'd1', draining: false, storeConnected: true, warmingUp: ['probes of sw1'] } });
    node.warmUp = { pending: () => [] };
    node.ready = true;
    expect(await get('/readyz')).toEqual({ status: 200, body: { ready: true, node: 'd1', draining: false, storeConnected: true } });
    Object.assign(node, { ready: false, draining: true });
    expect(await get('/readyz')).toMatchObject({ status: 503, body: { ready: false, draining: true } });
    Object.assign(node, { draining: false, store: { connected: false } });
    expect(await get('/readyz')).toMatchObject({ status: 503, body: { ready: false, storeConnected: false } });
  });

  it('/leader without node.vip: 200 while ready (a lone node leads itself), else 403', async () => {
    const node = fakeNode();
    const get = await serve(node);
    expect(await get('/leader')).toEqual({ status: 200, body: { leader: true, node: 'd1' } });
    node.ready = false;
    expect(await get('/leader')).toEqual({ status: 403, body: { leader: false, node: 'd1' } });
  });

  it('/leader with node.vip: 200 on the holder with its epoch, 403 on the standby with the holder', async () => {
    let status: VipStatus = { leader: true, vip: '198.51.100.10/24', priority: 200, state: 'active', epoch: 7, readyChecks: 3 };
    const get = await serve(fakeNode({ vip: { status: () => status } }));
    expect(await get('/leader')).toEqual({ status: 200, body: { leader: true, vip: '198.51.100.10/24', priority: 200, state: 'active', epoch: 7, readyChecks: 3, node: 'd1' } });
    status = { leader: false, vip: '198.51.100.10/24', priority: 100, state: 'standby', holder: 'd2', readyChecks: 5 };
    expect(await get('/leader')).toEqual({ status: 403, body: { leader: false, vip: '198.51.100.10/24', priority: 100, state: 'standby', holder: 'd2', readyChecks: 5, node: 'd1' } });
    expect((await fetch(`http://127.0.0.1:${http!.address.port}/leader`, { method: 'POST' })).status).toBe(405);
  });
});
