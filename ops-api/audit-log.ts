/**
 * The append-only audit trail of change requests: one JSON object per line, written to a file
 * opened in append mode (never truncated or rewritten), and the latest records kept in memory
 * for `GET /v1/audit`. Records hold the token's name and role, never the token.
 */
import { existsSync, readFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { OpsRole } from '../shared/config/config-types.ts';

export interface AuditRecord {
  /** ISO 8601 UTC. */
  time: string;
  /** Token name; null when no valid token was presented. */
  token: string | null;
  role: OpsRole | null;
  ip: string;
  method: string;
  /** The request path, without the query string. */
  path: string;
  params?: Record<string, unknown>;
  /** A summary of the body: secret-looking values replaced by `[redacted]`, strings cut to 200 characters. */
  body?: unknown;
  /** The HTTP status answered. */
  status: number;
  /** The error code when the request was refused or failed. */
  code?: string;
}

/** How many records `recent()` can return. */
const KEEP = 1000;

export class AuditLog {
  readonly path: string | undefined;
  readonly #recent: AuditRecord[] = [];
  #file: FileHandle | undefined;
  #chain: Promise<void> = Promise.resolve();

  private constructor(path: string | undefined) {
    this.path = path;
  }

  /** Opens (creating if needed) `path` for appending; without a path, records stay in memory. */
  static async open(path?: string): Promise<AuditLog> {
    const log = new AuditLog(path);
    if (path === undefined) return log;
    if (existsSync(path)) {
      const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '').slice(-KEEP);
      for (const line of lines) {
        try {
          log.#recent.push(JSON.parse(line) as AuditRecord);
        } catch {
          // A torn last line (crash mid-write) is skipped, never repaired in place.
        }
      }
    }
    log.#file = await open(path, 'a', 0o600);
    return log;
  }

  /** Queues a record; writes happen in order. Resolves once it is on disk. */
  append(record: AuditRecord): Promise<void> {
    this.#recent.push(record);
    if (this.#recent.length > KEEP) this.#recent.shift();
    const line = `${JSON.stringify(record)}\n`;
    const file = this.#file;
    this.#chain = this.#chain.then(async () => {
      if (file !== undefined) await file.appendFile(line);
    });
    return this.#chain;
  }

  /** Newest first, at most `limit`. */
  recent(limit: number): AuditRecord[] {
    return this.#recent.slice(-limit).reverse();
  }

  /** Waits for every queued write. */
  flush(): Promise<void> {
    return this.#chain;
  }

  async close(): Promise<void> {
    await this.#chain.catch(() => undefined);
    await this.#file?.close();
    this.#file = undefined;
  }
}

const SECRET_KEY = /token|password|secret|authorization|sha256|ha1|key/i;
const REDACTED = '[redacted]';

/**
 * A body safe to keep: the values of keys that look secret (a SIP password, an HA1, a token)
 * replaced by `[redacted]` (the record still shows that one was sent), long strings cut, depth
 * limited.
 */
export function summarizeBody(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return value.length > 200 ? `${value.slice(0, 197)}...` : value;
  if (value === null || typeof value !== 'object') return value;
  if (depth >= 3) return '[nested]';
  if (Array.isArray(value)) return value.slice(0, 20).map((v) => summarizeBody(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value).slice(0, 40)) {
    out[k] = SECRET_KEY.test(k) ? REDACTED : summarizeBody(v, depth + 1);
  }
  return out;
}
