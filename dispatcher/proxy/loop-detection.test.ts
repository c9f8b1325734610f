import { describe, expect, it } from 'vitest';
import { parseMessage, type SipRequest } from '../../shared/sip/index.ts';
import type { ListenerInfo } from '../transport/transport.ts';
import { LocalIdentity } from './local-identity.ts';
import { isLooped, loopHash } from './loop-detection.ts';

const LISTENERS: ListenerInfo[] = [{ protocol: 'udp', address: '192.0.2.10', port: 5060, advertisedHost: 'sip.example.net' }];
const identity = new LocalIdentity(LISTENERS);

function request(lines: string[]): SipRequest {
  const msg = parseMessage(Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'));
  if (!('method' in msg)) throw new Error('not a request');
  return msg as SipRequest;
}

function invite(opts: { uri?: string; routes?: string[]; vias?: string[]; proxyRequire?: string; toTag?: string | null } = {}): SipRequest {
  return request([
    `INVITE ${opts.uri ?? 'sip:+14155550123@192.0.2.10'} SIP/2.0`,
    ...(opts.vias ?? ['SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-1']).map((v) => `Via: ${v}`),
    ...(opts.routes ?? []).map((r) => `Route: ${r}`),
    ...(opts.proxyRequire === undefined ? [] : [`Proxy-Require: ${opts.proxyRequire}`]),
    'Max-Forwards: 70',
    'From: <sip:+12125550199@198.51.100.7>;tag=f1',
    `To: <sip:+14155550123@192.0.2.10>${opts.toTag === null ? '' : `;tag=${opts.toTag ?? 't1'}`}`,
    'Call-ID: c1@198.51.100.7',
    'CSeq: 7 INVITE',
    'Content-Length: 0',
  ]);
}

/** The definition (RFC 3261 §16.6 step 8's fields, joined), hashed the plain way. */
function reference(req: SipRequest): string {
  const text = `${req.uri}|${req.callId}|${req.cseq.seq}|${req.fromTag ?? ''}|${req.toTag ?? ''}|${req.get('proxy-require') ?? ''}|${req.getAll('route').join(',')}`;
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(36);
}

describe('loopHash', () => {
  it('is the FNV-1a hash of the joined loop fields, fed field by field', () => {
    for (const req of [
      invite(),
      invite({ routes: ['<sip:a.example;lr>', '<sip:b.example;lr>, <sip:c.example;lr>'] }),
      invite({ proxyRequire: 'foo' }),
      invite({ uri: 'sip:ü@example.com' }),
      // An initial INVITE: no To tag.
      invite({ toTag: null }),
    ]) {
      expect(loopHash(req)).toBe(reference(req));
    }
  });

  it('changes with the Request-URI (a spiral) and with the Route set', () => {
    const base = loopHash(invite());
    expect(loopHash(invite({ uri: 'sip:+14155550124@192.0.2.10' }))).not.toBe(base);
    expect(loopHash(invite({ routes: ['<sip:a.example;lr>'] }))).not.toBe(base);
    // Two Route lines are not one Route line with both values run together.
    expect(loopHash(invite({ routes: ['<sip:a;lr>', '<sip:b;lr>'] }))).not.toBe(loopHash(invite({ routes: ['<sip:a;lr><sip:b;lr>'] })));
  });
});

describe('isLooped', () => {
  it('finds our own Via with the same hash, not one with another hash or another host', () => {
    const plain = invite();
    const hash = loopHash(plain);
    const ours = (h: string): string => `SIP/2.0/UDP sip.example.net:5060;branch=z9hG4bK-x-${h}`;
    expect(isLooped(invite({ vias: [ours(hash), 'SIP/2.0/UDP 198.51.100.7;branch=z9hG4bK-1'] }), identity, hash)).toBe(true);
    // On a later Via line (the request went round through others first).
    expect(isLooped(invite({ vias: ['SIP/2.0/UDP 198.51.100.7;branch=z9hG4bK-1', ours(hash)] }), identity, hash)).toBe(true);
    // Several Vias on one line (comma-separated) are read too.
    expect(isLooped(invite({ vias: [`SIP/2.0/UDP 198.51.100.7;branch=z9hG4bK-1, ${ours(hash)}`] }), identity, hash)).toBe(true);
    expect(isLooped(invite({ vias: [ours('other')] }), identity, hash)).toBe(false);
    expect(isLooped(invite({ vias: [`SIP/2.0/UDP sip.elsewhere.net:5060;branch=z9hG4bK-x-${hash}`] }), identity, hash)).toBe(false);
    expect(isLooped(plain, identity, hash)).toBe(false);
  });

  it('finds our Via when the advertised host is configured in capitals', () => {
    const shouting = new LocalIdentity([{ protocol: 'udp', address: '192.0.2.10', port: 5060, advertisedHost: 'SIP.Example.NET' }]);
    const plain = invite();
    const hash = loopHash(plain);
    const ourVia = shouting.viaValue('udp', `z9hG4bK-x-${hash}`);
    expect(isLooped(invite({ vias: [ourVia, 'SIP/2.0/UDP 198.51.100.7;branch=z9hG4bK-1'] }), shouting, hash)).toBe(true);
  });
});
