import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MemoryClusterStore } from '../shared/cluster-store/memory-cluster-store.ts';
import { digestHa1 } from '../shared/config/digest-ha1.ts';
import { MemoryRegistrarStore } from '../shared/registrar-store/memory-registrar-store.ts';
import { parseConfig } from '../shared/config/load-config.ts';
import { startOpsApi } from './server.ts';

const TOKEN = 'server-test-token-0123456789';
const CONFIG = parseConfig(
  `
node: { id: d1, listen: [udp://127.0.0.1:5060] }
cluster:
  name: main
  realm: sip.example.com
  switches: [{ id: sw1, address: 127.0.0.21:5060 }]
  users:
    - { username: alice, password: alice-secret-pw, channels: 2 }
    - { username: bob, ha1: 0123456789abcdef0123456789abcdef }
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

  it('seeds the rtp relay registry from cluster.rtp-relays, keeping relays the store already holds', async () => {
    const config = parseConfig(
      `
node: { id: d1, listen: [udp://127.0.0.1:5060] }
cluster:
  name: main
  rtp-relays:
    - { id: r1, ng: 127.0.0.31:2223, zone: eu, weight: 2 }
    - { id: r2, ng: "[::1]:2224", state: draining }
ops:
  tokens: [{ name: t, role: viewer, sha256: ${createHash('sha256').update(TOKEN).digest('hex')} }]
`,
      { baseDir: '/' },
    );
    const store = new MemoryClusterStore();
    await store.putRelay({ id: 'r2', host: '127.0.0.32', port: 2223, weight: 5, state: 'disabled' });
    const api = await startOpsApi({ config, listen: { host: '127.0.0.1', port: 0 }, store });
    expect(await store.listRelays()).toEqual([
      { id: 'r1', host: '127.0.0.31', port: 2223, weight: 2, state: 'active', zone: 'eu' },
      { id: 'r2', host: '127.0.0.32', port: 2223, weight: 5, state: 'disabled' },
    ]);
    const res = await fetch(`${api.url}/v1/rtp-relays`, { headers });
    expect(((await res.json()) as { rtpRelays: { id: string; ng: string }[] }).rtpRelays.map((r) => [r.id, r.ng])).toEqual([
      ['r1', '127.0.0.31:2223'],
      ['r2', '127.0.0.32:2223'],
    ]);
    await api.close();
    await store.close();
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

  it('seeds the registrar store with the config users (HA1s, cluster realm), keeping existing ones', async () => {
    const api = await startOpsApi({ config: CONFIG, listen: { host: '127.0.0.1', port: 0 } });
    const res = await fetch(`${api.url}/v1/users`, { headers });
    expect(await res.json()).toEqual({
      users: [
        { username: 'alice', realm: 'sip.example.com', cps: null, channels: 2, zone: null, algorithms: ['SHA-256', 'MD5'] },
        { username: 'bob', realm: 'sip.example.com', cps: null, channels: null, zone: null, algorithms: ['MD5'] },
      ],
    });
    await api.close();

    const registrar = new MemoryRegistrarStore();
    await registrar.putUser({ username: 'bob', realm: 'sip.example.com', ha1Md5: 'f'.repeat(32), cps: 1 });
    const api2 = await startOpsApi({ config: CONFIG, listen: { host: '127.0.0.1', port: 0 }, registrarStore: registrar });
    expect(await registrar.getUser('alice')).toEqual({
      username: 'alice',
      realm: 'sip.example.com',
      ha1Md5: digestHa1('md5', 'alice', 'sip.example.com', 'alice-secret-pw'),
      ha1Sha256: digestHa1('sha256', 'alice', 'sip.example.com', 'alice-secret-pw'),
      channels: 2,
    });
    expect(await registrar.getUser('bob')).toEqual({ username: 'bob', realm: 'sip.example.com', ha1Md5: 'f'.repeat(32), cps: 1 });
    await api2.close();
    // A given registrar store is left open.
    expect(await registrar.listUsers()).toHaveLength(2);
    await registrar.close();
  });
});
