import type Database from 'better-sqlite3';
import type { StoreContext } from './context.js';
import { checkOneOf, checkText, checkTime } from './context.js';
import { StoreError } from './errors.js';
import type { CallDecision, CallDirection, ConsideredCall, NewConsideredCall } from './types.js';

/** calls_considered: every call the recorder saw, recorded or not (SPEC E7). */

interface CallRecord {
  id: number;
  started_at: number;
  a_call_id: string;
  b_call_id: string | null;
  direction: CallDirection;
  caller: string;
  callee: string;
  decision: CallDecision;
  reason: string;
  profile: string | null;
  outcome: string | null;
  ended_at: number | null;
}

const COLUMNS = 'id, started_at, a_call_id, b_call_id, direction, caller, callee, decision, reason, profile, outcome, ended_at';

function toCall(r: CallRecord): ConsideredCall {
  return {
    id: r.id,
    startedAt: r.started_at,
    aCallId: r.a_call_id,
    bCallId: r.b_call_id,
    direction: r.direction,
    caller: r.caller,
    callee: r.callee,
    decision: r.decision,
    reason: r.reason,
    profile: r.profile,
    outcome: r.outcome,
    endedAt: r.ended_at,
  };
}

function statements(db: Database.Database) {
  return {
    insert: db.prepare<{
      started_at: number; a_call_id: string; b_call_id: string | null; direction: string; caller: string;
      callee: string; decision: string; reason: string; profile: string | null;
    }>(
      `INSERT INTO calls_considered (started_at, a_call_id, b_call_id, direction, caller, callee, decision, reason, profile)
       VALUES (@started_at, @a_call_id, @b_call_id, @direction, @caller, @callee, @decision, @reason, @profile)`,
    ),
    setBLeg: db.prepare<[string, number]>('UPDATE calls_considered SET b_call_id = ? WHERE id = ?'),
    end: db.prepare<[string, number, number]>(
      'UPDATE calls_considered SET outcome = ?, ended_at = ? WHERE id = ? AND ended_at IS NULL',
    ),
    endAll: db.prepare<[string, number]>(
      'UPDATE calls_considered SET outcome = ?, ended_at = max(?, started_at) WHERE ended_at IS NULL',
    ),
    byId: db.prepare<[number], CallRecord>(`SELECT ${COLUMNS} FROM calls_considered WHERE id = ?`),
    byCallId: db.prepare<[string, string], CallRecord>(
      `SELECT ${COLUMNS} FROM calls_considered WHERE a_call_id = ? OR b_call_id = ? ORDER BY id`,
    ),
    since: db.prepare<[number, number], CallRecord>(
      `SELECT ${COLUMNS} FROM calls_considered WHERE started_at >= ? ORDER BY started_at, id LIMIT ?`,
    ),
  };
}

export class CallLog {
  private readonly q: ReturnType<typeof statements>;

  constructor(private readonly ctx: StoreContext) {
    this.q = statements(ctx.db);
  }

  /** Logs the policy decision for a new call; returns its row id (for `end`, `setBLeg`, `NewRecording.callRef`). */
  consider(call: NewConsideredCall): number {
    return this.ctx.run('log a considered call', () => {
      checkTime(call.startedAt, 'startedAt');
      checkText(call.aCallId, 'aCallId');
      checkOneOf(call.direction, ['inbound', 'outbound'], 'direction');
      checkOneOf(call.decision, ['recorded', 'not-recorded'], 'decision');
      if (call.decision === 'recorded' && !call.profile) {
        throw new StoreError('invalid', 'profile: a recorded call names the profile that records it');
      }
      const info = this.q.insert.run({
        started_at: call.startedAt,
        a_call_id: call.aCallId,
        b_call_id: call.bCallId ?? null,
        direction: call.direction,
        caller: call.caller,
        callee: call.callee,
        decision: call.decision,
        reason: call.reason,
        profile: call.profile ?? null,
      });
      return Number(info.lastInsertRowid);
    });
  }

  /** Records the B-leg Call-ID once the B2BUA has created it. */
  setBLeg(id: number, bCallId: string): void {
    this.ctx.run('set the B-leg Call-ID', () => {
      if (this.q.setBLeg.run(checkText(bCallId, 'bCallId'), id).changes === 0) {
        throw new StoreError('not-found', `${this.ctx.file}: no considered call with id ${id}`);
      }
    });
  }

  /** Records how the call ended. The first end wins; returns false when the call had already ended. */
  end(id: number, outcome: string, endedAt: number): boolean {
    return this.ctx.run('end a considered call', () => {
      const changed = this.q.end.run(checkText(outcome, 'outcome'), checkTime(endedAt, 'endedAt'), id).changes > 0;
      if (!changed && this.q.byId.get(id) === undefined) {
        throw new StoreError('not-found', `${this.ctx.file}: no considered call with id ${id}`);
      }
      return changed;
    });
  }

  /** At start-up: calls a crash left open get `outcome` (e.g. "recorder-restart"); returns how many. */
  endUnfinished(outcome: string, at: number): number {
    return this.ctx.run('end unfinished calls', () => this.q.endAll.run(checkText(outcome, 'outcome'), checkTime(at, 'at')).changes);
  }

  get(id: number): ConsideredCall | undefined {
    return this.ctx.run('read a considered call', () => {
      const r = this.q.byId.get(id);
      return r === undefined ? undefined : toCall(r);
    });
  }

  /** Calls whose A-leg or B-leg has this Call-ID, oldest first. */
  findByCallId(callId: string): ConsideredCall[] {
    return this.ctx.run('find calls by Call-ID', () => this.q.byCallId.all(callId, callId).map(toCall));
  }

  /** Calls seen at or after `fromMs`, oldest first. */
  listSince(fromMs: number, limit = 1000): ConsideredCall[] {
    return this.ctx.run('list considered calls', () => this.q.since.all(checkTime(fromMs, 'fromMs'), limit).map(toCall));
  }
}
