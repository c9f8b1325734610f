/**
 * The config of a dispatcher the ops API deploys: the ops API's own config file with its `node`
 * section replaced (id, listen, http) and its `ops` section removed, so the new node joins the same
 * store and cluster (same switches, limits, carriers, users, probe settings...). Validated here, so
 * a bad listen URL is a 400 and not a process that exits.
 */
import { parse, stringify } from 'yaml';
import { isSipfleetError } from '../../shared/errors.ts';
import { parseConfig } from '../../shared/config/load-config.ts';
import { OpsError } from '../errors.ts';
import { CHILD_DROPS } from './local-orchestrator.ts';

export interface DispatcherNodeSpec {
  id: string;
  /** SIP listen URLs (`udp://127.0.0.13:5060`). */
  listen: string[];
  /** node.http `host:port` (readiness and metrics). */
  http: string;
}

export function dispatcherConfigText(template: string, node: DispatcherNodeSpec): string {
  const root: unknown = parse(template, { merge: true, maxAliasCount: 100 });
  if (root === null || typeof root !== 'object' || Array.isArray(root)) throw new OpsError('OPS_ERR_VALIDATION', 'the ops API config is not a YAML mapping');
  const { node: _node, ops: _ops, ...rest } = root as Record<string, unknown>;
  const text = stringify({ node: { id: node.id, listen: node.listen, http: node.http }, ...rest });
  try {
    // With the overrides the child will see (the ops API's, but node/ops ones: local-orchestrator.ts).
    parseConfig(text, { baseDir: process.cwd(), env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !CHILD_DROPS.test(k))) });
  } catch (err) {
    if (isSipfleetError(err)) throw new OpsError('OPS_ERR_VALIDATION', `dispatcher config: ${err.message.split('\n').slice(0, 3).join('; ')}`);
    throw err;
  }
  return text;
}
