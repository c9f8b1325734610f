/**
 * Digest authentication of SIP requests (RFC 3261 §22, RFC 7616, RFC 8760) against the users of
 * the registrar store, for the registrar (401 / WWW-Authenticate / Authorization) and for the
 * proxy (407 / Proxy-Authenticate / Proxy-Authorization).
 *
 * Challenge (RFC 8760 §2.4): one header per configured algorithm, most preferred first, each
 * `Digest realm="…", nonce="…", algorithm=…, qop="auth"`, plus `stale=true` when the client's
 * nonce had only expired (RFC 7616 §3.3). Nonces are stateless and cluster-wide (nonce.ts).
 *
 * Verification (RFC 7616 §3.4.1): HA1 comes from the user record (`ha1Sha256` or `ha1Md5`, by the
 * algorithm of the response; a SHA-256 response for a user without a SHA-256 HA1 fails),
 * HA2 = H(method ":" digest-uri), response = H(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" HA2),
 * compared in constant time. `qop=auth` is required: the RFC 2069 form without qop has no
 * cnonce/nc and so no replay protection, and is refused (a failure, with a fresh challenge).
 * `auth-int`, `-sess` algorithms and `userhash` are not offered and so not accepted. The
 * digest-uri is not compared with the Request-URI (ALGs rewrite it); the hash covers the method,
 * and nonce-count replay protection (`acceptNonceCount`, RFC 7616 §3.3) stops reuse.
 *
 * No user enumeration: an unknown user and a known user with a wrong password get the same
 * result object (same status, reason, headers and To tag), and the same work (a digest is computed
 * against a dummy HA1 for an unknown user; the nonce count is only consulted for a correct
 * response). Nothing here logs credentials, HA1 values or header values.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { DigestAlgorithm } from '../../shared/config/config-types.ts';
import type { RegistrarStore, UserRecord } from '../../shared/registrar-store/registrar-store.ts';
import { isValidUsername } from '../../shared/registrar-store/validate-registrar-args.ts';
import type { SipRequest } from '../../shared/sip/index.ts';
import type { Clock } from '../transaction/clock.ts';
import { parseDigestCredentials, type DigestCredentials } from './digest-credentials.ts';
import { challengeSeed, NonceSigner } from './nonce.ts';

export type AuthMode = 'registrar' | 'proxy';

export type AuthResult =
  | { readonly ok: true; readonly user: UserRecord }
  | {
      readonly ok: false;
      readonly status: 400 | 401 | 403 | 407;
      readonly reason: string;
      /** Challenge headers (WWW-Authenticate / Proxy-Authenticate), empty for a 400. */
      readonly headers: [string, string][];
      /**
       * True when this counts as a failed authentication for the abuse guard (wrong password,
       * unknown user, forged nonce, replayed nc, realm or algorithm the client was not offered);
       * false for no credentials yet, a stale nonce or a malformed header.
       */
      readonly failure: boolean;
      /**
       * To tag for the response: derived from the request (see nonce.ts), so two challenges to
       * requests differing only in their credentials are byte-identical.
       */
      readonly toTag: string;
    };

export interface DigestAuthenticatorOptions {
  store: RegistrarStore;
  realm: string;
  /** Offered most preferred first (`cluster.registrar.algorithms`). */
  algorithms: readonly DigestAlgorithm[];
  nonceTtlMs: number;
  clock: Clock;
}

interface ModeInfo {
  readonly credentialsKey: 'authorization' | 'proxy-authorization';
  readonly credentialsName: string;
  readonly challengeHeader: string;
  readonly status: 401 | 407;
  readonly reason: string;
}

const MODES: Readonly<Record<AuthMode, ModeInfo>> = {
  registrar: { credentialsKey: 'authorization', credentialsName: 'Authorization', challengeHeader: 'WWW-Authenticate', status: 401, reason: 'Unauthorized' },
  proxy: {
    credentialsKey: 'proxy-authorization',
    credentialsName: 'Proxy-Authorization',
    challengeHeader: 'Proxy-Authenticate',
    status: 407,
    reason: 'Proxy Authentication Required',
  },
};

const HASHES: Readonly<Record<DigestAlgorithm, 'md5' | 'sha256'>> = { MD5: 'md5', 'SHA-256': 'sha256' };
/** Stand-in HA1 for unknown users, so they cost the same work as known ones. */
const DUMMY_HA1: Readonly<Record<'md5' | 'sha256', string>> = { md5: '0'.repeat(32), sha256: '0'.repeat(64) };

function h(hash: 'md5' | 'sha256', text: string): string {
  // latin1: request text is held one char per wire octet; digests are over those octets.
  return createHash(hash).update(text, 'latin1').digest('hex');
}

/** RFC 7616 §3.4.1 with qop=auth. Every value as the client sent it. */
export function digestResponse(hash: 'md5' | 'sha256', ha1: string, method: string, c: DigestCredentials): string {
  const ha2 = h(hash, `${method}:${c.uri}`);
  const qop = c.params.get('qop') ?? '';
  return h(hash, `${ha1}:${c.nonce}:${c.ncText ?? ''}:${c.cnonce ?? ''}:${qop}:${ha2}`);
}

/** Constant-time comparison of two lower-case hex digests (false at once on a length mismatch). */
function sameDigest(expected: string, got: string): boolean {
  if (expected.length !== got.length) return false;
  return timingSafeEqual(Buffer.from(expected, 'latin1'), Buffer.from(got, 'latin1'));
}

function quote(text: string): string {
  return `"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

export class DigestAuthenticator {
  readonly #store: RegistrarStore;
  readonly #realm: string;
  readonly #algorithms: readonly DigestAlgorithm[];
  readonly #nonceTtlMs: number;
  readonly #clock: Clock;
  #signer: NonceSigner | undefined;
  #loading: Promise<NonceSigner> | undefined;

  constructor(opts: DigestAuthenticatorOptions) {
    if (opts.algorithms.length === 0) throw new RangeError('DigestAuthenticator: no digest algorithm configured');
    this.#store = opts.store;
    this.#realm = opts.realm;
    this.#algorithms = [...opts.algorithms];
    this.#nonceTtlMs = opts.nonceTtlMs;
    this.#clock = opts.clock;
  }

  get realm(): string {
    return this.#realm;
  }

  /** Load the cluster secret (created by the store on first use). Rejects when the store is down. */
  async start(): Promise<void> {
    await this.#getSigner();
  }

  #getSigner(): Promise<NonceSigner> | NonceSigner {
    if (this.#signer !== undefined) return this.#signer;
    this.#loading ??= this.#store.clusterSecret().then(
      (secret) => (this.#signer = new NonceSigner(secret)),
      (err: unknown) => {
        this.#loading = undefined;
        throw err;
      },
    );
    return this.#loading;
  }

  /**
   * Check the request's credentials for this realm. Resolves to the user, or to the response to
   * send. Rejects only when the store fails (SipfleetError STORE_ERR_UNAVAILABLE): nothing was
   * decided, the caller answers 503.
   */
  async authenticate(req: SipRequest, sourceIp: string, mode: AuthMode): Promise<AuthResult> {
    const m = MODES[mode];
    const signer = await this.#getSigner();
    const now = this.#clock.now();
    const seed = challengeSeed(req, sourceIp);
    const toTag = signer.tag(seed);
    const challenge = (failure: boolean, stale = false): AuthResult => ({
      ok: false,
      status: m.status,
      reason: m.reason,
      headers: this.#challengeHeaders(m, signer.issue(seed, now), stale),
      failure,
      toTag,
    });

    // RFC 3261 §22.4: a request may carry credentials for several realms; use ours.
    let creds: DigestCredentials | undefined;
    let otherRealm = false;
    for (const value of req.getAll(m.credentialsKey)) {
      const parsed = parseDigestCredentials(value);
      if (!parsed.ok) {
        if (parsed.kind === 'scheme') continue;
        return { ok: false, status: 400, reason: `Bad Request (Malformed ${m.credentialsName})`, headers: [], failure: false, toTag };
      }
      if (parsed.credentials.realm === this.#realm) creds ??= parsed.credentials;
      else otherRealm = true;
    }
    if (creds === undefined) return challenge(otherRealm);

    const algorithm = this.#algorithms.find((a) => a === creds.algorithm);
    if (algorithm === undefined || creds.qop !== 'auth' || creds.nc === undefined) return challenge(true);
    const nonce = signer.verify(creds.nonce, now, this.#nonceTtlMs);
    if (nonce === 'forged') return challenge(true);

    const hash = HASHES[algorithm];
    const user = isValidUsername(creds.username) ? await this.#store.getUser(creds.username) : undefined;
    const ha1 = user === undefined || user.realm !== this.#realm ? undefined : algorithm === 'SHA-256' ? user.ha1Sha256 : user.ha1Md5;
    const expected = digestResponse(hash, ha1 ?? DUMMY_HA1[hash], req.method, creds);
    if (!sameDigest(expected, creds.response) || ha1 === undefined || user === undefined) return challenge(true);

    // Right password, old nonce: a fresh one with stale=true, no failure (RFC 7616 §3.3).
    if (nonce === 'stale') return challenge(false, true);
    if (!(await this.#store.acceptNonceCount(creds.nonce, creds.nc, this.#nonceTtlMs))) return challenge(true);
    return { ok: true, user };
  }

  #challengeHeaders(m: ModeInfo, nonce: string, stale: boolean): [string, string][] {
    const realm = quote(this.#realm);
    return this.#algorithms.map((alg): [string, string] => [
      m.challengeHeader,
      `Digest realm=${realm}, nonce="${nonce}", algorithm=${alg}, qop="auth"${stale ? ', stale=true' : ''}`,
    ]);
  }
}
