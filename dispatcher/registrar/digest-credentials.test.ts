import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDigestCredentials, type DigestCredentials } from './digest-credentials.ts';

const BASE = 'username="alice", realm="sipfleet", nonce="n0nce", uri="sip:sipfleet.test", response="0123456789ABCDEF0123456789abcdef"';

function ok(value: string): DigestCredentials {
  const r = parseDigestCredentials(value);
  if (!r.ok) throw new Error(`expected ok, got ${r.kind}: ${r.error}`);
  return r.credentials;
}

function err(value: string): { kind: string; error: string } {
  const r = parseDigestCredentials(value);
  if (r.ok) throw new Error('expected an error');
  return r;
}

describe('parseDigestCredentials', () => {
  it('reads a typical response with qop', () => {
    const c = ok(`Digest ${BASE}, algorithm=SHA-256, qop=auth, nc=0000000a, cnonce="c1", opaque="op"`);
    expect(c).toMatchObject({
      username: 'alice',
      realm: 'sipfleet',
      nonce: 'n0nce',
      uri: 'sip:sipfleet.test',
      response: '0123456789abcdef0123456789abcdef',
      algorithm: 'SHA-256',
      qop: 'auth',
      nc: 10,
      ncText: '0000000a',
      cnonce: 'c1',
      opaque: 'op',
    });
  });

  it('defaults the algorithm to MD5 and accepts the RFC 2069 form (no qop) syntactically', () => {
    const c = ok(`Digest ${BASE}`);
    expect(c.algorithm).toBe('MD5');
    expect(c.qop).toBeUndefined();
    expect(c.nc).toBeUndefined();
  });

  it('treats scheme and parameter names case-insensitively, and quoted qop/algorithm', () => {
    const c = ok(`dIgEsT UserName="alice", REALM="sipfleet", Nonce="n0nce", URI="sip:sipfleet.test", Response="ab", Algorithm="md5", QOP="Auth", NC=00000001, CNonce="x"`);
    expect(c.username).toBe('alice');
    expect(c.algorithm).toBe('MD5');
    expect(c.qop).toBe('auth');
  });

  it('unescapes quoted-pairs and tolerates odd whitespace and empty list elements', () => {
    const c = ok(`Digest  username = "al\\"i\\\\ce" ,realm="sipfleet",, nonce="n0nce",\turi="sip:sipfleet.test",response="ab" , `);
    expect(c.username).toBe('al"i\\ce');
  });

  it('keeps latin1 octets of quoted values as received', () => {
    const utf8AsLatin1 = Buffer.from('jürgen', 'utf8').toString('latin1');
    expect(ok(`Digest username="${utf8AsLatin1}", realm="r", nonce="n", uri="sip:x", response="ab"`).username).toBe(utf8AsLatin1);
  });

  it('reports a non-Digest scheme as such', () => {
    expect(err('Basic YWxpY2U6c2VjcmV0').kind).toBe('scheme');
  });

  it.each([
    ['empty', ''],
    ['only the scheme with junk', 'Digest,'],
    ['missing username', 'Digest realm="r", nonce="n", uri="sip:x", response="ab"'],
    ['missing response', 'Digest username="a", realm="r", nonce="n", uri="sip:x"'],
    ['empty nonce', 'Digest username="a", realm="r", nonce="", uri="sip:x", response="ab"'],
    ['response not hex', `Digest username="a", realm="r", nonce="n", uri="sip:x", response="xyz"`],
    ['unterminated quote', `Digest ${BASE}, cnonce="abc`],
    ['parameter twice', `Digest ${BASE}, realm="other"`],
    ['missing =', `Digest ${BASE}, qop`],
    ['nc not 8 hex digits', `Digest ${BASE}, qop=auth, nc=1, cnonce="c"`],
    ['nc zero', `Digest ${BASE}, qop=auth, nc=00000000, cnonce="c"`],
    ['qop without cnonce', `Digest ${BASE}, qop=auth, nc=00000001`],
    ['qop without nc', `Digest ${BASE}, qop=auth, cnonce="c"`],
    ['garbage between params', `Digest ${BASE} qop=auth`],
    ['scheme glued to junk', `Digest"x"`],
  ])('refuses %s', (_name, value) => {
    expect(err(value).kind).toBe('syntax');
  });

  it('never throws, whatever the input (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => {
        const r = parseDigestCredentials(s);
        expect(typeof r.ok).toBe('boolean');
      }),
      { numRuns: 2000 },
    );
    const piece = fc.constantFrom('Digest ', 'username', 'realm', 'nonce', 'uri', 'response', 'qop', 'nc', '=', '"', '\\', ',', ' ', '\t', 'auth', '00000001', 'ab', 'x');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), (parts) => {
        const r = parseDigestCredentials(parts.join(''));
        expect(typeof r.ok).toBe('boolean');
      }),
      { numRuns: 2000 },
    );
  });

  it('reads back any quoted values it is given (property)', () => {
    const text = fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 40 });
    const quote = (s: string): string => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
    fc.assert(
      fc.property(text, text, text, (username, nonce, cnonce) => {
        const c = ok(`Digest username=${quote(username)}, realm="r", nonce=${quote(nonce)}, uri="sip:x", response="ab", qop=auth, nc=00000002, cnonce=${quote(cnonce)}`);
        expect([c.username, c.nonce, c.cnonce, c.nc]).toEqual([username, nonce, cnonce, 2]);
      }),
      { numRuns: 500 },
    );
  });
});
