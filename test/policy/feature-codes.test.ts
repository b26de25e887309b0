/**
 * lib/policy feature codes (config `featureCodes`, issue 5): "*71" alone
 * logs the caller in to all their groups, "*71300" / "*71*300" to the group
 * with number 300; "*72" logs out.
 *
 * Verifies: recognition of the code alone, with a group number (with and
 * without "*" between, with a closing "#", inside a SIP URI, percent-encoded
 * "#"), group numbers in any normalised form, codes that are prefixes of each
 * other, A-D case; numbers that are not feature codes; the updates for the
 * calling user and the typed errors (unknown caller, group number as caller,
 * unknown group, not a member, no groups); "already logged in" with a
 * MembershipSource.
 */
import t from 'tap';
import { applyFeatureCode, parseFeatureCode, StaticMembership, type FeatureCode } from '../../lib/policy/index.js';
import { groups, numbers, policyConfig } from './fixtures.js';

const codes = { login: '*71', logout: '*72' };
const parse = (dialled: string): FeatureCode | undefined => parseFeatureCode(dialled, codes, groups, numbers);
const summary = (c: FeatureCode | undefined): string | undefined =>
  c === undefined ? undefined : `${c.action} ${c.scope} ${c.groups.map((g) => g.id).join(',')}`.trim();

t.test('parseFeatureCode', async (t) => {
  const cases: Array<[string, string | undefined]> = [
    ['*71', 'login all traders,sales'],
    ['*72', 'logout all traders,sales'],
    ['*71#', 'login all traders,sales'],
    ['*71300', 'login group traders'],
    ['*71*300', 'login group traders'],
    ['*72*300#', 'logout group traders'],
    ['*72400', 'logout group sales'],
    ['sip:*71*300@callrec.example.com;user=phone', 'login group traders'],
    ['sip:*71*300%23@callrec.example.com', 'login group traders'],
    ['*71+49301234567300', 'login group traders'],
    ['*710301234567300', 'login group traders'],
    ['*71999', 'login group'],
    ['*7', undefined],
    ['*73', undefined],
    ['*1', undefined],
    ['0301234567300', undefined],
    ['300', undefined],
    ['*71abc', undefined],
    ['', undefined],
  ];
  for (const [dialled, expected] of cases) t.equal(summary(parse(dialled)), expected, JSON.stringify(dialled));
  t.equal(parse('*71999')?.groupNumber, '999', 'unknown group number is kept for the message');
  t.equal(parse('*71*300')?.dialled, '*71*300');
});

t.test('codes that are prefixes of each other', async (t) => {
  const c = { login: '*7', logout: '*71' };
  t.equal(summary(parseFeatureCode('*71', c, groups, numbers)), 'logout all traders,sales', 'exact code first');
  t.equal(summary(parseFeatureCode('*71300', c, groups, numbers)), 'logout group traders', 'longest code first');
  t.equal(summary(parseFeatureCode('*7300', c, groups, numbers)), 'login group traders');
});

t.test('A-D keys in any case, and no numbers config', async (t) => {
  const c = { login: '#9a', logout: '#9b' };
  t.equal(summary(parseFeatureCode('#9A', c, groups)), 'login all traders,sales');
  t.equal(summary(parseFeatureCode('#9b300', c, groups)), 'logout group traders');
  t.equal(summary(parseFeatureCode('#9b0301234567300', c, groups)), 'logout group', 'without numbers config no normalisation');
});

t.test('applyFeatureCode', async (t) => {
  const config = policyConfig();
  const apply = (dialled: string, caller: string) => {
    const code = parse(dialled);
    if (code === undefined) throw new Error(`not a feature code: ${dialled}`);
    return applyFeatureCode(code, caller, config);
  };

  const all = apply('*71', '205');
  t.same(all, {
    ok: true,
    action: 'login',
    user: config.users[4],
    updates: [
      { groupId: 'traders', userId: 'erin', active: true },
      { groupId: 'sales', userId: 'erin', active: true },
    ],
    message: 'erin logged in to groups traders, sales',
  }, 'alone: all the caller\'s groups');

  const one = apply('*72*300', '+49301234567202');
  t.same(one.ok ? one.updates : one, [{ groupId: 'traders', userId: 'bob', active: false }], 'one group, caller by full number');
  t.equal(one.message, 'bob logged out of group traders');

  const fromUri = apply('*71', 'sip:0301234567201@pbx');
  t.same(fromUri.ok ? fromUri.updates.map((u) => u.groupId) : fromUri, ['traders'], 'caller as URI in national form');

  const errors: Array<[string, string, string, RegExp]> = [
    ['*71', '0301111', 'unknown-user', /^login \*71 refused: calling number 0301111 is not a configured user$/],
    ['*71', '', 'unknown-user', /calling number \(none\)/],
    ['*71', '300', 'unknown-user', /calling number 300 is the number of group traders, not of a user/],
    ['*71', '203', 'no-groups', /^login \*71 refused: carol is not a member of any group$/],
    ['*71999', '201', 'unknown-group', /^login \*71999 refused: no group has the number 999$/],
    ['*72400', '201', 'not-a-member', /^logout \*72400 refused: alice is not a member of group sales$/],
  ];
  for (const [dialled, caller, error, message] of errors) {
    const r = apply(dialled, caller);
    t.equal(r.ok, false, `${dialled} by ${caller || '(none)'} fails`);
    if (!r.ok) {
      t.equal(r.error, error);
      t.match(r.message, message);
    }
  }
});

t.test('applyFeatureCode with membership: what changes and what is already so', async (t) => {
  const config = policyConfig();
  const membership = new StaticMembership([['traders', 'erin', true], ['sales', 'erin', false]]);
  const code = parse('*71');
  if (code === undefined) throw new Error('*71 not recognised');
  const r = applyFeatureCode(code, '205', config, membership);
  t.equal(r.ok, true);
  if (r.ok) {
    t.same(r.updates, [
      { groupId: 'traders', userId: 'erin', active: true, changed: false },
      { groupId: 'sales', userId: 'erin', active: true, changed: true },
    ]);
    t.equal(r.message, 'erin logged in to group sales; erin was already logged in to group traders');
  }
  const out = parse('*72300');
  if (out === undefined) throw new Error('*72300 not recognised');
  const r2 = applyFeatureCode(out, '201', config, new StaticMembership([['traders', 'alice', false]]));
  t.equal(r2.message, 'alice was already logged out of group traders');
});
