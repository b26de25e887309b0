/**
 * Recording log: the hash chain and retention (SPEC E5, A4, O1).
 *
 * Verifies:
 *  - appendToChain numbers recordings 1..n without gaps; chain_head always
 *    names the last one; each row names its predecessor and its signature
 *  - a spool key is chained exactly once: a second append returns the
 *    existing row and writes nothing
 *  - a recording that names a stale head is refused (ChainConflictError)
 *  - invalid recordings are refused before anything is written
 *  - the database itself refuses tampering: deleting a recording, changing
 *    evidence columns, moving the head, undoing a deletion
 *  - retention: expiredRecordings, markDeleted, listDeletedByRetention
 *  - recordingsSince counts by start time; findRecording*, listChain
 */
import Database from 'better-sqlite3';
import t from 'tap';
import { ChainConflictError, RecordingLog } from '../../lib/store/index.js';
import { T0, recording, tempDb } from './helpers.js';

function openLog(t: { teardown(fn: () => void): void }): { log: RecordingLog; file: string } {
  const file = tempDb(t);
  const log = RecordingLog.open(file);
  t.teardown(() => log.close());
  return { log, file };
}

t.test('positions run 1..n and the head names the last recording', (t) => {
  const { log } = openLog(t);
  const n = 50;
  for (let i = 1; i <= n; i++) {
    const r = log.appendToChain(recording(i, log.chainHead()));
    t.equal(r.position, i);
    t.equal(r.created, true);
  }
  const rows = log.listChain();
  t.equal(rows.length, n);
  t.same(rows.map((r) => r.chainPosition), Array.from({ length: n }, (_, i) => i + 1));
  const last = rows[n - 1]!;
  t.same(log.chainHead(), { position: n, baseName: last.baseName, signature: last.signature });
  t.equal(rows[0]!.previousBase, null);
  t.equal(rows[0]!.previousSignature, null);
  let linksOk = true;
  for (let i = 1; i < n; i++) {
    if (rows[i]!.previousBase !== rows[i - 1]!.baseName || rows[i]!.previousSignature !== rows[i - 1]!.signature) linksOk = false;
  }
  t.ok(linksOk, 'each row names its predecessor and its signature');
  t.same(log.listChain(48, 10).map((r) => r.chainPosition), [48, 49, 50]);
  t.end();
});

t.test('a recording row reads back as written', (t) => {
  const { log } = openLog(t);
  const input = recording(1, log.chainHead(), { retentionUntil: T0 + 1000, callRef: null });
  const { recording: row } = log.appendToChain(input);
  t.match(row, {
    baseName: input.baseName, folder: '2026/11/22', profile: 'traders', startedAt: input.startedAt,
    answeredAt: input.answeredAt, endedAt: input.endedAt, durationMs: 32_000, codec: 'PCMA',
    channelMode: 'both-stereo', stopReason: 'bye-callee', hashSha256: input.hashSha256, signature: input.signature,
    chainPosition: 1, spoolKey: 'spool-1', status: 'sealed', retentionUntil: T0 + 1000, deletedAt: null,
  });
  t.same(row.files, input.files);
  t.same(log.findRecording(input.baseName), row);
  t.same(log.findRecordingBySpoolKey('spool-1'), row);
  t.same(log.recordingAt(1), row);
  t.equal(log.findRecording('nope'), undefined);
  t.end();
});

t.test('a spool key is chained exactly once', (t) => {
  const { log } = openLog(t);
  const first = log.appendToChain(recording(1, log.chainHead()), { uploadTargets: ['local'] });
  log.appendToChain(recording(2, log.chainHead()));
  // A retry after a crash re-seals spool-1 (same key, maybe a new base name and an older head).
  const again = log.appendToChain(recording(7, { position: 0, baseName: null, signature: null }, { spoolKey: 'spool-1' }), {
    uploadTargets: ['local', 'sftp'],
  });
  t.equal(again.created, false);
  t.equal(again.position, 1);
  t.same(again.recording, first.recording);
  t.equal(log.chainHead().position, 2, 'head did not move');
  t.equal(log.listChain().length, 2);
  t.same(log.uploads.forRecording(first.recording.baseName).map((u) => u.target), ['local'], 'no uploads added');
  t.end();
});

t.test('a recording naming a stale head is refused with ChainConflictError', (t) => {
  const { log } = openLog(t);
  const empty = log.chainHead();
  log.appendToChain(recording(1, empty));
  const err = t.throws(() => log.appendToChain(recording(2, empty)));
  t.ok(err instanceof ChainConflictError);
  t.match(err, { code: 'chain-conflict', actual: { position: 1 }, expected: { baseName: null } });
  // Right base but wrong signature is a conflict too.
  const h = log.chainHead();
  t.throws(() => log.appendToChain(recording(2, { ...h, signature: 'forged' })), { code: 'chain-conflict' });
  t.equal(log.chainHead().position, 1);
  t.end();
});

t.test('invalid recordings are refused before anything is written', (t) => {
  const { log } = openLog(t);
  const h = log.chainHead();
  const bad: [string, Parameters<typeof recording>[2]][] = [
    ['hash not hex', { hashSha256: 'xyz' }],
    ['file sha256 upper-case', { files: [{ name: 'a.wav', size: 1, sha256: 'A'.repeat(64) }] }],
    ['file name with a path', { files: [{ name: '../a.wav', size: 1, sha256: 'a'.repeat(64) }] }],
    ['negative size', { files: [{ name: 'a.wav', size: -1, sha256: 'a'.repeat(64) }] }],
    ['empty base name', { baseName: '' }],
    ['empty spool key', { spoolKey: '' }],
    ['end before start', { endedAt: T0 - 1 }],
    ['fractional time', { sealedAt: 1.5 }],
    ['unknown channel mode', { channelMode: 'mono' as 'caller' }],
  ];
  for (const [what, over] of bad) t.throws(() => log.appendToChain(recording(1, h, over)), { code: 'invalid' }, what);
  t.throws(() => log.appendToChain(recording(1, h, { callRef: 999 })), { code: 'constraint' }, 'unknown call ref (foreign key)');
  t.equal(log.chainHead().position, 0);
  t.equal(log.listChain().length, 0);
  t.end();
});

t.test('the database refuses tampering with the chain', (t) => {
  const { log, file } = openLog(t);
  for (let i = 1; i <= 3; i++) log.appendToChain(recording(i, log.chainHead()));
  const raw = new Database(file);
  t.teardown(() => raw.close());
  raw.pragma('foreign_keys = ON');
  const refuse = (sql: string, msg: RegExp, what: string): void => {
    t.throws(() => raw.exec(sql), { message: msg }, what);
  };
  refuse('DELETE FROM recordings WHERE chain_position = 2', /never deleted/, 'delete a recording');
  refuse("UPDATE recordings SET signature = 'x' WHERE chain_position = 2", /evidence columns/, 'change a signature');
  refuse("UPDATE recordings SET files = '[]' WHERE chain_position = 2", /evidence columns/, 'change the file list');
  refuse('UPDATE chain_head SET position = 2', /only advances by one/, 'move the head back');
  refuse('DELETE FROM chain_head', /never deleted/, 'delete the head');
  refuse("INSERT INTO chain_head (id, position) VALUES (2, 0)", /CHECK constraint/, 'a second head row');
  const r = recording(9, { position: 1, baseName: 'x', signature: 'y' });
  refuse(
    `INSERT INTO recordings (base_name, folder, profile, started_at, ended_at, duration_ms, codec, channel_mode,
       stop_reason, files, hash_sha256, signature, chain_position, previous_base, previous_signature, spool_key, sealed_at)
     VALUES ('${r.baseName}', '', 'p', 1, 2, 1, 'PCMA', 'caller', 'bye', '[]', '${r.hashSha256}', 's', 9, 'x', 'y', 'k', 3)`,
    /does not continue the chain head/,
    'insert a link that skips positions',
  );
  log.markDeleted(log.recordingAt(1)!.baseName, T0);
  refuse("UPDATE recordings SET status = 'sealed', deleted_at = NULL WHERE chain_position = 1", /cannot be undone/, 'undo a deletion');
  t.same(log.integrityCheck(), []);
  t.end();
});

t.test('retention: expired recordings, markDeleted, listDeletedByRetention', (t) => {
  const { log } = openLog(t);
  const day = 86_400_000;
  const until = [T0 + 3 * day, null, T0 + 1 * day, T0 + 2 * day];
  until.forEach((u, i) => log.appendToChain(recording(i + 1, log.chainHead(), { retentionUntil: u })));
  const names = log.listChain().map((r) => r.baseName);
  t.same(log.expiredRecordings(T0).map((r) => r.chainPosition), []);
  t.same(log.expiredRecordings(T0 + 2 * day).map((r) => r.chainPosition), [3, 4], 'due first, inclusive bound');
  t.same(log.expiredRecordings(T0 + 10 * day).map((r) => r.chainPosition), [3, 4, 1], 'kept-forever never expires');

  t.equal(log.markDeleted(names[2]!, T0 + 2 * day + 5), true);
  t.equal(log.markDeleted(names[2]!, T0 + 3 * day), false, 'second mark is a no-op');
  t.throws(() => log.markDeleted('missing', T0), { code: 'not-found' });
  t.same(log.expiredRecordings(T0 + 10 * day).map((r) => r.chainPosition), [4, 1]);
  const deleted = log.listDeletedByRetention();
  t.equal(deleted.length, 1);
  t.match(deleted[0], { baseName: names[2], status: 'deleted-by-retention', deletedAt: T0 + 2 * day + 5, chainPosition: 3 });
  t.equal(log.chainHead().position, 4, 'the chain keeps its links');
  t.equal(log.recordingAt(4)!.previousBase, names[2]);
  t.end();
});

t.test('recordingsSince counts recordings started at or after a time', (t) => {
  const { log } = openLog(t);
  for (let i = 1; i <= 5; i++) log.appendToChain(recording(i, log.chainHead()));
  t.equal(log.recordingsSince(0), 5);
  t.equal(log.recordingsSince(T0 + 3 * 60_000), 3, 'recordings 3, 4, 5');
  t.equal(log.recordingsSince(T0 + 10 * 60_000), 0);
  t.end();
});
