/**
 * Weighted rendezvous (highest random weight, HRW) ordering of candidates for a key. Each
 * (key, switch) pair gets a pseudo-random score; the order is by score, highest first. Unlike
 * Kamailio's hash-modulo (dispatcher algorithms 0 and 2) or nginx's ketama ring, nothing but the
 * pair decides a score, so when a switch leaves only the keys that were on it move, and when one
 * joins it takes only the keys it now wins, in proportion to its weight.
 *
 * Score = -weight / ln(u), u ∈ (0, 1) uniform from the pair hash (Schindelhauer & Schomaker's
 * logarithmic method): a switch wins a share of keys proportional to its weight.
 */
import type { SelectionCandidate } from '../selection-algorithm.ts';

/** FNV-1a 32 over UTF-16 code units, finished with murmur3's fmix32 for avalanche. */
export function hashString32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h);
}

/** murmur3_32 of one 4-byte block `b` with seed `a`: the score hash of a (key, switch) pair. */
export function pairHash32(a: number, b: number): number {
  let k = Math.imul(b, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  let h = a ^ k;
  h = (h << 13) | (h >>> 19);
  h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  return fmix32(h ^ 4);
}

function fmix32(x: number): number {
  let h = x;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const TWO_POW_32 = 4294967296;

/** Candidate ids by weighted HRW score for `key`, highest first; ties by registry index. */
export function rendezvousOrder(key: string, candidates: readonly SelectionCandidate[]): string[] {
  const keyHash = hashString32(key);
  const n = candidates.length;
  const scores = new Array<number>(n);
  const idx = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const c = candidates[i];
    const u = (pairHash32(keyHash, hashString32(c.id)) + 0.5) / TWO_POW_32;
    scores[i] = -c.weight / Math.log(u);
    idx[i] = i;
  }
  idx.sort((a, b) => scores[b] - scores[a] || candidates[a].index - candidates[b].index);
  const out = new Array<string>(n);
  for (let k = 0; k < n; k++) out[k] = candidates[idx[k]].id;
  return out;
}
