/**
 * The media side of one dispatcher node, assembled: the relay pool (registry, ng clients, health
 * and load), the zone policy, the session deleter, the media relay service the proxy uses, and
 * the reaper of dead nodes' sessions. Built whenever the node runs (`cluster.media` always has
 * its defaults): with no relay in the registry every call's media flows directly, and relays
 * added later through the store are used at once. See docs/media.md.
 */
import type { ClusterStore, RelayRecord } from '../../shared/cluster-store/cluster-store.ts';
import type { ClusterConfig } from '../../shared/config/config-types.ts';
import type { Logger } from '../../shared/log.ts';
import type { Clock } from '../transaction/clock.ts';
import { MediaReaper, type MediaReaperStats } from './media-reaper.ts';
import { MediaRelayService, type MediaServiceStats } from './media-relay-service.ts';
import { RelayPool, type RelayClientFactory } from './relay-pool.ts';
import type { RelayHealthSnapshot } from './relay-health.ts';
import { SessionDeleter, type SessionDeleterStats } from './session-deleter.ts';
import { ZonePolicy } from './zone-policy.ts';

export interface MediaStackOptions {
  nodeId: string;
  cluster: Pick<ClusterConfig, 'media' | 'carriers' | 'users' | 'maxCallAge'>;
  store: ClusterStore;
  clock: Clock;
  logger: Logger;
  /** Tests: fake ng clients. */
  createClient?: RelayClientFactory;
}

/** One relay as this node sees it (metrics). */
export interface RelayView {
  readonly record: RelayRecord;
  readonly health: RelayHealthSnapshot;
  /** `health.sessions / weight`. */
  readonly load: number;
}

export interface MediaStats {
  service: MediaServiceStats;
  deletes: SessionDeleterStats;
  reaper: MediaReaperStats;
  relays: RelayView[];
}

export class MediaStack {
  readonly pool: RelayPool;
  readonly service: MediaRelayService;
  readonly deleter: SessionDeleter;
  readonly reaper: MediaReaper;
  readonly #log: Logger;

  private constructor(o: MediaStackOptions) {
    this.#log = o.logger;
    this.pool = new RelayPool({ store: o.store, media: o.cluster.media, clock: o.clock, logger: o.logger.child({ part: 'relay-pool' }), createClient: o.createClient });
    this.deleter = new SessionDeleter({
      clientOf: (id) => this.pool.client(id),
      isUp: (id) => this.pool.health.isUp(id),
      clock: o.clock,
      logger: o.logger.child({ part: 'relay-deletes' }),
    });
    this.service = new MediaRelayService({
      nodeId: o.nodeId,
      pool: this.pool,
      policy: new ZonePolicy({ media: o.cluster.media, carriers: o.cluster.carriers, users: o.cluster.users }),
      store: o.store,
      deleter: this.deleter,
      required: o.cluster.media.required,
      maxCallAgeMs: o.cluster.maxCallAge,
      clock: o.clock,
      logger: o.logger.child({ part: 'media' }),
    });
    this.reaper = new MediaReaper({ store: o.store, deleter: this.deleter, nodeId: o.nodeId, clock: o.clock, logger: o.logger.child({ part: 'media-reaper' }) });
  }

  /**
   * Builds and starts everything. A store that is down at start leaves the registry empty (every
   * call's media direct) until it is read; the pool retries every second.
   */
  static async create(o: MediaStackOptions): Promise<MediaStack> {
    const stack = new MediaStack(o);
    stack.deleter.start();
    stack.service.start();
    stack.reaper.start();
    await stack.pool.start().catch((err: unknown) => o.logger.warn({ err }, 'relay registry not loaded yet; retrying every second'));
    return stack;
  }

  /** Nodes this node reaped: delete their relay sessions. */
  onNodesReaped(nodeIds: readonly string[]): Promise<number> {
    return this.reaper.onNodesReaped(nodeIds);
  }

  stats(): MediaStats {
    const relays = this.pool.snapshot().map((record) => {
      const health = this.pool.health.snapshot(record.id);
      return { record, health, load: health.sessions / record.weight };
    });
    return { service: this.service.stats(), deletes: this.deleter.stats(), reaper: this.reaper.stats(), relays };
  }

  /** After the proxy ended its calls: wait for their deletes (bounded), then stop and close the clients. */
  async close(): Promise<void> {
    this.reaper.stop();
    await this.service.close();
    this.deleter.stop();
    await this.pool.close();
    this.#log.debug('media stack closed');
  }
}
