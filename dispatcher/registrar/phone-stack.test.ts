/**
 * The phone stack's start-up: a node that starts while the registrar store is down serves phones
 * once the store is back (the cluster secret and the configured users are loaded then), and two
 * nodes of one cluster share the secret, so a flow token made by one is trusted by the other.
 */
import { describe, expect, it } from 'vitest';
import { MemoryClusterStore } from '../../shared/cluster-store/memory-cluster-store.ts';
import { SipfleetError } from '../../shared/errors.ts';
import { parseConfig } from '../../shared/config/load-config.ts';
import { MemoryRegistrarStore } from '../../shared/registrar-store/memory-registrar-store.ts';
import type { RegistrarStore } from '../../shared/registrar-store/registrar-store.ts';
import { CarrierMatcher } from '../admission/carrier-matcher.ts';
import { LocalIdentity } from '../proxy/local-identity.ts';
import { ManualClock } from '../transaction/manual-clock.ts';
import { LISTENERS, logger } from '../transaction/transaction-test-kit.ts';
import type { SipTransportLayer } from '../transport/index.ts';
import { PhoneStack } from './phone-stack.ts';

const CONFIG = parseConfig(
  `node: { id: d1, listen: [udp://192.0.2.100:5060] }\nstore: memory\ncluster:\n  name: main\n  users:\n    - { username: alice, password: pw }\n`,
  { baseDir: '/tmp' },
);

/** A store that is down until `up()` (clusterSecret and every other call reject like Redis would). */
function downable(inner: RegistrarStore): { store: RegistrarStore; up(): void } {
  let down = true;
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (down && prop !== 'close' && prop !== 'onBan') return Promise.reject(new SipfleetError('STORE_ERR_UNAVAILABLE', 'down'));
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store, up: () => (down = false) };
}

function options(store: RegistrarStore) {
  return {
    nodeId: 'd1',
    cluster: CONFIG.cluster,
    store,
    clusterStore: new MemoryClusterStore(),
    identity: new LocalIdentity(LISTENERS),
    transport: {} as SipTransportLayer,
    carriers: new CarrierMatcher([]),
    clock: new ManualClock(),
    logger,
  };
}

describe('PhoneStack start-up', () => {
  it('starts with the store down and loads the secret and the users once it is back', async () => {
    const inner = new MemoryRegistrarStore();
    const { store, up } = downable(inner);
    const stack = await PhoneStack.create(options(store));
    const flow = { protocol: 'udp', address: '203.0.113.5', port: 4000 } as const;
    // Until the store is back its tokens are its own (no other node would trust them).
    const secret = await inner.clusterSecret();
    const peer = new (stack.tokens.constructor as typeof import('./owner-hop.ts').PhoneFlowTokens)(secret);
    expect(peer.decode(stack.tokens.encode('rr', flow, 1), 'rr', 1)).toBeUndefined();
    expect(await inner.getUser('alice')).toBeUndefined();
    up();
    await new Promise((r) => setTimeout(r, 1300));
    expect(peer.decode(stack.tokens.encode('rr', flow, 1), 'rr', 1)).toMatchObject(flow);
    expect((await inner.getUser('alice'))?.ha1Md5).toMatch(/^[0-9a-f]{32}$/);
    await stack.close();
  });

  it('answers lookups for dialled numbers that can never be users without asking the store', async () => {
    const stack = await PhoneStack.create(options(new MemoryRegistrarStore()));
    expect(await stack.lookup('*98')).toBeUndefined();
    expect(await stack.lookup('alice')).toEqual([]);
    expect(await stack.lookup('nobody')).toBeUndefined();
    await stack.close();
  });
});
