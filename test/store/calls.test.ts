/**
 * Recording log: calls considered, verifications and events (SPEC E7).
 *
 * Verifies:
 *  - every call is logged with its decision, reason and profile; recorded
 *    calls must name a profile; the B-leg Call-ID is added later
 *  - end() records the outcome once; endUnfinished() closes calls a crash
 *    left open
 *  - a recording links to its call row
 *  - verification runs and events are logged and read back
 */
import t from 'tap';
import { RecordingLog, type NewConsideredCall } from '../../lib/store/index.js';
import { T0, recording, tempDb } from './helpers.js';

const outbound: NewConsideredCall = {
  startedAt: T0, aCallId: 'a1@pbx', direction: 'outbound', caller: '201', callee: '+49301234567',
  decision: 'recorded', reason: 'profile traders: alice is an active member of traders', profile: 'traders',
};
const inbound: NewConsideredCall = {
  startedAt: T0 + 10, aCallId: 'a2@provider', direction: 'inbound', caller: '+49891234', callee: '+4930123456299',
  decision: 'not-recorded', reason: 'no profile matches',
};

t.test('calls are logged with decision, reason and outcome', (t) => {
  const log = RecordingLog.open(tempDb(t));
  t.teardown(() => log.close());
  const id1 = log.calls.consider(outbound);
  const id2 = log.calls.consider(inbound);
  t.match(log.calls.get(id1), { ...outbound, id: id1, bCallId: null, outcome: null, endedAt: null });
  t.match(log.calls.get(id2), { decision: 'not-recorded', profile: null });
  log.calls.setBLeg(id1, 'b1@callrec');
  t.same(log.calls.findByCallId('b1@callrec').map((c) => c.id), [id1], 'found by the B-leg Call-ID');
  t.same(log.calls.findByCallId('a1@pbx').map((c) => c.id), [id1]);
  t.equal(log.calls.end(id1, 'bye-callee', T0 + 60_000), true);
  t.equal(log.calls.end(id1, 'media-timeout', T0 + 90_000), false, 'the first end wins');
  t.match(log.calls.get(id1), { outcome: 'bye-callee', endedAt: T0 + 60_000 });
  t.same(log.calls.listSince(T0 + 5).map((c) => c.id), [id2]);
  t.throws(() => log.calls.consider({ ...outbound, profile: null }), { code: 'invalid', message: /profile/ });
  t.throws(() => log.calls.consider({ ...outbound, direction: 'sideways' as 'inbound' }), { code: 'invalid' });
  t.throws(() => log.calls.end(999, 'x', T0), { code: 'not-found' });
  t.throws(() => log.calls.setBLeg(999, 'x'), { code: 'not-found' });
  t.end();
});

t.test('calls left open by a crash are ended at start-up', (t) => {
  const log = RecordingLog.open(tempDb(t));
  t.teardown(() => log.close());
  const a = log.calls.consider(outbound);
  const b = log.calls.consider(inbound);
  log.calls.end(a, 'cancelled', T0 + 5);
  t.equal(log.calls.endUnfinished('recorder-restart', T0 + 1000), 1);
  t.match(log.calls.get(b), { outcome: 'recorder-restart', endedAt: T0 + 1000 });
  t.match(log.calls.get(a), { outcome: 'cancelled' });
  t.equal(log.calls.endUnfinished('recorder-restart', T0 + 2000), 0);
  t.end();
});

t.test('a recording links to its call', (t) => {
  const log = RecordingLog.open(tempDb(t));
  t.teardown(() => log.close());
  const id = log.calls.consider(outbound);
  const { recording: row } = log.appendToChain(recording(1, log.chainHead(), { callRef: id }));
  t.equal(row.callRef, id);
  t.end();
});

t.test('verifications and events are logged', (t) => {
  const log = RecordingLog.open(tempDb(t));
  t.teardown(() => log.close());
  log.verifications.add({ at: T0, scope: 'recording', target: 'archive/2026/11/22/x', result: 'ok' });
  log.verifications.add({ at: T0 + 1, scope: 'chain', target: 'archive', result: 'failed', details: 'gap after position 4' });
  t.match(log.verifications.recent(), [
    { scope: 'chain', target: 'archive', result: 'failed', details: 'gap after position 4' },
    { scope: 'recording', result: 'ok', details: '' },
  ]);
  t.equal(log.verifications.forTarget('archive').length, 1);
  t.throws(() => log.verifications.add({ at: T0, scope: 'chain', target: 'a', result: 'maybe' as 'ok' }), { code: 'invalid' });

  log.events.add({ at: T0, level: 'warn', kind: 'upload-failed', message: 'sftp: ECONNREFUSED', recordingBase: 'x', details: { attempt: 2, mailed: true } });
  log.events.add({ at: T0 + 5, level: 'info', kind: 'startup', message: 'started' });
  t.match(log.events.ofKind('upload-failed'), [{ level: 'warn', recordingBase: 'x', details: { attempt: 2, mailed: true } }]);
  t.same(log.events.since(T0 + 1).map((e) => e.kind), ['startup']);
  t.equal(log.events.since(0)[1]!.details, null);
  t.end();
});
