/**
 * The switch pool: the `Router` over the live switch registry (Kamailio's dispatcher module, with
 * the list in the cluster store instead of a file or table, reloaded on every node when it
 * changes).
 *
 * Per new call: the available switches (admin `active` AND health up), in registry order → the
 * selection algorithm of the call's carrier (or the cluster default) orders them → slow start
 * (nginx's `slow_start`: a warming switch is sent to the back with probability 1 − share) →
 * hash-source stickiness from the store → the first takes the call, the rest are its failover
 * order. `next` walks that order, skipping what was tried and what became unavailable since.
 * A switch given as a DNS SRV name (`_sip._udp.example.net`) gets its target per call from the
 * name's cached answer (srv-resolver.ts, RFC 3263); while the name has none it is skipped.
 *
 * Cluster-wide channel counts come from the store every `channelsRefreshMs`; between two refreshes
 * this node adds the calls it sent itself, so least-channels does not send a whole refresh
 * interval's calls to the one switch that looked emptiest (Kamailio's call-load algorithm counts
 * its own dialogs the same way).
 */
import type { ClusterStore, SwitchRecord } from '../../shared/cluster-store/cluster-store.ts';
import { levelKey } from '../../shared/cluster-store/cluster-store.ts';
import type { Selection } from '../../shared/config/config-types.ts';
import type { Logger } from '../../shared/log.ts';
import type { SwitchHealthView } from '../health/switch-health.ts';
import { isSrvSwitch, switchTarget } from '../proxy/route-target.ts';
import type { Target } from '../transport/transport.ts';
import { createAlgorithm } from './algorithms/index.ts';
import type { AttemptOutcome, RouteCandidate, Router, RoutingContext } from './router.ts';
import type { SelectionAlgorithm, SelectionCandidate } from './selection-algorithm.ts';
import { sharedSrvResolver, type SrvResolver } from './srv-resolver.ts';

/** What the pool needs of the cluster store (every `ClusterStore` is one). */
export type SwitchPoolStore = Pick<
  ClusterStore,
  'listSwitches' | 'onSwitchesChanged' | 'stickyGet' | 'stickySet' | 'levelStats' | 'connected'
>;

export interface SwitchPoolOptions {
  store: SwitchPoolStore;
  health: SwitchHealthView;
  /** The cluster default (`cluster.selection`). */
  selection: Selection;
  /** Carriers whose `selection` differs from the default, by carrier id. */
  carrierSelection?: ReadonlyMap<string, Selection> | undefined;
  /** ms a source sticks to its switch under hash-source (`cluster.stickyTtl`). */
  stickyTtlMs: number;
  /** ms between cluster-wide channel count refreshes; default 500. */
  channelsRefreshMs?: number | undefined;
  /** ms a sticky lookup may take before the call falls back to the hash; default 250. */
  stickyTimeoutMs?: number | undefined;
  /** Uniform [0, 1) source for slow start; default Math.random. */
  random?: (() => number) | undefined;
  /** Resolves switches given as DNS SRV names; default the process-wide one (system DNS). */
  srv?: SrvResolver | undefined;
  /**
   * True while this node is behind on its own input (overload-guard.ts `behind`): a timeout then
   * is not held against the switch (its answer may be waiting in our socket), or an overloaded
   * node would take every switch down and turn its overload into an outage. Default: never.
   */
  selfBehind?: (() => boolean) | undefined;
  logger: Logger;
}

/** What live traffic said about a switch (for stats; health decides from probes and failures). */
export interface SwitchTraffic {
  responses: number;
  timeouts: number;
  /** Of those, timeouts while this node was behind on its input: not held against the switch. */
  timeoutsWhileBehind: number;
  transportErrors: number;
  lastStatus: number | undefined;
  lastLatencyMs: number | undefined;
}

interface Entry {
  readonly record: SwitchRecord;
  readonly index: number;
  /** The route (for an SRV switch, its target is only a placeholder: see `#routeOf`). */
  readonly route: RouteCandidate;
  /** The host is a DNS SRV name: each call picks a target from its current answer. */
  readonly srv: boolean;
}

type Listener = (switches: readonly SwitchRecord[]) => void;

export class SwitchPool implements Router {
  readonly #store: SwitchPoolStore;
  readonly #health: SwitchHealthView;
  readonly #selection: Selection;
  readonly #carrierSelection: ReadonlyMap<string, Selection>;
  readonly #stickyTtlMs: number;
  readonly #channelsRefreshMs: number;
  readonly #stickyTimeoutMs: number;
  readonly #random: () => number;
  readonly #srv: SrvResolver;
  readonly #selfBehind: (() => boolean) | undefined;
  readonly #log: Logger;

  #switches: readonly SwitchRecord[] = [];
  #entries: readonly Entry[] = [];
  #byId = new Map<string, Entry>();
  #peers = new Set<string>();
  /** Cluster-wide channels per switch at the last refresh. */
  readonly #channels = new Map<string, number>();
  /** Calls this node sent to each switch since the last refresh. */
  readonly #picked = new Map<string, number>();
  readonly #traffic = new Map<string, SwitchTraffic>();
  readonly #algorithms = new Map<Selection, SelectionAlgorithm>();
  readonly #listeners = new Set<Listener>();

  #unsubscribe: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #reloading: Promise<void> | undefined;
  #reloadWanted = false;
  #refreshing = false;

  constructor(opts: SwitchPoolOptions) {
    this.#store = opts.store;
    this.#health = opts.health;
    this.#selection = opts.selection;
    this.#carrierSelection = opts.carrierSelection ?? new Map();
    this.#stickyTtlMs = opts.stickyTtlMs;
    this.#channelsRefreshMs = opts.channelsRefreshMs ?? 500;
    this.#stickyTimeoutMs = opts.stickyTimeoutMs ?? 250;
    this.#random = opts.random ?? Math.random;
    this.#srv = opts.srv ?? sharedSrvResolver();
    this.#selfBehind = opts.selfBehind;
    this.#log = opts.logger;
  }

  /** Load the registry (rejects when that fails), follow its changes, refresh channel counts. */
  async start(): Promise<void> {
    // Subscribe first: a change made while the first load runs triggers one more load.
    this.#unsubscribe ??= this.#store.onSwitchesChanged(() => {
      this.reload().catch((err: unknown) => this.#log.warn({ err }, 'switch registry reload failed; keeping the last one'));
    });
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => void this.refreshChannels(), this.#channelsRefreshMs);
      this.#timer.unref();
    }
    await this.reload();
    await this.refreshChannels();
  }

  stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Re-read the registry. Concurrent calls coalesce: while a load runs, any number of further
   * requests make exactly one more load after it, so the last change is never missed.
   */
  reload(): Promise<void> {
    this.#reloadWanted = true;
    return (this.#reloading ??= this.#reloadLoop());
  }

  async #reloadLoop(): Promise<void> {
    // Yield once so `#reloading` is set before the loop can end and clear it.
    await undefined;
    try {
      while (this.#reloadWanted) {
        this.#reloadWanted = false;
        this.#apply(await this.#store.listSwitches());
      }
    } finally {
      this.#reloading = undefined;
    }
  }

  #apply(list: readonly SwitchRecord[]): void {
    const byId = new Map<string, Entry>();
    const entries: Entry[] = [];
    list.forEach((record, index) => {
      const old = this.#byId.get(record.id)?.route.target;
      const target: Target =
        old !== undefined && old.protocol === record.transport && old.address === record.host && old.port === record.port
          ? old
          : { protocol: record.transport, address: record.host, port: record.port };
      const srv = isSrvSwitch(record);
      // Resolve SRV names now, so the first call finds an answer in the cache.
      if (srv) void this.#srv.resolve(record.host);
      const entry: Entry = { record, index, route: { id: record.id, target }, srv };
      byId.set(record.id, entry);
      entries.push(entry);
    });
    this.#switches = Object.freeze([...list]);
    this.#entries = entries;
    this.#byId = byId;
    this.#peers = new Set(list.map((s) => s.host));
    for (const map of [this.#channels, this.#picked, this.#traffic]) {
      for (const id of map.keys()) if (!byId.has(id)) map.delete(id);
    }
    for (const listener of this.#listeners) {
      try {
        listener(this.#switches);
      } catch (err) {
        this.#log.error({ err }, 'switch registry listener failed');
      }
    }
  }

  /** Fetch cluster-wide channel counts; on failure the last values stay. */
  async refreshChannels(): Promise<void> {
    if (this.#refreshing || this.#switches.length === 0) return;
    this.#refreshing = true;
    const ids = this.#switches.map((s) => s.id);
    const pickedBefore = new Map(this.#picked);
    try {
      const stats = await this.#store.levelStats(ids.map((id) => levelKey('switch', id)));
      const byLevel = new Map(stats.map((s) => [s.level, s.channels]));
      for (const id of ids) {
        const channels = byLevel.get(levelKey('switch', id));
        if (channels === undefined || !this.#byId.has(id)) continue;
        this.#channels.set(id, channels);
        // The counts now include the calls sent before the fetch; keep only those sent during it.
        const during = (this.#picked.get(id) ?? 0) - (pickedBefore.get(id) ?? 0);
        if (during > 0) this.#picked.set(id, during);
        else this.#picked.delete(id);
      }
    } catch (err) {
      this.#log.debug({ err }, 'switch channel counts not refreshed');
    } finally {
      this.#refreshing = false;
    }
  }

  // ---- Router ----

  select(ctx: RoutingContext): RouteCandidate | undefined | Promise<RouteCandidate | undefined> {
    const entries = this.#available();
    if (entries.length === 0) return undefined;
    const selection = (ctx.carrierId === undefined ? undefined : this.#carrierSelection.get(ctx.carrierId)) ?? this.#selection;
    const candidates = entries.map((e) => this.#candidate(e));
    const source = ctx.flow.remoteAddress;
    let order = this.#algorithm(selection).order({ callId: ctx.request.callId, source, candidates });
    // Weighted applies the share to its weights itself.
    if (selection !== 'weighted') order = this.#slowStart(order, candidates);
    if (selection === 'hash-source') return this.#stick(ctx, source, order);
    return this.#commit(ctx, order);
  }

  /**
   * Under hash-call-id (the cluster default), the switch a Call-ID hashes to among the available
   * switches: the one its INVITE went to on whatever node set the call up (the same registry and
   * health give the same answer; rendezvous hashing keeps it when another switch changes).
   */
  locate(callId: string): RouteCandidate | undefined {
    if (this.#selection !== 'hash-call-id') return undefined;
    const entries = this.#available();
    if (entries.length === 0) return undefined;
    const order = this.#algorithm('hash-call-id').order({ callId, source: '', candidates: entries.map((e) => this.#candidate(e)) });
    const entry = this.#availableEntry(order[0]);
    // The Call-ID picks the SRV target, so that every node locates the same one.
    return entry === undefined ? undefined : this.#routeOf(entry, callId);
  }

  next(ctx: RoutingContext, tried: ReadonlySet<string>): RouteCandidate | undefined {
    const order = ctx.order ?? this.#available().map((e) => e.record.id);
    return this.#firstAvailable(order, tried);
  }

  report(candidate: RouteCandidate, outcome: AttemptOutcome): void {
    const t = this.#trafficOf(candidate.id);
    if (t === undefined) return;
    switch (outcome.kind) {
      case 'response':
        t.responses++;
        t.lastStatus = outcome.status;
        t.lastLatencyMs = outcome.latencyMs;
        return;
      case 'timeout':
        t.timeouts++;
        if (this.#selfBehind?.() === true) {
          t.timeoutsWhileBehind++;
          return;
        }
        this.#health.markSuspect(candidate.id);
        return;
      case 'transport-error':
        t.transportErrors++;
        this.#health.markSuspect(candidate.id);
        return;
    }
  }

  isFromKnownPeer(address: string): boolean {
    return this.#peers.has(address) || this.#srv.isKnownAddress(address);
  }

  // ---- registry view ----

  /** The registry as last loaded (every state), in registry order: what the prober probes. */
  snapshot(): readonly SwitchRecord[] {
    return this.#switches;
  }

  /** Called after every registry load with the new snapshot. Returns an unsubscribe function. */
  onChange(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Cluster-wide channels of a switch as selection sees them (last refresh + this node's calls since). */
  channels(id: string): number {
    return (this.#channels.get(id) ?? 0) + (this.#picked.get(id) ?? 0);
  }

  /** Live-traffic counters of a switch; undefined when it is not in the registry. */
  traffic(id: string): Readonly<SwitchTraffic> | undefined {
    return this.#trafficOf(id);
  }

  // ---- internals ----

  #available(): Entry[] {
    const out: Entry[] = [];
    for (const e of this.#entries) if (e.record.state === 'active' && this.#health.isUp(e.record.id)) out.push(e);
    return out;
  }

  #availableEntry(id: string): Entry | undefined {
    const e = this.#byId.get(id);
    return e !== undefined && e.record.state === 'active' && this.#health.isUp(id) ? e : undefined;
  }

  #candidate(e: Entry): SelectionCandidate {
    const r = e.record;
    return {
      id: r.id,
      weight: r.weight,
      priority: r.priority,
      share: this.#health.share(r.id),
      latencyMs: this.#health.latencyMs(r.id),
      channels: this.channels(r.id),
      index: e.index,
    };
  }

  #algorithm(selection: Selection): SelectionAlgorithm {
    let a = this.#algorithms.get(selection);
    if (a === undefined) {
      a = createAlgorithm(selection);
      this.#algorithms.set(selection, a);
    }
    return a;
  }

  /** Each warming candidate (share < 1) goes to the back with probability 1 − share. */
  #slowStart(order: string[], candidates: readonly SelectionCandidate[]): string[] {
    if (candidates.every((c) => c.share >= 1)) return order;
    const share = new Map(candidates.map((c) => [c.id, c.share]));
    const front: string[] = [];
    const back: string[] = [];
    for (const id of order) {
      const s = share.get(id) ?? 1;
      if (s < 1 && this.#random() >= s) back.push(id);
      else front.push(id);
    }
    return back.length === 0 ? order : front.concat(back);
  }

  /** Hash-source: the switch the source already sticks to (cluster-wide) goes first. */
  async #stick(ctx: RoutingContext, source: string, order: string[]): Promise<RouteCandidate | undefined> {
    const stuck = await this.#stickyGet(source);
    let final = order;
    if (stuck !== undefined && stuck !== order[0] && order.includes(stuck)) {
      final = [stuck, ...order.filter((id) => id !== stuck)];
    }
    const chosen = this.#commit(ctx, final);
    if (chosen !== undefined && this.#store.connected) {
      // Not awaited: the call need not wait for the write, and a failed write only costs
      // stickiness (the hash still maps the source to the same switch while the registry holds).
      this.#store.stickySet(source, chosen.id, this.#stickyTtlMs).catch((err: unknown) => {
        this.#log.debug({ err, source }, 'sticky source not stored');
      });
    }
    return chosen;
  }

  async #stickyGet(source: string): Promise<string | undefined> {
    if (!this.#store.connected) return undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), this.#stickyTimeoutMs);
      });
      return await Promise.race([this.#store.stickyGet(source), timeout]);
    } catch (err) {
      this.#log.debug({ err, source }, 'sticky source lookup failed; using the hash');
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  #commit(ctx: RoutingContext, order: readonly string[]): RouteCandidate | undefined {
    ctx.order = order;
    return this.#firstAvailable(order, EMPTY);
  }

  #firstAvailable(order: readonly string[], tried: ReadonlySet<string>): RouteCandidate | undefined {
    for (const id of order) {
      if (tried.has(id)) continue;
      const e = this.#availableEntry(id);
      if (e === undefined) continue;
      const route = this.#routeOf(e);
      // An SRV switch whose name has no usable answer cannot take the call: the next one does.
      if (route === undefined) continue;
      this.#picked.set(id, (this.#picked.get(id) ?? 0) + 1);
      return route;
    }
    return undefined;
  }

  /** The entry's route; an SRV switch's target is picked now from its name's cached answer. */
  #routeOf(e: Entry, key?: string): RouteCandidate | undefined {
    if (!e.srv) return e.route;
    const target = switchTarget(e.record, this.#srv, key);
    return target === undefined ? undefined : { id: e.record.id, target };
  }

  #trafficOf(id: string): SwitchTraffic | undefined {
    if (!this.#byId.has(id)) return undefined;
    let t = this.#traffic.get(id);
    if (t === undefined) {
      t = { responses: 0, timeouts: 0, timeoutsWhileBehind: 0, transportErrors: 0, lastStatus: undefined, lastLatencyMs: undefined };
      this.#traffic.set(id, t);
    }
    return t;
  }
}

const EMPTY: ReadonlySet<string> = new Set();
