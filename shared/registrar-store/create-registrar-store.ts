/**
 * Builds the registrar store a node's `store:` setting asks for: `memory` (single node, in
 * process) or `redis`/`sentinel` (a real cluster; the same Redis as the cluster store, keys under
 * `sf:{<cluster>}:reg:`).
 */
import type { StoreConfig } from '../config/config-types.ts';
import type { Logger } from '../log.ts';
import { MemoryRegistrarStore } from './memory-registrar-store.ts';
import { RedisRegistrarStore } from './redis-registrar-store.ts';
import type { RegistrarStore } from './registrar-store.ts';

export function createRegistrarStore(config: StoreConfig, cluster: string, logger?: Logger): RegistrarStore {
  switch (config.kind) {
    case 'memory':
      return new MemoryRegistrarStore({ logger });
    case 'redis':
      return new RedisRegistrarStore({ cluster, url: config.url, logger });
    case 'sentinel':
      return new RedisRegistrarStore({
        cluster,
        sentinels: config.sentinels,
        sentinelName: config.name,
        password: config.password,
        logger,
      });
  }
}
