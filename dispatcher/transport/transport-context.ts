/**
 * What every transport of one `SipTransportLayer` shares: limits, counters, the connection pool,
 * the logger, and the way up to the delegate (the transaction layer).
 */
import type { Logger } from '../../shared/log.ts';
import { ConnectionPool } from './connection-pool.ts';
import type { Flow, TransportDelegate, TransportLimits, TransportStats } from './transport.ts';

/** The contract's counters plus the ones only this implementation has. */
export interface SipTransportStats extends TransportStats {
  /** UDP datagrams dropped for exceeding maxMessageBytes. */
  datagramsDropped: number;
}

export interface TransportContext {
  readonly limits: Readonly<TransportLimits>;
  /** Mutable counters; `openConnections` is filled in from the pool when read. */
  readonly stats: SipTransportStats;
  readonly pool: ConnectionPool;
  readonly logger: Logger;
  /** Hands one complete message up; a throwing delegate is logged, never fatal to the socket. */
  deliver(data: Buffer, flow: Flow): void;
  /** Reports a closed stream connection up. */
  connectionClosed(flow: Flow, reason: string): void;
}

export function createTransportContext(delegate: TransportDelegate, limits: Readonly<TransportLimits>, logger: Logger): TransportContext {
  const stats: SipTransportStats = {
    openConnections: 0,
    messagesIn: 0,
    messagesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    connectionsRefused: 0,
    streamErrors: 0,
    datagramsDropped: 0,
  };
  return {
    limits,
    stats,
    pool: new ConnectionPool(limits),
    logger,
    deliver(data, flow) {
      stats.messagesIn++;
      try {
        delegate.onMessage(data, flow);
      } catch (err) {
        logger.error({ err, flow }, 'transport delegate onMessage threw');
      }
    },
    connectionClosed(flow, reason) {
      logger.debug({ flow, reason }, 'connection closed');
      try {
        delegate.onConnectionClosed?.(flow, reason);
      } catch (err) {
        logger.error({ err, flow }, 'transport delegate onConnectionClosed threw');
      }
    },
  };
}
