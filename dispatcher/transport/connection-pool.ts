/**
 * Registry of live stream connections (TCP, TLS, WS, WSS) shared by every stream transport of a
 * node, plus the connection caps.
 *
 * - Connections are found by id (a flow's `connectionId`) or by `protocol|address|port`: outgoing
 *   ones under their target, inbound ones under the peer's address, so a send to a peer reuses
 *   whichever connection exists (connection reuse both ways, RFC 5923 spirit; RFC 3261 §18.2.2
 *   sends responses back over the connection the request came on).
 * - Caps count raw sockets from accept (before a TLS or WebSocket handshake completes) to close,
 *   so half-open handshakes cannot exhaust the node: `maxConnections` in total and
 *   `connectionsPerIp` per remote IP for inbound sockets.
 */
import type { Flow, TransportLimits, TransportProtocol } from './transport.ts';

/** A stream connection as the pool and the transport layer see it. */
export interface PooledConnection {
  readonly id: number;
  readonly flow: Flow;
  readonly isOpen: boolean;
  /** Resolves once written to the socket; rejects with TRANSPORT_ERR_SEND. */
  send(data: Buffer): Promise<void>;
  /** Closes the connection; `reason` reaches `onConnectionClosed`. */
  close(reason: string): void;
  /** Settles when the underlying socket is closed. */
  readonly closed: Promise<void>;
  /**
   * Send a keep-alive (CRLFCRLF on TCP/TLS, a ping frame on WS/WSS); false when the connection is
   * not open. `onPong` hears the round trip when the peer answers before the next keep-alive.
   */
  ping(onPong?: PongListener): boolean;
}

/** Told of a keep-alive answer: the connection and the round trip (ms). */
export type PongListener = (connectionId: number, rttMs: number) => void;

let lastConnectionId = 0;

/** Connection ids are unique within the process. */
export function nextConnectionId(): number {
  return ++lastConnectionId;
}

export function poolKey(protocol: TransportProtocol, address: string, port: number): string {
  return `${protocol}|${address}|${port}`;
}

export class ConnectionPool {
  readonly #byId = new Map<number, PooledConnection>();
  readonly #byKey = new Map<string, PooledConnection>();
  readonly #keyOf = new Map<number, string>();
  readonly #slotsByIp = new Map<string, number>();
  #slots = 0;
  readonly #limits: Pick<TransportLimits, 'maxConnections' | 'connectionsPerIp'>;

  constructor(limits: Pick<TransportLimits, 'maxConnections' | 'connectionsPerIp'>) {
    this.#limits = limits;
  }

  /** Takes a socket slot; false when a cap is reached. `perIp` applies connectionsPerIp (inbound). */
  tryAcquire(ip: string, perIp: boolean): boolean {
    if (this.#slots >= this.#limits.maxConnections) return false;
    const used = this.#slotsByIp.get(ip) ?? 0;
    if (perIp && used >= this.#limits.connectionsPerIp) return false;
    this.#slots++;
    this.#slotsByIp.set(ip, used + 1);
    return true;
  }

  /** Gives back a slot taken by `tryAcquire` (call once, when the socket closes). */
  release(ip: string): void {
    const used = this.#slotsByIp.get(ip) ?? 0;
    if (used <= 0) return;
    this.#slots--;
    if (used === 1) this.#slotsByIp.delete(ip);
    else this.#slotsByIp.set(ip, used - 1);
  }

  /** Registers a ready connection under its id and `key` (the latest connection for a key wins). */
  add(conn: PooledConnection, key: string): void {
    this.#byId.set(conn.id, conn);
    this.#byKey.set(key, conn);
    this.#keyOf.set(conn.id, key);
  }

  remove(conn: PooledConnection): void {
    this.#byId.delete(conn.id);
    const key = this.#keyOf.get(conn.id);
    this.#keyOf.delete(conn.id);
    if (key !== undefined && this.#byKey.get(key) === conn) this.#byKey.delete(key);
  }

  /** An open connection by id. */
  byId(id: number): PooledConnection | undefined {
    const conn = this.#byId.get(id);
    return conn?.isOpen ? conn : undefined;
  }

  /** An open connection registered under `protocol|address|port`. */
  byKey(key: string): PooledConnection | undefined {
    const conn = this.#byKey.get(key);
    return conn?.isOpen ? conn : undefined;
  }

  /** Registered (ready) connections. */
  get size(): number {
    return this.#byId.size;
  }

  connections(): PooledConnection[] {
    return [...this.#byId.values()];
  }
}
