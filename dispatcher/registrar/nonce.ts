/**
 * Stateless digest nonces (RFC 7616 §3.3, §5.4) that any node of the cluster can verify: no
 * nonce table, only the cluster secret every node reads from the registrar store.
 *
 *   nonce = base64url( issued(4 bytes, whole seconds, big-endian) || seed(8) || mac(16) )
 *   seed  = HMAC-SHA256(secret, "seed" | Call-ID | From-tag | CSeq | source IP)[0..8)
 *   mac   = HMAC-SHA256(secret, "nonce" | issued || seed)[0..16)
 *
 * `verify` recomputes the MAC (constant-time compare): a nonce with a bad MAC, or not in this
 * exact encoding, is `forged`; one older than the TTL is `stale` (RFC 7616 §3.3: the client
 * retries with the new nonce without asking the user); else `valid`. Replay of a valid nonce is
 * stopped by the nonce-count record in the store (`acceptNonceCount`), not here.
 *
 * Why the seed comes from the request and not from a CSPRNG: a 401 must not tell an attacker
 * whether a user name exists (user enumeration). Two requests that differ only in their
 * Authorization header (an unknown user, and a known user with a wrong password) must get
 * byte-identical challenges. So everything random-looking in a challenge is derived from the
 * request's identifying fields with the secret: the nonce's seed and, with `tag`, the To tag of
 * the challenge response (a per-transaction random tag would differ between the two). The issue
 * time is in whole seconds for the same reason. The secret keeps both unpredictable to the
 * client; a nonce still changes with every new request (CSeq) and every second.
 *
 * Time is the node's clock (nodes are assumed NTP-synchronised; a nonce issued by a node a little
 * ahead is simply valid for a little longer).
 */
import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { SipRequest } from '../../shared/sip/index.ts';

export type NonceCheck = 'valid' | 'stale' | 'forged';

const TIME_BYTES = 4;
const SEED_BYTES = 8;
const MAC_BYTES = 16;
const NONCE_BYTES = TIME_BYTES + SEED_BYTES + MAC_BYTES;
/** base64url without padding of NONCE_BYTES bytes. */
const NONCE_CHARS = Math.ceil((NONCE_BYTES * 4) / 3);
const NONCE_PATTERN = new RegExp(`^[A-Za-z0-9_-]{${NONCE_CHARS}}$`);
const TAG_BYTES = 9;

/** The request fields a challenge's nonce seed and To tag are derived from (see the note above). */
export function challengeSeed(req: SipRequest, sourceIp: string): string {
  const cseq = req.cseq;
  return `${req.callId}\n${req.fromTag ?? ''}\n${cseq.seq} ${cseq.method}\n${sourceIp}`;
}

export class NonceSigner {
  /** A KeyObject made once: `createHmac` with a Buffer key imports it again on every call (~5× slower, BENCHMARKS.md). */
  readonly #key: KeyObject;

  /** `secret`: the cluster secret (`RegistrarStore.clusterSecret()`), 32+ random bytes as text. */
  constructor(secret: string) {
    if (typeof secret !== 'string' || secret.length < 16) throw new RangeError('NonceSigner: the cluster secret is too short');
    this.#key = createSecretKey(Buffer.from(secret, 'utf8'));
  }

  #hmac(label: string, data: string | Buffer): Buffer {
    return createHmac('sha256', this.#key).update(label).update('\0').update(data).digest();
  }

  /** A nonce issued at `nowMs` (whole seconds) for the request named by `seed`. */
  issue(seed: string, nowMs: number): string {
    const out = Buffer.alloc(NONCE_BYTES);
    out.writeUInt32BE(Math.floor(nowMs / 1000) >>> 0, 0);
    this.#hmac('seed', Buffer.from(seed, 'latin1')).copy(out, TIME_BYTES, 0, SEED_BYTES);
    this.#hmac('nonce', out.subarray(0, TIME_BYTES + SEED_BYTES)).copy(out, TIME_BYTES + SEED_BYTES, 0, MAC_BYTES);
    return out.toString('base64url');
  }

  /** Check a nonce a client sent back: ours and younger than `ttlMs`? */
  verify(nonce: string, nowMs: number, ttlMs: number): NonceCheck {
    if (typeof nonce !== 'string' || !NONCE_PATTERN.test(nonce)) return 'forged';
    const bytes = Buffer.from(nonce, 'base64url');
    // Only the exact encoding we write (the last char's spare bits must be zero).
    if (bytes.length !== NONCE_BYTES || bytes.toString('base64url') !== nonce) return 'forged';
    const signed = bytes.subarray(0, TIME_BYTES + SEED_BYTES);
    const mac = this.#hmac('nonce', signed).subarray(0, MAC_BYTES);
    if (!timingSafeEqual(mac, bytes.subarray(TIME_BYTES + SEED_BYTES))) return 'forged';
    const issuedMs = bytes.readUInt32BE(0) * 1000;
    return nowMs - issuedMs > ttlMs ? 'stale' : 'valid';
  }

  /** A To tag for a response this node makes to the request named by `seed`, the same every time. */
  tag(seed: string): string {
    return this.#hmac('tag', Buffer.from(seed, 'latin1')).subarray(0, TAG_BYTES).toString('base64url');
  }
}
