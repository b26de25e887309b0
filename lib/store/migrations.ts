import type Database from 'better-sqlite3';
import { StoreError } from './errors.js';

/**
 * Versioned schema of the recording log (SPEC E7). The version lives in
 * SQLite's `user_version` header field; `application_id` marks the file as a
 * callrec log so that a stray SQLite file is refused instead of "migrated".
 *
 * All pending migrations run in ONE immediate transaction together with the
 * `user_version` bump: a crash or a failing step leaves the file at its old
 * version, and two processes opening a new file at once migrate it once.
 * Migrations are append-only: never edit a released one, add the next.
 *
 * Times are INTEGER milliseconds since the Unix epoch (UTC) throughout.
 */
export interface Migration {
  /** 1, 2, 3, ... without gaps. */
  readonly version: number;
  readonly name: string;
  /** SQL script, or a function for steps that need code. */
  readonly up: string | ((db: Database.Database) => void);
}

/** 'CREC' as a big-endian 32-bit integer. */
export const APPLICATION_ID = 0x43524543;

const V1_SCHEMA = `
-- Every call the recorder saw, recorded or not (SPEC E7, P1-P5).
CREATE TABLE calls_considered (
  id          INTEGER PRIMARY KEY,
  started_at  INTEGER NOT NULL,
  a_call_id   TEXT    NOT NULL,
  b_call_id   TEXT,
  direction   TEXT    NOT NULL CHECK (direction IN ('inbound', 'outbound')),
  caller      TEXT    NOT NULL,
  callee      TEXT    NOT NULL,
  decision    TEXT    NOT NULL CHECK (decision IN ('recorded', 'not-recorded')),
  reason      TEXT    NOT NULL,
  profile     TEXT,
  outcome     TEXT,
  ended_at    INTEGER,
  CHECK ((outcome IS NULL) = (ended_at IS NULL)),
  CHECK (decision = 'not-recorded' OR profile IS NOT NULL)
) STRICT;
CREATE INDEX calls_considered_started ON calls_considered (started_at);
CREATE INDEX calls_considered_a_call ON calls_considered (a_call_id);
CREATE INDEX calls_considered_unfinished ON calls_considered (id) WHERE ended_at IS NULL;

-- One row per sealed recording; the rows form the hash chain (SPEC E5).
-- Evidence columns never change; rows are never deleted, retention only
-- marks them (SPEC A4), so a verifier can still tell a deletion from a gap.
CREATE TABLE recordings (
  id                 INTEGER PRIMARY KEY,
  base_name          TEXT    NOT NULL UNIQUE CHECK (length(base_name) > 0),
  folder             TEXT    NOT NULL,
  call_ref           INTEGER REFERENCES calls_considered (id),
  profile            TEXT    NOT NULL,
  started_at         INTEGER NOT NULL,
  answered_at        INTEGER,
  ended_at           INTEGER NOT NULL CHECK (ended_at >= started_at),
  duration_ms        INTEGER NOT NULL CHECK (duration_ms >= 0),
  codec              TEXT    NOT NULL,
  channel_mode       TEXT    NOT NULL
                     CHECK (channel_mode IN ('caller', 'callee', 'both-stereo', 'both-separate')),
  stop_reason        TEXT    NOT NULL,
  files              TEXT    NOT NULL CHECK (json_valid(files) AND json_type(files) = 'array'),
  hash_sha256        TEXT    NOT NULL CHECK (length(hash_sha256) = 64),
  signature          TEXT    NOT NULL CHECK (length(signature) > 0),
  chain_position     INTEGER NOT NULL UNIQUE CHECK (chain_position >= 1),
  previous_base      TEXT,
  previous_signature TEXT,
  spool_key          TEXT    NOT NULL UNIQUE CHECK (length(spool_key) > 0),
  sealed_at          INTEGER NOT NULL,
  status             TEXT    NOT NULL DEFAULT 'sealed'
                     CHECK (status IN ('sealed', 'deleted-by-retention')),
  retention_until    INTEGER,
  deleted_at         INTEGER,
  CHECK ((chain_position = 1) = (previous_base IS NULL)),
  CHECK ((previous_base IS NULL) = (previous_signature IS NULL)),
  CHECK ((status = 'deleted-by-retention') = (deleted_at IS NOT NULL))
) STRICT;
CREATE INDEX recordings_started ON recordings (started_at);
CREATE INDEX recordings_expiring ON recordings (retention_until)
  WHERE status = 'sealed' AND retention_until IS NOT NULL;
CREATE INDEX recordings_deleted ON recordings (deleted_at) WHERE status = 'deleted-by-retention';

-- The last link of the chain: exactly one row, advanced in the transaction
-- that inserts the recording it points to.
CREATE TABLE chain_head (
  id        INTEGER PRIMARY KEY CHECK (id = 1),
  position  INTEGER NOT NULL CHECK (position >= 0),
  base_name TEXT REFERENCES recordings (base_name),
  signature TEXT,
  CHECK ((position = 0) = (base_name IS NULL)),
  CHECK ((base_name IS NULL) = (signature IS NULL))
) STRICT;
INSERT INTO chain_head (id, position, base_name, signature) VALUES (1, 0, NULL, NULL);

-- Guards: the database itself refuses a broken chain, whoever writes to it.
CREATE TRIGGER recordings_link_to_head BEFORE INSERT ON recordings
WHEN NOT EXISTS (
  SELECT 1 FROM chain_head h
  WHERE NEW.chain_position = h.position + 1
    AND NEW.previous_base IS h.base_name
    AND NEW.previous_signature IS h.signature)
BEGIN
  SELECT RAISE(ABORT, 'recordings: the new link does not continue the chain head');
END;
CREATE TRIGGER recordings_never_deleted BEFORE DELETE ON recordings
BEGIN
  SELECT RAISE(ABORT, 'recordings: rows are never deleted; retention marks them deleted-by-retention');
END;
CREATE TRIGGER recordings_evidence_immutable
BEFORE UPDATE OF base_name, folder, profile, started_at, answered_at, ended_at, duration_ms, codec,
  channel_mode, stop_reason, files, hash_sha256, signature, chain_position, previous_base,
  previous_signature, spool_key, sealed_at ON recordings
BEGIN
  SELECT RAISE(ABORT, 'recordings: evidence columns of a sealed recording never change');
END;
CREATE TRIGGER recordings_deletion_final BEFORE UPDATE OF status ON recordings
WHEN OLD.status = 'deleted-by-retention' AND NEW.status <> OLD.status
BEGIN
  SELECT RAISE(ABORT, 'recordings: a deletion by retention cannot be undone');
END;
CREATE TRIGGER chain_head_advances_by_one BEFORE UPDATE ON chain_head
WHEN NEW.position <> OLD.position + 1
  OR NOT EXISTS (
    SELECT 1 FROM recordings r
    WHERE r.base_name = NEW.base_name AND r.chain_position = NEW.position AND r.signature = NEW.signature)
BEGIN
  SELECT RAISE(ABORT, 'chain_head: the head only advances by one, to the recording just appended');
END;
CREATE TRIGGER chain_head_never_deleted BEFORE DELETE ON chain_head
BEGIN
  SELECT RAISE(ABORT, 'chain_head: the head row is never deleted');
END;

-- Durable upload queue (SPEC A3): one row per recording and archive target.
CREATE TABLE uploads (
  id              INTEGER PRIMARY KEY,
  recording_id    INTEGER NOT NULL REFERENCES recordings (id),
  target          TEXT    NOT NULL CHECK (length(target) > 0),
  state           TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
  attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  enqueued_at     INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  last_attempt_at INTEGER,
  last_error      TEXT,
  first_failed_at INTEGER,
  done_at         INTEGER,
  UNIQUE (recording_id, target),
  CHECK ((state = 'done') = (done_at IS NOT NULL)),
  CHECK (state <> 'failed' OR (last_error IS NOT NULL AND first_failed_at IS NOT NULL))
) STRICT;
CREATE INDEX uploads_due ON uploads (next_attempt_at, id) WHERE state <> 'done';
CREATE INDEX uploads_open_by_target ON uploads (target, enqueued_at) WHERE state <> 'done';

-- Recording-group login state (SPEC P1): members start logged in.
CREATE TABLE group_membership (
  group_id   TEXT    NOT NULL,
  user_id    TEXT    NOT NULL,
  active     INTEGER NOT NULL CHECK (active IN (0, 1)),
  changed_at INTEGER NOT NULL,
  PRIMARY KEY (group_id, user_id)
) STRICT, WITHOUT ROWID;

-- Every run of 'callrec verify' (SPEC E6, E7).
CREATE TABLE verifications (
  id      INTEGER PRIMARY KEY,
  at      INTEGER NOT NULL,
  scope   TEXT    NOT NULL CHECK (scope IN ('recording', 'chain')),
  target  TEXT    NOT NULL,
  result  TEXT    NOT NULL CHECK (result IN ('ok', 'failed')),
  details TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX verifications_at ON verifications (at);

-- Operational events and alerts (upload failure mails, disk warnings, ...).
CREATE TABLE events (
  id             INTEGER PRIMARY KEY,
  at             INTEGER NOT NULL,
  level          TEXT    NOT NULL CHECK (level IN ('info', 'warn', 'error')),
  kind           TEXT    NOT NULL,
  message        TEXT    NOT NULL,
  recording_base TEXT,
  details        TEXT    CHECK (details IS NULL OR json_valid(details))
) STRICT;
CREATE INDEX events_at ON events (at);
`;

export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'recording log: calls, chained recordings, uploads, groups, verifications, events', up: V1_SCHEMA },
];

export const LATEST_SCHEMA_VERSION = MIGRATIONS.length;

export interface MigrationResult {
  readonly from: number;
  readonly to: number;
}

function intPragma(db: Database.Database, name: string): number {
  const v = db.pragma(name, { simple: true });
  return typeof v === 'number' ? v : Number(v);
}

/** The schema version written in the file (`PRAGMA user_version`). */
export function schemaVersion(db: Database.Database): number {
  return intPragma(db, 'user_version');
}

function checkList(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw new StoreError('invalid', `migration list: entry ${i} has version ${m.version}, expected ${i + 1}`);
    }
  });
}

/** Refuses files that are SQLite but not ours, and files from a newer callrec. */
function checkIdentity(db: Database.Database, file: string, version: number, latest: number): void {
  const appId = intPragma(db, 'application_id');
  if (version > latest) {
    throw new StoreError(
      'version',
      `${file}: schema version ${version} was written by a newer callrec; this build knows up to version ${latest}`,
    );
  }
  if (version === 0) {
    const tables = db
      .prepare<[], { name: string }>("SELECT name FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' LIMIT 3")
      .all();
    if (appId !== 0 || tables.length > 0) {
      const what = tables.length > 0 ? `tables ${tables.map((t) => t.name).join(', ')}` : `application id ${appId}`;
      throw new StoreError('foreign', `${file}: an SQLite database that is not a callrec recording log (${what})`);
    }
  } else if (appId !== APPLICATION_ID) {
    throw new StoreError('foreign', `${file}: an SQLite database that is not a callrec recording log (application id ${appId})`);
  }
}

/**
 * Brings the schema to the last version of `migrations`. Idempotent: a file
 * already at that version is only checked, without taking the write lock.
 */
export function migrate(
  db: Database.Database,
  file: string,
  migrations: readonly Migration[] = MIGRATIONS,
): MigrationResult {
  checkList(migrations);
  const latest = migrations.length;
  const seen = schemaVersion(db);
  checkIdentity(db, file, seen, latest);
  if (seen === latest) return { from: seen, to: seen };

  const apply = db.transaction((): MigrationResult => {
    // Re-read under the write lock: another process may have migrated meanwhile.
    const from = schemaVersion(db);
    checkIdentity(db, file, from, latest);
    for (const m of migrations.slice(from)) {
      try {
        if (typeof m.up === 'string') db.exec(m.up);
        else m.up(db);
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        throw new StoreError('migration', `${file}: migration ${m.version} (${m.name}) failed: ${why}`, { cause: err });
      }
      if (m.version === 1) db.pragma(`application_id = ${APPLICATION_ID}`);
      db.pragma(`user_version = ${m.version}`);
    }
    return { from, to: latest };
  });
  return apply.immediate();
}
