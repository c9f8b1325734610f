/**
 * Unknown sources (cluster-store issue, point 6): with carriers configured, a new request from an
 * address that is no carrier and no known peer gets 403 (or silence) and never reaches a switch;
 * a carrier's request carries its carrier id into admission.
 */
import { describe, expect, it } from 'vitest';
import { parseCidr } from '../../shared/config/cidr.ts';
import { CarrierMatcher } from '../admission/carrier-matcher.ts';
import { CARRIER, request } from '../transaction/transaction-test-kit.ts';
import { proxyHarness, sentRequests, statusesTo, SW1, SW1_FLOW, SW2 } from './proxy-test-kit.ts';

const carriers = new CarrierMatcher([{ id: 'acme', sources: [parseCidr('198.51.100.0/24')], selection: 'round-robin' }]);
const STRANGER = { protocol: 'udp' as const, remoteAddress: '203.0.113.9', remotePort: 5060 };

describe('requests from unknown sources', () => {
  it('get 403 Forbidden (Unknown Source) and never reach a switch', () => {
    const h = proxyHarness({ carriers });
    h.transport.inject(request({ viaHost: '203.0.113.9:5060' }), STRANGER);
    expect(statusesTo(h, { address: '203.0.113.9' })).toEqual([403]);
    expect(h.transport.sentTo({ address: '203.0.113.9' })[0].text).toContain('403 Forbidden (Unknown Source)');
    expect(sentRequests(h, SW1, 'INVITE')).toHaveLength(0);
    expect(sentRequests(h, SW2, 'INVITE')).toHaveLength(0);
    expect(h.admission.admits).toHaveLength(0);
    expect(h.proxy.stats().unknownSources).toBe(1);
  });

  it('are dropped silently when configured to (no 100 Trying either)', () => {
    const h = proxyHarness({ carriers, unknownSources: 'drop' });
    h.transport.inject(request({ viaHost: '203.0.113.9:5060' }), STRANGER);
    expect(h.transport.sentTo({ address: '203.0.113.9' })).toHaveLength(0);
    expect(sentRequests(h, SW1, 'INVITE')).toHaveLength(0);
    expect(h.layer.stats().serverTransactions).toBe(0);
  });

  it('do not include a carrier: its INVITE is admitted with its carrier id', async () => {
    const h = proxyHarness({ carriers });
    h.transport.inject(request(), CARRIER);
    await new Promise((r) => setImmediate(r));
    expect(h.admission.admits.map((a) => a.carrierId)).toEqual(['acme']);
    expect(sentRequests(h, SW1, 'INVITE')).toHaveLength(1);
  });

  it('do not include a switch (a known peer) sending a new request', async () => {
    const h = proxyHarness({ carriers });
    h.transport.inject(request({ method: 'MESSAGE', viaHost: '192.0.2.21:5060' }), SW1_FLOW);
    await new Promise((r) => setImmediate(r));
    expect(statusesTo(h, { address: '192.0.2.21' })).not.toContain(403);
  });

  it('are not checked when no carrier is configured (single-node default)', async () => {
    const h = proxyHarness();
    h.transport.inject(request({ viaHost: '203.0.113.9:5060' }), STRANGER);
    await new Promise((r) => setImmediate(r));
    expect(statusesTo(h, { address: '203.0.113.9' })).toEqual([100]);
  });
});
