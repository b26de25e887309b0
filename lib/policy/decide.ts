import type { Config, GroupConfig, ProfileConfig, UserConfig } from '../config/schema.js';
import type { CallDirection, CallFacts } from './call-facts.js';
import type { MembershipSource } from './membership.js';
import { numberIndexFor, type NumberIndex, type NumberOwner } from './number-index.js';

/**
 * The recording policy (SPEC P1-P5, issue 5): a pure function from the facts
 * of a call to "record with this profile" or "do not record", with a reason
 * sentence for the recording log (E7).
 *
 * Rules, after the model product's "Aufzeichnungseinstellungen":
 * - Profiles are evaluated in order; the first that matches records the
 *   call, later ones do not see it (P5). A profile only sees calls of its
 *   direction (P3). A profile with neither users nor groups records every
 *   call of its direction.
 * - Outbound (P1): recorded when the calling user is a listed user of the
 *   profile or an *active* member of a listed group ("Anrufe eines Benutzers,
 *   der ein aktives Gruppenmitglied der aufzuzeichnenden Gruppe ist oder
 *   explizit als aufzuzeichnender Benutzer ausgewählt wurde").
 * - Inbound (P2): recorded when the called number is a listed group's number
 *   or a listed user's number; with `directCallsToActiveMembers` also when
 *   it is the personal number of an active member of a listed group.
 * - Forwarded (P4): a call whose Diversion/History-Info names a party counts
 *   as that party's call. Outbound (the PBX forwards a user's call, e.g. to
 *   a mobile): the party is a listed user, an active member of a listed
 *   group, or a listed group's number. Inbound: the party would have been
 *   recorded as the called party (same rules as the called number).
 *
 * Deviation: forwarding by a listed group's number also records outbound
 * calls (a group's calls forwarded to an external number stay recorded).
 */

export type PolicyConfig = Pick<Config, 'users' | 'groups' | 'profiles' | 'numbers'>;

export type Decision =
  | { record: true; profile: ProfileConfig; reason: string; matchedUser?: string; matchedGroup?: string }
  | { record: false; reason: string };

/** How a profile matched: the reason after "recorded by profile X: ". */
interface Match {
  why: string;
  user?: string;
  group?: string;
}

/** A near miss; the highest rank (first in profile order on ties) explains a "not recorded". */
interface Miss {
  rank: number;
  text: string;
}

const RANK_INACTIVE = 4;
const RANK_OPTION_OFF = 3;
const RANK_WRONG_DIRECTION = 2;
const RANK_CATCH_ALL_WRONG_DIRECTION = 0.5;

interface Party {
  raw: string;
  owner: NumberOwner | undefined;
}

interface Ctx {
  facts: CallFacts;
  index: NumberIndex;
  membership: MembershipSource;
  /** The calling (outbound) or called (inbound) party. */
  party: Party;
  forwards: Party[];
  misses: Miss[];
}

export function decide(config: PolicyConfig, facts: CallFacts, membership: MembershipSource): Decision {
  const index = numberIndexFor(config);
  const partyRaw = facts.direction === 'outbound' ? facts.callingIdentity : facts.calledNumber;
  const ctx: Ctx = {
    facts,
    index,
    membership,
    party: { raw: partyRaw, owner: index.lookup(partyRaw) },
    forwards: facts.forwardedFrom.map((raw) => ({ raw, owner: index.lookup(raw) })),
    misses: [],
  };
  for (const profile of config.profiles) {
    if (!directionAllows(profile.direction, facts.direction)) {
      const hypothetical = matchProfile(profile, { ...ctx, misses: [] });
      if (hypothetical !== undefined) {
        const catchAll = profile.users.length === 0 && profile.groups.length === 0;
        ctx.misses.push(
          catchAll
            ? { rank: RANK_CATCH_ALL_WRONG_DIRECTION, text: `profile ${profile.name} records only ${profile.direction} calls` }
            : {
                rank: RANK_WRONG_DIRECTION,
                text: `profile ${profile.name} would record it (${hypothetical.why}) but records only ${profile.direction} calls`,
              },
        );
      }
      continue;
    }
    const m = matchProfile(profile, ctx);
    if (m !== undefined) {
      return {
        record: true,
        profile,
        reason: `recorded by profile ${profile.name}: ${m.why}`,
        ...(m.user !== undefined ? { matchedUser: m.user } : {}),
        ...(m.group !== undefined ? { matchedGroup: m.group } : {}),
      };
    }
  }
  return { record: false, reason: `not recorded: ${closestMiss(ctx)}` };
}

function directionAllows(filter: ProfileConfig['direction'], direction: CallDirection): boolean {
  return filter === 'both' || filter === direction;
}

function matchProfile(profile: ProfileConfig, ctx: Ctx): Match | undefined {
  const dir = ctx.facts.direction;
  if (profile.users.length === 0 && profile.groups.length === 0) {
    return { why: `it records every ${dir} call` };
  }
  const direct = dir === 'outbound' ? matchCaller(profile, ctx) : matchCallee(profile, ctx.party, ctx, `called number ${ctx.party.raw} belongs to`);
  if (direct !== undefined) return direct;
  for (const fwd of ctx.forwards) {
    const m = dir === 'outbound' ? matchForwardedOutbound(profile, fwd, ctx) : matchCallee(profile, fwd, ctx, `call was forwarded from ${fwd.raw}, which belongs to`);
    if (m !== undefined) return m;
  }
  return undefined;
}

/** Outbound: the calling user is listed or an active member of a listed group. */
function matchCaller(profile: ProfileConfig, ctx: Ctx): Match | undefined {
  const owner = ctx.party.owner;
  if (owner?.kind !== 'user') return undefined;
  return matchRecordedUser(profile, owner.user, `calling user ${who(ctx.party.raw, owner.user)}`, ctx);
}

/** A listed user, or an active member of a listed group; records inactive memberships as misses. */
function matchRecordedUser(profile: ProfileConfig, user: UserConfig, subject: string, ctx: Ctx): Match | undefined {
  if (profile.users.includes(user.id)) return { why: `${subject} is a recorded user`, user: user.id };
  for (const group of listedGroupsOf(profile, user, ctx)) {
    // listedGroupsOf keeps configured members only, so this is isActiveMember().
    if (ctx.membership.isActive(group.id, user.id)) {
      return { why: `${subject} is an active member of group ${group.id}`, user: user.id, group: group.id };
    }
    ctx.misses.push({
      rank: RANK_INACTIVE,
      text: `${subject} is not an active member of group ${group.id} (profile ${profile.name})`,
    });
  }
  return undefined;
}

/** Outbound forwarded by the PBX: a recorded user (listed or active member) or a listed group's number. */
function matchForwardedOutbound(profile: ProfileConfig, fwd: Party, ctx: Ctx): Match | undefined {
  const owner = fwd.owner;
  if (owner === undefined) return undefined;
  if (owner.kind === 'group') {
    if (!profile.groups.includes(owner.group.id)) return undefined;
    return { why: `call was forwarded from ${fwd.raw}, which belongs to recorded group ${owner.group.id}`, group: owner.group.id };
  }
  return matchRecordedUser(profile, owner.user, `call was forwarded for user ${who(fwd.raw, owner.user)}, who`, ctx);
}

/**
 * Inbound: the number (called, or forwarded from) belongs to a listed group,
 * a listed user, or, with `directCallsToActiveMembers`, an active member of a
 * listed group.
 */
function matchCallee(profile: ProfileConfig, party: Party, ctx: Ctx, subject: string): Match | undefined {
  const owner = party.owner;
  if (owner === undefined) return undefined;
  if (owner.kind === 'group') {
    if (!profile.groups.includes(owner.group.id)) return undefined;
    return { why: `${subject} recorded group ${owner.group.id}`, group: owner.group.id };
  }
  const user = owner.user;
  if (profile.users.includes(user.id)) {
    return { why: `${subject} recorded user ${user.id}`, user: user.id };
  }
  for (const group of listedGroupsOf(profile, user, ctx)) {
    const active = ctx.membership.isActive(group.id, user.id);
    if (active && profile.directCallsToActiveMembers) {
      return {
        why: `${subject} ${user.id}, an active member of group ${group.id} (direct calls to active members are recorded)`,
        user: user.id,
        group: group.id,
      };
    }
    ctx.misses.push(
      active
        ? {
            rank: RANK_OPTION_OFF,
            text: `${subject} ${user.id}, an active member of group ${group.id}, but profile ${profile.name} does not record direct calls to active members`,
          }
        : {
            rank: RANK_INACTIVE,
            text: `${subject} ${user.id}, who is not an active member of group ${group.id} (profile ${profile.name})`,
          },
    );
  }
  return undefined;
}

/** The profile's groups that list `user` as a member, in the profile's order. */
function listedGroupsOf(profile: ProfileConfig, user: UserConfig, ctx: Ctx): GroupConfig[] {
  const out: GroupConfig[] = [];
  for (const id of profile.groups) {
    const g = ctx.index.group(id);
    if (g !== undefined && g.members.includes(user.id)) out.push(g);
  }
  return out;
}

function closestMiss(ctx: Ctx): string {
  let best: Miss | undefined;
  for (const m of ctx.misses) if (best === undefined || m.rank > best.rank) best = m;
  if (best !== undefined && best.rank >= 1) return best.text;
  const fallback = noProfileText(ctx);
  return best !== undefined ? `${fallback}; ${best.text}` : fallback;
}

function noProfileText(ctx: Ctx): string {
  const { facts, party } = ctx;
  const raw = party.raw === '' ? (facts.direction === 'outbound' ? 'an unknown caller' : 'an unknown number') : party.raw;
  const base = facts.direction === 'outbound' ? `no profile matches outbound calls from ${raw}` : `no profile matches inbound calls to ${raw}`;
  const owner = party.owner;
  let about = '';
  if (owner?.kind === 'user') about = ` (user ${owner.user.id})`;
  else if (owner?.kind === 'group') {
    about =
      facts.direction === 'outbound'
        ? ` (the number of group ${owner.group.id}, not of a user: outbound calls are recorded by calling user)`
        : ` (group ${owner.group.id})`;
  } else if (party.raw !== '') about = ' (not a configured user or group number)';
  const fwd = facts.forwardedFrom.length > 0 ? `, forwarded from ${facts.forwardedFrom.join(', ')}` : '';
  return `${base}${about}${fwd}`;
}

/** "201 (alice)", or "alice" when the identity is the user id itself. */
function who(raw: string, user: UserConfig): string {
  return raw === '' || raw.toLowerCase() === user.id.toLowerCase() ? user.id : `${raw} (${user.id})`;
}
