import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { CallLog } from './call-log.js';
import { StoreContext, checkTime } from './context.js';
import { ChainConflictError, StoreError, toStoreError } from './errors.js';
import { EventLog } from './event-log.js';
import { GroupMembership } from './group-membership.js';
import { LATEST_SCHEMA_VERSION, MIGRATIONS, migrate, schemaVersion, type Migration } from './migrations.js';
import { RECORDING_COLUMNS, recordingInsert, toRecording, type RecordingInsert, type RecordingRecord } from './recording-row.js';
import type { AppendOptions, AppendResult, ChainHead, NewRecording, RecordingRow } from './types.js';
import { UploadQueue } from './upload-queue.js';
import { VerificationLog } from './verification-log.js';

/**
 * The recording log (SPEC E7): one SQLite file below data.dir holding every
 * call considered, the hash chain of sealed recordings (E5), the upload
 * queue (A3), retention deletions (A4), group login state (P1) and
 * verification runs; `callrec status` (O1) reads its figures from here.
 *
 * Durability: WAL journal with synchronous=FULL, so a transaction that
 * returned is on disk and survives a power cut; readers in other processes
 * never block the writer. Foreign keys are enforced; a busy timeout makes a
 * second process wait for the write lock instead of failing at once.
 *
 * Chain discipline (E5): the caller reads `chainHead()`, writes the previous
 * base and signature into the metadata, hashes and signs, then calls
 * `appendToChain`. That call checks, in one immediate transaction, that the
 * head is still the one named (else `ChainConflictError`), inserts the row at
 * head + 1, advances `chain_head` and queues the uploads. A spool key that
 * was already chained returns its existing row: each spool is chained once.
 */

export interface OpenOptions {
  /** Open for reading only (e.g. `callrec status`); the schema must be current. */
  readonly?: boolean;
  /** How long to wait for another process's lock, in ms (default 5000). */
  busyTimeoutMs?: number;
  /** Run `PRAGMA quick_check` at open and refuse a damaged file (costs a full read). */
  verifyIntegrity?: boolean;
  /** Schema steps to apply; tests only. */
  migrations?: readonly Migration[];
}

interface HeadRecord {
  position: number;
  base_name: string | null;
  signature: string | null;
}

function statements(db: Database.Database) {
  const select = `SELECT ${RECORDING_COLUMNS} FROM recordings`;
  return {
    head: db.prepare<[], HeadRecord>('SELECT position, base_name, signature FROM chain_head WHERE id = 1'),
    insert: db.prepare<RecordingInsert>(
      `INSERT INTO recordings (base_name, folder, call_ref, profile, started_at, answered_at, ended_at, duration_ms,
         codec, channel_mode, stop_reason, files, hash_sha256, signature, chain_position, previous_base,
         previous_signature, spool_key, sealed_at, retention_until)
       VALUES (@base_name, @folder, @call_ref, @profile, @started_at, @answered_at, @ended_at, @duration_ms,
         @codec, @channel_mode, @stop_reason, @files, @hash_sha256, @signature, @chain_position, @previous_base,
         @previous_signature, @spool_key, @sealed_at, @retention_until)`,
    ),
    advanceHead: db.prepare<[number, string, string]>(
      'UPDATE chain_head SET position = ?, base_name = ?, signature = ? WHERE id = 1',
    ),
    byBase: db.prepare<[string], RecordingRecord>(`${select} WHERE base_name = ?`),
    bySpoolKey: db.prepare<[string], RecordingRecord>(`${select} WHERE spool_key = ?`),
    byPosition: db.prepare<[number], RecordingRecord>(`${select} WHERE chain_position = ?`),
    chain: db.prepare<[number, number], RecordingRecord>(
      `${select} WHERE chain_position >= ? ORDER BY chain_position LIMIT ?`,
    ),
    countSince: db.prepare<[number], number>('SELECT count(*) FROM recordings WHERE started_at >= ?').pluck(),
    deleted: db.prepare<[], RecordingRecord>(
      `${select} WHERE status = 'deleted-by-retention' ORDER BY chain_position`,
    ),
    markDeleted: db.prepare<[number, string]>(
      `UPDATE recordings SET status = 'deleted-by-retention', deleted_at = ? WHERE base_name = ? AND status = 'sealed'`,
    ),
    expired: db.prepare<[number, number], RecordingRecord>(
      `${select} WHERE status = 'sealed' AND retention_until IS NOT NULL AND retention_until <= ?
       ORDER BY retention_until, chain_position LIMIT ?`,
    ),
  };
}

export class RecordingLog {
  readonly calls: CallLog;
  readonly uploads: UploadQueue;
  readonly groups: GroupMembership;
  readonly verifications: VerificationLog;
  readonly events: EventLog;
  private readonly ctx: StoreContext;
  private readonly q: ReturnType<typeof statements>;
  private readonly tx: Database.Transaction<(fn: () => unknown) => unknown>;
  private readonly appendTx: Database.Transaction<(r: NewRecording, o: AppendOptions) => AppendResult>;

  private constructor(
    private readonly db: Database.Database,
    readonly path: string,
  ) {
    this.ctx = new StoreContext(db, path);
    this.q = statements(db);
    this.calls = new CallLog(this.ctx);
    this.uploads = new UploadQueue(this.ctx);
    this.groups = new GroupMembership(this.ctx);
    this.verifications = new VerificationLog(this.ctx);
    this.events = new EventLog(this.ctx);
    this.tx = db.transaction((fn: () => unknown) => fn());
    this.appendTx = db.transaction((r: NewRecording, o: AppendOptions) => this.appendInTransaction(r, o));
  }

  /**
   * Opens (creating file and folder if needed) and migrates the log.
   * Throws `StoreError`: 'corrupt' for a file that is not SQLite or is
   * damaged, 'foreign' for another application's SQLite file, 'version' for
   * a schema newer than this build, 'cannot-open', 'busy', 'migration'.
   */
  static open(file: string, options: OpenOptions = {}): RecordingLog {
    const readonly = options.readonly ?? false;
    const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    const memory = file === ':memory:';
    let db: Database.Database;
    try {
      if (!readonly && !memory) mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
      db = new Database(file, { readonly, fileMustExist: readonly, timeout: busyTimeoutMs });
    } catch (err) {
      const e = toStoreError(err, file, 'open');
      throw e.code === 'io' || e.code === 'cannot-open' ? new StoreError('cannot-open', e.message, { cause: err }) : e;
    }
    try {
      if (!readonly) {
        const mode = db.pragma('journal_mode = WAL', { simple: true });
        if (mode !== 'wal' && !memory) throw new StoreError('io', `${file}: cannot switch to WAL journal (got ${String(mode)})`);
      }
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      const migrations = options.migrations ?? MIGRATIONS;
      if (readonly) {
        const v = schemaVersion(db);
        if (v !== migrations.length) {
          throw new StoreError(
            'version',
            `${file}: schema version ${v}, this build needs ${migrations.length}; open it read-write once to migrate`,
          );
        }
      } else {
        migrate(db, file, migrations);
      }
      if (options.verifyIntegrity) {
        const problems = integrityProblems(db, 'quick');
        if (problems.length > 0) {
          throw new StoreError('corrupt', `${file}: damaged database: ${problems.slice(0, 3).join('; ')}`);
        }
      }
      return new RecordingLog(db, file);
    } catch (err) {
      db.close();
      throw toStoreError(err, file, 'open');
    }
  }

  get isOpen(): boolean {
    return this.db.open;
  }

  get schemaVersion(): number {
    return this.ctx.run('read the schema version', () => schemaVersion(this.db));
  }

  /** Closes the connection; idempotent. Uses of the log afterwards throw StoreError 'closed'. */
  close(): void {
    if (this.db.open) this.db.close();
  }

  /**
   * Runs `fn` in one immediate transaction (a savepoint when nested): either
   * everything it wrote through this log commits, or, when it throws, nothing.
   */
  transaction<T>(fn: () => T): T {
    return this.ctx.run('transaction', () => this.tx.immediate(fn) as T);
  }

  /**
   * Runs `fn` in a deferred (read) transaction: every read in it sees one
   * snapshot, however many writers commit meanwhile (WAL). Works read-only.
   */
  snapshot<T>(fn: () => T): T {
    return this.ctx.run('snapshot', () => this.tx.deferred(fn) as T);
  }

  /** `PRAGMA quick_check` / `integrity_check`: the problems found; empty when the file is sound. */
  integrityCheck(mode: 'quick' | 'full' = 'quick'): string[] {
    return this.ctx.run('check integrity', () => integrityProblems(this.db, mode));
  }

  // ---- the chain (SPEC E5) -------------------------------------------------

  /**
   * Seals a recording into the chain: inserts it at head + 1, advances the
   * head and queues `options.uploadTargets`, all in one transaction. Returns
   * the existing row (created: false) when the spool key was chained before.
   */
  appendToChain(recording: NewRecording, options: AppendOptions = {}): AppendResult {
    return this.ctx.run(`append ${recording.baseName} to the chain`, () => this.appendTx.immediate(recording, options));
  }

  private appendInTransaction(r: NewRecording, options: AppendOptions): AppendResult {
    const existing = this.q.bySpoolKey.get(r.spoolKey);
    if (existing !== undefined) {
      return { position: existing.chain_position, created: false, recording: toRecording(existing) };
    }
    const head = this.head();
    if (r.previousBase !== head.baseName || r.previousSignature !== head.signature) {
      throw new ChainConflictError(
        { baseName: r.previousBase, signature: r.previousSignature },
        { position: head.position, baseName: head.baseName },
      );
    }
    const position = head.position + 1;
    this.q.insert.run(recordingInsert(r, position));
    this.q.advanceHead.run(position, r.baseName, r.signature);
    if (options.uploadTargets && options.uploadTargets.length > 0) {
      this.uploads.enqueue(r.baseName, options.uploadTargets, r.sealedAt);
    }
    const row = this.q.byPosition.get(position);
    if (row === undefined) throw new StoreError('io', `${this.path}: recording at position ${position} vanished`);
    return { position, created: true, recording: toRecording(row) };
  }

  private head(): ChainHead {
    const h = this.q.head.get();
    if (h === undefined) throw new StoreError('corrupt', `${this.path}: the chain_head row is missing`);
    return { position: h.position, baseName: h.base_name, signature: h.signature };
  }

  /** The last recording of the chain; position 0 and nulls for an empty chain. */
  chainHead(): ChainHead {
    return this.ctx.run('read the chain head', () => this.head());
  }

  findRecording(baseName: string): RecordingRow | undefined {
    return this.ctx.run('find a recording', () => {
      const r = this.q.byBase.get(baseName);
      return r === undefined ? undefined : toRecording(r);
    });
  }

  findRecordingBySpoolKey(spoolKey: string): RecordingRow | undefined {
    return this.ctx.run('find a recording by spool key', () => {
      const r = this.q.bySpoolKey.get(spoolKey);
      return r === undefined ? undefined : toRecording(r);
    });
  }

  recordingAt(position: number): RecordingRow | undefined {
    return this.ctx.run('read a chain position', () => {
      const r = this.q.byPosition.get(position);
      return r === undefined ? undefined : toRecording(r);
    });
  }

  /** Chain links from `fromPosition` on, in chain order (for `verify --chain`). */
  listChain(fromPosition = 1, limit = 1000): RecordingRow[] {
    return this.ctx.run('list the chain', () => this.q.chain.all(fromPosition, limit).map(toRecording));
  }

  /** How many recordings started at or after `fromMs` (status: "recordings today"). */
  recordingsSince(fromMs: number): number {
    return this.ctx.run('count recordings', () => this.q.countSince.get(checkTime(fromMs, 'fromMs')) ?? 0);
  }

  // ---- retention (SPEC A4) -------------------------------------------------

  /** Sealed recordings whose retention ran out at or before `now`, the earliest first. */
  expiredRecordings(now: number, limit = 1000): RecordingRow[] {
    return this.ctx.run('list expired recordings', () => this.q.expired.all(checkTime(now, 'now'), limit).map(toRecording));
  }

  /**
   * Logs that retention deleted the recording's files; the row and its
   * chain link stay, so a verifier tells a deletion from a gap. Returns false
   * when it was already marked.
   */
  markDeleted(baseName: string, when: number): boolean {
    return this.ctx.run(`mark ${baseName} deleted`, () => {
      if (this.q.markDeleted.run(checkTime(when, 'when'), baseName).changes > 0) return true;
      if (this.q.byBase.get(baseName) === undefined) {
        throw new StoreError('not-found', `${this.path}: no recording ${baseName}`);
      }
      return false;
    });
  }

  /** Every recording deleted by retention, in chain order. */
  listDeletedByRetention(): RecordingRow[] {
    return this.ctx.run('list deleted recordings', () => this.q.deleted.all().map(toRecording));
  }
}

/** What `quick_check`/`integrity_check` and `foreign_key_check` report; a check that hits damage it cannot walk reports that too. */
function integrityProblems(db: Database.Database, mode: 'quick' | 'full'): string[] {
  try {
    const rows = db.pragma(mode === 'quick' ? 'quick_check' : 'integrity_check') as Record<string, unknown>[];
    const lines = rows.map((r) => String(Object.values(r)[0])).filter((l) => l !== 'ok');
    const fk = db.pragma('foreign_key_check') as unknown[];
    if (fk.length > 0) lines.push(`${fk.length} foreign key violation(s)`);
    return lines;
  } catch (err) {
    if (err instanceof Database.SqliteError && (err.code.startsWith('SQLITE_CORRUPT') || err.code === 'SQLITE_NOTADB')) {
      return [`${err.message} [${err.code}]`];
    }
    throw err;
  }
}

export { LATEST_SCHEMA_VERSION };
