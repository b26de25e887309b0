import type { Config, GroupConfig, UserConfig } from '../config/schema.js';
import type { MembershipSource } from './membership.js';
import { numberIndexFor } from './number-index.js';
import { normalizeNumber, stripNumberSyntax, type NumberRules } from './number-normalizer.js';

/**
 * Login/logout feature codes dialled from the PBX (SPEC config
 * `featureCodes`, issue 5): callrec answers such a call itself and nothing
 * goes to the provider.
 *
 *   "*71"                   log in to all the caller's groups
 *   "*71300", "*71*300"     log in to the group with number 300
 *   "*71300#", "*71#"       a closing "#" (how many phones send) is ignored
 *
 * `parseFeatureCode` only reads the dialled number; `applyFeatureCode` adds
 * the caller and says which (group, user) pairs change. Both are pure; the
 * call layer writes the changes to the store.
 */

export type FeatureAction = 'login' | 'logout';

export interface FeatureCodesConfig {
  login: string;
  logout: string;
}

export interface FeatureCode {
  action: FeatureAction;
  /** What was dialled, without URI syntax ("*71*300"). */
  dialled: string;
  /** 'all': the code alone (all the caller's groups); 'group': followed by a group number. */
  scope: 'all' | 'group';
  /** scope 'all': every configured group (applyFeatureCode keeps the caller's); 'group': the group dialled, empty when the number is unknown. */
  groups: GroupConfig[];
  /** The group number as dialled (scope 'group'). */
  groupNumber?: string;
}

/**
 * Recognises a login/logout feature code in a called number (request-URI
 * user or a full URI); undefined for any other number.
 */
export function parseFeatureCode(
  calledNumber: string,
  featureCodes: FeatureCodesConfig,
  groups: readonly GroupConfig[],
  numbers?: NumberRules,
): FeatureCode | undefined {
  const dialled = stripNumberSyntax(calledNumber);
  const upper = dialled.toUpperCase();
  const codes: Array<{ action: FeatureAction; code: string }> = [
    { action: 'login', code: featureCodes.login.toUpperCase() },
    { action: 'logout', code: featureCodes.logout.toUpperCase() },
  ];
  codes.sort((a, b) => b.code.length - a.code.length);
  // An exact code first: with login "*7" and logout "*71", "*71" is logout.
  for (const { action, code } of codes) {
    if (upper === code || upper === `${code}#`) return { action, dialled, scope: 'all', groups: [...groups] };
  }
  for (const { action, code } of codes) {
    if (!upper.startsWith(code)) continue;
    const rest = upper.slice(code.length).replace(/^[*#]/, '').replace(/#$/, '');
    if (rest === '') return { action, dialled, scope: 'all', groups: [...groups] };
    if (!/^\+?[0-9]+$/.test(rest)) continue;
    const found = groups.filter((g) => g.numbers.some((n) => sameNumber(n, rest, numbers)));
    return { action, dialled, scope: 'group', groups: found, groupNumber: rest };
  }
  return undefined;
}

function sameNumber(a: string, b: string, rules: NumberRules | undefined): boolean {
  if (rules === undefined) return stripNumberSyntax(a) === stripNumberSyntax(b);
  return normalizeNumber(a, rules) === normalizeNumber(b, rules);
}

/** A membership to set: `active` is the new state; `changed` is known when a MembershipSource was given. */
export interface MembershipUpdate {
  groupId: string;
  userId: string;
  active: boolean;
  changed?: boolean;
}

export type FeatureCodeErrorKind = 'unknown-user' | 'unknown-group' | 'not-a-member' | 'no-groups';

export type FeatureCodeResult =
  | { ok: true; action: FeatureAction; user: UserConfig; updates: MembershipUpdate[]; message: string }
  | { ok: false; action: FeatureAction; error: FeatureCodeErrorKind; message: string };

/**
 * Which (group, user) pairs a feature code changes for the calling
 * identity (P-Asserted-Identity, else From, as for `decide`). With
 * `membership`, each update says whether it changes anything and the message
 * names groups the user was already logged in to (or out of).
 */
export function applyFeatureCode(
  code: FeatureCode,
  callingIdentity: string,
  config: Pick<Config, 'users' | 'groups' | 'numbers'>,
  membership?: MembershipSource,
): FeatureCodeResult {
  const { action } = code;
  const fail = (error: FeatureCodeErrorKind, message: string): FeatureCodeResult => ({ ok: false, action, error, message });
  const owner = numberIndexFor(config).lookup(callingIdentity);
  if (owner === undefined) {
    return fail('unknown-user', `${action} ${code.dialled} refused: calling number ${callingIdentity || '(none)'} is not a configured user`);
  }
  if (owner.kind === 'group') {
    return fail('unknown-user', `${action} ${code.dialled} refused: calling number ${callingIdentity} is the number of group ${owner.group.id}, not of a user`);
  }
  const user = owner.user;
  let groups: GroupConfig[];
  if (code.scope === 'all') {
    groups = code.groups.filter((g) => g.members.includes(user.id));
    if (groups.length === 0) return fail('no-groups', `${action} ${code.dialled} refused: ${user.id} is not a member of any group`);
  } else {
    if (code.groups.length === 0) {
      return fail('unknown-group', `${action} ${code.dialled} refused: no group has the number ${code.groupNumber ?? '(none)'}`);
    }
    groups = code.groups.filter((g) => g.members.includes(user.id));
    if (groups.length === 0) {
      return fail('not-a-member', `${action} ${code.dialled} refused: ${user.id} is not a member of group ${code.groups.map((g) => g.id).join(', ')}`);
    }
  }
  const active = action === 'login';
  const updates = groups.map((g): MembershipUpdate => {
    const u: MembershipUpdate = { groupId: g.id, userId: user.id, active };
    if (membership !== undefined) u.changed = membership.isActive(g.id, user.id) !== active;
    return u;
  });
  return { ok: true, action, user, updates, message: updateMessage(user, action, updates) };
}

function updateMessage(user: UserConfig, action: FeatureAction, updates: MembershipUpdate[]): string {
  const verb = action === 'login' ? 'logged in to' : 'logged out of';
  const list = (us: MembershipUpdate[]): string => `${us.length === 1 ? 'group' : 'groups'} ${us.map((u) => u.groupId).join(', ')}`;
  const changed = updates.filter((u) => u.changed !== false);
  const unchanged = updates.filter((u) => u.changed === false);
  const parts: string[] = [];
  if (changed.length > 0) parts.push(`${user.id} ${verb} ${list(changed)}`);
  if (unchanged.length > 0) parts.push(`${user.id} was already ${verb} ${list(unchanged)}`);
  return parts.join('; ');
}
