/**
 * lib/policy call facts from raw header values (SPEC S3, "Interface": PAI
 * else From; request-URI else To; Diversion and History-Info name the
 * forwarding users).
 *
 * Verifies: name-addr lists with quoted display names containing commas,
 * repeated headers, addr-spec without brackets (";tag" is a header param),
 * sip/sips/tel URIs, user parameters, passwords, percent-encoding, URI
 * headers (?Reason=...), History-Info index ordering and dropping of the
 * final target, RFC 3325 two-entry PAI, and callFactsFromHeaders.
 */
import t from 'tap';
import {
  assertedIdentityUser,
  callFactsFromHeaders,
  diversionUsers,
  firstUser,
  historyInfoUsers,
  parseAddressEntry,
  splitAddressList,
  uriUser,
} from '../../lib/policy/index.js';

t.test('uriUser', async (t) => {
  const cases: Array<[string, string | undefined]> = [
    ['sip:201@pbx.example.com', '201'],
    ['sip:+49301234567201@pbx.example.com;user=phone', '+49301234567201'],
    ['sips:alice@pbx.example.com:5061;transport=tls', 'alice'],
    ['sip:+4930123;phone-context=+49@pbx', '+4930123'],
    ['sip:201:secret@pbx', '201'],
    ['sip:%2B49301234567201@pbx', '+49301234567201'],
    ['sip:201@pbx?Reason=SIP%3Bcause%3D302%3Btext%3D%22a%40b%22', '201'],
    ['tel:+49-30-1234567-201', '+49-30-1234567-201'],
    ['tel:201;phone-context=pbx.example.com', '201'],
    ['<sip:202@pbx>', '202'],
    ['SIP:203@PBX', '203'],
    ['sip:pbx.example.com', undefined],
    ['sip:pbx.example.com;lr', undefined],
    ['mailto:alice@example.com', undefined],
    ['201', undefined],
    ['', undefined],
  ];
  for (const [uri, user] of cases) t.equal(uriUser(uri), user, JSON.stringify(uri));
});

t.test('splitAddressList', async (t) => {
  t.same(splitAddressList('"Doe, John" <sip:201@pbx>;tag=1, <sip:202@pbx>'), ['"Doe, John" <sip:201@pbx>;tag=1', '<sip:202@pbx>']);
  t.same(splitAddressList(['<sip:201@pbx>', ' <sip:202@pbx>, <tel:+49300> ']), ['<sip:201@pbx>', '<sip:202@pbx>', '<tel:+49300>']);
  t.same(splitAddressList('"say \\"hi, there\\"" <sip:1@h>'), ['"say \\"hi, there\\"" <sip:1@h>']);
  t.same(splitAddressList(undefined), []);
  t.same(splitAddressList(' , '), []);
});

t.test('parseAddressEntry', async (t) => {
  const a = parseAddressEntry('"Alice Trader" <sip:201@pbx.example.com;user=phone>;tag=abc;reason=unconditional');
  t.equal(a?.displayName, 'Alice Trader');
  t.equal(a?.uri, 'sip:201@pbx.example.com;user=phone');
  t.equal(a?.params.get('tag'), 'abc');
  t.equal(a?.params.get('reason'), 'unconditional');
  const b = parseAddressEntry('Bob <sip:202@pbx>');
  t.equal(b?.displayName, 'Bob', 'unquoted display name');
  const c = parseAddressEntry('sip:203@pbx;tag=xyz');
  t.equal(c?.uri, 'sip:203@pbx', 'addr-spec: parameters belong to the header');
  t.equal(c?.params.get('tag'), 'xyz');
  t.equal(parseAddressEntry('<sip:broken@pbx'), undefined, 'unclosed <');
  t.equal(parseAddressEntry('"only a name"'), undefined);
});

t.test('From and To', async (t) => {
  t.equal(firstUser('"Doe, John" <sip:201@pbx.example.com>;tag=1928301774'), '201');
  t.equal(firstUser('sip:+49301234567202@pbx.example.com;tag=as5d'), '+49301234567202');
  t.equal(firstUser('"Anonymous" <sip:anonymous@anonymous.invalid>;tag=hyh8'), 'anonymous');
  t.equal(firstUser('<sip:pbx.example.com>'), undefined);
  t.equal(firstUser(undefined), undefined);
});

t.test('P-Asserted-Identity', async (t) => {
  t.equal(
    assertedIdentityUser('"Alice Trader" <sip:+49301234567201@pbx.example.com;user=phone>, <tel:+49301234567201>'),
    '+49301234567201',
    'RFC 3325: sip and tel entries, the first wins',
  );
  t.equal(assertedIdentityUser('<tel:+49-30-1234567-202>'), '+49-30-1234567-202', 'tel only');
  t.equal(assertedIdentityUser(['<sip:pbx.example.com>', '<tel:+49301234567203>']), '+49301234567203', 'first entry without a user is skipped');
  t.equal(assertedIdentityUser(undefined), undefined);
});

t.test('Diversion', async (t) => {
  t.same(
    diversionUsers('<sip:0301234567201@10.0.0.1;user=phone>;reason=unconditional;counter=1;privacy=off;screen=yes'),
    ['0301234567201'],
  );
  t.same(
    diversionUsers('"Alice" <sip:201@pbx>;reason=no-answer;counter=1, <tel:+49301234567300>;reason=unconditional'),
    ['201', '+49301234567300'],
    'comma-separated, most recent first as sent',
  );
  t.same(
    diversionUsers(['<sip:+49301234567202@provider.example.net>;reason=user-busy', '<sip:201@pbx>;reason=deflection']),
    ['+49301234567202', '201'],
    'repeated header',
  );
  t.same(diversionUsers('<sip:provider.example.net>;reason=unknown'), [], 'no user part');
});

t.test('History-Info', async (t) => {
  const forwarded =
    '<sip:+49301234567300@pbx.example.com?Reason=SIP%3Bcause%3D302%3Btext%3D%22Moved%20Temporarily%22>;index=1, ' +
    '<sip:201@pbx.example.com?Reason=SIP%3Bcause%3D480%3Btext%3D%22Temporarily%20Unavailable%22>;index=1.1;rc=1, ' +
    '<sip:+491701234567@provider.example.net;user=phone>;index=1.1.1;mp=1.1';
  t.same(historyInfoUsers(forwarded), ['+49301234567300', '201'], 'retargeted entries, final target dropped');
  t.same(historyInfoUsers(forwarded, { includeTarget: true }), ['+49301234567300', '201', '+491701234567']);
  t.same(
    historyInfoUsers(['<sip:+491701234567@provider>;index=1.1.1', '<sip:300@pbx>;index=1', '<sip:201@pbx>;index=1.1']),
    ['300', '201'],
    'entries in several headers, sorted by index',
  );
  t.same(historyInfoUsers('<sip:201@pbx>;index=1.2, <sip:202@pbx>;index=1.10, <sip:203@pbx>;index=1.10.1'), ['201', '202'], 'index compares numerically');
  t.same(historyInfoUsers('<sip:201@pbx>;index=1'), [], 'a single entry is only the target');
  t.same(historyInfoUsers('<sip:201@pbx>, <sip:202@pbx>'), ['201'], 'without index: header order');
  t.same(historyInfoUsers(undefined), []);
});

t.test('callFactsFromHeaders', async (t) => {
  t.same(
    callFactsFromHeaders({
      direction: 'outbound',
      requestUri: 'sip:01701234567@provider.example.net;user=phone',
      from: '"Alice" <sip:201@pbx.example.com>;tag=1',
      to: '<sip:01701234567@provider.example.net>',
      pAssertedIdentity: '<sip:+49301234567201@pbx.example.com>',
      diversion: '<sip:202@pbx>;reason=unconditional',
      historyInfo: '<sip:202@pbx?Reason=SIP%3Bcause%3D302>;index=1, <sip:300@pbx>;index=1.1, <sip:01701234567@provider>;index=1.1.1',
    }),
    {
      direction: 'outbound',
      callingIdentity: '+49301234567201',
      calledNumber: '01701234567',
      forwardedFrom: ['202', '300'],
    },
    'PAI wins, request-URI wins, Diversion then History-Info without duplicates',
  );
  t.same(
    callFactsFromHeaders({ direction: 'inbound', requestUri: 'sip:callrec.example.com', from: 'sip:+4989555123@provider;tag=1', to: '<sip:+49301234567300@provider>' }),
    { direction: 'inbound', callingIdentity: '+4989555123', calledNumber: '+49301234567300', forwardedFrom: [] },
    'From without PAI, To without request-URI user',
  );
  t.same(callFactsFromHeaders({ direction: 'inbound' }), { direction: 'inbound', callingIdentity: '', calledNumber: '', forwardedFrom: [] });
});
