import type { ConfigIssues } from './config-issues.ts';
import { CONFIG_SCHEMA } from './config-schema.ts';
import type { NodeConfig, StoreConfig } from './config-types.ts';
import { Fields } from './fields.ts';
import { redactUrl, tryParseStore } from './store-url.ts';
import { checkUnknownKeys } from './unknown-keys.ts';
import { validateCluster } from './validate-cluster.ts';
import { validateNode } from './validate-node.ts';
import { validateOps } from './validate-ops.ts';
import { checkVipStore } from './validate-vip.ts';
import type { EnvVars } from './env-overrides.ts';

function validateStore(f: Fields): StoreConfig {
  const value = f.get('store');
  if (value === undefined) return { kind: 'memory' };
  const store = typeof value === 'string' ? tryParseStore(value) : 'must be a string: "memory", redis://... or sentinel://...';
  if (typeof store !== 'string') return store;
  f.invalid('store', store, typeof value === 'string' ? redactUrl(value) : value);
  return { kind: 'memory' };
}

/** The mapping under a required top-level key; when absent, an empty one that reports nothing more. */
function section(root: Fields, key: string): Fields {
  if (root.has(key)) return root.map(key);
  root.missing(key);
  return new Fields(root.issues, root.field(key), {}, true);
}

/**
 * Checks a parsed YAML tree (overrides already applied) and builds the typed configuration.
 * Every problem is added to `issues`; the result is only meaningful when `issues` stays empty.
 * `baseDir` resolves relative TLS file paths and the ops audit path; `env` may hold
 * `SIPFLEET_OPS_TOKEN`.
 */
export function validateConfig(raw: unknown, baseDir: string, issues: ConfigIssues, env: EnvVars = {}): NodeConfig | undefined {
  if (raw === undefined || raw === null) {
    issues.add('', 'the configuration is empty; it needs at least node.id, node.listen and cluster.name');
    return undefined;
  }
  checkUnknownKeys(raw, CONFIG_SCHEMA, '', issues);
  const root = Fields.of(issues, '', raw, 'a mapping with the keys node, store and cluster');
  if (root.broken) return undefined;
  const config: NodeConfig = {
    node: validateNode(section(root, 'node'), baseDir),
    store: validateStore(root),
    cluster: validateCluster(section(root, 'cluster')),
  };
  if (config.node.vip !== undefined) checkVipStore(root.map('node'), config.store);
  if (config.node.workers > 1 && config.store.kind === 'memory') {
    issues.add('node.workers', `cannot be more than 1 (got ${config.node.workers}) with the in-memory store: workers share calls, caps and registrations through a redis:// or sentinel:// store`);
  }
  const ops = validateOps(root, baseDir, env);
  if (ops !== undefined) config.ops = ops;
  return config;
}
