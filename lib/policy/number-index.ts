import type { Config, GroupConfig, UserConfig } from '../config/schema.js';
import { isNumeric, normalizeNumber } from './number-normalizer.js';

/**
 * Who owns a number: the users and groups of the config, keyed by the
 * normal form of each of their numbers (`normalizeNumber`). A non-numeric
 * identity ("alice" in `sip:alice@pbx`) is looked up among the user ids,
 * case-insensitively, since PBXs often put the account name in From.
 */

export type NumberOwner =
  | { kind: 'user'; user: UserConfig; number: string }
  | { kind: 'group'; group: GroupConfig; number: string };

export type DirectoryConfig = Pick<Config, 'users' | 'groups' | 'numbers'>;

export class NumberIndex {
  private readonly byNumber = new Map<string, NumberOwner>();
  private readonly usersById = new Map<string, UserConfig>();
  private readonly usersByLowerId = new Map<string, UserConfig>();
  private readonly groupsById = new Map<string, GroupConfig>();
  /** Numbers that normalise to the same form for two owners; the first owner keeps it. */
  readonly conflicts: string[] = [];

  constructor(private readonly config: DirectoryConfig) {
    for (const user of config.users) {
      this.usersById.set(user.id, user);
      if (!this.usersByLowerId.has(user.id.toLowerCase())) this.usersByLowerId.set(user.id.toLowerCase(), user);
      for (const n of user.numbers) this.claim(n, { kind: 'user', user, number: n });
    }
    for (const group of config.groups) {
      this.groupsById.set(group.id, group);
      for (const n of group.numbers) this.claim(n, { kind: 'group', group, number: n });
    }
  }

  normalize(raw: string): string {
    return normalizeNumber(raw, this.config.numbers);
  }

  /** The user or group a number (in any accepted form) belongs to. */
  lookup(raw: string): NumberOwner | undefined {
    const n = this.normalize(raw);
    if (n === '') return undefined;
    const owner = this.byNumber.get(n);
    if (owner !== undefined) return owner;
    if (!isNumeric(n)) {
      const user = this.usersByLowerId.get(n);
      if (user !== undefined) return { kind: 'user', user, number: raw };
    }
    return undefined;
  }

  user(id: string): UserConfig | undefined {
    return this.usersById.get(id);
  }

  group(id: string): GroupConfig | undefined {
    return this.groupsById.get(id);
  }

  /** The configured groups `userId` is a member of, in config order. */
  groupsOf(userId: string): GroupConfig[] {
    return this.config.groups.filter((g) => g.members.includes(userId));
  }

  private claim(raw: string, owner: NumberOwner): void {
    const n = this.normalize(raw);
    const prev = this.byNumber.get(n);
    if (prev === undefined) {
      this.byNumber.set(n, owner);
      return;
    }
    this.conflicts.push(`number "${raw}" of ${describeOwner(owner)} is the same as "${prev.number}" of ${describeOwner(prev)} (both ${n})`);
  }
}

function describeOwner(o: NumberOwner): string {
  return o.kind === 'user' ? `user "${o.user.id}"` : `group "${o.group.id}"`;
}

const cache = new WeakMap<DirectoryConfig, NumberIndex>();

/** The index of a config object, built once per object (configs are not mutated after loading). */
export function numberIndexFor(config: DirectoryConfig): NumberIndex {
  let index = cache.get(config);
  if (index === undefined) {
    index = new NumberIndex(config);
    cache.set(config, index);
  }
  return index;
}
