import type { SipResponse } from '../message/message.js';
import type { Inbound } from '../transport/transport.js';

/** How a client transaction reports to the TU that started it (RFC 3261 §17.1). */
export interface ClientTransactionDelegate {
  /**
   * A response the transaction passes up: every provisional response, the
   * first non-2xx final response, and - RFC 6026 §7.2 - every 2xx, including
   * retransmissions and 2xx from other forks.
   */
  onResponse(res: SipResponse, inbound: Inbound): void;
  /** Timer B or F fired before a final response arrived (§17.1.1.2, §17.1.2.2). */
  onTimeout(): void;
  /** The transport failed; the transaction has terminated (§17.1.4). */
  onTransportError(err: Error): void;
}

/** Optional hooks of a server transaction; set `tx.delegate` in `TransactionUser.onRequest`. */
export interface ServerTransactionDelegate {
  /** INVITE only: Timer H fired, the ACK for a non-2xx final response never came (§17.2.1). */
  onTimeout?(): void;
  /**
   * Sending a response failed. RFC 6026 §8.8: the server transaction "SHOULD
   * inform the TU that a failure has occurred, and MUST remain in the current
   * state" - the TU may close() it.
   */
  onTransportError?(err: Error): void;
}
