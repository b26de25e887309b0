import type { Clock, TimerHandle } from '../../util/clock.js';
import type { SipResponse } from '../message/message.js';

export interface RetransmitTimers {
  t1: number;
  t2: number;
}

/**
 * RFC 3261 §13.3.1.4: the UAS core, not the transaction, retransmits a 2xx to
 * INVITE "with an interval that starts at T1 seconds and doubles for each
 * retransmission until it reaches T2" until the ACK arrives; after 64*T1
 * without ACK the session SHOULD be ended. On reliable transports only the
 * ACK wait runs.
 */
export class TwoXxRetransmitter {
  private interval: number;
  private retransmit: TimerHandle | undefined;
  private giveUp: TimerHandle | undefined;
  private done = false;

  constructor(
    private readonly send: (res: SipResponse) => void,
    private readonly response: SipResponse,
    private readonly clock: Clock,
    private readonly timers: RetransmitTimers,
    private readonly reliable: boolean,
    private readonly onNoAck: () => void,
  ) {
    this.interval = timers.t1;
  }

  start(): void {
    this.send(this.response);
    if (!this.reliable) this.retransmit = this.clock.setTimeout(() => this.fire(), this.interval);
    this.giveUp = this.clock.setTimeout(() => {
      this.close();
      this.onNoAck();
    }, 64 * this.timers.t1);
  }

  private fire(): void {
    if (this.done) return;
    try {
      this.send(this.response);
    } catch {
      // The transaction has ended (Timer L): nothing left to retransmit through.
      this.close();
      return;
    }
    this.interval = Math.min(this.interval * 2, this.timers.t2);
    this.retransmit = this.clock.setTimeout(() => this.fire(), this.interval);
  }

  /** The ACK arrived. */
  close(): void {
    this.done = true;
    this.clock.clearTimeout(this.retransmit);
    this.clock.clearTimeout(this.giveUp);
  }
}
