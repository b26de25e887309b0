/*
 * The Transaction base class: the rules every §17 state machine relies on.
 *
 * Verifies:
 * - transition() accepts only the legal predecessors and throws InvalidStateError otherwise
 * - nothing leaves Terminated; Terminated may be entered from any state
 * - leaving a state cancels its timers; timers scoped to several states survive moves among them
 * - a zero duration fires at once (RFC 3261's "zero seconds for reliable transports")
 * - timers are not armed when the transaction is already past the state they belong to
 * - state listeners are notified with (state, previous); close() is idempotent and silent
 */
import t from 'tap';
import { InvalidStateError } from '../../../lib/sip/message/errors.js';
import { resolveTimerConfig, Transaction, type PredecessorTable, type TimerName } from '../../../lib/sip/transaction/index.js';
import { VirtualClock } from '../../../lib/util/clock.js';
import { FakeSender } from './harness.js';

type Toy = 'one' | 'two' | 'three';
const TABLE: PredecessorTable<Toy> = { one: [], two: ['one'], three: ['one', 'two'] };

/** A minimal state machine to drive the base class directly. */
class ToyTransaction extends Transaction<Toy> {
  readonly kind = 'non-invite-client' as const;
  readonly fired: string[] = [];
  failures = 0;

  constructor(readonly clock: VirtualClock) {
    super('toy', 'one', TABLE, { sender: new FakeSender(clock), clock, timers: resolveTimerConfig() }, false);
  }

  go(to: Toy | 'terminated'): void {
    this.transition(to);
  }

  arm(name: TimerName, ms: number, scope?: readonly Toy[]): void {
    this.startTimer(name, ms, () => this.fired.push(`${name}@${this.clock.now()}`), scope);
  }

  protected override onTransportFailure(): void {
    this.failures++;
  }
}

t.test('transition() accepts legal predecessors only', async (t) => {
  const tx = new ToyTransaction(new VirtualClock());
  t.throws(() => tx.go('one'), InvalidStateError, 'the initial state has no predecessor');
  tx.go('two');
  t.equal(tx.state, 'two');
  tx.go('three');
  t.throws(() => tx.go('two'), InvalidStateError, 'three -> two is illegal');
  t.equal(tx.state, 'three', 'a refused transition changes nothing');
  tx.go('terminated');
  t.throws(() => tx.go('terminated'), InvalidStateError, 'nothing leaves Terminated');
  t.ok(tx.isTerminated);
});

t.test('leaving a state cancels its timers; scoped timers survive moves within their scope', async (t) => {
  const clock = new VirtualClock();
  const tx = new ToyTransaction(clock);
  tx.arm('A', 100);
  tx.arm('F', 300, ['one', 'two']);
  t.equal(clock.armed, 2);
  tx.go('two');
  t.same(tx.armedTimers, ['F'], 'Timer A belonged to state one');
  clock.advance(1000);
  t.same(tx.fired, ['F@300']);
  tx.arm('K', 100);
  tx.go('three');
  t.equal(clock.armed, 0, 'Timer K belonged to state two');
});

t.test('a zero duration fires at once; no timer is armed outside its scope', async (t) => {
  const clock = new VirtualClock();
  const tx = new ToyTransaction(clock);
  tx.arm('K', 0);
  t.same(tx.fired, ['K@0']);
  tx.arm('E', 100, ['two']);
  t.equal(clock.armed, 0, 'not armed: the state is one');
  tx.close();
  tx.arm('D', 100);
  t.equal(clock.armed, 0, 'not armed after termination');
});

t.test('listeners see (state, previous); close() is idempotent', async (t) => {
  const clock = new VirtualClock();
  const tx = new ToyTransaction(clock);
  const seen: string[] = [];
  const off = tx.onStateChange((state, previous) => seen.push(`${previous}->${state}`));
  tx.arm('B', 500);
  tx.go('two');
  tx.close();
  tx.close();
  t.same(seen, ['one->two', 'two->terminated']);
  t.equal(clock.armed, 0);
  off();
});
