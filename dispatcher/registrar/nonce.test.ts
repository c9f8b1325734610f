import { describe, expect, it } from 'vitest';
import { parseMessage, type SipRequest } from '../../shared/sip/index.ts';
import { challengeSeed, NonceSigner } from './nonce.ts';

const SECRET = 'c2lwZmxlZXQtdGVzdC1zZWNyZXQtMzItYnl0ZXMtbG9uZw';
const TTL = 300_000;

function request(callId: string, cseq: number, fromTag = 'ft'): SipRequest {
  const text = [
    'REGISTER sip:sipfleet.test SIP/2.0',
    'Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bK-1',
    `From: <sip:alice@sipfleet.test>;tag=${fromTag}`,
    'To: <sip:alice@sipfleet.test>',
    `Call-ID: ${callId}`,
    `CSeq: ${cseq} REGISTER`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  return parseMessage(Buffer.from(text, 'latin1')) as SipRequest;
}

describe('NonceSigner', () => {
  const signer = new NonceSigner(SECRET);

  it('verifies its own nonces until the TTL, then calls them stale', () => {
    const nonce = signer.issue('seed', 1_000_000);
    expect(nonce).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(signer.verify(nonce, 1_000_000, TTL)).toBe('valid');
    expect(signer.verify(nonce, 1_000_000 + TTL, TTL)).toBe('valid');
    expect(signer.verify(nonce, 1_000_000 + TTL + 1, TTL)).toBe('stale');
  });

  it('is deterministic per seed and whole second, and differs otherwise', () => {
    expect(signer.issue('seed', 5_000)).toBe(signer.issue('seed', 5_999));
    expect(signer.issue('seed', 5_000)).not.toBe(signer.issue('seed', 6_000));
    expect(signer.issue('seed', 5_000)).not.toBe(signer.issue('other', 5_000));
  });

  it('calls tampered, foreign and garbage nonces forged', () => {
    const nonce = signer.issue('seed', 10_000);
    const flipped = nonce.slice(0, 3) + (nonce[3] === 'A' ? 'B' : 'A') + nonce.slice(4);
    expect(signer.verify(flipped, 10_000, TTL)).toBe('forged');
    expect(new NonceSigner('another-cluster-secret-0123456789').verify(nonce, 10_000, TTL)).toBe('forged');
    for (const junk of ['', 'abc', nonce + 'A', nonce.slice(1), '!'.repeat(nonce.length), `${nonce.slice(0, -1)}=`]) {
      expect(signer.verify(junk, 10_000, TTL)).toBe('forged');
    }
  });

  it('refuses a non-canonical encoding of a valid nonce', () => {
    const nonce = signer.issue('seed', 10_000);
    // 28 bytes → 38 chars: the last char carries 2 spare bits; setting them gives the same bytes.
    const last = nonce.at(-1) as string;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const alt = alphabet[alphabet.indexOf(last) | 1];
    if (alt !== last) expect(signer.verify(nonce.slice(0, -1) + alt, 10_000, TTL)).toBe('forged');
  });

  it('makes stable token-safe To tags per seed', () => {
    expect(signer.tag('a')).toBe(signer.tag('a'));
    expect(signer.tag('a')).not.toBe(signer.tag('b'));
    expect(signer.tag('a')).toMatch(/^[A-Za-z0-9_-]{12}$/);
  });

  it('refuses a short secret', () => {
    expect(() => new NonceSigner('short')).toThrow(RangeError);
  });
});

describe('challengeSeed', () => {
  it('depends on Call-ID, From tag, CSeq and source IP only', () => {
    const base = challengeSeed(request('c1', 1), '203.0.113.5');
    expect(challengeSeed(request('c1', 1), '203.0.113.5')).toBe(base);
    expect(challengeSeed(request('c2', 1), '203.0.113.5')).not.toBe(base);
    expect(challengeSeed(request('c1', 2), '203.0.113.5')).not.toBe(base);
    expect(challengeSeed(request('c1', 1, 'other'), '203.0.113.5')).not.toBe(base);
    expect(challengeSeed(request('c1', 1), '203.0.113.6')).not.toBe(base);
  });
});
