/**
 * Upward delegates of the transaction layer (RFC 3261 §17: the Transaction User, TU).
 * The proxy core implements these; transactions never import the proxy.
 */
import type { SipRequest, SipResponse } from '../../shared/sip/index.ts';
import type { Flow } from '../transport/transport.ts';
import type { ServerTransaction } from './server-transaction.ts';

export interface ServerTransactionUser {
  /** A new request (not a retransmission) with its server transaction. */
  onRequest(txn: ServerTransaction): void;
  /**
   * A CANCEL (RFC 3261 §9.2, §16.10). `invite` is the INVITE server transaction it targets, if
   * one is alive. The layer has created `txn` (a non-INVITE server transaction) for the CANCEL.
   */
  onCancel(txn: ServerTransaction, invite: ServerTransaction | undefined): void;
  /** An ACK that matched no server transaction: the ACK for a 2xx, forwarded end to end. */
  onStrayAck(ack: SipRequest, flow: Flow): void;
  /** A server transaction ended (any reason); lets the TU drop its per-transaction state. */
  onServerTransactionTerminated?(txn: ServerTransaction): void;
}

/** What a client transaction reports to whoever started it. */
export interface ClientTransactionUser {
  onResponse(res: SipResponse): void;
  /** Timer B or F fired: RFC 3261 §16.7 step 2 treats this as a 408. */
  onTimeout(): void;
  /** The transport could not send: RFC 3261 §8.1.3.1 treats this as a 503. */
  onTransportError(err: Error): void;
}
