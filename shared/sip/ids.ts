/**
 * Identifiers sipfleet writes: branch (RFC 3261 §8.1.1.7), tags (§19.3), Call-IDs (§8.1.1.4).
 * A random per-process prefix plus a counter: unique across nodes and restarts without calling
 * the CSPRNG per message. Tags and branches need uniqueness, not secrecy.
 */
import { randomBytes } from 'node:crypto';
import { BRANCH_MAGIC_COOKIE } from './via.ts';

const PREFIX = randomBytes(6).toString('base64url');
let counter = 0;

function next(): string {
  counter = (counter + 1) % 0x7fff_ffff;
  return counter.toString(36);
}

export function generateBranch(): string {
  return `${BRANCH_MAGIC_COOKIE}${PREFIX}.${next()}`;
}

export function generateTag(): string {
  return `${PREFIX}${next()}`;
}

export function generateCallId(host = 'sipfleet'): string {
  return `${randomBytes(9).toString('base64url')}${next()}@${host}`;
}
