/**
 * Recording log: nothing is ever half-written (SPEC E5, A3, E7).
 *
 * Verifies:
 *  - appendToChain inserts the row, advances the head and queues uploads in
 *    one transaction: a failure in its last statement undoes the first two
 *  - a caller's transaction() that throws after several writes (a "crash"
 *    between statements) leaves none of them
 *  - a nested transaction that fails rolls back only itself
 *  - a process killed (SIGKILL) inside a transaction leaves the file at the
 *    last commit, sound, and the chain continues from there
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { RecordingLog } from '../../lib/store/index.js';
import { recording, tempDb } from './helpers.js';

const CHILD = fileURLToPath(new URL('./store-child.js', import.meta.url));

function snapshot(log: RecordingLog): unknown {
  return {
    head: log.chainHead(),
    chain: log.listChain().map((r) => r.baseName),
    uploads: log.uploads.backlog(),
    calls: log.calls.listSince(0).length,
    events: log.events.since(0).length,
  };
}

t.test('a failing last statement of appendToChain undoes the insert and the head move', (t) => {
  const log = RecordingLog.open(tempDb(t));
  t.teardown(() => log.close());
  log.appendToChain(recording(1, log.chainHead()), { uploadTargets: ['local'] });
  const before = snapshot(log);
  // The row is inserted and the head advanced before the uploads are queued;
  // an invalid target makes that third step throw.
  t.throws(() => log.appendToChain(recording(2, log.chainHead()), { uploadTargets: ['local', ''] }), { code: 'invalid' });
  t.same(snapshot(log), before);
  t.equal(log.findRecording(recording(2, log.chainHead()).baseName), undefined);
  const ok = log.appendToChain(recording(2, log.chainHead()), { uploadTargets: ['local'] });
  t.equal(ok.position, 2, 'the same recording appends cleanly afterwards');
  t.end();
});

t.test('a callback that throws inside transaction() leaves nothing written', (t) => {
  const log = RecordingLog.open(tempDb(t));
  t.teardown(() => log.close());
  log.appendToChain(recording(1, log.chainHead()));
  const before = snapshot(log);
  t.throws(
    () =>
      log.transaction(() => {
        const callId = log.calls.consider({
          startedAt: 5, aCallId: 'a@pbx', direction: 'inbound', caller: '+4989', callee: '300',
          decision: 'recorded', reason: 'group traders', profile: 'traders',
        });
        log.appendToChain(recording(2, log.chainHead(), { callRef: callId }), { uploadTargets: ['local', 'sftp'] });
        log.events.add({ at: 6, level: 'info', kind: 'sealed', message: 'sealed' });
        throw new Error('crash between statements');
      }),
    { message: 'crash between statements' },
  );
  t.same(snapshot(log), before);
  t.equal(log.chainHead().position, 1);
  t.end();
});

t.test('a failing nested transaction rolls back only itself', (t) => {
  const log = RecordingLog.open(tempDb(t));
  t.teardown(() => log.close());
  const result = log.transaction(() => {
    log.appendToChain(recording(1, log.chainHead()));
    try {
      log.transaction(() => {
        log.appendToChain(recording(2, log.chainHead()));
        throw new Error('inner');
      });
    } catch {
      // the inner savepoint is gone; the outer work stays
    }
    return log.chainHead().position;
  });
  t.equal(result, 1);
  t.same(log.listChain().map((r) => r.chainPosition), [1]);
  t.end();
});

t.test('a process killed inside a transaction leaves the last commit, sound', async (t) => {
  const file = tempDb(t);
  RecordingLog.open(file).close();
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    const child = spawn(process.execPath, [CHILD, 'crash', file], { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('exit', (c, s) => resolve({ code: c, signal: s }));
  });
  t.equal(signal, 'SIGKILL', `child died by SIGKILL (exit code ${code})`);
  const log = RecordingLog.open(file, { verifyIntegrity: true });
  t.teardown(() => log.close());
  const first = recording(1, { position: 0, baseName: null, signature: null });
  t.same(log.chainHead(), { position: 1, baseName: first.baseName, signature: first.signature });
  t.same(log.listChain().map((r) => r.chainPosition), [1]);
  t.same(log.uploads.backlog(), [{ target: 'local', pending: 1, failed: 0, oldest: first.sealedAt }]);
  t.same(log.calls.findByCallId('crash@pbx'), [], 'the call logged in the killed transaction is gone');
  t.same(log.integrityCheck('full'), []);
  t.equal(log.appendToChain(recording(2, log.chainHead())).position, 2, 'the chain continues');
});
