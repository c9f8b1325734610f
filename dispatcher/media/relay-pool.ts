/**
 * The relay pool: the live registry of media relays (rtpengine) from the cluster store, one ng
 * client per relay, and their health and load (relay-health.ts). Seeded from `cluster.rtp-relays`
 * when a node registers (like the switches); after that the store is the truth, and every node
 * re-reads it on the registry's change notice (`onSwitchesChanged`, which also fires for relays).
 *
 * Clients: a relay's client is made when it enters the registry (its ng address resolved once,
 * when it is a name) and retired when it leaves or changes address. Calls lease the client of
 * their relay for their lifetime (`lease`), so the answer and delete of a call still reach the
 * relay that holds its session after the registry moved on; a retired client is closed when its
 * last lease is released.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { ClusterStore, RelayRecord } from '../../shared/cluster-store/cluster-store.ts';
import type { MediaConfig, RtpRelayConfig } from '../../shared/config/config-types.ts';
import type { Logger } from '../../shared/log.ts';
import type { Clock, TimerHandle } from '../transaction/clock.ts';
import { NgClient } from './ng-client.ts';
import { RelayHealth, type RelayProbeTarget } from './relay-health.ts';

/** ms between attempts to read the registry while it was never read (the store was down at start). */
const LOAD_RETRY_MS = 1000;

/** What the media layer uses of an ng client (a fake in unit tests). */
export type RelayClient = Pick<NgClient, 'ping' | 'offer' | 'answer' | 'delete' | 'statistics' | 'close'>;

/** Makes the client of one relay at its resolved ng address. */
export type RelayClientFactory = (relay: { id: string; address: string; port: number }) => RelayClient;

export type RelayPoolStore = Pick<ClusterStore, 'listRelays' | 'onSwitchesChanged' | 'relaySessionCounts'>;

export interface RelayPoolOptions {
  store: RelayPoolStore;
  media: MediaConfig;
  clock: Clock;
  logger: Logger;
  /** Default: an `NgClient` with `probe.timeout` as its request timeout. */
  createClient?: RelayClientFactory;
  /** Host name → IP address (default: the system resolver). */
  resolve?: (host: string) => Promise<string>;
}

/** A call's hold on its relay's client. */
export interface RelayLease {
  readonly relayId: string;
  readonly client: RelayClient;
  /** Idempotent. */
  release(): void;
}

/** The registry record of a relay seeded from `cluster.rtp-relays`. */
export function relayRecordOf(c: RtpRelayConfig): RelayRecord {
  return { id: c.id, host: c.host, port: c.port, weight: c.weight, state: c.state, ...(c.zone === undefined ? {} : { zone: c.zone }) };
}

interface ClientSlot {
  readonly client: RelayClient;
  readonly address: string;
  readonly port: number;
  leases: number;
  retired: boolean;
}

interface Entry {
  readonly record: RelayRecord;
  readonly index: number;
  /** undefined when the relay's host name did not resolve. */
  readonly slot: ClientSlot | undefined;
}

export class RelayPool {
  readonly health: RelayHealth;
  readonly #o: RelayPoolOptions;
  readonly #createClient: RelayClientFactory;
  readonly #resolve: (host: string) => Promise<string>;
  #relays: readonly RelayRecord[] = [];
  #byId = new Map<string, Entry>();
  #unsubscribe: (() => void) | undefined;
  #reloading: Promise<void> | undefined;
  #reloadWanted = false;
  #closed = false;
  /** The registry was read at least once (until then a timer retries every second). */
  #loaded = false;
  #retry: TimerHandle | undefined;
  /** Retired clients still leased by calls. */
  readonly #retired = new Set<ClientSlot>();

  constructor(opts: RelayPoolOptions) {
    this.#o = opts;
    const timeoutMs = opts.media.probe.timeout;
    this.#createClient =
      opts.createClient ??
      ((r) =>
        new NgClient({
          address: r.address,
          port: r.port,
          clock: opts.clock,
          timeoutMs,
          // Three sends within the timeout (at 0, ¼ and ¾ of it), at most every 250 ms.
          retransmitMs: Math.max(10, Math.min(250, Math.floor(timeoutMs / 4))),
          logger: opts.logger.child({ relay: r.id }),
        }));
    this.#resolve = opts.resolve ?? (async (host) => (await lookup(host)).address);
    this.health = new RelayHealth({
      probe: opts.media.probe,
      statsIntervalMs: opts.media.statsInterval,
      store: opts.store,
      targets: () => this.#targets(),
      clock: opts.clock,
      logger: opts.logger,
    });
  }

  /** Load the registry (rejects when that fails), follow its changes, start probing. */
  async start(): Promise<void> {
    this.#unsubscribe ??= this.#o.store.onSwitchesChanged(() => {
      this.reload().catch((err: unknown) => this.#o.logger.warn({ err }, 'relay registry reload failed; keeping the last one'));
    });
    this.health.start();
    const retry = (): void => {
      this.#retry = this.#o.clock.setTimer(LOAD_RETRY_MS, () => {
        if (this.#loaded || this.#closed) return;
        retry();
        this.reload().catch((err: unknown) => this.#o.logger.debug({ err }, 'relay registry still not loaded'));
      });
    };
    if (this.#retry === undefined) retry();
    await this.reload();
  }

  /** Stop following the registry and probing, close every client. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#retry?.cancel();
    this.health.stop();
    await this.#reloading?.catch(() => undefined);
    const slots = [...this.#retired, ...[...this.#byId.values()].map((e) => e.slot)];
    this.#byId = new Map();
    this.#relays = [];
    this.#retired.clear();
    await Promise.all(slots.map((s) => s?.client.close()));
  }

  /** Re-read the registry; concurrent calls coalesce into one more load after the running one. */
  reload(): Promise<void> {
    this.#reloadWanted = true;
    return (this.#reloading ??= this.#reloadLoop());
  }

  async #reloadLoop(): Promise<void> {
    await undefined;
    try {
      while (this.#reloadWanted && !this.#closed) {
        this.#reloadWanted = false;
        const list = await this.#o.store.listRelays();
        const addresses = await Promise.all(list.map((r) => this.#address(r)));
        if (!this.#closed) this.#apply(list, addresses);
        this.#loaded = true;
      }
    } finally {
      this.#reloading = undefined;
    }
  }

  async #address(r: RelayRecord): Promise<string | undefined> {
    if (isIP(r.host) !== 0) return r.host;
    const old = this.#byId.get(r.id);
    if (old?.slot !== undefined && old.record.host === r.host) return old.slot.address;
    try {
      return await this.#resolve(r.host);
    } catch (err) {
      this.#o.logger.warn({ err, relayId: r.id, host: r.host }, 'relay ng host does not resolve; relay unused');
      return undefined;
    }
  }

  #apply(list: readonly RelayRecord[], addresses: ReadonlyArray<string | undefined>): void {
    const byId = new Map<string, Entry>();
    list.forEach((record, index) => {
      const address = addresses[index];
      const old = this.#byId.get(record.id)?.slot;
      let slot: ClientSlot | undefined;
      if (old !== undefined && old.address === address && old.port === record.port) slot = old;
      else if (address !== undefined) {
        try {
          slot = { client: this.#createClient({ id: record.id, address, port: record.port }), address, port: record.port, leases: 0, retired: false };
        } catch (err) {
          this.#o.logger.warn({ err, relayId: record.id }, 'relay ng client not created; relay unused');
        }
      }
      byId.set(record.id, { record, index, slot });
    });
    for (const [id, old] of this.#byId) {
      if (old.slot !== undefined && byId.get(id)?.slot !== old.slot) this.#retire(old.slot);
      if (!byId.has(id)) this.health.remove(id);
    }
    this.#byId = byId;
    this.#relays = Object.freeze([...list]);
  }

  #retire(slot: ClientSlot): void {
    slot.retired = true;
    if (slot.leases === 0) void slot.client.close();
    else this.#retired.add(slot);
  }

  *#targets(): Iterable<RelayProbeTarget> {
    for (const e of this.#byId.values()) if (e.slot !== undefined) yield { id: e.record.id, state: e.record.state, client: e.slot.client };
  }

  // ---- views ----

  /** The registry as last loaded, in id order. */
  snapshot(): readonly RelayRecord[] {
    return this.#relays;
  }

  get size(): number {
    return this.#relays.length;
  }

  record(relayId: string): RelayRecord | undefined {
    return this.#byId.get(relayId)?.record;
  }

  /** Position of the relay in the registry (-1 when absent). */
  indexOf(relayId: string): number {
    return this.#byId.get(relayId)?.index ?? -1;
  }

  /** May take a new session: admin `active`, health up, and an ng client. */
  usable(relayId: string): boolean {
    const e = this.#byId.get(relayId);
    return e !== undefined && e.slot !== undefined && e.record.state === 'active' && this.health.isUp(relayId);
  }

  /** The relay's current client (undefined when it left the registry or has none). */
  client(relayId: string): RelayClient | undefined {
    return this.#byId.get(relayId)?.slot?.client;
  }

  /** Hold the relay's current client for a call; undefined when it has none. */
  lease(relayId: string): RelayLease | undefined {
    const slot = this.#byId.get(relayId)?.slot;
    if (slot === undefined || this.#closed) return undefined;
    slot.leases++;
    let released = false;
    return {
      relayId,
      client: slot.client,
      release: () => {
        if (released) return;
        released = true;
        slot.leases--;
        if (slot.retired && slot.leases === 0 && this.#retired.delete(slot)) void slot.client.close();
      },
    };
  }
}
