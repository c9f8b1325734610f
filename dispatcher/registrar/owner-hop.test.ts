import { describe, expect, it } from 'vitest';
import { HOP_TOKEN_TTL_S, PhoneFlowTokens } from './owner-hop.ts';

const UDP = { protocol: 'udp', address: '203.0.113.7', port: 40123 } as const;
const TLS = { protocol: 'tls', address: '2001:db8::5', port: 5061, connectionId: 4711 } as const;

describe('PhoneFlowTokens', () => {
  it('round-trips UDP and stream flows, across nodes sharing the cluster secret', () => {
    const a = new PhoneFlowTokens('s3cret');
    const b = new PhoneFlowTokens('s3cret');
    const now = 1_800_000_000;
    expect(b.decode(a.encode('hop', UDP, now), 'hop', now + 5)).toEqual({ ...UDP, connectionId: undefined });
    expect(b.decode(a.encode('rr', TLS, now), 'rr', now + 86_400)).toEqual(TLS);
  });

  it('refuses another secret, the other kind, a tampered payload and an old hop token', () => {
    const a = new PhoneFlowTokens('s3cret');
    const now = 1_800_000_000;
    const hop = a.encode('hop', UDP, now);
    expect(new PhoneFlowTokens('other').decode(hop, 'hop', now)).toBeUndefined();
    expect(a.decode(hop, 'rr', now)).toBeUndefined();
    expect(a.decode(a.encode('rr', UDP, now), 'hop', now)).toBeUndefined();
    expect(a.decode(hop, 'hop', now + HOP_TOKEN_TTL_S + 1)).toBeUndefined();
    const forged = a.encode('rr', { ...UDP, address: '198.51.100.1' }, now);
    const original = a.encode('rr', UDP, now);
    // Payload of one, signature of the other.
    const mixed = forged.slice(0, forged.indexOf('.')) + original.slice(original.indexOf('.'));
    expect(a.decode(mixed, 'rr', now)).toBeUndefined();
    expect(a.decode('oh-rgarbage', 'rr', now)).toBeUndefined();
    expect(a.decode(undefined, 'rr', now)).toBeUndefined();
    expect(a.decode('alice', 'rr', now)).toBeUndefined();
  });

  it('is a valid SIP URI user part (unreserved characters only)', () => {
    const t = new PhoneFlowTokens('k').encode('hop', TLS, 1_800_000_000);
    expect(t).toMatch(/^[A-Za-z0-9\-_.]+$/);
  });
});
