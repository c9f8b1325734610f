/**
 * The drain hand-off's tokens (a call's original source, signed with the cluster secret, bound to
 * the Call-ID, short-lived) and the service around them (the secret loaded and retried, the live
 * peers from the leases).
 */
import { describe, expect, it } from 'vitest';
import type { NodeLease } from '../../shared/cluster-store/cluster-store.ts';
import { logger } from '../transaction/transaction-test-kit.ts';
import { DrainHandoff, HANDOFF_TOKEN_TTL_S, HandoffTokens, WORKER_OF_INFO } from './drain-handoff.ts';

const NOW = 1_750_000_000;
const SOURCE = { protocol: 'udp', address: '198.51.100.7', port: 5071 } as const;

function lease(nodeId: string, sip?: string): NodeLease {
  return { nodeId, epoch: 1, expiresAtMs: 0, info: sip === undefined ? {} : { sip } };
}

describe('hand-off tokens', () => {
  const tokens = new HandoffTokens('cluster-secret');

  it('round-trip the source for the Call-ID they were made for', () => {
    const t = tokens.encode(SOURCE, 'call-1@x', NOW);
    expect(t).toMatch(/^od-[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{16}$/);
    expect(HandoffTokens.looksLike(t)).toBe(true);
    expect(tokens.decode(t, 'call-1@x', NOW + 5)).toEqual(SOURCE);
    // Another node of the cluster (same secret) reads it too; IPv6 sources travel as well.
    const v6 = { protocol: 'udp', address: '2001:db8::7', port: 5060 } as const;
    expect(new HandoffTokens('cluster-secret').decode(tokens.encode(v6, 'c', NOW), 'c', NOW)).toEqual(v6);
  });

  it('refuse a forged, altered, foreign, expired or misapplied token', () => {
    const t = tokens.encode(SOURCE, 'call-1@x', NOW);
    // Signed with another secret (a stranger, another cluster).
    expect(tokens.decode(new HandoffTokens('not-the-secret').encode(SOURCE, 'call-1@x', NOW), 'call-1@x', NOW)).toBeUndefined();
    // Another source under the same signature.
    const dot = t.indexOf('.');
    const other = Buffer.from(`udp|203.0.113.9|5060|${NOW.toString(36)}`, 'latin1').toString('base64url');
    expect(tokens.decode(`od-${other}${t.slice(dot)}`, 'call-1@x', NOW)).toBeUndefined();
    // Made for another call.
    expect(tokens.decode(t, 'call-2@x', NOW)).toBeUndefined();
    // Too old, or from too far in the future.
    expect(tokens.decode(t, 'call-1@x', NOW + HANDOFF_TOKEN_TTL_S + 1)).toBeUndefined();
    expect(tokens.decode(t, 'call-1@x', NOW - HANDOFF_TOKEN_TTL_S - 1)).toBeUndefined();
    expect(tokens.decode(t, 'call-1@x', NOW + HANDOFF_TOKEN_TTL_S)).toEqual(SOURCE);
    // Not tokens at all.
    for (const junk of [undefined, '', 'od-', 'od-abc', 'od-abc.def', `od-${'a'.repeat(300)}.x`, 'oh-habc.def', 'alice']) {
      expect(tokens.decode(junk, 'call-1@x', NOW)).toBeUndefined();
    }
    expect(HandoffTokens.looksLike('oh-habc.def')).toBe(false);
  });
});

describe('DrainHandoff', () => {
  it('knows the live peers from the leases (not itself, not nodes without an internal-hop URI) and picks one per Call-ID', async () => {
    const leases = [lease('d3', 'sip:192.0.2.103:5060'), lease('d1', 'sip:192.0.2.101:5060'), lease('d2', 'sip:192.0.2.102:5060'), lease('d4')];
    const h = new DrainHandoff({ nodeId: 'd1', store: { liveNodes: async () => leases }, secret: { clusterSecret: async () => 's' }, logger });
    await h.start();
    try {
      expect(h.ready).toBe(true);
      expect(h.peers).toEqual(['sip:192.0.2.102:5060', 'sip:192.0.2.103:5060']);
      const picks = new Map<string, number>();
      for (let i = 0; i < 200; i++) {
        const p = h.peer(`call-${i}@x`)!;
        expect(h.peer(`call-${i}@x`)).toBe(p); // stable for a Call-ID (retransmissions, CANCEL)
        picks.set(p, (picks.get(p) ?? 0) + 1);
      }
      expect([...picks.values()].every((n) => n > 60)).toBe(true);
      // The token it makes, it reads.
      const t = h.encode(SOURCE, 'c', NOW)!;
      expect(h.decode(t, 'c', NOW)).toEqual(SOURCE);
      expect(h.decode(t, 'other', NOW)).toBe('invalid');
      expect(h.decode('ft-1.abc', 'c', NOW)).toBeUndefined();
    } finally {
      await h.stop();
    }
  });

  it('as a worker, does not count its sibling workers as peers (the whole node drains at once)', async () => {
    const worker = (nodeId: string, sip: string, of: string): NodeLease => ({ ...lease(nodeId, sip), info: { sip, [WORKER_OF_INFO]: of } });
    const leases = [worker('d1-w0', 'sip:192.0.2.101:5160', 'd1'), worker('d1-w1', 'sip:192.0.2.101:5161', 'd1'), worker('d2-w0', 'sip:192.0.2.102:5160', 'd2'), lease('d3', 'sip:192.0.2.103:5060')];
    const h = new DrainHandoff({ nodeId: 'd1-w0', store: { liveNodes: async () => leases }, secret: { clusterSecret: async () => 's' }, logger, workerOf: 'd1' });
    await h.start();
    try {
      expect(h.peers).toEqual(['sip:192.0.2.102:5160', 'sip:192.0.2.103:5060']);
    } finally {
      await h.stop();
    }
  });

  it('without the cluster secret hands nothing off and cannot judge a token; it retries and closes a store opened for it once loaded', async () => {
    let fail = true;
    let closed = 0;
    const secret = {
      clusterSecret: async () => {
        if (fail) throw new Error('store down');
        return 's';
      },
      close: async () => {
        closed++;
      },
    };
    const store = { liveNodes: async () => [lease('d2', 'sip:192.0.2.102:5060')] };
    const h = new DrainHandoff({ nodeId: 'd1', store, secret, closeSecretSource: true, logger, refreshMs: 60_000 });
    await h.start();
    try {
      expect(h.ready).toBe(false);
      expect(h.peers).toEqual(['sip:192.0.2.102:5060']);
      expect(h.peer('c')).toBeUndefined();
      expect(h.encode(SOURCE, 'c', NOW)).toBeUndefined();
      expect(h.decode(new HandoffTokens('s').encode(SOURCE, 'c', NOW), 'c', NOW)).toBe('unavailable');
      expect(closed).toBe(0);
      fail = false;
      await h.refresh();
      expect(h.ready).toBe(true);
      expect(h.peer('c')).toBe('sip:192.0.2.102:5060');
      expect(closed).toBe(1);
    } finally {
      await h.stop();
    }
    expect(closed).toBe(1);
  });

  it('keeps the last peers when the store cannot be read', async () => {
    let down = false;
    const store = {
      liveNodes: async () => {
        if (down) throw new Error('down');
        return [lease('d2', 'sip:192.0.2.102:5060')];
      },
    };
    const h = new DrainHandoff({ nodeId: 'd1', store, secret: { clusterSecret: async () => 's' }, logger, refreshMs: 60_000 });
    await h.start();
    down = true;
    await h.refresh();
    expect(h.peers).toEqual(['sip:192.0.2.102:5060']);
    await h.stop();
  });
});
