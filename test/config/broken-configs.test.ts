/**
 * lib/config: every broken config is refused with one line that names the
 * key path and the problem (SPEC O3, "Unknown keys are an error").
 *
 * Verifies, per row of the table: the ConfigError's keyPath and problem text
 * and that the message is a single line starting with the file name.
 * Covers: wrong types, unknown keys at several levels, missing required keys,
 * enum values, port ranges, the RTP port range, tls listen entries, target
 * union and per-type rules, durations, placeholders, cross references between
 * users, groups and profiles, duplicates and address clashes.
 */
import t from 'tap';
import { stringify } from 'yaml';
import { ConfigError, parseConfig } from '../../lib/config/index.js';

type Doc = Record<string, unknown>;

function base(): Doc {
  return {
    instance: 'rec-01',
    sip: { listen: [{ transport: 'udp', host: '127.0.0.1', port: 5060 }] },
    pbx: { host: '127.0.0.1', port: 5070 },
    provider: { host: '127.0.0.1', port: 5080 },
    media: { host: '127.0.0.1', portMin: 20000, portMax: 29999 },
    data: { dir: './var' },
    users: [
      { id: 'alice', name: 'Alice', numbers: ['201'] },
      { id: 'bob', numbers: ['202'] },
    ],
    groups: [{ id: 'traders', numbers: ['300'], members: ['alice', 'bob'] }],
    profiles: [
      {
        name: 'traders',
        users: ['alice'],
        groups: ['traders'],
        targets: [
          { type: 'local', path: './archive/$Y' },
          { type: 'sftp', host: '10.0.0.5', username: 'rec', password: 'pw', path: 'calls/$Y' },
        ],
      },
    ],
  };
}

/** Navigates to the object at `keys` (creating nothing) and applies `edit`. */
function at(doc: Doc, keys: Array<string | number>): Record<string | number, unknown> {
  let node: unknown = doc;
  for (const k of keys) node = (node as Record<string | number, unknown>)[k];
  return node as Record<string | number, unknown>;
}

interface Row {
  name: string;
  edit?: (d: Doc) => void;
  text?: string;
  path: string;
  problem: string | RegExp;
}

const rows: Row[] = [
  {
    name: 'target port is not a number',
    edit: (d) => (at(d, ['profiles', 0, 'targets', 1]).port = 'abc'),
    path: 'profiles[0].targets[1].port',
    problem: 'expected a number, got "abc"',
  },
  { name: 'unknown top-level key', edit: (d) => (d.foo = 1), path: 'foo', problem: 'unknown key "foo"' },
  {
    name: 'unknown nested key (wrong case)',
    edit: (d) => (at(d, ['media']).portmin = 20000),
    path: 'media.portmin',
    problem: 'unknown key "portmin"',
  },
  {
    name: 'unknown key in a target',
    edit: (d) => (at(d, ['profiles', 0, 'targets', 0]).share = 'x'),
    path: 'profiles[0].targets[0].share',
    problem: 'unknown key "share"',
  },
  {
    name: 'profile names an unknown group',
    edit: (d) => (at(d, ['profiles', 0]).groups = ['traders', 'sales']),
    path: 'profiles[0].groups[1]',
    problem: 'profile "traders" names unknown group "sales"',
  },
  {
    name: 'profile names an unknown user',
    edit: (d) => (at(d, ['profiles', 0]).users = ['carol']),
    path: 'profiles[0].users[0]',
    problem: 'profile "traders" names unknown user "carol"',
  },
  {
    name: 'group member is not a user',
    edit: (d) => (at(d, ['groups', 0]).members = ['alice', 'carol']),
    path: 'groups[0].members[1]',
    problem: 'group "traders" names unknown user "carol"',
  },
  { name: 'instance missing', edit: (d) => delete d.instance, path: 'instance', problem: 'missing required key' },
  { name: 'profiles missing', edit: (d) => delete d.profiles, path: 'profiles', problem: 'missing required key' },
  {
    name: 'instance with a blank',
    edit: (d) => (d.instance = 'rec 01'),
    path: 'instance',
    problem: /^expected letters, digits.*, got "rec 01"$/,
  },
  {
    name: 'no listen entries',
    edit: (d) => (at(d, ['sip']).listen = []),
    path: 'sip.listen',
    problem: 'needs at least one entry',
  },
  {
    name: 'tls listen entry without key',
    edit: (d) => (at(d, ['sip']).listen = [{ transport: 'udp', host: '127.0.0.1' }, { transport: 'tls', host: '127.0.0.1', cert: 'c.pem' }]),
    path: 'sip.listen[1].key',
    problem: 'missing key: tls listen entries need cert and key',
  },
  {
    name: 'duplicate listen entry',
    edit: (d) => (at(d, ['sip']).listen = [{ transport: 'udp', host: '127.0.0.1' }, { transport: 'udp', host: '127.0.0.1', port: 5060 }]),
    path: 'sip.listen[1]',
    problem: 'duplicate listen address udp 127.0.0.1:5060 (also sip.listen[0])',
  },
  {
    name: 'port above 65535',
    edit: (d) => (at(d, ['pbx']).port = 70000),
    path: 'pbx.port',
    problem: 'must be at most 65535, got 70000',
  },
  {
    name: 'port zero',
    edit: (d) => (at(d, ['sip', 'listen', 0]).port = 0),
    path: 'sip.listen[0].port',
    problem: 'must be at least 1, got 0',
  },
  {
    name: 'fractional port',
    edit: (d) => (at(d, ['provider']).port = 5080.5),
    path: 'provider.port',
    problem: 'expected a whole number, got 5080.5',
  },
  {
    name: 'unknown transport',
    edit: (d) => (at(d, ['pbx']).transport = 'sctp'),
    path: 'pbx.transport',
    problem: 'expected one of udp, tcp, tls, got "sctp"',
  },
  {
    name: 'srtp as a boolean',
    edit: (d) => (at(d, ['provider']).srtp = true),
    path: 'provider.srtp',
    problem: 'expected one of off, sdes, got true',
  },
  {
    name: 'odd portMin',
    edit: (d) => (at(d, ['media']).portMin = 20001),
    path: 'media.portMin',
    problem: 'must be even (RTP on the even port, RTCP on the next), got 20001',
  },
  {
    name: 'portMin not below portMax',
    edit: (d) => Object.assign(at(d, ['media']), { portMin: 30000, portMax: 29999 }),
    path: 'media.portMax',
    problem: 'must be greater than portMin (30000), got 29999',
  },
  {
    name: 'RTP range covers the SIP port',
    edit: (d) => Object.assign(at(d, ['media']), { portMin: 5000, portMax: 6000 }),
    path: 'media.portMin',
    problem: 'RTP port range 5000-6000 includes the SIP port of sip.listen[0] (udp 127.0.0.1:5060)',
  },
  {
    name: 'media host is a wildcard',
    edit: (d) => (at(d, ['media']).host = '0.0.0.0'),
    path: 'media.host',
    problem: /not a name, not 0\.0\.0\.0/,
  },
  {
    name: 'media section empty',
    text: 'instance: r\nsip: { listen: [ { transport: udp, host: 127.0.0.1 } ] }\npbx: { host: a }\nprovider: { host: b }\nmedia:\ndata: { dir: . }\nprofiles: []\n',
    path: 'media',
    problem: 'expected a mapping, got nothing',
  },
  {
    name: 'unknown target type',
    edit: (d) => (at(d, ['profiles', 0, 'targets', 0]).type = 'ftp'),
    path: 'profiles[0].targets[0].type',
    problem: 'expected one of local, sftp, smb, onedrive, got "ftp"',
  },
  {
    name: 'target without type',
    edit: (d) => delete at(d, ['profiles', 0, 'targets', 0]).type,
    path: 'profiles[0].targets[0].type',
    problem: 'missing required key (one of local, sftp, smb, onedrive)',
  },
  {
    name: 'sftp target without password or privateKey',
    edit: (d) => delete at(d, ['profiles', 0, 'targets', 1]).password,
    path: 'profiles[0].targets[1]',
    problem: 'an sftp target needs password or privateKey',
  },
  {
    name: 'smb target without share',
    edit: (d) => (at(d, ['profiles', 0]).targets = [{ type: 'smb', host: 'nas', username: 'u', password: 'p', path: 'x' }]),
    path: 'profiles[0].targets[0].share',
    problem: 'missing required key',
  },
  {
    name: 'onedrive graphUrl not a URL',
    edit: (d) =>
      (at(d, ['profiles', 0]).targets = [
        { type: 'onedrive', tenantId: 't', clientId: 'c', clientSecret: 's', user: 'u', path: 'p', graphUrl: 'graph' },
      ]),
    path: 'profiles[0].targets[0].graphUrl',
    problem: 'expected an absolute URL, got "graph"',
  },
  {
    name: 'unknown placeholder in a target path',
    edit: (d) => (at(d, ['profiles', 0, 'targets', 1]).path = 'calls/$Y/$X'),
    path: 'profiles[0].targets[1].path',
    problem: 'unknown placeholder "$X" (use $Y $M $D $h $m $s)',
  },
  {
    name: 'retention in words',
    edit: (d) => (at(d, ['profiles', 0]).retention = '7 years'),
    path: 'profiles[0].retention',
    problem: 'expected a duration like 7y, 30d, 12h, 15m or 90s, got "7 years"',
  },
  {
    name: 'retention as a bare number',
    edit: (d) => (at(d, ['profiles', 0]).retention = 7),
    path: 'profiles[0].retention',
    problem: 'expected a string, got 7 (quote it: "7")',
  },
  {
    name: 'unknown direction',
    edit: (d) => (at(d, ['profiles', 0]).direction = 'sideways'),
    path: 'profiles[0].direction',
    problem: 'expected one of inbound, outbound, both, got "sideways"',
  },
  {
    name: 'unknown channel mode',
    edit: (d) => (at(d, ['profiles', 0]).channels = 'mono'),
    path: 'profiles[0].channels',
    problem: 'expected one of caller, callee, both-stereo, both-separate, got "mono"',
  },
  {
    name: 'unquoted phone number',
    edit: (d) => (at(d, ['users', 0]).numbers = [201]),
    path: 'users[0].numbers[0]',
    problem: 'expected a string, got 201 (quote it: "201")',
  },
  {
    name: 'phone number with letters',
    edit: (d) => (at(d, ['users', 1]).numbers = ['20x']),
    path: 'users[1].numbers[0]',
    problem: 'expected digits with an optional leading "+", got "20x"',
  },
  {
    name: 'number of two owners',
    edit: (d) => (at(d, ['groups', 0]).numbers = ['202']),
    path: 'groups[0].numbers[0]',
    problem: 'number "202" also belongs to user "bob"',
  },
  {
    name: 'duplicate user id',
    edit: (d) => (at(d, ['users', 1]).id = 'alice'),
    path: 'users[1].id',
    problem: 'duplicate user id "alice"',
  },
  {
    name: 'duplicate profile name',
    edit: (d) => (d.profiles = [{ name: 'all' }, { name: 'all' }]),
    path: 'profiles[1].name',
    problem: 'duplicate profile name "all"',
  },
  {
    name: 'pbx and provider on one address',
    edit: (d) => (at(d, ['provider']).port = 5070),
    path: 'provider',
    problem: 'provider has the same address as pbx (udp 127.0.0.1:5070), so call direction cannot be told',
  },
  {
    name: 'provider is callrec itself',
    edit: (d) => (at(d, ['provider']).port = 5060),
    path: 'provider',
    problem: "provider is callrec's own listen address sip.listen[0] (udp 127.0.0.1:5060)",
  },
  {
    name: 'area code without country code',
    edit: (d) => (d.numbers = { area: '30' }),
    path: 'numbers.area',
    problem: 'needs numbers.country as well',
  },
  {
    name: 'invalid DTMF stop key',
    edit: (d) => (d.dtmf = { stop: '*x' }),
    path: 'dtmf.stop',
    problem: 'expected 1 to 16 DTMF keys (0-9, *, #, A-D), got "*x"',
  },
  {
    name: 'unquoted *1 (a YAML alias)',
    text: `${stringify(base())}dtmf: { stop: *1 }\n`,
    path: 'dtmf.stop',
    problem: 'unknown alias "*1" (a value starting with * must be quoted, like "*1")',
  },
  {
    name: 'login and logout codes equal',
    edit: (d) => (d.featureCodes = { login: '*71', logout: '*71' }),
    path: 'featureCodes.logout',
    problem: 'must differ from featureCodes.login ("*71")',
  },
  {
    name: 'e-mail alert with no recipient',
    edit: (d) => (d.alerts = { email: { to: [], from: 'a@b', smtp: { host: 'mail' } } }),
    path: 'alerts.email.to',
    problem: 'needs at least one entry',
  },
  {
    name: 'diskWarnPercent above 100',
    edit: (d) => (d.alerts = { diskWarnPercent: 120 }),
    path: 'alerts.diskWarnPercent',
    problem: 'must be at most 100, got 120',
  },
  {
    name: 'retry max below first',
    edit: (d) => (d.archive = { retry: { firstSeconds: 60, maxSeconds: 30 } }),
    path: 'archive.retry.maxSeconds',
    problem: 'must not be less than firstSeconds (60), got 30',
  },
  {
    name: 'register expires zero',
    edit: (d) => (at(d, ['provider']).register = { expires: 0 }),
    path: 'provider.register.expires',
    problem: 'must be at least 1, got 0',
  },
  {
    name: 'verify as a string',
    edit: (d) => (at(d, ['provider']).tls = { verify: 'yes' }),
    path: 'provider.tls.verify',
    problem: 'expected true or false, got "yes"',
  },
  {
    name: 'profiles is a mapping',
    edit: (d) => (d.profiles = { name: 'all' }),
    path: 'profiles',
    problem: 'expected a list, got a mapping',
  },
  {
    name: 'empty profile name',
    edit: (d) => (d.profiles = [{ name: '' }]),
    path: 'profiles[0].name',
    problem: 'must not be empty',
  },
];

t.test('the base config of the table is valid', async (t) => {
  t.doesNotThrow(() => parseConfig(stringify(base()), '/etc/callrec/callrec.yaml'));
});

t.test('broken configs', async (t) => {
  t.ok(rows.length >= 15, `${rows.length} rows`);
  for (const row of rows) {
    t.test(row.name, async (t) => {
      let text = row.text;
      if (text === undefined) {
        const doc = base();
        row.edit?.(doc);
        text = stringify(doc);
      }
      const err = t.throws(() => parseConfig(text, '/etc/callrec/callrec.yaml')) as ConfigError;
      t.type(err, ConfigError);
      t.equal(err.keyPath, row.path, 'key path');
      if (typeof row.problem === 'string') t.equal(err.problem, row.problem, 'problem');
      else t.match(err.problem, row.problem, 'problem');
      t.match(err.message, /^\/etc\/callrec\/callrec\.yaml:\d+:\d+: /, 'names file and line');
      t.ok(err.message.includes(`${row.path}: `), 'message names the key path');
      t.notMatch(err.message, /\n/, 'one line');
    });
  }
});
