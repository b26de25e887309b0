import Database from 'better-sqlite3';

/**
 * Typed errors of the recording log. Every failure of lib/store reaches the
 * caller as a `StoreError` whose `code` says what kind of problem it is and
 * whose message names the database file.
 */
export type StoreErrorCode =
  | 'cannot-open' // the file or its folder cannot be opened or created
  | 'corrupt' // not an SQLite database, or damaged pages
  | 'foreign' // an SQLite database, but not a callrec recording log
  | 'version' // schema newer than this build, or too old for a read-only open
  | 'migration' // a migration failed (the database is left at its old version)
  | 'busy' // another process held the lock longer than the busy timeout
  | 'constraint' // a row broke a schema rule (unique, check, foreign key, trigger)
  | 'chain-conflict' // appendToChain named a previous recording that is not the chain head
  | 'not-found' // the row an update names does not exist
  | 'invalid' // an argument fails validation before reaching SQLite
  | 'readonly' // a write on a read-only connection or file
  | 'disk-full'
  | 'closed' // the log was used after close()
  | 'io'; // any other SQLite failure

export class StoreError extends Error {
  override readonly name: string = 'StoreError';
  constructor(
    readonly code: StoreErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The chain head moved between reading it and appending (SPEC E5: a link must name the true predecessor). */
export class ChainConflictError extends StoreError {
  override readonly name = 'ChainConflictError';
  constructor(
    readonly expected: { baseName: string | null; signature: string | null },
    readonly actual: { position: number; baseName: string | null },
  ) {
    super(
      'chain-conflict',
      `chain head is ${actual.baseName ?? '(empty chain)'} at position ${actual.position}, ` +
        `but the recording names ${expected.baseName ?? '(none)'} as its previous recording; ` +
        're-read the head, rewrite the metadata and sign again',
    );
  }
}

const SqliteError = Database.SqliteError;

function codeOf(sqliteCode: string): StoreErrorCode {
  if (sqliteCode === 'SQLITE_NOTADB' || sqliteCode.startsWith('SQLITE_CORRUPT')) return 'corrupt';
  if (sqliteCode.startsWith('SQLITE_BUSY') || sqliteCode.startsWith('SQLITE_LOCKED')) return 'busy';
  if (sqliteCode.startsWith('SQLITE_CONSTRAINT')) return 'constraint';
  if (sqliteCode.startsWith('SQLITE_READONLY')) return 'readonly';
  if (sqliteCode === 'SQLITE_FULL') return 'disk-full';
  if (sqliteCode.startsWith('SQLITE_CANTOPEN')) return 'cannot-open';
  return 'io';
}

/**
 * Turns whatever better-sqlite3 threw into a `StoreError` that names the file
 * and the operation; `StoreError`s pass through unchanged.
 */
export function toStoreError(err: unknown, file: string, what: string): StoreError {
  if (err instanceof StoreError) return err;
  if (err instanceof SqliteError) {
    const code = codeOf(err.code);
    const hint =
      code === 'corrupt'
        ? ' (the file is not a callrec recording log or it is damaged; restore it from a backup)'
        : code === 'busy'
          ? ' (another process holds the database lock)'
          : '';
    return new StoreError(code, `${file}: ${what}: ${err.message} [${err.code}]${hint}`, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof TypeError && /database connection is not open/i.test(message)) {
    return new StoreError('closed', `${file}: ${what}: the recording log is closed`, { cause: err });
  }
  return new StoreError('io', `${file}: ${what}: ${message}`, { cause: err });
}
