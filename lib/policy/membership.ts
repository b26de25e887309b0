import type { GroupConfig } from '../config/schema.js';

/**
 * Who of a group's members is logged in (SPEC P1: "only *active* group
 * members ... trigger recording"). The config says who belongs to a group;
 * a `MembershipSource` says who of them is active. The SQLite store
 * (`lib/store` `GroupMembership`) implements it; tests use `StaticMembership`.
 */
export interface MembershipSource {
  isActive(groupId: string, userId: string): boolean;
}

/** A configured member of `group` who is logged in. Membership state for non-members is ignored. */
export function isActiveMember(group: GroupConfig, userId: string, membership: MembershipSource): boolean {
  return group.members.includes(userId) && membership.isActive(group.id, userId);
}

/** In-memory membership: explicit (group, user) states over a default. */
export class StaticMembership implements MembershipSource {
  private readonly states = new Map<string, boolean>();

  /** `defaultActive`: the state of pairs never set (the config's "members start logged in"). */
  constructor(
    entries: Iterable<readonly [groupId: string, userId: string, active: boolean]> = [],
    private readonly defaultActive = true,
  ) {
    for (const [g, u, a] of entries) this.set(g, u, a);
  }

  set(groupId: string, userId: string, active: boolean): this {
    this.states.set(key(groupId, userId), active);
    return this;
  }

  isActive(groupId: string, userId: string): boolean {
    return this.states.get(key(groupId, userId)) ?? this.defaultActive;
  }
}

/** Membership from a Map keyed `"<group>/<user>"` (ids cannot contain "/"); pairs not in it are `defaultActive`. */
export function membershipFromMap(states: ReadonlyMap<string, boolean>, defaultActive = true): MembershipSource {
  return { isActive: (groupId, userId) => states.get(key(groupId, userId)) ?? defaultActive };
}

function key(groupId: string, userId: string): string {
  return `${groupId}/${userId}`;
}
