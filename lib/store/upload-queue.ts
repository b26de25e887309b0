import type Database from 'better-sqlite3';
import type { StoreContext } from './context.js';
import { checkText, checkTime } from './context.js';
import { StoreError } from './errors.js';
import type { TargetBacklog, UploadKey, UploadRow, UploadState } from './types.js';

/**
 * The durable upload queue (SPEC A3: "recordings stay in the local spool
 * until every target has confirmed them; failed uploads are retried ... and
 * survive restarts"). One row per (recording, target):
 *
 *   pending --markDone--> done
 *      |                   ^
 *   markFailed          markDone
 *      v                   |
 *    failed --markFailed--> failed   (attempts + 1, next_attempt_at moved)
 *
 * `due(now)` hands out pending and failed rows whose next attempt has come.
 * The back-off itself (first 30 s, doubling up to max) is the uploader's
 * business; the queue only stores the time it chose.
 */

interface UploadRecord {
  id: number;
  recording_base: string;
  folder: string;
  target: string;
  state: UploadState;
  attempts: number;
  enqueued_at: number;
  next_attempt_at: number;
  last_attempt_at: number | null;
  last_error: string | null;
  first_failed_at: number | null;
  done_at: number | null;
}

const SELECT = `SELECT u.id, r.base_name AS recording_base, r.folder, u.target, u.state, u.attempts,
  u.enqueued_at, u.next_attempt_at, u.last_attempt_at, u.last_error, u.first_failed_at, u.done_at
  FROM uploads u JOIN recordings r ON r.id = u.recording_id`;
const RECORDING_ID = '(SELECT id FROM recordings WHERE base_name = @base)';

function toUpload(r: UploadRecord): UploadRow {
  return {
    id: r.id,
    recordingBase: r.recording_base,
    folder: r.folder,
    target: r.target,
    state: r.state,
    attempts: r.attempts,
    enqueuedAt: r.enqueued_at,
    nextAttemptAt: r.next_attempt_at,
    lastAttemptAt: r.last_attempt_at,
    lastError: r.last_error,
    firstFailedAt: r.first_failed_at,
    doneAt: r.done_at,
  };
}

function statements(db: Database.Database) {
  return {
    recordingId: db.prepare<[string], number>('SELECT id FROM recordings WHERE base_name = ?').pluck(),
    enqueue: db.prepare<[number, string, number, number]>(
      `INSERT INTO uploads (recording_id, target, enqueued_at, next_attempt_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (recording_id, target) DO NOTHING`,
    ),
    due: db.prepare<[number, number], UploadRecord>(
      `${SELECT} WHERE u.state <> 'done' AND u.next_attempt_at <= ? ORDER BY u.next_attempt_at, u.id LIMIT ?`,
    ),
    one: db.prepare<{ base: string; target: string }, UploadRecord>(
      `${SELECT} WHERE r.base_name = @base AND u.target = @target`,
    ),
    forRecording: db.prepare<[string], UploadRecord>(`${SELECT} WHERE r.base_name = ? ORDER BY u.target`),
    done: db.prepare<{ base: string; target: string; now: number }>(
      `UPDATE uploads SET state = 'done', done_at = @now, last_attempt_at = @now, attempts = attempts + 1
       WHERE recording_id = ${RECORDING_ID} AND target = @target AND state <> 'done'`,
    ),
    failed: db.prepare<{ base: string; target: string; now: number; next: number; error: string }>(
      `UPDATE uploads SET state = 'failed', attempts = attempts + 1, last_attempt_at = @now,
         last_error = @error, first_failed_at = coalesce(first_failed_at, @now), next_attempt_at = @next
       WHERE recording_id = ${RECORDING_ID} AND target = @target AND state <> 'done'`,
    ),
    backlog: db.prepare<[], { target: string; pending: number; failed: number; oldest: number }>(
      `SELECT target, count(*) AS pending, sum(state = 'failed') AS failed, min(enqueued_at) AS oldest
       FROM uploads WHERE state <> 'done' GROUP BY target ORDER BY target`,
    ),
    openCount: db.prepare<[string], { id: number; open: number }>(
      `SELECT r.id, (SELECT count(*) FROM uploads u WHERE u.recording_id = r.id AND u.state <> 'done') AS open
       FROM recordings r WHERE r.base_name = ?`,
    ),
  };
}

export class UploadQueue {
  private readonly q: ReturnType<typeof statements>;

  constructor(private readonly ctx: StoreContext) {
    this.q = statements(ctx.db);
  }

  private recordingId(base: string): number {
    const id = this.q.recordingId.get(base);
    if (id === undefined) throw new StoreError('not-found', `${this.ctx.file}: no recording ${base}`);
    return id;
  }

  private row(key: UploadKey): UploadRow {
    const r = this.q.one.get({ base: key.recordingBase, target: key.target });
    if (r === undefined) {
      throw new StoreError('not-found', `${this.ctx.file}: no upload of ${key.recordingBase} to ${key.target}`);
    }
    return toUpload(r);
  }

  /**
   * Queues the recording for each target, due at once. Idempotent: a target
   * already queued (in any state) is left alone. Returns the rows added.
   */
  enqueue(recordingBase: string, targets: readonly string[], now: number): number {
    return this.ctx.run('enqueue uploads', () => {
      checkTime(now, 'now');
      targets.forEach((t, i) => checkText(t, `targets[${i}]`));
      const id = this.recordingId(recordingBase);
      let added = 0;
      for (const t of targets) added += this.q.enqueue.run(id, t, now, now).changes;
      return added;
    });
  }

  /** Uploads not done whose next attempt is at or before `now`, the longest-waiting first. */
  due(now: number, limit = 100): UploadRow[] {
    return this.ctx.run('read due uploads', () => this.q.due.all(checkTime(now, 'now'), limit).map(toUpload));
  }

  /** The target confirmed the upload. Idempotent: the first confirmation's time is kept. */
  markDone(key: UploadKey, now: number): UploadRow {
    return this.ctx.run('mark an upload done', () => {
      this.q.done.run({ base: key.recordingBase, target: key.target, now: checkTime(now, 'now') });
      return this.row(key);
    });
  }

  /** An attempt failed; the next one is due at `nextAttemptAt`. Refused for an upload already done. */
  markFailed(key: UploadKey, error: string, nextAttemptAt: number, now: number): UploadRow {
    return this.ctx.run('mark an upload failed', () => {
      const changes = this.q.failed.run({
        base: key.recordingBase,
        target: key.target,
        now: checkTime(now, 'now'),
        next: checkTime(nextAttemptAt, 'nextAttemptAt'),
        error: error === '' ? 'unknown error' : error,
      }).changes;
      const row = this.row(key);
      if (changes === 0) {
        throw new StoreError('invalid', `${this.ctx.file}: upload of ${key.recordingBase} to ${key.target} is already done`);
      }
      return row;
    });
  }

  /**
   * Per target: uploads not done, how many of them failed last time, and the
   * enqueue time of the oldest. Targets named in `targets` are listed even
   * with nothing pending; the result is sorted by target.
   */
  backlog(targets: readonly string[] = []): TargetBacklog[] {
    return this.ctx.run('read the upload backlog', () => {
      const byTarget = new Map<string, TargetBacklog>();
      for (const t of targets) byTarget.set(t, { target: t, pending: 0, failed: 0, oldest: null });
      for (const r of this.q.backlog.all()) {
        byTarget.set(r.target, { target: r.target, pending: r.pending, failed: r.failed, oldest: r.oldest });
      }
      return [...byTarget.values()].sort((a, b) => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0));
    });
  }

  /** True when every target queued for the recording has confirmed it (vacuously true with no targets). */
  allDone(recordingBase: string): boolean {
    return this.ctx.run('check uploads of a recording', () => {
      const r = this.q.openCount.get(recordingBase);
      if (r === undefined) throw new StoreError('not-found', `${this.ctx.file}: no recording ${recordingBase}`);
      return r.open === 0;
    });
  }

  /** Every upload row of one recording, by target. */
  forRecording(recordingBase: string): UploadRow[] {
    return this.ctx.run('list uploads of a recording', () => this.q.forRecording.all(recordingBase).map(toUpload));
  }
}
