import type Database from 'better-sqlite3';
import type { StoreContext } from './context.js';
import { checkOneOf, checkText, checkTime } from './context.js';
import type { VerificationResult, VerificationRow, VerificationScope, NewVerification } from './types.js';

/** verifications: every run of `callrec verify`, for one recording or a chain folder (SPEC E6, E7). */

interface VerificationRecord {
  id: number;
  at: number;
  scope: VerificationScope;
  target: string;
  result: VerificationResult;
  details: string;
}

function statements(db: Database.Database) {
  return {
    insert: db.prepare<[number, string, string, string, string]>(
      'INSERT INTO verifications (at, scope, target, result, details) VALUES (?, ?, ?, ?, ?)',
    ),
    recent: db.prepare<[number], VerificationRecord>(
      'SELECT id, at, scope, target, result, details FROM verifications ORDER BY at DESC, id DESC LIMIT ?',
    ),
    forTarget: db.prepare<[string], VerificationRecord>(
      'SELECT id, at, scope, target, result, details FROM verifications WHERE target = ? ORDER BY at, id',
    ),
  };
}

export class VerificationLog {
  private readonly q: ReturnType<typeof statements>;

  constructor(private readonly ctx: StoreContext) {
    this.q = statements(ctx.db);
  }

  /** Logs one verification run; returns its row id. */
  add(v: NewVerification): number {
    return this.ctx.run('log a verification', () => {
      checkTime(v.at, 'at');
      checkOneOf(v.scope, ['recording', 'chain'], 'scope');
      checkOneOf(v.result, ['ok', 'failed'], 'result');
      const info = this.q.insert.run(v.at, v.scope, checkText(v.target, 'target'), v.result, v.details ?? '');
      return Number(info.lastInsertRowid);
    });
  }

  /** The latest runs first. */
  recent(limit = 100): VerificationRow[] {
    return this.ctx.run('read verifications', () => this.q.recent.all(limit).map((r) => ({ ...r })));
  }

  /** Runs for one recording base or chain folder, oldest first. */
  forTarget(target: string): VerificationRow[] {
    return this.ctx.run('read verifications', () => this.q.forTarget.all(target).map((r) => ({ ...r })));
  }
}
