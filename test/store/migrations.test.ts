/**
 * Recording log: opening, migrations and refusals (SPEC E7).
 *
 * Verifies:
 *  - an empty file is migrated to the latest version in one go; the
 *    connection runs WAL, synchronous=FULL, foreign keys, a busy timeout
 *  - re-opening is idempotent (no second migration, data kept)
 *  - a later migration is applied on re-open; a failing one leaves the file
 *    at its old version with nothing half-created
 *  - a file from a newer callrec, another application's SQLite file, a
 *    non-SQLite file and a damaged file are refused with clear StoreErrors
 *  - read-only opens; use after close
 * Does not verify: migrations between released versions (there is one).
 */
import { writeFileSync, readFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { LATEST_SCHEMA_VERSION, MIGRATIONS, RecordingLog, StoreError, type Migration } from '../../lib/store/index.js';
import { recording, tempDb } from './helpers.js';

function tables(file: string): string[] {
  const db = new Database(file, { readonly: true });
  try {
    return db
      .prepare<[], string>("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
      .pluck()
      .all();
  } finally {
    db.close();
  }
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return err instanceof StoreError ? err.code : `not a StoreError: ${String(err)}`;
  }
  return 'no error';
}

t.test('an empty file is migrated to the latest schema with durable pragmas', (t) => {
  const file = tempDb(t, 'sub/dir/callrec.db');
  const log = RecordingLog.open(file, { busyTimeoutMs: 1234 });
  t.teardown(() => log.close());
  t.equal(log.schemaVersion, LATEST_SCHEMA_VERSION);
  t.equal(LATEST_SCHEMA_VERSION, MIGRATIONS.length);
  t.same(tables(file), [
    'calls_considered', 'chain_head', 'events', 'group_membership', 'recordings', 'uploads', 'verifications',
  ]);
  t.same(log.chainHead(), { position: 0, baseName: null, signature: null });
  // Pragmas of this connection, read through a raw handle on the same file.
  const raw = new Database(file);
  t.equal(raw.pragma('journal_mode', { simple: true }), 'wal', 'WAL persists in the file');
  raw.close();
  t.same(log.integrityCheck('full'), []);
  t.end();
});

t.test('the connection runs synchronous=FULL, foreign keys on and a busy timeout', (t) => {
  const file = tempDb(t);
  const log = RecordingLog.open(file, { busyTimeoutMs: 1234 });
  t.teardown(() => log.close());
  // The private handle is reached on purpose: these pragmas are per connection.
  const db = (log as unknown as { db: Database.Database }).db;
  t.equal(db.pragma('synchronous', { simple: true }), 2, 'FULL');
  t.equal(db.pragma('foreign_keys', { simple: true }), 1);
  t.equal(db.pragma('busy_timeout', { simple: true }), 1234);
  t.end();
});

t.test('re-opening is idempotent and keeps the data', (t) => {
  const file = tempDb(t);
  const a = RecordingLog.open(file);
  a.appendToChain(recording(1, a.chainHead()));
  a.close();
  const before = readFileSync(file);
  for (let i = 0; i < 3; i++) {
    const b = RecordingLog.open(file);
    t.equal(b.schemaVersion, LATEST_SCHEMA_VERSION);
    t.equal(b.chainHead().position, 1);
    b.close();
  }
  t.ok(readFileSync(file).equals(before), 'a re-open at the latest version writes nothing');
  t.end();
});

t.test('a later migration is applied on re-open, once', (t) => {
  const file = tempDb(t);
  RecordingLog.open(file).close();
  let runs = 0;
  const next: Migration[] = [
    ...MIGRATIONS,
    { version: MIGRATIONS.length + 1, name: 'notes', up: 'CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT) STRICT;' },
    {
      version: MIGRATIONS.length + 2,
      name: 'code step',
      up: (db) => {
        runs++;
        db.exec("INSERT INTO notes (text) VALUES ('from code')");
      },
    },
  ];
  const a = RecordingLog.open(file, { migrations: next });
  t.equal(a.schemaVersion, MIGRATIONS.length + 2);
  a.close();
  RecordingLog.open(file, { migrations: next }).close();
  t.equal(runs, 1, 'the code step ran once');
  t.ok(tables(file).includes('notes'));
  t.end();
});

t.test('a failing migration leaves the file at its old version, nothing half-made', (t) => {
  const file = tempDb(t);
  RecordingLog.open(file).close();
  const broken: Migration[] = [
    ...MIGRATIONS,
    { version: MIGRATIONS.length + 1, name: 'good step', up: 'CREATE TABLE extra (id INTEGER PRIMARY KEY);' },
    { version: MIGRATIONS.length + 2, name: 'bad step', up: 'CREATE TABLE extra2 (id INTEGER PRIMARY KEY); SELECT * FROM nowhere;' },
  ];
  t.throws(() => RecordingLog.open(file, { migrations: broken }), { name: 'StoreError', code: 'migration', message: /bad step/ });
  const log = RecordingLog.open(file);
  t.equal(log.schemaVersion, MIGRATIONS.length);
  log.close();
  t.notOk(tables(file).includes('extra'), 'the earlier step of the same run was rolled back');
  t.notOk(tables(file).includes('extra2'));
  t.end();
});

t.test('from an empty file, a failing first run leaves an empty file that migrates later', (t) => {
  const file = tempDb(t);
  const broken: Migration[] = [...MIGRATIONS, { version: MIGRATIONS.length + 1, name: 'boom', up: 'NOT SQL' }];
  t.throws(() => RecordingLog.open(file, { migrations: broken }), { code: 'migration' });
  t.same(tables(file), []);
  const log = RecordingLog.open(file);
  t.equal(log.schemaVersion, LATEST_SCHEMA_VERSION);
  log.close();
  t.end();
});

t.test('a schema from a newer callrec is refused', (t) => {
  const file = tempDb(t);
  RecordingLog.open(file).close();
  const raw = new Database(file);
  raw.pragma(`user_version = ${LATEST_SCHEMA_VERSION + 5}`);
  raw.close();
  t.throws(() => RecordingLog.open(file), { code: 'version', message: /newer callrec/ });
  t.end();
});

t.test("another application's SQLite file is refused, not migrated", (t) => {
  const file = tempDb(t);
  const raw = new Database(file);
  raw.exec('CREATE TABLE contacts (name TEXT)');
  raw.close();
  t.throws(() => RecordingLog.open(file), { code: 'foreign', message: /not a callrec recording log \(tables contacts\)/ });
  t.same(tables(file), ['contacts'], 'left untouched');
  t.end();
});

t.test('a file that is not SQLite gives a clear corrupt error', (t) => {
  const file = tempDb(t);
  writeFileSync(file, 'this is a text file, not a database\n'.repeat(200));
  t.throws(() => RecordingLog.open(file), {
    name: 'StoreError',
    code: 'corrupt',
    message: new RegExp(`${path.basename(file)}: open: file is not a database .*not a callrec recording log or it is damaged`),
  });
  t.end();
});

t.test('damaged pages are found by verifyIntegrity and integrityCheck', (t) => {
  const file = tempDb(t);
  const log = RecordingLog.open(file);
  for (let i = 1; i <= 200; i++) log.appendToChain(recording(i, log.chainHead()));
  log.close();
  // Fold the WAL back into the main file, then overwrite the middle of it.
  const raw = new Database(file);
  raw.pragma('wal_checkpoint(TRUNCATE)');
  raw.pragma('journal_mode = DELETE');
  raw.close();
  const bytes = readFileSync(file);
  const pageSize = bytes.readUInt16BE(16);
  // Only data pages near the end: the schema pages at the start stay intact,
  // so the file still opens and only a check finds the damage.
  const pages = bytes.length / pageSize;
  for (let p = Math.floor(pages * 0.6); p < pages; p++) bytes.fill(0x5a, p * pageSize, p * pageSize + 64);
  writeFileSync(file, bytes);
  t.equal(codeOf(() => RecordingLog.open(file, { verifyIntegrity: true }).close()), 'corrupt');
  // Without the check the file opens; integrityCheck() names the damage.
  const unchecked = RecordingLog.open(file);
  t.teardown(() => unchecked.close());
  t.not(unchecked.integrityCheck('full').length, 0);
  t.end();
});

t.test('an unopenable path gives cannot-open', (t) => {
  const file = tempDb(t);
  writeFileSync(file, '');
  t.equal(codeOf(() => RecordingLog.open(path.join(file, 'x.db'))), 'cannot-open', 'parent is a file');
  t.equal(codeOf(() => RecordingLog.open(file + '.missing', { readonly: true })), 'cannot-open', 'read-only needs the file');
  t.end();
});

t.test('read-only open reads, refuses writes and an unmigrated file', (t) => {
  const file = tempDb(t);
  const w = RecordingLog.open(file);
  w.appendToChain(recording(1, w.chainHead()));
  const r = RecordingLog.open(file, { readonly: true });
  t.equal(r.chainHead().position, 1);
  t.throws(() => r.appendToChain(recording(2, r.chainHead())), { code: 'readonly' });
  r.close();
  w.close();

  const empty = tempDb(t, 'empty.db');
  mkdirSync(path.dirname(empty), { recursive: true });
  new Database(empty).close();
  t.throws(() => RecordingLog.open(empty, { readonly: true }), { code: 'version', message: /open it read-write once/ });
  t.end();
});

t.test('use after close throws StoreError closed; close is idempotent', (t) => {
  const log = RecordingLog.open(tempDb(t));
  log.close();
  log.close();
  t.equal(log.isOpen, false);
  t.throws(() => log.chainHead(), { code: 'closed' });
  t.throws(() => log.uploads.due(0), { code: 'closed' });
  t.throws(() => log.groups.activeMembers('g'), { code: 'closed' });
  t.end();
});
