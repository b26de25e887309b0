import { InvalidStateError } from '../message/errors.js';
import type { SipRequest, SipResponse } from '../message/message.js';
import { isReliable, type Address, type Inbound } from '../transport/transport.js';
import type { ClientTransactionDelegate } from './delegates.js';
import { timerE, timerF, timerK } from './timers.js';
import { Transaction, type PredecessorTable, type TransactionContext } from './transaction.js';

/** RFC 3261 §17.1.2.2. */
export type NonInviteClientState = 'trying' | 'proceeding' | 'completed' | 'terminated';
type Live = Exclude<NonInviteClientState, 'terminated'>;

const PREDECESSORS: PredecessorTable<Live> = {
  trying: [],
  proceeding: ['trying'],
  completed: ['trying', 'proceeding'],
};

/** Timers E and F run through Trying and Proceeding (§17.1.2.2). */
const E_F_SCOPE: readonly Live[] = ['trying', 'proceeding'];

/**
 * Non-INVITE client transaction (RFC 3261 §17.1.2), used for every request
 * but INVITE and ACK, CANCEL included:
 *
 *   state        event                  action                          next
 *   trying       Timer E (UDP only)     retransmit, E = min(2*E, T2)    trying
 *   trying/      Timer F (64*T1)        inform TU (onTimeout)           terminated
 *    proceeding  1xx                    pass to TU                      proceeding
 *                200-699                pass to TU, Timer K             completed
 *   proceeding   Timer E (UDP only)     retransmit, E = T2              proceeding
 *   completed    any response (retx)    absorb                          completed
 *   completed    Timer K (T4 / 0)       -                               terminated
 *   any          transport error        inform TU                       terminated
 */
export class NonInviteClientTransaction extends Transaction<Live> {
  readonly kind = 'non-invite-client' as const;
  private started = false;

  constructor(
    id: string,
    readonly request: SipRequest,
    readonly destination: Address,
    context: TransactionContext,
    private readonly delegate: ClientTransactionDelegate,
  ) {
    super(id, 'trying', PREDECESSORS, context, isReliable(destination.protocol));
  }

  /** Sends the request and arms Timers E and F. Called once, by the layer, after registering the transaction. */
  start(): void {
    if (this.started) throw new InvalidStateError(`non-INVITE client transaction ${this.id} already started`);
    this.started = true;
    this.send(this.request, this.destination);
    // §17.1.2.2: "If an unreliable transport is in use, the client transaction MUST set timer E to fire in T1 seconds."
    if (!this.reliable) this.armTimerE(timerE(this.context.timers));
    // "The 'Trying' state is entered ... Timer F MUST be set to fire in 64*T1 seconds."
    this.startTimer('F', timerF(this.context.timers), () => this.timeout(), E_F_SCOPE);
  }

  /** A response the layer matched to this transaction (§17.1.3). */
  receiveResponse(res: SipResponse, inbound: Inbound): void {
    switch (this.state) {
      case 'trying':
      case 'proceeding':
        if (res.status < 200) {
          // "If a provisional response is received while in the 'Trying' state, the response
          // MUST be passed to the TU, and then the client transaction SHOULD move to the
          // 'Proceeding' state." Timer E keeps running and is reset to T2 when it next fires.
          if (this.state === 'trying') this.transition('proceeding');
          this.delegate.onResponse(res, inbound);
        } else {
          // "If a final response (status codes 200-699) is received while in the 'Trying'
          // [or 'Proceeding'] state, the response MUST be passed to the TU, and the client
          // transaction MUST transition to the 'Completed' state." Leaving Proceeding cancels E and F.
          this.transition('completed');
          this.delegate.onResponse(res, inbound);
          // "Once the client transaction enters the 'Completed' state, it MUST set Timer K to
          // fire in T4 seconds for unreliable transports, and zero seconds for reliable transports."
          this.startTimer('K', timerK(this.context.timers, this.reliable), () => this.transition('terminated'));
        }
        return;
      case 'completed':
        // "The 'Completed' state exists to buffer any additional response retransmissions that may be received".
        return;
      case 'terminated':
        return;
    }
  }

  /**
   * Timer E: in Trying "reset with a value of MIN(2*T1, T2)"; in Proceeding "the request MUST
   * be passed to the transport layer for retransmission, and Timer E MUST be reset with a value of T2".
   */
  private armTimerE(ms: number): void {
    this.startTimer(
      'E',
      ms,
      () => {
        this.send(this.request, this.destination);
        this.armTimerE(timerE(this.context.timers, ms, this.state === 'proceeding'));
      },
      E_F_SCOPE,
    );
  }

  /** Timer F: "If Timer F fires while the client transaction is still in the 'Trying' [or 'Proceeding'] state ... inform the TU". */
  private timeout(): void {
    this.transition('terminated');
    this.delegate.onTimeout();
  }

  /** RFC 3261 §17.1.4: inform the TU and "transition directly to the 'Terminated' state". */
  protected override onTransportFailure(err: Error): void {
    this.transition('terminated');
    this.delegate.onTransportError(err);
  }
}
