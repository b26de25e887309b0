/**
 * Recording log: the durable upload queue (SPEC A3, O1).
 *
 * Verifies:
 *  - enqueue adds one row per target, due at once; re-enqueueing is a no-op
 *  - due(now) returns rows not done whose time has come, the longest-waiting
 *    first (next attempt time, then queue order), honouring a limit
 *  - markFailed counts attempts, keeps the first failure time and the last
 *    error, and moves the next attempt; markDone ends the row for good
 *  - backlog per target: pending, failed, oldest enqueue time; configured
 *    targets with nothing pending are listed with zero
 *  - allDone(recording) only when every target confirmed
 *  - the queue survives close and re-open (a restart)
 * Does not verify: the back-off policy (the uploader chooses nextAttemptAt).
 */
import t from 'tap';
import { RecordingLog } from '../../lib/store/index.js';
import { recording, tempDb } from './helpers.js';

const NOW = 1_800_000_000_000;

function seed(log: RecordingLog, n: number, targets: string[]): string[] {
  const names: string[] = [];
  for (let i = 1; i <= n; i++) {
    const r = recording(i, log.chainHead(), { sealedAt: NOW + i * 1000 });
    log.appendToChain(r, { uploadTargets: targets });
    names.push(r.baseName);
  }
  return names;
}

t.test('enqueue is idempotent and rows are due at once', (t) => {
  const log = RecordingLog.open(tempDb(t));
  t.teardown(() => log.close());
  const [a] = seed(log, 1, []);
  t.equal(log.uploads.enqueue(a!, ['local', 'sftp'], NOW), 2);
  t.equal(log.uploads.enqueue(a!, ['local', 'sftp', 'smb'], NOW + 5), 1, 'only smb is new');
  t.same(log.uploads.forRecording(a!).map((u) => [u.target, u.state, u.attempts, u.enqueuedAt]), [
    ['local', 'pending', 0, NOW], ['sftp', 'pending', 0, NOW], ['smb', 'pending', 0, NOW + 5],
  ]);
  t.equal(log.uploads.due(NOW - 1).length, 0, 'not before its time');
  t.equal(log.uploads.due(NOW).length, 2);
  t.throws(() => log.uploads.enqueue('missing', ['local'], NOW), { code: 'not-found' });
  t.throws(() => log.uploads.enqueue(a!, [''], NOW), { code: 'invalid' });
  t.end();
});

t.test('due orders by next attempt, then queue order, and honours the limit', (t) => {
  const log = RecordingLog.open(tempDb(t));
  t.teardown(() => log.close());
  const [a, b, c] = seed(log, 3, ['local', 'sftp']);
  const key = (recordingBase: string, target: string) => ({ recordingBase, target });
  // a/local failed and waits an hour; b/sftp failed and waits a minute.
  log.uploads.markFailed(key(a!, 'local'), 'ECONNREFUSED', NOW + 3_600_000, NOW + 10_000);
  log.uploads.markFailed(key(b!, 'sftp'), 'timeout', NOW + 60_000, NOW + 10_000);
  log.uploads.markDone(key(c!, 'local'), NOW + 10_000);
  const at = (now: number, limit?: number) => log.uploads.due(now, limit).map((u) => `${u.recordingBase.slice(-1)}/${u.target}`);
  t.same(at(NOW + 10_000), ['1/sftp', '2/local', '3/sftp']);
  t.same(at(NOW + 10_000, 2), ['1/sftp', '2/local']);
  t.same(at(NOW + 60_000), ['1/sftp', '2/local', '3/sftp', '2/sftp']);
  t.same(at(NOW + 3_600_000), ['1/sftp', '2/local', '3/sftp', '2/sftp', '1/local']);
  const row = log.uploads.due(NOW + 10_000)[0]!;
  t.equal(row.folder, '2026/11/22', 'rows carry the folder of their recording');
  t.end();
});

t.test('markFailed and markDone keep the attempt history', (t) => {
  const log = RecordingLog.open(tempDb(t));
  t.teardown(() => log.close());
  const [a] = seed(log, 1, ['onedrive']);
  const key = { recordingBase: a!, target: 'onedrive' };
  let r = log.uploads.markFailed(key, '503 Service Unavailable', NOW + 30_000, NOW + 1);
  t.match(r, { state: 'failed', attempts: 1, lastError: '503 Service Unavailable', firstFailedAt: NOW + 1, lastAttemptAt: NOW + 1, nextAttemptAt: NOW + 30_000 });
  r = log.uploads.markFailed(key, 'token expired', NOW + 90_000, NOW + 30_001);
  t.match(r, { state: 'failed', attempts: 2, lastError: 'token expired', firstFailedAt: NOW + 1, nextAttemptAt: NOW + 90_000 });
  t.equal(log.uploads.allDone(a!), false);
  r = log.uploads.markDone(key, NOW + 90_002);
  t.match(r, { state: 'done', attempts: 3, doneAt: NOW + 90_002, firstFailedAt: NOW + 1 });
  t.equal(log.uploads.markDone(key, NOW + 99_999).doneAt, NOW + 90_002, 'a second confirmation keeps the first time');
  t.throws(() => log.uploads.markFailed(key, 'late', NOW, NOW), { code: 'invalid', message: /already done/ });
  t.throws(() => log.uploads.markDone({ recordingBase: a!, target: 'smb' }, NOW), { code: 'not-found' });
  t.equal(log.uploads.due(Number.MAX_SAFE_INTEGER).length, 0);
  t.equal(log.uploads.allDone(a!), true);
  t.end();
});

t.test('backlog per target with the oldest pending upload', (t) => {
  const log = RecordingLog.open(tempDb(t));
  t.teardown(() => log.close());
  t.same(log.uploads.backlog(), []);
  t.same(log.uploads.backlog(['sftp', 'local']), [
    { target: 'local', pending: 0, failed: 0, oldest: null },
    { target: 'sftp', pending: 0, failed: 0, oldest: null },
  ], 'configured targets listed with zero');
  const [a, b, c] = seed(log, 3, ['local', 'sftp']);
  log.uploads.markDone({ recordingBase: a!, target: 'local' }, NOW + 5000);
  log.uploads.markDone({ recordingBase: b!, target: 'local' }, NOW + 5000);
  log.uploads.markFailed({ recordingBase: a!, target: 'sftp' }, 'auth', NOW + 9000, NOW + 5000);
  log.uploads.markFailed({ recordingBase: c!, target: 'sftp' }, 'auth', NOW + 9000, NOW + 5000);
  t.same(log.uploads.backlog(['local', 'sftp', 'smb']), [
    { target: 'local', pending: 1, failed: 0, oldest: NOW + 3000 },
    { target: 'sftp', pending: 3, failed: 2, oldest: NOW + 1000 },
    { target: 'smb', pending: 0, failed: 0, oldest: null },
  ]);
  t.same([a, b, c].map((x) => log.uploads.allDone(x!)), [false, false, false]);
  log.uploads.markDone({ recordingBase: b!, target: 'sftp' }, NOW + 6000);
  t.equal(log.uploads.allDone(b!), true);
  t.throws(() => log.uploads.allDone('missing'), { code: 'not-found' });
  t.end();
});

t.test('the queue survives a restart', (t) => {
  const file = tempDb(t);
  let log = RecordingLog.open(file);
  const [a] = seed(log, 1, ['local', 'sftp']);
  log.uploads.markFailed({ recordingBase: a!, target: 'sftp' }, 'down', NOW + 3_600_000, NOW + 2000);
  log.close();
  log = RecordingLog.open(file);
  t.teardown(() => log.close());
  t.same(log.uploads.due(NOW + 2000).map((u) => u.target), ['local']);
  t.match(log.uploads.forRecording(a!)[1], { target: 'sftp', state: 'failed', attempts: 1, lastError: 'down' });
  t.same(log.uploads.backlog().map((b) => [b.target, b.pending]), [['local', 1], ['sftp', 1]]);
  t.end();
});
