import type Database from 'better-sqlite3';
import type { StoreContext } from './context.js';
import { checkOneOf, checkText, checkTime } from './context.js';
import type { EventLevel, EventRow, JsonValue, NewEvent } from './types.js';

/** events: operational events and alerts (upload failure mails, disk warnings, retention runs). */

interface EventRecord {
  id: number;
  at: number;
  level: EventLevel;
  kind: string;
  message: string;
  recording_base: string | null;
  details: string | null;
}

function toEvent(r: EventRecord): EventRow {
  return {
    id: r.id,
    at: r.at,
    level: r.level,
    kind: r.kind,
    message: r.message,
    recordingBase: r.recording_base,
    details: r.details === null ? null : (JSON.parse(r.details) as JsonValue),
  };
}

const COLUMNS = 'id, at, level, kind, message, recording_base, details';

function statements(db: Database.Database) {
  return {
    insert: db.prepare<[number, string, string, string, string | null, string | null]>(
      'INSERT INTO events (at, level, kind, message, recording_base, details) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    since: db.prepare<[number, number], EventRecord>(
      `SELECT ${COLUMNS} FROM events WHERE at >= ? ORDER BY at, id LIMIT ?`,
    ),
    ofKind: db.prepare<[string, number], EventRecord>(
      `SELECT ${COLUMNS} FROM events WHERE kind = ? ORDER BY at DESC, id DESC LIMIT ?`,
    ),
  };
}

export class EventLog {
  private readonly q: ReturnType<typeof statements>;

  constructor(private readonly ctx: StoreContext) {
    this.q = statements(ctx.db);
  }

  add(e: NewEvent): number {
    return this.ctx.run('log an event', () => {
      checkTime(e.at, 'at');
      checkOneOf(e.level, ['info', 'warn', 'error'], 'level');
      const details = e.details === undefined ? null : JSON.stringify(e.details);
      const info = this.q.insert.run(e.at, e.level, checkText(e.kind, 'kind'), e.message, e.recordingBase ?? null, details);
      return Number(info.lastInsertRowid);
    });
  }

  /** Events at or after `fromMs`, oldest first. */
  since(fromMs: number, limit = 1000): EventRow[] {
    return this.ctx.run('read events', () => this.q.since.all(checkTime(fromMs, 'fromMs'), limit).map(toEvent));
  }

  /** The latest events of one kind first. */
  ofKind(kind: string, limit = 100): EventRow[] {
    return this.ctx.run('read events', () => this.q.ofKind.all(kind, limit).map(toEvent));
  }
}
