/**
 * lib/policy decide(): the recording policy as one table (SPEC P1-P5,
 * issue 5, model product "Aufzeichnungseinstellungen").
 *
 * Verifies, per row: record or not, the profile that records (first match
 * wins, P5), matchedUser/matchedGroup, and the reason sentence.
 * Dimensions: direction (inbound/outbound); identity source
 * (P-Asserted-Identity over From; request-URI over To) through
 * callFactsFromHeaders on realistic header values; number forms (extension,
 * +49, 0049, 0, local, tel: with separators, user names); membership
 * active/inactive; forwarding via Diversion and via History-Info; profile
 * order and direction filters; directCallsToActiveMembers; profiles without
 * users or groups.
 * Not verified here: persistence of membership (lib/store), SIP handling.
 */
import t from 'tap';
import type { ProfileConfig } from '../../lib/config/index.js';
import {
  callFactsFromHeaders,
  decide,
  isActiveMember,
  membershipFromMap,
  StaticMembership,
  type CallFacts,
  type CallHeaders,
} from '../../lib/policy/index.js';
import { mainProfiles, policyConfig, profile } from './fixtures.js';

interface Row {
  name: string;
  profiles?: ProfileConfig[];
  /** Either raw headers (identity source tests) or the facts directly. */
  headers?: CallHeaders;
  facts?: CallFacts;
  /** (group, user) pairs logged out; everyone else is logged in. */
  inactive?: Array<[string, string]>;
  record: boolean;
  profile?: string;
  user?: string;
  group?: string;
  reason: RegExp;
}

const out = (callingIdentity: string, forwardedFrom: string[] = [], calledNumber = '+491701234567'): CallFacts => ({
  direction: 'outbound',
  callingIdentity,
  calledNumber,
  forwardedFrom,
});
const inb = (calledNumber: string, forwardedFrom: string[] = [], callingIdentity = '+4989555123'): CallFacts => ({
  direction: 'inbound',
  callingIdentity,
  calledNumber,
  forwardedFrom,
});

const catchAllOut = profile({ name: 'all-out', direction: 'outbound' });
const catchAllIn = profile({ name: 'all-in', direction: 'inbound' });
const catchAllBoth = profile({ name: 'everything' });
const tradersIn = profile({ name: 'traders-in', direction: 'inbound', groups: ['traders'] });
const aliceOut = profile({ name: 'alice-out', direction: 'outbound', users: ['alice'] });
const tradersCopy = profile({ name: 'traders-copy', users: ['alice'], groups: ['traders'] });
const tradersDirect = profile({ name: 'traders-direct', groups: ['traders'], directCallsToActiveMembers: true });

const rows: Row[] = [
  // --- outbound: identity source and number forms ---
  {
    name: 'outbound, PAI extension of a listed user',
    headers: {
      direction: 'outbound',
      requestUri: 'sip:+491701234567@provider.example.net;user=phone',
      from: '"Anonymous" <sip:anonymous@anonymous.invalid>;tag=a1',
      pAssertedIdentity: '"Alice Trader" <sip:201@pbx.example.com>',
    },
    record: true, profile: 'traders', user: 'alice',
    reason: /^recorded by profile traders: calling user 201 \(alice\) is a recorded user$/,
  },
  {
    name: 'outbound, no PAI, From in +49 form',
    headers: { direction: 'outbound', requestUri: 'sip:01701234567@provider', from: '<sip:+49301234567201@pbx.example.com;user=phone>;tag=9' },
    record: true, profile: 'traders', user: 'alice', reason: /calling user \+49301234567201 \(alice\) is a recorded user/,
  },
  {
    name: 'outbound, From in national 0 form',
    headers: { direction: 'outbound', from: '"Alice" <sip:0301234567201@pbx>;tag=x', to: '<sip:01701234567@provider>' },
    record: true, profile: 'traders', user: 'alice', reason: /alice/,
  },
  {
    name: 'outbound, From in international 00 form',
    facts: out('0049301234567201'),
    record: true, profile: 'traders', user: 'alice', reason: /recorded user/,
  },
  {
    name: 'outbound, PAI tel URI with visual separators',
    headers: { direction: 'outbound', from: '<sip:201@pbx>;tag=1', pAssertedIdentity: '<tel:+49-30-1234567-201>' },
    record: true, profile: 'traders', user: 'alice', reason: /\(alice\)/,
  },
  {
    name: 'outbound, local number without prefix gets country and area',
    facts: out('1234567202'),
    record: true, profile: 'traders', user: 'bob', group: 'traders',
    reason: /calling user 1234567202 \(bob\) is an active member of group traders/,
  },
  {
    name: 'outbound, user name instead of a number in From',
    headers: { direction: 'outbound', from: '"Alice" <sip:Alice@pbx.example.com>;tag=5' },
    record: true, profile: 'traders', user: 'alice', reason: /calling user alice is a recorded user/,
  },
  // --- outbound: membership ---
  {
    name: 'outbound, active group member',
    facts: out('202'),
    record: true, profile: 'traders', user: 'bob', group: 'traders',
    reason: /^recorded by profile traders: calling user 202 \(bob\) is an active member of group traders$/,
  },
  {
    name: 'outbound, inactive group member is not recorded',
    facts: out('202'), inactive: [['traders', 'bob']],
    record: false, reason: /^not recorded: calling user 202 \(bob\) is not an active member of group traders \(profile traders\)$/,
  },
  {
    name: 'outbound, PAI (inactive bob) wins over From (alice)',
    headers: { direction: 'outbound', from: '<sip:201@pbx>;tag=1', pAssertedIdentity: '<sip:+49301234567202@pbx>' },
    inactive: [['traders', 'bob']],
    record: false, reason: /bob\) is not an active member of group traders/,
  },
  {
    name: 'outbound, PAI (alice) wins over From (inactive bob)',
    headers: { direction: 'outbound', from: '<sip:202@pbx>;tag=1', pAssertedIdentity: '<sip:201@pbx>, <tel:+49301234567201>' },
    inactive: [['traders', 'bob']],
    record: true, profile: 'traders', user: 'alice', reason: /alice/,
  },
  {
    name: 'outbound, listed user is recorded even when logged out of the group',
    facts: out('201'), inactive: [['traders', 'alice']],
    record: true, profile: 'traders', user: 'alice', reason: /is a recorded user/,
  },
  {
    name: 'outbound, member of two groups, logged out of the recorded one',
    facts: out('205'), inactive: [['traders', 'erin']],
    record: false, reason: /calling user 205 \(erin\) is not an active member of group traders/,
  },
  {
    name: 'outbound, member of two groups, active in the recorded one',
    facts: out('205'), inactive: [['sales', 'erin']],
    record: true, profile: 'traders', user: 'erin', group: 'traders', reason: /active member of group traders/,
  },
  {
    name: 'outbound, configured user in no profile',
    facts: out('203'),
    record: false, reason: /^not recorded: no profile matches outbound calls from 203 \(user carol\)$/,
  },
  {
    name: 'outbound, unknown number',
    facts: out('0301111'),
    record: false, reason: /^not recorded: no profile matches outbound calls from 0301111 \(not a configured user or group number\)$/,
  },
  {
    name: 'outbound, anonymous caller',
    headers: { direction: 'outbound', from: '"Anonymous" <sip:anonymous@anonymous.invalid>;tag=1' },
    record: false, reason: /no profile matches outbound calls from anonymous/,
  },
  {
    name: 'outbound without any identity',
    headers: { direction: 'outbound', requestUri: 'sip:01701234567@provider' },
    record: false, reason: /^not recorded: no profile matches outbound calls from an unknown caller$/,
  },
  {
    name: 'outbound, group number as caller id is not a user',
    facts: out('+49301234567300'),
    record: false, reason: /number of group traders, not of a user/,
  },
  {
    name: 'outbound, second profile records a user the first does not',
    facts: out('204'),
    record: true, profile: 'dave-out', user: 'dave', reason: /^recorded by profile dave-out: calling user 204 \(dave\) is a recorded user$/,
  },
  // --- outbound: forwarding by the PBX ---
  {
    name: 'outbound forwarded, Diversion names a listed user',
    headers: {
      direction: 'outbound',
      requestUri: 'sip:+491701234567@provider.example.net',
      from: '<sip:+4989555123@pbx>;tag=1',
      diversion: '<sip:201@pbx.example.com;user=phone>;reason=unconditional;counter=1;privacy=off',
    },
    record: true, profile: 'traders', user: 'alice',
    reason: /call was forwarded for user 201 \(alice\), who is a recorded user/,
  },
  {
    name: 'outbound forwarded, Diversion names an active member',
    facts: out('+4989555123', ['0301234567202']),
    record: true, profile: 'traders', user: 'bob', group: 'traders',
    reason: /call was forwarded for user 0301234567202 \(bob\), who is an active member of group traders/,
  },
  {
    name: 'outbound forwarded, Diversion names an inactive member',
    facts: out('+4989555123', ['202']), inactive: [['traders', 'bob']],
    record: false, reason: /^not recorded: call was forwarded for user 202 \(bob\), who is not an active member of group traders \(profile traders\)$/,
  },
  {
    name: 'outbound forwarded, History-Info names a listed user',
    headers: {
      direction: 'outbound',
      requestUri: 'sip:+491701234567@provider.example.net',
      from: '<sip:+4989555123@pbx>;tag=1',
      historyInfo:
        '<sip:0301234567201@pbx.example.com?Reason=SIP%3Bcause%3D302%3Btext%3D%22Moved%22>;index=1, <sip:+491701234567@provider.example.net>;index=1.1;mp=1',
    },
    record: true, profile: 'traders', user: 'alice', reason: /forwarded for user 0301234567201 \(alice\)/,
  },
  {
    name: 'outbound forwarded, History-Info names an active member',
    headers: {
      direction: 'outbound',
      from: '<sip:+4989555123@pbx>;tag=1',
      historyInfo: ['<sip:202@pbx?Reason=SIP%3Bcause%3D480>;index=1', '<sip:01701234567@provider>;index=1.1;rc=1'],
    },
    record: true, profile: 'traders', user: 'bob', group: 'traders', reason: /active member of group traders/,
  },
  {
    name: 'outbound, History-Info whose only recorded entry is the final target does not count',
    headers: {
      direction: 'outbound',
      from: '<sip:+4989555123@pbx>;tag=1',
      historyInfo: '<sip:0301234567999@pbx?Reason=SIP%3Bcause%3D302>;index=1, <sip:201@pbx>;index=1.1',
    },
    record: false, reason: /no profile matches outbound calls from \+4989555123/,
  },
  {
    name: 'outbound forwarded, Diversion names a recorded group number',
    facts: out('+4989555123', ['300']),
    record: true, profile: 'traders', group: 'traders', reason: /call was forwarded from 300, which belongs to recorded group traders/,
  },
  {
    name: 'outbound forwarded, Diversion names a user in no profile',
    facts: out('+4989555123', ['203']),
    record: false, reason: /no profile matches outbound calls from \+4989555123 \(not a configured user or group number\), forwarded from 203/,
  },
  {
    name: 'outbound forwarded for a user listed only in the second profile',
    facts: out('+4989555123', ['+49301234567204']),
    record: true, profile: 'dave-out', user: 'dave', reason: /forwarded for user/,
  },
  // --- inbound: called number ---
  {
    name: 'inbound to a group number in the request-URI',
    headers: {
      direction: 'inbound',
      requestUri: 'sip:+49301234567300@callrec.example.com;user=phone',
      from: '<sip:+4989555123@provider>;tag=1',
      to: '<sip:+49301234567999@provider>',
    },
    record: true, profile: 'traders', group: 'traders',
    reason: /^recorded by profile traders: called number \+49301234567300 belongs to recorded group traders$/,
  },
  {
    name: 'inbound, no request-URI user, To in national form',
    headers: { direction: 'inbound', requestUri: 'sip:callrec.example.com', to: '"Traders" <sip:0301234567300@provider>' },
    record: true, profile: 'traders', group: 'traders', reason: /belongs to recorded group traders/,
  },
  {
    name: 'inbound to a listed user',
    facts: inb('+49301234567201'),
    record: true, profile: 'traders', user: 'alice', reason: /called number \+49301234567201 belongs to recorded user alice/,
  },
  {
    name: 'inbound to an active member without directCallsToActiveMembers',
    facts: inb('+49301234567202'),
    record: false, reason: /belongs to bob, an active member of group traders, but profile traders does not record direct calls to active members/,
  },
  {
    name: 'inbound to an inactive member',
    facts: inb('202'), inactive: [['traders', 'bob']],
    record: false, reason: /called number 202 belongs to bob, who is not an active member of group traders \(profile traders\)/,
  },
  {
    name: 'inbound direct call to an active member with directCallsToActiveMembers',
    facts: inb('0301234567204'),
    record: true, profile: 'sales-in', user: 'dave', group: 'sales',
    reason: /^recorded by profile sales-in: called number 0301234567204 belongs to dave, an active member of group sales \(direct calls to active members are recorded\)$/,
  },
  {
    name: 'inbound direct call to an inactive member with directCallsToActiveMembers',
    facts: inb('204'), inactive: [['sales', 'dave']],
    record: false, reason: /204 belongs to dave, who is not an active member of group sales \(profile sales-in\)/,
  },
  {
    name: 'inbound to the second profile\'s group number',
    facts: inb('400'),
    record: true, profile: 'sales-in', group: 'sales', reason: /belongs to recorded group sales/,
  },
  {
    name: 'inbound to a user in no profile',
    facts: inb('203'),
    record: false, reason: /^not recorded: no profile matches inbound calls to 203 \(user carol\)$/,
  },
  {
    name: 'inbound to an unknown number',
    facts: inb('+49301234567000'),
    record: false, reason: /no profile matches inbound calls to \+49301234567000/,
  },
  {
    name: 'inbound to a member of two groups: first profile declines, second records',
    facts: inb('205'),
    record: true, profile: 'sales-in', user: 'erin', group: 'sales', reason: /erin, an active member of group sales/,
  },
  // --- inbound: forwarded by the provider ---
  {
    name: 'inbound forwarded, Diversion names a listed user',
    headers: {
      direction: 'inbound',
      requestUri: 'sip:+49301234567000@callrec',
      diversion: '"Alice Trader" <sip:+49301234567201@provider.example.net;user=phone>;reason=unconditional',
    },
    record: true, profile: 'traders', user: 'alice', reason: /call was forwarded from \+49301234567201, which belongs to recorded user alice/,
  },
  {
    name: 'inbound forwarded, History-Info names a group number',
    headers: {
      direction: 'inbound',
      requestUri: 'sip:+49301234567000@callrec',
      historyInfo: '<sip:+49301234567300@provider?Reason=SIP%3Bcause%3D486>;index=1, <sip:+49301234567000@callrec>;index=1.1',
    },
    record: true, profile: 'traders', group: 'traders', reason: /call was forwarded from \+49301234567300, which belongs to recorded group traders/,
  },
  {
    name: 'inbound forwarded from an active member, option off',
    facts: inb('+49301234567000', ['202']),
    record: false, reason: /call was forwarded from 202, which belongs to bob, an active member of group traders, but profile traders does not record direct calls/,
  },
  {
    name: 'inbound forwarded from an active member, option on',
    profiles: [tradersDirect],
    facts: inb('+49301234567000', ['202']),
    record: true, profile: 'traders-direct', user: 'bob', group: 'traders', reason: /call was forwarded from 202, which belongs to bob/,
  },
  // --- profile order and direction filters ---
  {
    name: 'catch-all outbound profile first takes the call',
    profiles: [catchAllOut, ...mainProfiles],
    facts: out('201'),
    record: true, profile: 'all-out', reason: /^recorded by profile all-out: it records every outbound call$/,
  },
  {
    name: 'catch-all outbound profile does not see inbound calls',
    profiles: [catchAllOut, ...mainProfiles],
    facts: inb('201'),
    record: true, profile: 'traders', user: 'alice', reason: /recorded user alice/,
  },
  {
    name: 'catch-all inbound profile alone, outbound call',
    profiles: [catchAllIn],
    facts: out('201'),
    record: false, reason: /^not recorded: no profile matches outbound calls from 201 \(user alice\); profile all-in records only inbound calls$/,
  },
  {
    name: 'catch-all profile for both directions records unknown numbers',
    profiles: [catchAllBoth],
    facts: inb('+4940999'),
    record: true, profile: 'everything', reason: /it records every inbound call/,
  },
  {
    name: 'inbound-only profile skipped, next profile records the outbound call',
    profiles: [tradersIn, ...mainProfiles],
    facts: out('202'),
    record: true, profile: 'traders', user: 'bob', group: 'traders', reason: /^recorded by profile traders:/,
  },
  {
    name: 'inbound-only group profile, outbound call by an active member',
    profiles: [tradersIn],
    facts: out('202'),
    record: false, reason: /profile traders-in would record it \(calling user 202 \(bob\) is an active member of group traders\) but records only inbound calls/,
  },
  {
    name: 'outbound-only user profile, inbound call to that user',
    profiles: [aliceOut],
    facts: inb('201'),
    record: false, reason: /profile alice-out would record it .* but records only outbound calls/,
  },
  {
    name: 'two matching profiles: the first records, the second is not asked',
    profiles: [...mainProfiles, tradersCopy],
    facts: out('201'),
    record: true, profile: 'traders', user: 'alice', reason: /traders:/,
  },
  {
    name: 'profile order reversed: the copy records',
    profiles: [tradersCopy, ...mainProfiles],
    facts: out('201'),
    record: true, profile: 'traders-copy', user: 'alice', reason: /^recorded by profile traders-copy:/,
  },
  {
    name: 'inactive in the first profile\'s group, listed in a later profile',
    profiles: [tradersIn, profile({ name: 'bob-too', groups: ['traders'] }), profile({ name: 'bob-listed', users: ['bob'] })],
    facts: out('202'), inactive: [['traders', 'bob']],
    record: true, profile: 'bob-listed', user: 'bob', reason: /is a recorded user/,
  },
  {
    name: 'no profiles at all',
    profiles: [],
    facts: out('201'),
    record: false, reason: /^not recorded: no profile matches outbound calls from 201 \(user alice\)$/,
  },
  {
    name: 'directCallsToActiveMembers profile, a full number the member does not have',
    profiles: [tradersDirect],
    facts: inb('+49301234567205'),
    record: false, reason: /no profile matches inbound calls to \+49301234567205/,
  },
  {
    name: 'directCallsToActiveMembers profile, extension of an active member',
    profiles: [tradersDirect],
    facts: inb('205'),
    record: true, profile: 'traders-direct', user: 'erin', group: 'traders', reason: /205 belongs to erin, an active member of group traders/,
  },
];

t.ok(rows.length >= 40, `table has ${rows.length} rows`);
t.equal(new Set(rows.map((r) => r.name)).size, rows.length, 'row names are unique');

for (const row of rows) {
  t.test(row.name, async (t) => {
    const facts = row.facts ?? (row.headers !== undefined ? callFactsFromHeaders(row.headers) : undefined);
    if (facts === undefined) throw new Error('row needs facts or headers');
    const membership = new StaticMembership((row.inactive ?? []).map(([g, u]) => [g, u, false] as const));
    const d = decide(policyConfig(row.profiles), facts, membership);
    t.equal(d.record, row.record, `record: ${d.reason}`);
    t.match(d.reason, row.reason);
    if (d.record) {
      t.equal(d.profile.name, row.profile, 'profile');
      t.equal(d.matchedUser, row.user, 'matchedUser');
      t.equal(d.matchedGroup, row.group, 'matchedGroup');
    }
  });
}

t.test('membership state of non-members is ignored', async (t) => {
  // carol is not a member of traders; a stray "active" row must not make her recorded.
  const d = decide(policyConfig(), out('203'), new StaticMembership([['traders', 'carol', true]]));
  t.equal(d.record, false);
});

t.test('decide is pure: same input, same output, config untouched', async (t) => {
  const config = policyConfig();
  const before = JSON.stringify(config);
  const m = new StaticMembership();
  const a = decide(config, out('202'), m);
  const b = decide(config, out('202'), m);
  t.same(a, b);
  t.equal(JSON.stringify(config), before);
});

t.test('membershipFromMap and isActiveMember', async (t) => {
  const m = membershipFromMap(new Map([['traders/bob', false]]));
  t.equal(m.isActive('traders', 'bob'), false);
  t.equal(m.isActive('traders', 'alice'), true, 'members start logged in');
  const traders = policyConfig().groups[0];
  if (traders === undefined) throw new Error('fixture without groups');
  t.equal(isActiveMember(traders, 'alice', m), true);
  t.equal(isActiveMember(traders, 'bob', m), false);
  t.equal(isActiveMember(traders, 'carol', m), false, 'not a configured member');
  t.equal(decide(policyConfig(), out('202'), m).record, false, 'decide with a Map-backed source');
});
