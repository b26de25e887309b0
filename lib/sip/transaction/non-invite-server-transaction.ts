import { InvalidStateError } from '../message/errors.js';
import type { SipRequest, SipResponse } from '../message/message.js';
import { isReliable, type Inbound } from '../transport/transport.js';
import type { ServerTransactionDelegate } from './delegates.js';
import { timerJ } from './timers.js';
import { Transaction, type PredecessorTable, type TransactionContext } from './transaction.js';

/** RFC 3261 §17.2.2. */
export type NonInviteServerState = 'trying' | 'proceeding' | 'completed' | 'terminated';
type Live = Exclude<NonInviteServerState, 'terminated'>;

const PREDECESSORS: PredecessorTable<Live> = {
  trying: [],
  proceeding: ['trying'],
  completed: ['trying', 'proceeding'],
};

/**
 * Non-INVITE server transaction (RFC 3261 §17.2.2), CANCEL included:
 *
 *   state        event                   action                          next
 *   trying       request (retx)          discard                         trying
 *   trying/      1xx from TU             send                            proceeding
 *    proceeding  200-699 from TU         send, Timer J                   completed
 *   proceeding   request (retx)          re-send last provisional        proceeding
 *   completed    request (retx)          re-send final response          completed
 *   completed    response from TU        discard                         completed
 *   completed    Timer J (64*T1 / 0)     -                               terminated
 *   any          transport error         inform TU (RFC 6026 §8.8)       unchanged
 */
export class NonInviteServerTransaction extends Transaction<Live> {
  readonly kind = 'non-invite-server' as const;
  /** Hook for transport errors; the TU sets it in onRequest / onCancel. */
  delegate: ServerTransactionDelegate | undefined;
  private last: SipResponse | undefined;

  constructor(
    id: string,
    readonly request: SipRequest,
    readonly inbound: Inbound,
    context: TransactionContext,
  ) {
    super(id, 'trying', PREDECESSORS, context, isReliable(inbound.source.protocol));
  }

  /** The most recent response sent, if any. */
  get lastResponse(): SipResponse | undefined {
    return this.last;
  }

  /**
   * Sends a response from the TU. In Completed the response is discarded as
   * §17.2.2 demands; after termination it throws InvalidStateError.
   */
  respond(res: SipResponse): void {
    const status = res.status;
    if (!Number.isInteger(status) || status < 100 || status > 699) throw new RangeError(`bad status ${status}`);
    switch (this.state) {
      case 'trying':
      case 'proceeding':
        this.last = res;
        this.send(res, this.inbound.source);
        if (status < 200) {
          // §17.2.2: "While in the 'Trying' state, if the TU passes a provisional response to
          // the server transaction, the server transaction MUST enter the 'Proceeding' state."
          if (this.state === 'trying') this.transition('proceeding');
          return;
        }
        // "If the TU passes a final response (status codes 200-699) to the server while in the
        // 'Proceeding' [or 'Trying'] state, the transaction MUST enter the 'Completed' state".
        this.transition('completed');
        // "When the server transaction enters the 'Completed' state, it MUST set Timer J to fire
        // in 64*T1 seconds for unreliable transports, and zero seconds for reliable transports."
        this.startTimer('J', timerJ(this.context.timers, this.reliable), () => this.transition('terminated'));
        return;
      case 'completed':
        // "Any other final responses passed by the TU to the server transaction MUST be
        // discarded while in the 'Completed' state."
        return;
      case 'terminated':
        throw new InvalidStateError(`non-INVITE server transaction ${this.id}: cannot send ${status} after termination`);
    }
  }

  /** A retransmission of the request, matched by the layer (§17.2.3). */
  receiveRequest(): void {
    switch (this.state) {
      case 'trying':
        // "Once in the 'Trying' state, any further request retransmissions are discarded."
        return;
      case 'proceeding':
      // "If a retransmission of the request is received while in the 'Proceeding' state, the
      // most recently sent provisional response MUST be passed to the transport layer".
      case 'completed':
        // "the server transaction MUST pass the final response to the transport layer for
        // retransmission whenever a retransmission of the request is received."
        if (this.last !== undefined) this.send(this.last, this.inbound.source);
        return;
      case 'terminated':
        return;
    }
  }

  /** RFC 6026 §8.8: inform the TU and "remain in the current state"; Timer J still ends it. */
  protected override onTransportFailure(err: Error): void {
    this.delegate?.onTransportError?.(err);
  }
}
