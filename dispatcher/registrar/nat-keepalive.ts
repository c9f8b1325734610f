/**
 * NAT keep-alive of registered contacts, by the binding's owner node and only by it (the node that
 * holds the NAT pinhole or the connection, `flow.nodeId`):
 *
 * - UDP: a SIP OPTIONS (RFC 3261 §11) to the Contact, sent to the flow's address and port from the
 *   listener the REGISTER arrived on (`flow.localPort`: the pinhole leads there), through the
 *   transaction layer (Timer E retransmits it). ANY response, even 404/405/481, proves the phone
 *   and its pinhole; its round trip is recorded. No response within `timeout` is a miss (the client
 *   transaction is aborted: Timer F would wait 32 s); `misses` consecutive misses remove the binding
 *   from the store (conditional on this node still owning it), so every node stops routing to it.
 * - TCP/TLS: a CRLFCRLF ping on the connection (RFC 5626 §4.4.1); WS/WSS: a WebSocket ping frame
 *   (RFC 7118 defines no CRLF keep-alive). A pong is optional and only feeds the round trip; a
 *   connection that is gone removes the binding, as does `onConnectionClosed`.
 * - Round trips: an EWMA per binding kept here, written to the store in one `recordPingRtts` batch
 *   at most once per second.
 * - Ownership: `start()` loads `bindingsOwnedBy(nodeId)` and reloads it every `interval`, so
 *   bindings handed over to this node (a dead owner's, see binding-handover.ts) start being pinged
 *   and bindings that moved, were re-registered through another node, or were removed stop.
 *   `track()` adds a REGISTER's bindings at once. Expired bindings are dropped without a write.
 * - `enabled: false`: nothing is pinged; stream bindings are still indexed by connection, so a
 *   closed connection still removes its bindings.
 *
 * Scale (50,000 contacts at 30 s, ~1,700 pings/s): no timer or closure per binding. One clock timer
 * ticks every TICK_MS over a timing wheel (a ring of slots one tick wide, one revolution longer
 * than the longest wait: 1.2 × interval). A binding is one small `Entry` in one slot: its next
 * ping, or while a UDP ping is in flight its deadline. Moving an entry pushes it into its new slot
 * and leaves the old copy behind, recognised as stale by the entry's `tick`. The first ping of a
 * new binding is at a random offset within the interval, the next ones every interval ± 10 %, so
 * a node that loads 50,000 bindings at once does not burst. An in-flight UDP ping holds its client
 * transaction and one `Flight` (the transaction user: a class instance, no closure), both dropped
 * when it settles.
 */
import type { RegistrarConfig } from '../../shared/config/config-types.ts';
import type { Logger } from '../../shared/log.ts';
import type { Binding, BindingRef, FlowProtocol, RegistrarStore } from '../../shared/registrar-store/registrar-store.ts';
import { generateBranch, generateCallId, generateTag, SipRequest, type HeaderField, type SipResponse } from '../../shared/sip/index.ts';
import type { LocalIdentity } from '../proxy/local-identity.ts';
import type { ClientTransaction } from '../transaction/client-transaction.ts';
import type { Clock, TimerHandle } from '../transaction/clock.ts';
import type { TransactionLayer } from '../transaction/transaction-layer.ts';
import type { ClientTransactionUser } from '../transaction/transaction-user.ts';
import type { PongListener } from '../transport/connection-pool.ts';
import type { KeepaliveOptions } from '../transport/transport-layer.ts';
import type { Target } from '../transport/transport.ts';

export type KeepaliveConfig = RegistrarConfig['keepalive'];

/** Width of one wheel slot (ms): pings go out at most this late. */
export const TICK_MS = 100;
/** Each interval is `interval × (1 ± JITTER)`. */
export const JITTER = 0.1;
/** Round trips go to the store at most this often (ms). */
export const RTT_FLUSH_MS = 1000;
/** Weight of a new round trip in the EWMA. */
export const RTT_ALPHA = 0.25;
/** Samples per `recordPingRtts` call. */
const RTT_BATCH = 5000;
/** The user part of the OPTIONS' From: who is asking (phone logs show it). */
export const KEEPALIVE_USER = 'sipfleet-keepalive';

/** What the keep-alive needs of the transport layer (`SipTransportLayer` has both). */
export interface KeepaliveTransport {
  keepalive(connectionId: number, opts?: KeepaliveOptions): boolean;
  isConnectionOpen(connectionId: number): boolean;
}

export interface NatKeepaliveOptions {
  store: Pick<RegistrarStore, 'bindingsOwnedBy' | 'removeBinding' | 'recordPingRtts'>;
  /** This node: only bindings it owns are pinged. */
  nodeId: string;
  layer: Pick<TransactionLayer, 'sendRequest'>;
  transport: KeepaliveTransport;
  identity: LocalIdentity;
  config: KeepaliveConfig;
  clock: Clock;
  logger: Logger;
  /** [0, 1) for the offsets and jitter (tests pass a seeded one). */
  random?: () => number;
}

export interface NatKeepaliveStats {
  /** Bindings scheduled (or, disabled, indexed by connection). */
  tracked: number;
  /** OPTIONS, CRLFCRLF and ping frames sent. */
  pingsSent: number;
  /** Answers: responses to OPTIONS, CRLF pongs, pong frames. */
  pongs: number;
  /** OPTIONS that got no answer within `timeout` (or could not be sent). */
  misses: number;
  /** Bindings this node removed from the store (missed pings, closed or lost connections). */
  removed: number;
}

const NO_CONNECTION = -1;

/**
 * One tracked binding: everything a ping needs, nothing else (the wheel's element). Times are
 * wheel ticks counted from the keep-alive's creation, small integers V8 keeps inline (an absolute
 * ms time would be a boxed double); the round trip is kept in tenths of a ms for the same reason.
 */
class Entry {
  readonly aor: string;
  readonly key: string;
  /** The next binding of the same AOR: the index is one Map entry per AOR, not a string per binding. */
  next: Entry | undefined = undefined;
  contact: string;
  protocol: FlowProtocol;
  address: string;
  port: number;
  localPort: number;
  /** Stream connection id, NO_CONNECTION for UDP. */
  connectionId: number;
  /** Route set toward the phone (RFC 3327 Path), undefined when none. */
  path: readonly string[] | undefined;
  /** The first tick at which the binding has expired. */
  expiresTick: number;
  /** The wheel tick this entry is due at; -1 when not in the wheel. */
  tick = -1;
  nextPingTick = 0;
  /** The UDP ping in flight. */
  flight: Flight | undefined = undefined;
  misses = 0;
  /** EWMA round trip in tenths of a ms, -1 before the first answer. */
  rtt10 = -1;
  rttDirty = false;
  /** The reconcile generation that last saw this binding (or the one running when it was tracked). */
  gen: number;
  tracked = true;

  constructor(b: Binding, expiresTick: number, gen: number) {
    this.aor = b.aor;
    this.key = b.key;
    this.contact = sameText(b.contact, b.key);
    this.protocol = b.flow.protocol;
    this.address = b.flow.address;
    this.port = b.flow.port;
    this.localPort = b.flow.localPort;
    this.connectionId = connectionOf(b);
    this.path = b.path.length === 0 ? undefined : b.path;
    this.expiresTick = expiresTick;
    this.gen = gen;
  }
}

interface FlightSink {
  settle(flight: Flight, answered: boolean): void;
}

/** One UDP ping in flight: the transaction user of its OPTIONS. */
class Flight implements ClientTransactionUser {
  readonly entry: Entry;
  readonly sentAt: number;
  readonly #sink: FlightSink;
  txn: ClientTransaction | undefined = undefined;
  done = false;

  constructor(entry: Entry, sentAt: number, sink: FlightSink) {
    this.entry = entry;
    this.sentAt = sentAt;
    this.#sink = sink;
  }

  /** Any response, provisional or final, whatever its code: the phone is there. */
  onResponse(_res: SipResponse): void {
    this.#sink.settle(this, true);
  }

  onTimeout(): void {
    this.#sink.settle(this, false);
  }

  onTransportError(_err: Error): void {
    this.#sink.settle(this, false);
  }
}

/** `text`, or `shared` when they are equal (a binding's key is usually its Contact URI): one string kept, not two. */
function sameText(text: string, shared: string): string {
  return text === shared ? shared : text;
}

function connectionOf(b: Binding): number {
  return b.flow.protocol === 'udp' || b.flow.connectionId === undefined ? NO_CONNECTION : b.flow.connectionId;
}

function field(name: string, key: string, value: string): HeaderField {
  return { name, key, value, raw: undefined };
}

function uriHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

const EMPTY = Buffer.alloc(0);

export class NatKeepalive {
  readonly #o: NatKeepaliveOptions;
  readonly #log: Logger;
  readonly #random: () => number;
  readonly #enabled: boolean;
  readonly #interval: number;
  /** Tracked bindings by AOR (chained through `Entry.next`). */
  readonly #byAor = new Map<string, Entry>();
  #tracked = 0;
  /** Tick 0 (ms): ticks stay small integers. */
  readonly #t0: number;
  /** Stream bindings by connection id (for `onConnectionClosed` and pongs); an array only when several share one. */
  readonly #byConnection = new Map<number, Entry | Entry[]>();
  /** The timing wheel: slot `tick % size` holds the entries due at `tick` (and stale copies). */
  readonly #ring: Entry[][];
  #lastTick: number;
  #tickTimer: TimerHandle | undefined;
  #reconcileTimer: TimerHandle | undefined;
  #running = false;
  #inTick = false;
  #reconciling = false;
  #gen = 0;
  readonly #dirty: Entry[] = [];
  #lastFlush = -Infinity;
  #flushing = false;
  /** Via prefix and From host per UDP listener port. */
  readonly #senders = new Map<number, { readonly via: string; readonly host: string }>();
  readonly #stats: NatKeepaliveStats = { tracked: 0, pingsSent: 0, pongs: 0, misses: 0, removed: 0 };
  readonly #sink: FlightSink = { settle: (flight, answered) => this.#settle(flight, answered) };
  readonly #onPong: PongListener = (connectionId, rttMs) => this.#pong(connectionId, rttMs);
  /** Reused for every stream ping (`keepalive` keeps nothing of it). */
  readonly #kaOpts: { remote: { address: string; port: number }; onPong: PongListener } = {
    remote: { address: '', port: 0 },
    onPong: this.#onPong,
  };

  constructor(opts: NatKeepaliveOptions) {
    this.#o = opts;
    this.#log = opts.logger;
    this.#random = opts.random ?? Math.random;
    const { enabled, interval, timeout, misses } = opts.config;
    if (!(interval > 0) || !(timeout > 0) || !(misses >= 1)) {
      throw new RangeError(`NatKeepalive: invalid config (interval ${interval}, timeout ${timeout}, misses ${misses})`);
    }
    this.#enabled = enabled;
    this.#interval = interval;
    const longest = Math.max(interval * (1 + 2 * JITTER), timeout);
    this.#ring = Array.from({ length: Math.ceil(longest / TICK_MS) + 2 }, () => []);
    this.#t0 = opts.clock.now();
    this.#lastTick = 0;
  }

  get running(): boolean {
    return this.#running;
  }

  /** Load this node's bindings and reload them every interval; pinging starts. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    // Bindings tracked before start() are in the wheel already: the first tick catches up.
    if (this.#tracked > 0) this.#arm();
    const loop = (): void => {
      if (!this.#running) return;
      void this.#reconcile();
      this.#reconcileTimer = this.#o.clock.setTimer(this.#interval, loop);
    };
    loop();
  }

  /** Stop pinging and forget every binding (pings in flight are abandoned, nothing is written). */
  stop(): void {
    this.#running = false;
    this.#reconcileTimer?.cancel();
    this.#reconcileTimer = undefined;
    this.#tickTimer?.cancel();
    this.#tickTimer = undefined;
    for (const e of this.#all()) this.#untrack(e);
    for (const slot of this.#ring) slot.length = 0;
    this.#dirty.length = 0;
  }

  /**
   * Bindings a REGISTER through this node added or refreshed (others' are ignored). A refresh
   * proves the phone alive: its miss count starts over.
   */
  track(bindings: readonly Binding[]): void {
    for (const b of bindings) this.#upsert(b, this.#gen, true);
  }

  /** Stop pinging these bindings (they were removed); nothing is written. */
  untrack(refs: readonly BindingRef[]): void {
    for (const r of refs) {
      const e = this.#find(r.aor, r.key);
      if (e !== undefined) this.#untrack(e);
    }
  }

  /** A stream connection closed: its bindings are removed from the store (if this node still owns them). */
  onConnectionClosed(connectionId: number): void {
    for (const e of this.#onConnection(connectionId)) {
      this.#untrack(e);
      this.#removeFromStore(e, 'connection closed');
    }
  }

  stats(): NatKeepaliveStats {
    return { ...this.#stats, tracked: this.#tracked };
  }

  /** The first tick at or after `ms`. */
  #tickAt(ms: number): number {
    return Math.ceil((ms - this.#t0) / TICK_MS);
  }

  #find(aor: string, key: string): Entry | undefined {
    for (let e = this.#byAor.get(aor); e !== undefined; e = e.next) if (e.key === key) return e;
    return undefined;
  }

  #all(): Entry[] {
    const out: Entry[] = [];
    for (const head of this.#byAor.values()) for (let e: Entry | undefined = head; e !== undefined; e = e.next) out.push(e);
    return out;
  }

  // ---- the binding set ----

  #upsert(b: Binding, gen: number, registered: boolean): void {
    if (b.flow.nodeId !== this.#o.nodeId) return;
    const now = this.#o.clock.now();
    let e = this.#find(b.aor, b.key);
    const stream = b.flow.protocol !== 'udp';
    if (b.expiresAtMs <= now || (!stream && !this.#enabled) || (stream && b.flow.connectionId === undefined)) {
      if (e !== undefined) this.#untrack(e);
      return;
    }
    const conn = connectionOf(b);
    if (stream && (e === undefined || e.connectionId !== conn) && !this.#o.transport.isConnectionOpen(conn)) {
      // Its connection is gone (it closed before we heard of the binding, or this node restarted).
      if (e !== undefined) this.#untrack(e);
      this.#removeFromStore({ aor: b.aor, key: b.key }, 'connection gone');
      return;
    }
    if (e === undefined) {
      e = new Entry(b, this.#tickAt(b.expiresAtMs), gen);
      e.next = this.#byAor.get(b.aor);
      this.#byAor.set(b.aor, e);
      this.#tracked++;
      this.#index(e);
      if (this.#enabled) {
        e.nextPingTick = this.#tickAt(now + this.#random() * this.#interval);
        this.#place(e, e.nextPingTick);
      }
      return;
    }
    e.gen = gen;
    e.contact = sameText(b.contact, e.key);
    e.expiresTick = this.#tickAt(b.expiresAtMs);
    e.path = b.path.length === 0 ? undefined : b.path;
    if (e.protocol !== b.flow.protocol || e.address !== b.flow.address || e.port !== b.flow.port || e.localPort !== b.flow.localPort || e.connectionId !== conn) {
      // Another flow (a NAT rebinding, a new connection): its round trip starts over.
      this.#unindex(e);
      e.protocol = b.flow.protocol;
      e.address = b.flow.address;
      e.port = b.flow.port;
      e.localPort = b.flow.localPort;
      e.connectionId = conn;
      e.rtt10 = -1;
      this.#index(e);
    }
    if (registered) e.misses = 0;
  }

  #index(e: Entry): void {
    if (e.connectionId === NO_CONNECTION) return;
    const on = this.#byConnection.get(e.connectionId);
    if (on === undefined) this.#byConnection.set(e.connectionId, e);
    else if (Array.isArray(on)) on.push(e);
    else if (on !== e) this.#byConnection.set(e.connectionId, [on, e]);
  }

  #unindex(e: Entry): void {
    if (e.connectionId === NO_CONNECTION) return;
    const on = this.#byConnection.get(e.connectionId);
    if (on === e) this.#byConnection.delete(e.connectionId);
    else if (Array.isArray(on)) {
      const rest = on.filter((x) => x !== e);
      this.#byConnection.set(e.connectionId, rest.length === 1 ? rest[0] : rest);
    }
  }

  /** The bindings on a stream connection (a copy). */
  #onConnection(connectionId: number): Entry[] {
    const on = this.#byConnection.get(connectionId);
    return on === undefined ? [] : Array.isArray(on) ? [...on] : [on];
  }

  #untrack(e: Entry): void {
    if (!e.tracked) return;
    e.tracked = false;
    e.tick = -1;
    this.#unlink(e);
    this.#unindex(e);
    const f = e.flight;
    if (f !== undefined) {
      e.flight = undefined;
      f.done = true;
      f.txn?.abort();
      f.txn = undefined;
    }
  }

  #unlink(e: Entry): void {
    const head = this.#byAor.get(e.aor);
    if (head === e) {
      if (e.next === undefined) this.#byAor.delete(e.aor);
      else this.#byAor.set(e.aor, e.next);
    } else {
      let prev = head;
      while (prev !== undefined && prev.next !== e) prev = prev.next;
      if (prev === undefined) return;
      prev.next = e.next;
    }
    e.next = undefined;
    this.#tracked--;
  }

  #removeFromStore(ref: BindingRef, reason: string): void {
    const { store, nodeId } = this.#o;
    Promise.resolve()
      .then(() => store.removeBinding({ aor: ref.aor, key: ref.key }, nodeId))
      .then(
        (removed) => {
          if (!removed) return;
          this.#stats.removed++;
          this.#log.info({ aor: ref.aor, key: ref.key, reason }, 'binding removed by keep-alive');
        },
        (err: unknown) => this.#log.warn({ err, aor: ref.aor, key: ref.key, reason }, 'keep-alive could not remove a binding'),
      );
  }

  /** One read of this node's bindings: adds the new ones (handed over, registered elsewhere), drops the rest. */
  async #reconcile(): Promise<void> {
    if (this.#reconciling) return;
    this.#reconciling = true;
    const gen = ++this.#gen;
    let bindings: Binding[];
    try {
      bindings = await this.#o.store.bindingsOwnedBy(this.#o.nodeId);
    } catch (err) {
      this.#log.warn({ err }, 'keep-alive: this node\'s bindings could not be read; keeping the current schedule');
      return;
    } finally {
      this.#reconciling = false;
    }
    if (!this.#running) return;
    for (const b of bindings) this.#upsert(b, gen, false);
    // Not in the read and not tracked while it ran: removed, expired, or owned by another node now.
    for (const e of this.#all()) if (e.gen !== gen) this.#untrack(e);
  }

  // ---- the wheel ----

  #arm(): void {
    if (this.#tickTimer !== undefined || !this.#running || this.#inTick) return;
    const clock = this.#o.clock;
    const delay = Math.max(0, this.#t0 + (this.#lastTick + 1) * TICK_MS - clock.now());
    this.#tickTimer = clock.setTimer(delay, () => {
      this.#tickTimer = undefined;
      this.#tick();
    });
  }

  /** Put `e` in the slot of tick `tick` (the next tick at the earliest). */
  #place(e: Entry, tick: number): void {
    if (this.#tickTimer === undefined && this.#running && !this.#inTick) {
      // The wheel was idle: it resumes from now, not from where it stopped.
      this.#lastTick = Math.max(this.#lastTick, Math.floor((this.#o.clock.now() - this.#t0) / TICK_MS) - 1);
    }
    const t = tick <= this.#lastTick ? this.#lastTick + 1 : tick;
    if (t === e.tick) return;
    e.tick = t;
    this.#ring[t % this.#ring.length].push(e);
    this.#arm();
  }

  #tick(): void {
    if (!this.#running) return;
    const now = this.#o.clock.now();
    const target = Math.floor((now - this.#t0) / TICK_MS);
    const size = this.#ring.length;
    this.#inTick = true;
    try {
      this.#advance(now, target, size);
      this.#flushRtts(now);
    } finally {
      this.#inTick = false;
    }
    if (this.#tracked > 0 || this.#dirty.length > 0) this.#arm();
  }

  #advance(now: number, target: number, size: number): void {
    // After a long stall every slot is visited once; due entries are found by their tick.
    for (let t = Math.max(this.#lastTick + 1, target - size + 1); t <= target; t++) {
      this.#lastTick = t;
      const index = t % size;
      const slot = this.#ring[index];
      if (slot.length === 0) continue;
      this.#ring[index] = [];
      for (const e of slot) {
        if (e.tick < 0 || e.tick % size !== index) continue; // stale copy: the entry moved or left
        if (e.tick > t) {
          this.#ring[index].push(e); // due a revolution later
          continue;
        }
        e.tick = -1; // a second copy in this slot is stale now
        this.#due(e, t, now);
      }
    }
    this.#lastTick = Math.max(this.#lastTick, target);
  }

  #due(e: Entry, tick: number, now: number): void {
    if (!e.tracked) return;
    if (tick >= e.expiresTick) {
      this.#untrack(e); // expired: the store drops it by itself
      return;
    }
    if (e.flight !== undefined) {
      this.#settle(e.flight, false); // the deadline passed
      return;
    }
    this.#ping(e, now);
  }

  // ---- pings ----

  #ping(e: Entry, now: number): void {
    e.nextPingTick = this.#tickAt(now + this.#interval * (1 - JITTER + 2 * JITTER * this.#random()));
    this.#stats.pingsSent++;
    if (e.protocol === 'udp') {
      this.#sendOptions(e, now);
      return;
    }
    const opts = this.#kaOpts;
    opts.remote.address = e.address;
    opts.remote.port = e.port;
    if (!this.#o.transport.keepalive(e.connectionId, opts)) {
      this.#untrack(e);
      this.#removeFromStore(e, 'connection gone');
      return;
    }
    this.#place(e, e.nextPingTick);
  }

  #sendOptions(e: Entry, now: number): void {
    const flight = new Flight(e, now, this.#sink);
    e.flight = flight;
    this.#place(e, this.#tickAt(now + this.#o.config.timeout));
    const target: Target = { protocol: 'udp', address: e.address, port: e.port, localPort: e.localPort };
    try {
      const txn = this.#o.layer.sendRequest(this.#request(e), target, flight);
      if (flight.done) txn.abort();
      else flight.txn = txn;
    } catch (err) {
      this.#log.debug({ err, aor: e.aor, contact: e.contact }, 'keep-alive OPTIONS not sent');
      this.#settle(flight, false);
    }
  }

  /** OPTIONS out of any dialog: fresh branch, Call-ID and From tag per ping (RFC 3261 §8.1.1). */
  #request(e: Entry): SipRequest {
    const sender = this.#sender(e.localPort);
    const headers: HeaderField[] = [field('Via', 'via', `${sender.via}${generateBranch()};rport`)];
    if (e.path !== undefined) for (const hop of e.path) headers.push(field('Route', 'route', hop));
    headers.push(
      field('Max-Forwards', 'max-forwards', '70'),
      field('From', 'from', `<sip:${KEEPALIVE_USER}@${sender.host}>;tag=${generateTag()}`),
      field('To', 'to', `<${e.contact}>`),
      field('Call-ID', 'call-id', generateCallId(sender.host)),
      field('CSeq', 'cseq', '1 OPTIONS'),
      field('Content-Length', 'content-length', '0'),
    );
    return new SipRequest('OPTIONS', e.contact, headers, EMPTY);
  }

  #sender(localPort: number): { readonly via: string; readonly host: string } {
    let s = this.#senders.get(localPort);
    if (s === undefined) {
      const l = this.#o.identity.listenerOf({
        protocol: 'udp',
        localAddress: '',
        localPort,
        remoteAddress: '',
        remotePort: 0,
        connectionId: undefined,
      });
      const host = uriHost(l.advertisedHost);
      s = { via: `SIP/2.0/UDP ${host}:${l.port};branch=`, host };
      this.#senders.set(localPort, s);
    }
    return s;
  }

  #settle(flight: Flight, answered: boolean): void {
    if (flight.done) return;
    flight.done = true;
    // Answered: the transaction has nothing left to do (Timer K only absorbs retransmissions).
    flight.txn?.abort();
    flight.txn = undefined;
    const e = flight.entry;
    if (e.flight !== flight) return;
    e.flight = undefined;
    if (!e.tracked) return;
    const now = this.#o.clock.now();
    if (answered) {
      this.#stats.pongs++;
      e.misses = 0;
      this.#recordRtt(e, now - flight.sentAt);
    } else {
      this.#stats.misses++;
      e.misses++;
      if (e.misses >= this.#o.config.misses) {
        this.#untrack(e);
        this.#removeFromStore(e, `${e.misses} keep-alive pings missed`);
        return;
      }
    }
    this.#place(e, e.nextPingTick);
  }

  #pong(connectionId: number, rttMs: number): void {
    for (const e of this.#onConnection(connectionId)) {
      this.#stats.pongs++;
      e.misses = 0;
      this.#recordRtt(e, rttMs);
    }
  }

  // ---- round trips ----

  #recordRtt(e: Entry, sample: number): void {
    const rtt10 = Math.round(Math.max(0, sample) * 10);
    e.rtt10 = e.rtt10 < 0 ? rtt10 : Math.round(e.rtt10 + RTT_ALPHA * (rtt10 - e.rtt10));
    if (!e.rttDirty) {
      e.rttDirty = true;
      this.#dirty.push(e);
    }
    this.#arm();
  }

  #flushRtts(now: number): void {
    if (this.#dirty.length === 0 || this.#flushing || now - this.#lastFlush < RTT_FLUSH_MS) return;
    this.#lastFlush = now;
    const samples: (BindingRef & { rttMs: number })[] = [];
    for (const e of this.#dirty) {
      e.rttDirty = false;
      if (e.tracked && e.rtt10 >= 0) samples.push({ aor: e.aor, key: e.key, rttMs: e.rtt10 / 10 });
    }
    this.#dirty.length = 0;
    if (samples.length === 0) return;
    this.#flushing = true;
    void (async () => {
      try {
        for (let i = 0; i < samples.length; i += RTT_BATCH) await this.#o.store.recordPingRtts(samples.slice(i, i + RTT_BATCH));
      } catch (err) {
        this.#log.debug({ err, samples: samples.length }, 'keep-alive round trips not stored');
      } finally {
        this.#flushing = false;
      }
    })();
  }
}
