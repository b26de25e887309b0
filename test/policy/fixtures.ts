import type { GroupConfig, NumbersConfig, ProfileConfig, UserConfig } from '../../lib/config/index.js';
import type { PolicyConfig } from '../../lib/policy/index.js';

/**
 * A small company for the policy tests: numbers +49 30 1234567-xxx, 3-digit
 * extensions (extensionLength 4), two recording groups.
 *
 *   alice  201  listed in profile "traders", member of traders
 *   bob    202  member of traders
 *   carol  203  in no group, in no profile
 *   dave   204  member of sales, listed in profile "dave-out"
 *   erin   205  member of traders and sales
 *   traders 300 / +49301234567300      sales 400
 */

export const numbers: NumbersConfig = { country: '49', area: '30', extensionLength: 4 };

export const users: UserConfig[] = [
  { id: 'alice', name: 'Alice Trader', numbers: ['201', '+49301234567201'] },
  { id: 'bob', name: 'Bob Broker', numbers: ['202', '+49301234567202'] },
  { id: 'carol', numbers: ['203'] },
  { id: 'dave', numbers: ['204', '+49301234567204'] },
  { id: 'erin', numbers: ['205'] },
];

export const groups: GroupConfig[] = [
  { id: 'traders', numbers: ['300', '+49301234567300'], members: ['alice', 'bob', 'erin'] },
  { id: 'sales', numbers: ['400'], members: ['dave', 'erin'] },
];

/** A profile with the schema's defaults for everything not given. */
export function profile(p: Partial<ProfileConfig> & { name: string }): ProfileConfig {
  return {
    direction: 'both',
    users: [],
    groups: [],
    directCallsToActiveMembers: false,
    channels: 'both-stereo',
    recordFrom: 'setup',
    prompts: {},
    retention: null,
    targets: [],
    ...p,
  };
}

export const mainProfiles: ProfileConfig[] = [
  profile({ name: 'traders', direction: 'both', users: ['alice'], groups: ['traders'] }),
  profile({ name: 'sales-in', direction: 'inbound', groups: ['sales'], directCallsToActiveMembers: true }),
  profile({ name: 'dave-out', direction: 'outbound', users: ['dave'] }),
];

export function policyConfig(profiles: ProfileConfig[] = mainProfiles): PolicyConfig {
  return { numbers, users, groups, profiles };
}
