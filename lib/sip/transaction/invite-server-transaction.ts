import { InvalidStateError } from '../message/errors.js';
import { createResponse, type SipRequest, type SipResponse } from '../message/message.js';
import { isReliable, type Inbound } from '../transport/transport.js';
import type { ServerTransactionDelegate } from './delegates.js';
import { timerG, timerH, timerI, timerL } from './timers.js';
import { Transaction, type PredecessorTable, type TransactionContext } from './transaction.js';

/** RFC 3261 §17.2.1 with the "Accepted" state of RFC 6026 §7.1. */
export type InviteServerState = 'proceeding' | 'completed' | 'confirmed' | 'accepted' | 'terminated';
type Live = Exclude<InviteServerState, 'terminated'>;

const PREDECESSORS: PredecessorTable<Live> = {
  proceeding: [],
  completed: ['proceeding'],
  confirmed: ['completed'],
  accepted: ['proceeding'],
};

/**
 * INVITE server transaction, RFC 3261 §17.2.1 as corrected by RFC 6026 §7.1:
 *
 *   state        event                   action                          next
 *   (created)    INVITE                  send 100 Trying                 proceeding
 *   proceeding   INVITE (retx)           re-send last provisional        proceeding
 *   proceeding   1xx from TU             send                            proceeding
 *   proceeding   2xx from TU             send, Timer L                   accepted
 *   proceeding   300-699 from TU         send, Timers G (UDP) and H      completed
 *   completed    INVITE (retx)           re-send final response          completed
 *   completed    Timer G (UDP only)      re-send, G = min(2*G, T2)       completed
 *   completed    Timer H (64*T1)         inform TU (onTimeout)           terminated
 *   completed    ACK                     Timer I                         confirmed
 *   confirmed    ACK / INVITE (retx)     absorb                          confirmed
 *   confirmed    Timer I (T4 / 0)        -                               terminated
 *   accepted     INVITE (retx)           absorb                          accepted
 *   accepted     ACK                     pass to TU (by the layer)       accepted
 *   accepted     2xx from TU             send                            accepted
 *   accepted     Timer L (64*T1)         -                               terminated
 *   any          transport error         inform TU (RFC 6026 §8.8)       unchanged
 *
 * 2xx retransmission is the TU's job (§13.3.1.4) and is not done here.
 */
export class InviteServerTransaction extends Transaction<Live> {
  readonly kind = 'invite-server' as const;
  /** Hooks for Timer H and transport errors; the TU sets them in onRequest. */
  delegate: ServerTransactionDelegate | undefined;
  private last: SipResponse | undefined;
  private started = false;

  constructor(
    id: string,
    readonly request: SipRequest,
    readonly inbound: Inbound,
    context: TransactionContext,
  ) {
    super(id, 'proceeding', PREDECESSORS, context, isReliable(inbound.source.protocol));
  }

  /**
   * Sends 100 Trying. §17.2.1: "the server transaction MUST generate a 100 (Trying) response
   * unless it knows that the TU will generate a provisional or final response within 200 ms".
   * A B2BUA waits for the far leg, so it never knows that. Called once, by the layer.
   */
  start(): void {
    if (this.started) throw new InvalidStateError(`INVITE server transaction ${this.id} already started`);
    this.started = true;
    this.last = createResponse(this.request, 100);
    this.send(this.last, this.inbound.source);
  }

  /** The most recent response sent (100 Trying at first). */
  get lastResponse(): SipResponse | undefined {
    return this.last;
  }

  /**
   * Sends a response from the TU. Throws InvalidStateError when the state
   * does not allow it (after a non-2xx final, or anything but 2xx after a 2xx).
   */
  respond(res: SipResponse): void {
    const status = res.status;
    if (!Number.isInteger(status) || status < 100 || status > 699) throw new RangeError(`bad status ${status}`);
    if (this.state === 'proceeding') {
      this.last = res;
      // §17.2.1: "So long as the server transaction is in the 'Proceeding' state, each of
      // these MUST be passed to the transport layer for transmission."
      this.send(res, this.inbound.source);
      if (status < 200) return;
      if (status < 300) {
        // RFC 6026 §8.5: "If, while in the 'Proceeding' state, the TU passes a 2xx response
        // to the server transaction, the server transaction MUST pass this response to the
        // transport layer for transmission. It is not retransmitted by the server transaction
        // ... The server transaction MUST then transition to the 'Accepted' state."
        this.transition('accepted');
        // RFC 6026 §8.7: Accepted lasts until Timer L (64*T1) fires.
        this.startTimer('L', timerL(this.context.timers), () => this.transition('terminated'));
        return;
      }
      // §17.2.1: 300-699 -> "the state machine MUST enter the 'Completed' state".
      this.transition('completed');
      // "For unreliable transports, timer G is set to fire in T1 seconds, and is not set to fire for reliable transports."
      if (!this.reliable) this.armTimerG(timerG(this.context.timers));
      // "When the 'Completed' state is entered, timer H MUST be set to fire in 64*T1 seconds for all transports."
      this.startTimer('H', timerH(this.context.timers), () => this.timeout());
      return;
    }
    if (this.state === 'accepted' && status >= 200 && status < 300) {
      // RFC 6026 §8.7: "While in the 'Accepted' state, if the TU passes a 2xx response, the
      // server transaction MUST pass the response to the transport layer for transmission."
      this.last = res;
      this.send(res, this.inbound.source);
      return;
    }
    throw new InvalidStateError(`INVITE server transaction ${this.id}: cannot send ${status} in state ${this.state}`);
  }

  /** A retransmission of the INVITE, matched by the layer (§17.2.3). */
  receiveRequest(): void {
    switch (this.state) {
      case 'proceeding':
        // §17.2.1: "If a request retransmission is received while in the 'Proceeding' state, the
        // most recent provisional response that was received from the TU MUST be passed to the
        // transport layer for retransmission."
        if (this.last !== undefined) this.send(this.last, this.inbound.source);
        return;
      case 'completed':
        // "while in the 'Completed' state, if a request retransmission is received, the server
        // SHOULD pass the response to the transport for retransmission."
        if (this.last !== undefined) this.send(this.last, this.inbound.source);
        return;
      case 'accepted':
      // RFC 6026 §7.1: retransmissions of the INVITE in Accepted are "absorbed by the machine
      // without changing its state. These retransmissions are not passed onto the TU."
      case 'confirmed':
      case 'terminated':
        return;
    }
  }

  /**
   * An ACK the layer matched to this transaction. Returns true when the ACK
   * is for the TU: RFC 6026 §7.1 passes an ACK received in Accepted up (it
   * acknowledges a 2xx). Otherwise the ACK is consumed here.
   */
  receiveAck(): boolean {
    switch (this.state) {
      case 'completed':
        // §17.2.1: "If an ACK is received while the server transaction is in the 'Completed'
        // state, the server transaction MUST transition to the 'Confirmed' state." Leaving
        // Completed cancels Timers G and H. "When this state is entered, timer I is set to fire
        // in T4 seconds for unreliable transports, and zero seconds for reliable transports."
        this.transition('confirmed');
        this.startTimer('I', timerI(this.context.timers, this.reliable), () => this.transition('terminated'));
        return false;
      case 'accepted':
        return true;
      case 'proceeding': // no final response yet: nothing to acknowledge
      case 'confirmed': // "absorb any additional ACK messages"
      case 'terminated':
        return false;
    }
  }

  /** Timer G: re-send the final response, "reset with a value that is MIN(2*T1, T2)" each time. */
  private armTimerG(ms: number): void {
    this.startTimer('G', ms, () => {
      if (this.last !== undefined) this.send(this.last, this.inbound.source);
      this.armTimerG(timerG(this.context.timers, ms));
    });
  }

  /** Timer H: "the server transaction MUST transition to the 'Terminated' state, and MUST indicate to the TU that a transaction failure has occurred." */
  private timeout(): void {
    this.transition('terminated');
    this.delegate?.onTimeout?.();
  }

  /**
   * RFC 6026 §8.8 replaces the §17.2.4 text: the server transaction "SHOULD inform the TU
   * that a failure has occurred, and MUST remain in the current state" - so that INVITE
   * retransmissions keep matching it. Timers H, I and L still end it.
   */
  protected override onTransportFailure(err: Error): void {
    this.delegate?.onTransportError?.(err);
  }
}
