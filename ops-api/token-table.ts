/**
 * The bearer tokens the ops API accepts, kept only as SHA-256 digests. A presented token is
 * hashed and compared with every entry in constant time (`timingSafeEqual` over equal-length
 * digests, no early exit), so neither the match nor its position leaks through timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { OpsRole, OpsTokenConfig } from '../shared/config/config-types.ts';

export interface TokenIdentity {
  readonly name: string;
  readonly role: OpsRole;
}

interface Entry extends TokenIdentity {
  readonly digest: Buffer;
}

export function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

export class TokenTable {
  readonly #entries: Entry[];

  constructor(tokens: readonly OpsTokenConfig[]) {
    this.#entries = tokens.map((t) => ({ name: t.name, role: t.role, digest: Buffer.from(t.sha256, 'hex') }));
  }

  get size(): number {
    return this.#entries.length;
  }

  /** The identity of an `Authorization: Bearer <token>` value; undefined when missing or unknown. */
  authenticate(header: string | undefined): TokenIdentity | undefined {
    const m = header === undefined ? null : /^Bearer +(\S+) *$/i.exec(header);
    if (m === null) return undefined;
    const digest = sha256(m[1]);
    let found: Entry | undefined;
    for (const entry of this.#entries) {
      if (timingSafeEqual(entry.digest, digest) && found === undefined) found = entry;
    }
    return found === undefined ? undefined : { name: found.name, role: found.role };
  }
}
