/**
 * An in-memory `TransportLayer` for transaction and proxy tests, and for the start-up warm-up
 * (dispatcher/proxy-warm-up.ts): no sockets, no real time.
 * It records every buffer handed to `send` with its target, lets a test inject inbound messages
 * on a flow of its choosing, and can be told to fail sends to some targets (the promise rejects
 * with a TRANSPORT_ERR_SEND `SipfleetError`, as the real layer does).
 */
import { SENT, type Flow, type ListenerInfo, type Target, type TransportDelegate, type TransportLayer, type TransportProtocol, type TransportStats } from './transport.ts';
import { sendError, transportUrl } from './transport-errors.ts';

export interface SentRecord {
  readonly data: Buffer;
  readonly target: Target;
  /** The bytes as a latin1 string (one char per octet), handy for assertions. */
  readonly text: string;
  /** False when the send was made to fail. */
  readonly ok: boolean;
}

/** Which targets a send matches: a partial target (every given field must be equal) or a predicate. */
export type TargetMatch = Partial<Target> | ((target: Target) => boolean);

export interface FlowOptions {
  protocol?: TransportProtocol;
  remoteAddress: string;
  remotePort: number;
  connectionId?: number | undefined;
  /** Defaults to the first listener of the protocol. */
  localAddress?: string;
  localPort?: number;
}

export const DEFAULT_FAKE_LISTENERS: readonly ListenerInfo[] = Object.freeze([
  Object.freeze({ protocol: 'udp', address: '192.0.2.100', port: 5060, advertisedHost: '192.0.2.100' } satisfies ListenerInfo),
]);

function matches(match: TargetMatch, target: Target): boolean {
  if (typeof match === 'function') return match(target);
  for (const [key, value] of Object.entries(match)) {
    if (value !== undefined && (target as unknown as Record<string, unknown>)[key] !== value) return false;
  }
  return true;
}

export class FakeTransport implements TransportLayer {
  /** Every send, in order (failed ones too, with `ok: false`). */
  readonly sent: SentRecord[] = [];
  delegate: TransportDelegate | undefined;
  readonly #listeners: readonly ListenerInfo[];
  readonly #failing: TargetMatch[] = [];
  readonly #open = new Set<number>();
  #started = false;
  #closed = false;
  readonly #stats: TransportStats = {
    openConnections: 0,
    messagesIn: 0,
    messagesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    connectionsRefused: 0,
    streamErrors: 0,
  };

  constructor(listeners: readonly ListenerInfo[] = DEFAULT_FAKE_LISTENERS, delegate?: TransportDelegate) {
    this.#listeners = listeners;
    this.delegate = delegate;
  }

  get started(): boolean {
    return this.#started;
  }

  get closed(): boolean {
    return this.#closed;
  }

  // ---- TransportLayer ----

  async start(): Promise<void> {
    this.#started = true;
  }

  send(data: Buffer, target: Target): Promise<void> {
    const copy = Buffer.from(data);
    const ok = !this.#failing.some((m) => matches(m, target));
    this.sent.push({ data: copy, target: { ...target }, text: copy.toString('latin1'), ok });
    if (!ok) {
      return Promise.reject(sendError(transportUrl(target.protocol, target.address, target.port), new Error('fake send failure')));
    }
    this.#stats.messagesOut++;
    this.#stats.bytesOut += data.length;
    // As a UDP listener does for a datagram the kernel took at once.
    return SENT;
  }

  listeners(): readonly ListenerInfo[] {
    return this.#listeners;
  }

  listenerFor(protocol: TransportProtocol): ListenerInfo | undefined {
    return this.#listeners.find((l) => l.protocol === protocol);
  }

  isConnectionOpen(connectionId: number): boolean {
    return this.#open.has(connectionId);
  }

  stats(): TransportStats {
    return { ...this.#stats, openConnections: this.#open.size };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#open.clear();
  }

  // ---- test controls ----

  /** Deliver one inbound message to the delegate, as if it arrived on `flow`. */
  inject(message: Buffer | string, flow: Flow | FlowOptions): void {
    if (this.delegate === undefined) throw new Error('FakeTransport.inject: no delegate attached');
    const data = typeof message === 'string' ? Buffer.from(message, 'latin1') : message;
    const f = this.flow(flow);
    if (f.connectionId !== undefined) this.#open.add(f.connectionId);
    this.#stats.messagesIn++;
    this.#stats.bytesIn += data.length;
    this.delegate.onMessage(data, f);
  }

  /** A full `Flow`; local address/port default to the first listener of the protocol. */
  flow(opts: Flow | FlowOptions): Flow {
    const protocol = opts.protocol ?? 'udp';
    const listener = this.listenerFor(protocol) ?? this.#listeners[0];
    return {
      protocol,
      localAddress: opts.localAddress ?? listener?.address ?? '0.0.0.0',
      localPort: opts.localPort ?? listener?.port ?? 5060,
      remoteAddress: opts.remoteAddress,
      remotePort: opts.remotePort,
      connectionId: opts.connectionId ?? undefined,
    };
  }

  /** Make sends to matching targets reject until `succeedSends()`. */
  failSendsTo(match: TargetMatch): void {
    this.#failing.push(match);
  }

  /** Stop failing any sends. */
  succeedSends(): void {
    this.#failing.length = 0;
  }

  /** Mark a stream connection open or closed (for `isConnectionOpen`). */
  setConnectionOpen(connectionId: number, open = true): void {
    if (open) this.#open.add(connectionId);
    else this.#open.delete(connectionId);
  }

  /** Sends to targets matching `match` (successful ones only unless `includeFailed`). */
  sentTo(match: TargetMatch, includeFailed = false): SentRecord[] {
    return this.sent.filter((s) => (includeFailed || s.ok) && matches(match, s.target));
  }

  /** Remove and return everything recorded so far. */
  take(): SentRecord[] {
    return this.sent.splice(0);
  }

  clear(): void {
    this.sent.length = 0;
  }
}
