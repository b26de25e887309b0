import type { Clock, TimerHandle } from '../../util/clock.js';
import type { SipRequest, SipResponse } from '../message/message.js';
import type { RetransmitTimers } from './two-xx-retransmitter.js';

/**
 * RFC 3262 §3, UAS side: reliable provisional responses carry Require: 100rel
 * and an RSeq that grows by one; each is retransmitted (T1 doubling, like a
 * 2xx) until its PRACK arrives, and "the UAS MUST NOT send a second reliable
 * provisional response until the first is acknowledged", so later ones queue.
 */
export class ReliableProvisionalSender {
  private rseq: number;
  private outstanding: { res: SipResponse; rseq: number; interval: number; timer: TimerHandle | undefined; giveUp: TimerHandle | undefined } | undefined;
  private readonly queue: SipResponse[] = [];
  private idleWaiters: (() => void)[] = [];
  private closed = false;

  constructor(
    private readonly send: (res: SipResponse) => void,
    private readonly inviteCSeq: number,
    private readonly clock: Clock,
    private readonly timers: RetransmitTimers,
    private readonly reliableTransport: boolean,
    /** §3: 64*T1 without PRACK: the UAS SHOULD reject the INVITE with a 5xx. */
    private readonly onNoPrack: () => void,
    initialRSeq: number,
  ) {
    // §7.1: the first RSeq is chosen between 1 and 2**31 - 1.
    this.rseq = Math.max(1, Math.min(initialRSeq, 0x7fffffff)) - 1;
  }

  sendReliably(res: SipResponse): void {
    if (this.closed) return;
    if (this.outstanding !== undefined) {
      this.queue.push(res);
      return;
    }
    const rseq = ++this.rseq;
    res.set('Require', '100rel');
    res.set('RSeq', String(rseq));
    this.outstanding = { res, rseq, interval: this.timers.t1, timer: undefined, giveUp: undefined };
    this.send(res);
    if (!this.reliableTransport) this.arm();
    this.outstanding.giveUp = this.clock.setTimeout(() => {
      this.close();
      this.onNoPrack();
    }, 64 * this.timers.t1);
  }

  private arm(): void {
    const o = this.outstanding;
    if (o === undefined) return;
    o.timer = this.clock.setTimeout(() => {
      if (this.outstanding !== o) return;
      try {
        this.send(o.res);
      } catch {
        // The INVITE transaction has a final response: stop retransmitting.
        this.close();
        return;
      }
      o.interval = Math.min(o.interval * 2, this.timers.t2);
      this.arm();
    }, o.interval);
  }

  /** §7.2 RAck: "response-num CSeq-num Method"; true when it acknowledges the outstanding response. */
  prack(req: SipRequest): boolean {
    const m = /^\s*(\d+)\s+(\d+)\s+(\S+)\s*$/.exec(req.get('RAck') ?? '');
    const o = this.outstanding;
    if (!m || o === undefined) return false;
    if (Number(m[1]) !== o.rseq || Number(m[2]) !== this.inviteCSeq || m[3]!.toUpperCase() !== 'INVITE') return false;
    this.clock.clearTimeout(o.timer);
    this.clock.clearTimeout(o.giveUp);
    this.outstanding = undefined;
    const next = this.queue.shift();
    if (next !== undefined) this.sendReliably(next);
    else this.notifyIdle();
    return true;
  }

  /** Runs `fn` once no reliable provisional is outstanding (the final response waits for it). */
  whenIdle(fn: () => void): void {
    if (this.outstanding === undefined || this.closed) fn();
    else this.idleWaiters.push(fn);
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.outstanding !== undefined) {
      this.clock.clearTimeout(this.outstanding.timer);
      this.clock.clearTimeout(this.outstanding.giveUp);
      this.outstanding = undefined;
    }
    this.queue.length = 0;
    this.notifyIdle();
  }
}
