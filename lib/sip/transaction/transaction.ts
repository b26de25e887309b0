import type { Clock, TimerHandle } from '../../util/clock.js';
import { InvalidStateError, TransportError } from '../message/errors.js';
import type { SipMessage } from '../message/message.js';
import type { Address, MessageSender } from '../transport/transport.js';
import type { TimerConfig, TimerName } from './timers.js';

/** What every transaction needs from the layer that owns it. */
export interface TransactionContext {
  readonly sender: MessageSender;
  readonly clock: Clock;
  readonly timers: TimerConfig;
}

export type TransactionKind = 'invite-client' | 'non-invite-client' | 'invite-server' | 'non-invite-server';

/**
 * For each state except Terminated, the states it may be entered from.
 * Terminated may be entered from every state (timeouts, transport errors,
 * close()), RFC 3261 §17.1.1.2 / §17.2.1 and the figures of RFC 6026 §7.
 */
export type PredecessorTable<S extends string> = { readonly [K in S]: readonly S[] };

export type StateListener<S extends string> = (state: S | 'terminated', previous: S) => void;

interface ArmedTimer<S extends string> {
  readonly handle: TimerHandle;
  /** The states this timer survives; leaving them cancels it. */
  readonly scope: readonly S[];
}

/**
 * The part the four RFC 3261 §17 state machines share: the state, one
 * checked transition, timers on the injected clock that belong to states,
 * sending with transport-error reporting, and an idempotent close().
 *
 * `S` is the union of the kind's states other than 'terminated'.
 */
export abstract class Transaction<S extends string> {
  abstract readonly kind: TransactionKind;
  private current: S | 'terminated';
  private readonly armed = new Map<TimerName, ArmedTimer<S>>();
  private readonly listeners = new Set<StateListener<S>>();

  protected constructor(
    /** The matching key (§17.1.3 / §17.2.3) under which the layer finds this transaction. */
    readonly id: string,
    initial: S,
    private readonly predecessors: PredecessorTable<S>,
    protected readonly context: TransactionContext,
    /** Reliable transports get no retransmission timers and zero-length wait timers. */
    readonly reliable: boolean,
  ) {
    this.current = initial;
  }

  get state(): S | 'terminated' {
    return this.current;
  }

  get isTerminated(): boolean {
    return this.current === 'terminated';
  }

  /** Observes state changes; returns a function that removes the listener. */
  onStateChange(listener: StateListener<S>): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Ends the transaction without telling the TU anything (owner shutdown, or
   * the TU giving up). Cancels every timer. Safe to call more than once.
   */
  close(): void {
    if (this.current !== 'terminated') this.transition('terminated');
  }

  /**
   * The only way the state changes: checks that `to` may follow the current
   * state, cancels the timers that do not belong to `to`, then notifies.
   */
  protected transition(to: S | 'terminated'): void {
    const from = this.current;
    if (from === 'terminated') {
      throw new InvalidStateError(`${this.kind} transaction ${this.id}: cannot leave terminated for ${to}`);
    }
    if (to !== 'terminated' && !this.predecessors[to as S].includes(from)) {
      throw new InvalidStateError(`${this.kind} transaction ${this.id}: illegal transition ${from} -> ${to}`);
    }
    this.current = to;
    for (const [name, timer] of this.armed) {
      if (to === 'terminated' || !timer.scope.includes(to as S)) {
        this.context.clock.clearTimeout(timer.handle);
        this.armed.delete(name);
      }
    }
    for (const listener of [...this.listeners]) listener(to, from);
    if (to === 'terminated') this.listeners.clear();
  }

  /**
   * Arms a named timer that lives while the state stays within `scope`
   * (default: the current state only). A duration of zero - RFC 3261's
   * "zero seconds for reliable transports" - fires at once. Does nothing when
   * the current state is outside `scope`, so a TU callback that ended the
   * transaction earlier in the same step cannot leave a timer behind.
   */
  protected startTimer(name: TimerName, ms: number, fire: () => void, scope?: readonly S[]): void {
    if (this.current === 'terminated') return;
    const states = scope ?? [this.current];
    if (!states.includes(this.current)) return;
    this.stopTimer(name);
    if (ms <= 0) {
      fire();
      return;
    }
    const handle = this.context.clock.setTimeout(() => {
      this.armed.delete(name);
      fire();
    }, ms);
    this.armed.set(name, { handle, scope: states });
  }

  protected stopTimer(name: TimerName): void {
    const timer = this.armed.get(name);
    if (timer === undefined) return;
    this.context.clock.clearTimeout(timer.handle);
    this.armed.delete(name);
  }

  /** Names of the timers currently armed (for diagnostics and tests). */
  get armedTimers(): TimerName[] {
    return [...this.armed.keys()];
  }

  /**
   * Passes a message to the transport. Failures (reported asynchronously by
   * the sender, or thrown by a faulty one) go to onTransportFailure unless the
   * transaction has ended meanwhile.
   */
  protected send(message: SipMessage, destination: Address): void {
    const report = (err: unknown): void => {
      if (this.current === 'terminated') return;
      this.onTransportFailure(err instanceof Error ? err : new TransportError(String(err)));
    };
    try {
      this.context.sender.send(message, destination, report);
    } catch (err) {
      report(err);
    }
  }

  /** RFC 3261 §17.1.4 (client) and §17.2.4 as amended by RFC 6026 §8.8 (server). */
  protected abstract onTransportFailure(err: Error): void;
}
