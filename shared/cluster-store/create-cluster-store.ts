/**
 * Builds the cluster store a node's `store:` setting asks for: `memory` (single node, in
 * process) or `redis`/`sentinel` (a real cluster).
 */
import type { StoreConfig } from '../config/config-types.ts';
import type { Logger } from '../log.ts';
import type { ClusterStore } from './cluster-store.ts';
import { MemoryClusterStore } from './memory-cluster-store.ts';
import { RedisClusterStore } from './redis-cluster-store.ts';

export function createClusterStore(config: StoreConfig, cluster: string, logger?: Logger): ClusterStore {
  switch (config.kind) {
    case 'memory':
      return new MemoryClusterStore({ logger });
    case 'redis':
      return new RedisClusterStore({ cluster, url: config.url, logger });
    case 'sentinel':
      return new RedisClusterStore({
        cluster,
        sentinels: config.sentinels,
        sentinelName: config.name,
        password: config.password,
        logger,
      });
  }
}
