import { InvalidStateError } from '../message/errors.js';
import type { SipRequest, SipResponse } from '../message/message.js';
import { isReliable, type Address, type Inbound } from '../transport/transport.js';
import type { ClientTransactionDelegate } from './delegates.js';
import { buildNon2xxAck } from './derived-requests.js';
import { timerA, timerB, timerD, timerM } from './timers.js';
import { Transaction, type PredecessorTable, type TransactionContext } from './transaction.js';

/** RFC 3261 §17.1.1.2 with the "Accepted" state of RFC 6026 §7.2. */
export type InviteClientState = 'calling' | 'proceeding' | 'accepted' | 'completed' | 'terminated';
type Live = Exclude<InviteClientState, 'terminated'>;

const PREDECESSORS: PredecessorTable<Live> = {
  calling: [],
  proceeding: ['calling'],
  accepted: ['calling', 'proceeding'],
  completed: ['calling', 'proceeding'],
};

/**
 * INVITE client transaction, RFC 3261 §17.1.1 as corrected by RFC 6026 §7.2:
 *
 *   state        event                  action                         next
 *   calling      Timer A (UDP only)     retransmit INVITE, A = 2*A     calling
 *   calling      Timer B (64*T1)        inform TU (onTimeout)          terminated
 *   calling/     1xx                    pass to TU                     proceeding
 *    proceeding  2xx                    pass to TU, Timer M            accepted
 *                300-699                send ACK, pass to TU, Timer D  completed
 *   accepted     2xx (any fork/retx)    pass to TU                     accepted
 *   accepted     Timer M (64*T1)        -                              terminated
 *   completed    300-699 (retx)         re-send the same ACK           completed
 *   completed    Timer D (32 s / 0)     -                              terminated
 *   any          transport error        inform TU                      terminated
 */
export class InviteClientTransaction extends Transaction<Live> {
  readonly kind = 'invite-client' as const;
  /** The ACK for the non-2xx final response, re-sent for each retransmission of it. */
  private ack: SipRequest | undefined;
  private started = false;

  constructor(
    id: string,
    readonly request: SipRequest,
    readonly destination: Address,
    context: TransactionContext,
    private readonly delegate: ClientTransactionDelegate,
  ) {
    super(id, 'calling', PREDECESSORS, context, isReliable(destination.protocol));
  }

  /** Sends the INVITE and arms Timers A and B. Called once, by the layer, after registering the transaction. */
  start(): void {
    if (this.started) throw new InvalidStateError(`INVITE client transaction ${this.id} already started`);
    this.started = true;
    this.send(this.request, this.destination);
    // RFC 3261 §17.1.1.2: "If an unreliable transport is being used, the
    // client transaction MUST start timer A with a value of T1."
    if (!this.reliable) this.armTimerA(timerA(this.context.timers));
    // "For any transport, the client transaction MUST start timer B with a value of 64*T1 seconds."
    this.startTimer('B', timerB(this.context.timers), () => this.timeout());
  }

  /** A response the layer matched to this transaction (§17.1.3). */
  receiveResponse(res: SipResponse, inbound: Inbound): void {
    const status = res.status;
    switch (this.state) {
      case 'calling':
      case 'proceeding':
        if (status < 200) {
          // §17.1.1.2: "If the client transaction receives a provisional response while in
          // the 'Calling' state, it transitions to the 'Proceeding' state." Timers A and B
          // belong to Calling and stop. "any further provisional responses MUST be passed up".
          if (this.state === 'calling') this.transition('proceeding');
          this.delegate.onResponse(res, inbound);
        } else if (status < 300) {
          // RFC 6026 §8.4: "If a 2xx response is received while the client INVITE state machine
          // is in the 'Calling' or 'Proceeding' states, it MUST transition to the 'Accepted'
          // state, pass the 2xx response to the TU, and set Timer M to 64*T1."
          // The ACK for a 2xx is the TU's (§13.2.2.4), never the transaction's.
          this.transition('accepted');
          this.delegate.onResponse(res, inbound);
          this.startTimer('M', timerM(this.context.timers), () => this.transition('terminated'));
        } else {
          // §17.1.1.2: "reception of a response with status code from 300-699 MUST cause the
          // client transaction to transition to 'Completed'. The client transaction MUST pass
          // the received response up to the TU, and the client transaction MUST generate an
          // ACK request". The ACK goes out first, so a TU that closes us cannot suppress it.
          this.transition('completed');
          this.ack = buildNon2xxAck(this.request, res);
          this.send(this.ack, this.destination);
          this.delegate.onResponse(res, inbound);
          // RFC 6026 §8.4: "The client transaction MUST start Timer D when it enters the
          // 'Completed' state for any reason".
          this.startTimer('D', timerD(this.context.timers, this.reliable), () => this.transition('terminated'));
        }
        return;
      case 'accepted':
        // RFC 6026 §8.4: "Any 2xx responses that match this client transaction and that are
        // received while in the 'Accepted' state MUST be passed up to the TU. The client
        // transaction MUST NOT generate an ACK to the 2xx response." - retransmissions and
        // 2xx from other forks alike. Anything else is dropped.
        if (status >= 200 && status < 300) this.delegate.onResponse(res, inbound);
        return;
      case 'completed':
        // §17.1.1.2: "Any retransmissions of the final response that are received while in
        // the 'Completed' state MUST cause the ACK to be re-passed to the transport layer for
        // retransmission, but the newly received response MUST NOT be passed up to the TU."
        if (status >= 300 && this.ack !== undefined) this.send(this.ack, this.destination);
        return;
      case 'terminated':
        return;
    }
  }

  /** The ACK this transaction generated for a non-2xx final response, if any. */
  get generatedAck(): SipRequest | undefined {
    return this.ack;
  }

  /**
   * Timer A: "When timer A fires, the client transaction MUST retransmit the request by
   * passing it to the transport layer, and MUST reset the timer with a value of 2*T1."
   */
  private armTimerA(ms: number): void {
    this.startTimer('A', ms, () => {
      this.send(this.request, this.destination);
      this.armTimerA(timerA(this.context.timers, ms));
    });
  }

  /** Timer B: "If the client transaction is still in the 'Calling' state when timer B fires, ... inform the TU". */
  private timeout(): void {
    this.transition('terminated');
    this.delegate.onTimeout();
  }

  /**
   * RFC 3261 §17.1.4: "the client transaction SHOULD inform the TU that a transport failure
   * has occurred, and the client transaction SHOULD transition directly to the 'Terminated' state."
   */
  protected override onTransportFailure(err: Error): void {
    this.transition('terminated');
    this.delegate.onTransportError(err);
  }
}
