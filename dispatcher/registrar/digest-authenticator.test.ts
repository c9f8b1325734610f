import { createHash } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import type { DigestAlgorithm } from '../../shared/config/config-types.ts';
import { digestHa1 } from '../../shared/config/digest-ha1.ts';
import { MemoryRegistrarStore } from '../../shared/registrar-store/memory-registrar-store.ts';
import { makeResponse, parseMessage, serializeMessage, type SipRequest } from '../../shared/sip/index.ts';
import { ManualClock } from '../transaction/manual-clock.ts';
import { DigestAuthenticator, type AuthResult } from './digest-authenticator.ts';

const REALM = 'sipfleet';
const TTL = 300_000;
const IP = '203.0.113.5';
const URI = 'sip:sipfleet.test';

type Algo = 'MD5' | 'SHA-256';

/** Computed here independently of the code under test (RFC 7616 §3.4.1, qop=auth). */
function hex(algo: Algo, text: string): string {
  return createHash(algo === 'MD5' ? 'md5' : 'sha256').update(text, 'utf8').digest('hex');
}

interface CredOpts {
  user?: string;
  password?: string;
  realm?: string;
  nonce: string;
  algo?: Algo;
  nc?: string;
  cnonce?: string;
  method?: string;
  qop?: string | null;
}

function credentials(o: CredOpts): string {
  const algo = o.algo ?? 'SHA-256';
  const user = o.user ?? 'alice';
  const realm = o.realm ?? REALM;
  const nc = o.nc ?? '00000001';
  const cnonce = o.cnonce ?? 'c-nonce';
  const ha1 = hex(algo, `${user}:${realm}:${o.password ?? 'secret'}`);
  const ha2 = hex(algo, `${o.method ?? 'REGISTER'}:${URI}`);
  if (o.qop === null) {
    const response = hex(algo, `${ha1}:${o.nonce}:${ha2}`);
    return `Digest username="${user}", realm="${realm}", nonce="${o.nonce}", uri="${URI}", response="${response}", algorithm=${algo}`;
  }
  const response = hex(algo, `${ha1}:${o.nonce}:${nc}:${cnonce}:auth:${ha2}`);
  return `Digest username="${user}", realm="${realm}", nonce="${o.nonce}", uri="${URI}", response="${response}", algorithm=${algo}, qop=${o.qop ?? 'auth'}, nc=${nc}, cnonce="${cnonce}"`;
}

function request(o: { method?: string; authorization?: string; proxyAuthorization?: string; cseq?: number } = {}): SipRequest {
  const method = o.method ?? 'REGISTER';
  const lines = [
    `${method} ${URI} SIP/2.0`,
    'Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bK-1;rport',
    'Max-Forwards: 70',
    'From: <sip:alice@sipfleet.test>;tag=from-1',
    'To: <sip:alice@sipfleet.test>',
    'Call-ID: call-1@203.0.113.5',
    `CSeq: ${o.cseq ?? 1} ${method}`,
    ...(o.authorization === undefined ? [] : [`Authorization: ${o.authorization}`]),
    ...(o.proxyAuthorization === undefined ? [] : [`Proxy-Authorization: ${o.proxyAuthorization}`]),
    'Content-Length: 0',
    '',
    '',
  ];
  return parseMessage(Buffer.from(lines.join('\r\n'), 'latin1')) as SipRequest;
}

function failed(r: AuthResult): Extract<AuthResult, { ok: false }> {
  if (r.ok) throw new Error('expected a failed authentication');
  return r;
}

function nonceOf(r: AuthResult): string {
  const m = /nonce="([^"]+)"/.exec(failed(r).headers[0][1]);
  if (m === null) throw new Error('no nonce');
  return m[1];
}

describe('DigestAuthenticator', () => {
  let clock: ManualClock;
  let store: MemoryRegistrarStore;
  let auth: DigestAuthenticator;

  function make(algorithms: DigestAlgorithm[] = ['SHA-256', 'MD5'], s = store): DigestAuthenticator {
    return new DigestAuthenticator({ store: s, realm: REALM, algorithms, nonceTtlMs: TTL, clock });
  }

  beforeEach(async () => {
    clock = new ManualClock(1_700_000_000_000);
    store = new MemoryRegistrarStore({ now: () => clock.now() });
    await store.putUser({ username: 'alice', realm: REALM, ha1Md5: digestHa1('md5', 'alice', REALM, 'secret'), ha1Sha256: digestHa1('sha256', 'alice', REALM, 'secret') });
    await store.putUser({ username: 'bob', realm: REALM, ha1Md5: digestHa1('md5', 'bob', REALM, 'pw') });
    auth = make();
    await auth.start();
  });

  async function challenge(): Promise<string> {
    return nonceOf(await auth.authenticate(request(), IP, 'registrar'));
  }

  it('challenges a request without credentials: one header per algorithm, in order, not a failure', async () => {
    const r = failed(await auth.authenticate(request(), IP, 'registrar'));
    expect(r).toMatchObject({ status: 401, reason: 'Unauthorized', failure: false });
    expect(r.headers.map(([name]) => name)).toEqual(['WWW-Authenticate', 'WWW-Authenticate']);
    expect(r.headers[0][1]).toMatch(/^Digest realm="sipfleet", nonce="[A-Za-z0-9_-]+", algorithm=SHA-256, qop="auth"$/);
    expect(r.headers[1][1]).toMatch(/algorithm=MD5, qop="auth"$/);
    expect(nonceOf(r)).toBe(/nonce="([^"]+)"/.exec(r.headers[1][1])?.[1]);
  });

  it.each<Algo>(['SHA-256', 'MD5'])('accepts a correct %s response', async (algo) => {
    const nonce = await challenge();
    const r = await auth.authenticate(request({ authorization: credentials({ nonce, algo }) }), IP, 'registrar');
    expect(r).toMatchObject({ ok: true, user: { username: 'alice' } });
  });

  it('accepts upper-case hex and increasing nonce counts on one nonce', async () => {
    const nonce = await challenge();
    const upper = credentials({ nonce }).replace(/response="([0-9a-f]+)"/, (_m, h: string) => `response="${h.toUpperCase()}"`);
    expect((await auth.authenticate(request({ authorization: upper }), IP, 'registrar')).ok).toBe(true);
    expect((await auth.authenticate(request({ authorization: credentials({ nonce, nc: '00000002' }) }), IP, 'registrar')).ok).toBe(true);
  });

  it('fails a wrong password and an unknown user with the same result', async () => {
    const nonce = await challenge();
    const wrong = failed(await auth.authenticate(request({ authorization: credentials({ nonce, password: 'nope' }) }), IP, 'registrar'));
    const unknown = failed(await auth.authenticate(request({ authorization: credentials({ nonce, user: 'mallory' }) }), IP, 'registrar'));
    expect(wrong).toMatchObject({ status: 401, failure: true });
    expect(unknown).toEqual(wrong);
    // And the responses built from them are byte-identical.
    const bytes = (r: typeof wrong, req: SipRequest): Buffer => serializeMessage(makeResponse(req, r.status, r.reason, { toTag: r.toTag, headers: r.headers }));
    const reqA = request({ authorization: credentials({ nonce, password: 'nope' }) });
    const reqB = request({ authorization: credentials({ nonce, user: 'mallory' }) });
    expect(bytes(unknown, reqB).equals(bytes(wrong, reqA))).toBe(true);
  });

  it('fails an invalid user name the same way as an unknown one', async () => {
    const nonce = await challenge();
    const r = failed(await auth.authenticate(request({ authorization: credentials({ nonce, user: 'bad user:x' }) }), IP, 'registrar'));
    expect(r).toMatchObject({ status: 401, failure: true });
  });

  it('fails a SHA-256 response for a user with only an MD5 HA1, accepts MD5', async () => {
    const nonce = await challenge();
    const sha = failed(await auth.authenticate(request({ authorization: credentials({ nonce, user: 'bob', password: 'pw' }) }), IP, 'registrar'));
    expect(sha.failure).toBe(true);
    const md5 = await auth.authenticate(request({ authorization: credentials({ nonce, user: 'bob', password: 'pw', algo: 'MD5' }) }), IP, 'registrar');
    expect(md5.ok).toBe(true);
  });

  it('fails an algorithm that is not configured', async () => {
    const md5Only = make(['MD5']);
    const nonce = nonceOf(await md5Only.authenticate(request(), IP, 'registrar'));
    const r = failed(await md5Only.authenticate(request({ authorization: credentials({ nonce, algo: 'SHA-256' }) }), IP, 'registrar'));
    expect(r.failure).toBe(true);
    expect(r.headers).toHaveLength(1);
  });

  it('answers an expired nonce with stale=true and no failure when the password is right', async () => {
    const nonce = await challenge();
    clock.advance(TTL + 1_000);
    const r = failed(await auth.authenticate(request({ authorization: credentials({ nonce }) }), IP, 'registrar'));
    expect(r).toMatchObject({ status: 401, failure: false });
    expect(r.headers.every(([, v]) => v.endsWith(', stale=true'))).toBe(true);
    expect(nonceOf(r)).not.toBe(nonce);
    const again = await auth.authenticate(request({ authorization: credentials({ nonce: nonceOf(r) }) }), IP, 'registrar');
    expect(again.ok).toBe(true);
  });

  it('does not say stale for an expired nonce with a wrong password', async () => {
    const nonce = await challenge();
    clock.advance(TTL + 1_000);
    const r = failed(await auth.authenticate(request({ authorization: credentials({ nonce, password: 'nope' }) }), IP, 'registrar'));
    expect(r.failure).toBe(true);
    expect(r.headers[0][1]).not.toContain('stale');
  });

  it('fails a forged nonce, and one signed with another cluster secret', async () => {
    const forged = failed(await auth.authenticate(request({ authorization: credentials({ nonce: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }) }), IP, 'registrar'));
    expect(forged.failure).toBe(true);
    const other = make(['SHA-256', 'MD5'], new MemoryRegistrarStore({ now: () => clock.now() }));
    const foreign = nonceOf(await other.authenticate(request(), IP, 'registrar'));
    expect(failed(await auth.authenticate(request({ authorization: credentials({ nonce: foreign }) }), IP, 'registrar')).failure).toBe(true);
  });

  it('refuses a replayed nonce count', async () => {
    const nonce = await challenge();
    const authorization = credentials({ nonce, nc: '00000003' });
    expect((await auth.authenticate(request({ authorization }), IP, 'registrar')).ok).toBe(true);
    expect(failed(await auth.authenticate(request({ authorization }), IP, 'registrar')).failure).toBe(true);
    const lower = failed(await auth.authenticate(request({ authorization: credentials({ nonce, nc: '00000002' }) }), IP, 'registrar'));
    expect(lower.failure).toBe(true);
  });

  it('fails credentials for another realm only (RFC 3261 §22.4), uses ours among several', async () => {
    const nonce = await challenge();
    const other = failed(await auth.authenticate(request({ authorization: credentials({ nonce, realm: 'elsewhere' }) }), IP, 'registrar'));
    expect(other).toMatchObject({ status: 401, failure: true });
    const both = request({ authorization: credentials({ nonce, realm: 'elsewhere' }) });
    both.append('Authorization', credentials({ nonce, nc: '00000005' }));
    expect((await auth.authenticate(both, IP, 'registrar')).ok).toBe(true);
  });

  it('answers 400 for a malformed header, without counting a failure', async () => {
    const r = failed(await auth.authenticate(request({ authorization: 'Digest username="alice", realm=' }), IP, 'registrar'));
    expect(r).toMatchObject({ status: 400, failure: false, headers: [] });
    expect(r.reason).toContain('Authorization');
  });

  it('challenges a Basic credential like none at all', async () => {
    expect(failed(await auth.authenticate(request({ authorization: 'Basic YWxpY2U6c2VjcmV0' }), IP, 'registrar')).failure).toBe(false);
  });

  it('refuses the RFC 2069 form (no qop) as a failure with a fresh challenge', async () => {
    const nonce = await challenge();
    const r = failed(await auth.authenticate(request({ authorization: credentials({ nonce, qop: null }) }), IP, 'registrar'));
    expect(r).toMatchObject({ status: 401, failure: true });
    expect(r.headers).toHaveLength(2);
  });

  it('refuses qop=auth-int (not offered)', async () => {
    const nonce = await challenge();
    const r = failed(await auth.authenticate(request({ authorization: credentials({ nonce, qop: 'auth-int' }) }), IP, 'registrar'));
    expect(r.failure).toBe(true);
  });

  it('works in proxy mode with 407 / Proxy-Authenticate / Proxy-Authorization', async () => {
    const first = failed(await auth.authenticate(request({ method: 'INVITE' }), IP, 'proxy'));
    expect(first).toMatchObject({ status: 407, reason: 'Proxy Authentication Required', failure: false });
    expect(first.headers[0][0]).toBe('Proxy-Authenticate');
    const nonce = nonceOf(first);
    // An Authorization header is not looked at in proxy mode.
    const wrongHeader = failed(await auth.authenticate(request({ method: 'INVITE', authorization: credentials({ nonce, method: 'INVITE' }) }), IP, 'proxy'));
    expect(wrongHeader.failure).toBe(false);
    const r = await auth.authenticate(request({ method: 'INVITE', proxyAuthorization: credentials({ nonce, method: 'INVITE' }) }), IP, 'proxy');
    expect(r.ok).toBe(true);
    // HA2 covers the method: a REGISTER digest does not authorize an INVITE.
    const replayed = failed(await auth.authenticate(request({ method: 'INVITE', proxyAuthorization: credentials({ nonce, nc: '00000009' }) }), IP, 'proxy'));
    expect(replayed.failure).toBe(true);
  });

  it('gives the same challenge (nonce and tag) to requests differing only in credentials', async () => {
    const a = failed(await auth.authenticate(request(), IP, 'registrar'));
    const b = failed(await auth.authenticate(request({ authorization: 'Basic eA==' }), IP, 'registrar'));
    expect(b).toEqual(a);
    const c = failed(await auth.authenticate(request({ cseq: 2 }), IP, 'registrar'));
    expect(nonceOf(c)).not.toBe(nonceOf(a));
    expect(c.toTag).not.toBe(a.toTag);
  });
});
