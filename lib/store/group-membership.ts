import type Database from 'better-sqlite3';
import type { StoreContext } from './context.js';
import { checkText, checkTime } from './context.js';
import type { GroupMembers, MembershipChange, MembershipRow, SyncResult } from './types.js';

/**
 * Recording-group login state (SPEC P1: "only *active* group members (log
 * in/out with a key or command, persisted) trigger recording"; config:
 * "members start logged in; login/logout state persists").
 *
 * The config says who belongs to a group; this table says who of them is
 * logged in. `syncGroups` reconciles the two at start and on reload.
 */

interface MembershipRecord {
  group_id: string;
  user_id: string;
  active: number;
  changed_at: number;
}

function toMembership(r: MembershipRecord): MembershipRow {
  return { groupId: r.group_id, userId: r.user_id, active: r.active === 1, changedAt: r.changed_at };
}

function statements(db: Database.Database) {
  return {
    addActive: db.prepare<[string, string, number]>(
      `INSERT INTO group_membership (group_id, user_id, active, changed_at) VALUES (?, ?, 1, ?)
       ON CONFLICT (group_id, user_id) DO NOTHING`,
    ),
    all: db.prepare<[], MembershipRecord>(
      'SELECT group_id, user_id, active, changed_at FROM group_membership ORDER BY group_id, user_id',
    ),
    remove: db.prepare<[string, string]>('DELETE FROM group_membership WHERE group_id = ? AND user_id = ?'),
    one: db.prepare<[string, string], MembershipRecord>(
      'SELECT group_id, user_id, active, changed_at FROM group_membership WHERE group_id = ? AND user_id = ?',
    ),
    setActive: db.prepare<[number, number, string, string]>(
      'UPDATE group_membership SET active = ?, changed_at = ? WHERE group_id = ? AND user_id = ?',
    ),
    ofGroup: db.prepare<[string], MembershipRecord>(
      'SELECT group_id, user_id, active, changed_at FROM group_membership WHERE group_id = ? ORDER BY user_id',
    ),
    activeOf: db.prepare<[string], string>(
      'SELECT user_id FROM group_membership WHERE group_id = ? AND active = 1 ORDER BY user_id',
    ).pluck(),
    activeGroupsOf: db.prepare<[string], string>(
      'SELECT group_id FROM group_membership WHERE user_id = ? AND active = 1 ORDER BY group_id',
    ).pluck(),
  };
}

export class GroupMembership {
  private readonly q: ReturnType<typeof statements>;
  private readonly syncTx: Database.Transaction<(groups: readonly GroupMembers[], at: number) => SyncResult>;

  constructor(private readonly ctx: StoreContext) {
    this.q = statements(ctx.db);
    this.syncTx = ctx.db.transaction((groups: readonly GroupMembers[], at: number): SyncResult => {
      const wanted = new Set<string>();
      let added = 0;
      let removed = 0;
      for (const g of groups) {
        for (const u of g.members) {
          wanted.add(`${g.id}\u0000${u}`);
          added += this.q.addActive.run(g.id, u, at).changes;
        }
      }
      for (const r of this.q.all.all()) {
        if (!wanted.has(`${r.group_id}\u0000${r.user_id}`)) removed += this.q.remove.run(r.group_id, r.user_id).changes;
      }
      return { added, removed };
    });
  }

  /**
   * Reconciles the table with the configured groups in one transaction:
   * members missing from the table are added logged in; members already
   * there keep their state; rows of users no longer in a group (or of groups
   * no longer configured) are removed.
   */
  syncGroups(groups: readonly GroupMembers[], at: number): SyncResult {
    return this.ctx.run('sync group membership', () => {
      checkTime(at, 'at');
      groups.forEach((g, i) => {
        checkText(g.id, `groups[${i}].id`);
        g.members.forEach((u, j) => checkText(u, `groups[${i}].members[${j}]`));
      });
      return this.syncTx.immediate(groups, at);
    });
  }

  /** Log in (`active` true) or out. Only configured members (rows present) can change state. */
  setActive(groupId: string, userId: string, active: boolean, at: number): MembershipChange {
    return this.ctx.run(`log ${active ? 'in' : 'out'} a group member`, () => {
      checkTime(at, 'at');
      const r = this.q.one.get(groupId, userId);
      if (r === undefined) return 'not-a-member';
      if ((r.active === 1) === active) return 'unchanged';
      this.q.setActive.run(active ? 1 : 0, at, groupId, userId);
      return 'changed';
    });
  }

  isActive(groupId: string, userId: string): boolean {
    return this.ctx.run('read group membership', () => this.q.one.get(groupId, userId)?.active === 1);
  }

  /** The logged-in members of a group, sorted. */
  activeMembers(groupId: string): string[] {
    return this.ctx.run('read active group members', () => this.q.activeOf.all(groupId));
  }

  /** The groups in which the user is logged in, sorted. */
  activeGroupsOf(userId: string): string[] {
    return this.ctx.run('read the groups of a user', () => this.q.activeGroupsOf.all(userId));
  }

  /** Every member row of a group, logged in or not. */
  members(groupId: string): MembershipRow[] {
    return this.ctx.run('read group members', () => this.q.ofGroup.all(groupId).map(toMembership));
  }

  /** Every row, by group then user. */
  all(): MembershipRow[] {
    return this.ctx.run('read group membership', () => this.q.all.all().map(toMembership));
  }
}
