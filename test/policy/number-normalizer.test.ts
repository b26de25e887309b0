/**
 * lib/policy number normalisation (SPEC config `numbers`): the forms a
 * number arrives in all reach one canonical form, so calls match the
 * config's user and group numbers.
 *
 * Verifies: URI syntax removed (sip:/sips:/tel:, host, ;params, ?headers,
 * <...>, percent-encoding); RFC 3966 visual separators and German "030/..."
 * and "+49 (0)30" writing; "+", "00" and "0" prefixes; country and area
 * added to local numbers longer than extensionLength; extensions kept;
 * service codes kept; non-numeric users lower-cased; configs without
 * country or area; the NumberIndex matching config numbers in any form.
 */
import t from 'tap';
import {
  isDialString,
  normalizeNumber,
  NumberIndex,
  numberIndexFor,
  stripNumberSyntax,
  type NumberRules,
} from '../../lib/policy/index.js';
import { policyConfig } from './fixtures.js';

const berlin: NumberRules = { country: '49', area: '30', extensionLength: 4 };
const germanyOnly: NumberRules = { country: '49', extensionLength: 4 };
const none: NumberRules = { extensionLength: 4 };
const longExt: NumberRules = { country: '41', area: '44', extensionLength: 6 };

const cases: Array<[name: string, input: string, rules: NumberRules, expected: string]> = [
  ['E.164 stays', '+49301234567201', berlin, '+49301234567201'],
  ['00 international prefix', '0049301234567201', berlin, '+49301234567201'],
  ['00 to another country', '0041441234567', berlin, '+41441234567'],
  ['0 national prefix', '0301234567201', berlin, '+49301234567201'],
  ['0 national prefix, mobile', '01701234567', berlin, '+491701234567'],
  ['local number gets country and area', '1234567201', berlin, '+49301234567201'],
  ['extension kept', '201', berlin, '201'],
  ['extension at the length limit kept', '2010', berlin, '2010'],
  ['one digit longer than an extension is local', '20101', berlin, '+493020101'],
  ['short number with 0 is an extension', '0', berlin, '0'],
  ['sip URI with host and params', 'sip:+49301234567201@pbx.example.com;user=phone', berlin, '+49301234567201'],
  ['sips URI', 'sips:0301234567201@pbx.example.com:5061;transport=tls', berlin, '+49301234567201'],
  ['name-addr', '"Alice" <sip:201@pbx.example.com>', berlin, '201'],
  ['URI headers', 'sip:201@pbx?Reason=SIP%3Bcause%3D302', berlin, '201'],
  ['user parameters before the host', 'sip:+4930123;phone-context=+49@pbx', berlin, '+4930123'],
  ['tel URI with separators', 'tel:+49-30-1234567-201', berlin, '+49301234567201'],
  ['tel URI with phone-context', 'tel:201;phone-context=example.com', berlin, '201'],
  ['percent-encoded +', 'sip:%2B49301234567201@pbx', berlin, '+49301234567201'],
  ['blanks', '+49 30 1234567 201', berlin, '+49301234567201'],
  ['dots and parentheses', '(030) 1234567.201', berlin, '+49301234567201'],
  ['slash as in 030/1234567-201', '030/1234567-201', berlin, '+49301234567201'],
  ['+49 (0)30 trunk prefix in brackets', '+49 (0)30 1234567 201', berlin, '+49301234567201'],
  ['0049 (0)30 trunk prefix in brackets', '0049 (0) 30 1234567201', berlin, '+49301234567201'],
  ['blanks around the number', '  201  ', berlin, '201'],
  ['non-numeric user lower-cased', 'sip:Alice@pbx.example.com', berlin, 'alice'],
  ['anonymous', '"Anonymous" <sip:anonymous@anonymous.invalid>', berlin, 'anonymous'],
  ['name with dots keeps its dots', 'sip:Alice.Smith@pbx', berlin, 'alice.smith'],
  ['service code kept', '*71300', berlin, '*71300'],
  ['service code with #', 'sip:*71*300%23@callrec', berlin, '*71*300#'],
  ['empty', '', berlin, ''],
  ['no country: 0 form unchanged', '0301234567201', none, '0301234567201'],
  ['no country: 00 form still international', '0049301234567201', none, '+49301234567201'],
  ['no area: local number unchanged', '1234567201', germanyOnly, '1234567201'],
  ['no area: 0 form still gets the country', '0301234567201', germanyOnly, '+49301234567201'],
  ['extensionLength 6 keeps 6 digits', '123456', longExt, '123456'],
  ['extensionLength 6, 7 digits are local', '1234567', longExt, '+41441234567'],
  ['other country and area', '0441234567', longExt, '+41441234567'],
];

for (const [name, input, rules, expected] of cases) {
  t.equal(normalizeNumber(input, rules), expected, `${name}: ${JSON.stringify(input)} -> ${expected}`);
}

t.test('the same number in every form normalises to one value', async (t) => {
  const forms = [
    '0301234567201',
    '+49301234567201',
    '0049301234567201',
    '1234567201',
    '+49 (0)30 1234567-201',
    'sip:+49301234567201@provider.example.net;user=phone',
    'tel:+49-30-1234567-201',
    '<sip:0301234567201@pbx>',
  ];
  t.same(new Set(forms.map((f) => normalizeNumber(f, berlin))), new Set(['+49301234567201']));
});

t.test('stripNumberSyntax', async (t) => {
  t.equal(stripNumberSyntax('sip:Alice@pbx;transport=tcp'), 'Alice', 'case kept, only normalize lower-cases');
  t.equal(stripNumberSyntax('<tel:+1-202-555-0100;ext=12>'), '+12025550100');
  t.equal(stripNumberSyntax('sip:%ZZ@pbx'), '%ZZ', 'broken percent-encoding kept');
  t.equal(stripNumberSyntax('sip:pbx.example.com'), 'pbx.example.com', 'no user: the host remains (callers pass user parts)');
});

t.test('isDialString', async (t) => {
  t.ok(isDialString('+49301234'));
  t.ok(isDialString('*71#'));
  t.notOk(isDialString('alice'));
  t.notOk(isDialString('+'.repeat(2)));
  t.notOk(isDialString(''));
});

t.test('NumberIndex matches config numbers in any form', async (t) => {
  const index = new NumberIndex(policyConfig());
  const owner = (raw: string): string | undefined => {
    const o = index.lookup(raw);
    return o === undefined ? undefined : o.kind === 'user' ? `user:${o.user.id}` : `group:${o.group.id}`;
  };
  t.equal(owner('201'), 'user:alice', 'configured extension');
  t.equal(owner('0301234567201'), 'user:alice', '0 form of a configured +49 number');
  t.equal(owner('0049301234567201'), 'user:alice', '00 form');
  t.equal(owner('1234567201'), 'user:alice', 'local form');
  t.equal(owner('sip:+49301234567300@provider'), 'group:traders', 'group number in a URI');
  t.equal(owner('0301234567300'), 'group:traders');
  t.equal(owner('ALICE'), 'user:alice', 'user id, any case');
  t.equal(owner('traders'), undefined, 'group ids are not numbers');
  t.equal(owner('205'), 'user:erin');
  t.equal(owner('+49301234567205'), undefined, 'erin has no full number configured');
  t.equal(owner(''), undefined);
  t.same(index.conflicts, []);
  t.equal(numberIndexFor(policyConfig()) === numberIndexFor(policyConfig()), false, 'one index per config object');
  const config = policyConfig();
  t.equal(numberIndexFor(config), numberIndexFor(config), 'cached per config object');
});

t.test('NumberIndex reports numbers that only differ in form', async (t) => {
  const config = policyConfig();
  const clash = {
    ...config,
    users: [
      { id: 'a', numbers: ['0301234567201'] },
      { id: 'b', numbers: ['+49301234567201'] },
    ],
    groups: [],
  };
  const index = new NumberIndex(clash);
  t.equal(index.conflicts.length, 1);
  t.match(index.conflicts[0], /"\+49301234567201" of user "b" is the same as "0301234567201" of user "a"/);
  const o = index.lookup('+49301234567201');
  t.equal(o?.kind === 'user' ? o.user.id : undefined, 'a', 'the first owner keeps the number');
});
