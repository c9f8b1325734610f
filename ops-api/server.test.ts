import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MemoryClusterStore } from '../shared/cluster-store/memory-cluster-store.ts';
import { parseConfig } from '../shared/config/load-config.ts';
import { startOpsApi } from './server.ts';

const TOKEN = 'server-test-token-0123456789';
const CONFIG = parseConfig(
  `
node: { id: d1, listen: [udp://127.0.0.1:5060] }
cluster:
  name: main
  switches: [{ id: sw1, address: 127.0.0.21:5060 }]
ops:
  tokens: [{ name: t, role: viewer, sha256: ${createHash('sha256').update(TOKEN).digest('hex')} }]
`,
  { baseDir: '/' },
);
const headers = { authorization: `Bearer ${TOKEN}` };

describe('startOpsApi', () => {
  it('listens on loopback, seeds the registry from the config and closes gracefully', async () => {
    const api = await startOpsApi({ config: CONFIG, listen: { host: '127.0.0.1', port: 0 } });
    expect(api.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await fetch(`${api.url}/healthz`)).status).toBe(200);
    const res = await fetch(`${api.url}/v1/servers`, { headers });
    expect(((await res.json()) as { servers: { id: string }[] }).servers.map((s) => s.id)).toEqual(['sw1']);
    await api.close();
    await api.closed;
    await expect(fetch(`${api.url}/healthz`)).rejects.toThrow();
  });

  it('answers 503 OPS_ERR_STORE_UNAVAILABLE when the store fails, and leaves a given store open', async () => {
    const store = new MemoryClusterStore();
    const api = await startOpsApi({ config: CONFIG, listen: { host: '127.0.0.1', port: 0 }, store });
    await store.close();
    const res = await fetch(`${api.url}/v1/servers`, { headers });
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ code: 'OPS_ERR_STORE_UNAVAILABLE', message: 'the cluster store is unreachable; try again' });
    expect((await fetch(`${api.url}/readyz`)).status).toBe(503);
    await api.close();
  });
});
