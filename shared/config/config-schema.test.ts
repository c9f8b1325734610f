import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_SCHEMA, isSchemaList, isSchemaMap, type SchemaNode } from './config-schema.ts';

/** Every key path in the schema, lists written `key[]`: `cluster.switches[].id`. */
function paths(node: SchemaNode, prefix: string): string[] {
  if (isSchemaList(node)) return [prefix, ...paths(node[0], `${prefix}[]`).filter((p) => p !== `${prefix}[]`)];
  if (!isSchemaMap(node)) return [prefix];
  const own = prefix === '' ? [] : [prefix];
  return [...own, ...Object.entries(node).flatMap(([key, child]) => paths(child, prefix === '' ? key : `${prefix}.${key}`))];
}

describe('docs/config.md', () => {
  const doc = readFileSync(new URL('../../docs/config.md', import.meta.url), 'utf8');
  const documented = new Set([...doc.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]));

  it('documents every configuration key', () => {
    const leaves = paths(CONFIG_SCHEMA, '').filter((p) => !['node', 'cluster', 'node.limits', 'cluster.limits', 'cluster.probe'].includes(p));
    for (const path of leaves) expect(documented, path).toContain(path);
  });
});
