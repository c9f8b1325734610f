import type { ConfigIssues } from './config-issues.ts';
import { childPath, isPlainMapping, isSchemaList, isSchemaMap, type SchemaNode } from './config-schema.ts';

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const next = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = row[j];
      row[j] = next;
    }
  }
  return row[b.length];
}

/** The known key closest to a typo, if any is close. */
export function suggestKey(key: string, known: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[-_]/g, '');
  let best: string | undefined;
  let bestScore = 3;
  for (const candidate of known) {
    const score = norm(candidate) === norm(key) ? 0 : distance(key.toLowerCase(), candidate.toLowerCase());
    if (score < bestScore) [best, bestScore] = [candidate, score];
  }
  return best;
}

/** Reports every key the schema does not know; type mismatches are left to the validators. */
export function checkUnknownKeys(value: unknown, schema: SchemaNode, path: string, issues: ConfigIssues): void {
  if (isSchemaList(schema)) {
    if (Array.isArray(value)) value.forEach((item, i) => checkUnknownKeys(item, schema[0], childPath(path, i), issues));
    return;
  }
  if (!isSchemaMap(schema) || !isPlainMapping(value)) return;
  const known = Object.keys(schema);
  for (const [key, child] of Object.entries(value)) {
    if (Object.hasOwn(schema, key)) {
      checkUnknownKeys(child, schema[key], childPath(path, key), issues);
      continue;
    }
    const hint = suggestKey(key, known);
    issues.add(childPath(path, key), `unknown key${hint ? ` (did you mean "${hint}"?)` : ''}; allowed: ${known.join(', ')}`);
  }
}
