/**
 * lib/config: loading, defaults and path resolution (SPEC "Config file (YAML)", O3).
 *
 * Verifies:
 * - the SPEC example config loads verbatim (referenced files need not exist)
 * - a minimal config (only the required keys) gets every documented default
 * - relative paths are resolved against the config file's folder
 * - control.socket defaults to <data.dir>/callrec.sock
 * - defaultConfig() text loads and records every call to a local target
 * - a missing file, an empty file and YAML syntax errors give one-line errors
 *   naming the file (and the line for syntax errors)
 * Not verified here: the broken-config table (broken-configs.test.ts).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { ConfigError, defaultConfig, loadConfig, parseConfig } from '../../lib/config/index.js';

const fixture = fileURLToPath(new URL('../../../fixtures/config/spec-example.yaml', import.meta.url));
const fixtureDir = path.dirname(fixture);

const MINIMAL = `
instance: rec-01
sip:
  listen:
    - { transport: udp, host: 127.0.0.1, port: 5060 }
pbx: { host: 127.0.0.1, port: 5070 }
provider: { host: 127.0.0.1, port: 5080 }
media: { host: 127.0.0.1 }
data: { dir: ./var }
profiles:
  - name: all
`;

t.test('the SPEC example config loads', async (t) => {
  const c = loadConfig(fixture);
  t.equal(c.instance, 'rec-01');
  t.same(
    c.sip.listen.map((l) => [l.transport, l.port]),
    [
      ['udp', 5060],
      ['tcp', 5060],
      ['tls', 5061],
    ],
  );
  t.equal(c.sip.listen[2]?.cert, path.join(fixtureDir, 'tls/cert.pem'), 'listen cert resolved');
  t.equal(c.sip.listen[2]?.key, path.join(fixtureDir, 'tls/key.pem'));
  t.same(c.pbx, { host: '127.0.0.1', port: 5070, transport: 'udp', srtp: 'off', tls: { verify: true } });
  t.equal(c.provider.srtp, 'off');
  t.same(c.provider.tls, { ca: path.join(fixtureDir, 'tls/provider-ca.pem'), verify: true });
  t.same(c.provider.auth, { username: 'trunk1', password: 'secret' });
  t.same(c.provider.register, { expires: 600 });
  t.same(c.media, { host: '127.0.0.1', portMin: 20000, portMax: 29999, timeout: 60, holdTimeout: 3600 });
  t.equal(c.data.dir, path.join(fixtureDir, 'var'));
  t.equal(c.control.socket, path.join(fixtureDir, 'var/callrec.sock'));
  t.same(c.numbers, { country: '49', area: '30', extensionLength: 4 });
  t.same(c.dtmf, { stop: '*1' });
  t.same(c.featureCodes, { login: '*71', logout: '*72' });
  t.same(
    c.users.map((u) => u.id),
    ['alice', 'bob'],
  );
  t.same(c.groups, [{ id: 'traders', numbers: ['300', '+4930123456300'], members: ['alice', 'bob'] }]);
  t.same(c.alerts.email?.smtp, { host: '127.0.0.1', port: 25, secure: false, username: 'u', password: 'p' });
  t.equal(c.alerts.diskWarnPercent, 90);
  t.same(c.archive.retry, { firstSeconds: 30, maxSeconds: 3600 });

  const p = c.profiles[0];
  if (p === undefined) throw new Error('no profile');
  t.equal(p.name, 'traders');
  t.equal(p.retention, 7 * 365 * 86400, 'retention 7y in seconds');
  t.same(p.prompts, { inbound: path.join(fixtureDir, 'prompts/in.wav'), outbound: path.join(fixtureDir, 'prompts/out.wav') });
  t.same(
    p.targets.map((x) => x.type),
    ['local', 'sftp', 'smb', 'onedrive'],
  );
  const [local, sftp, smb, onedrive] = p.targets;
  t.same(local, { type: 'local', path: path.join(fixtureDir, 'var/archive/$Y/$M/$D') });
  t.match(sftp, { type: 'sftp', port: 22, privateKey: path.join(fixtureDir, 'keys/id_ed25519'), path: 'calls/$Y/$M' });
  t.match(smb, { type: 'smb', share: 'recordings', domain: 'CORP', path: 'Aufzeichnung/$Y-$M-$D' });
  t.match(onedrive, {
    type: 'onedrive',
    authorityHost: 'https://login.microsoftonline.com',
    graphUrl: 'https://graph.microsoft.com/v1.0',
  });
});

t.test('a minimal config gets every default', async (t) => {
  const c = parseConfig(MINIMAL, '/etc/callrec/callrec.yaml');
  t.same(c, {
    instance: 'rec-01',
    sip: { listen: [{ transport: 'udp', host: '127.0.0.1', port: 5060 }] },
    pbx: { host: '127.0.0.1', port: 5070, transport: 'udp', srtp: 'off', tls: { verify: true } },
    provider: { host: '127.0.0.1', port: 5080, transport: 'udp', srtp: 'off', tls: { verify: true } },
    media: { host: '127.0.0.1', portMin: 20000, portMax: 29999, timeout: 60, holdTimeout: 3600 },
    data: { dir: '/etc/callrec/var' },
    control: { socket: '/etc/callrec/var/callrec.sock' },
    numbers: { extensionLength: 4 },
    dtmf: { stop: '*1' },
    featureCodes: { login: '*71', logout: '*72' },
    users: [],
    groups: [],
    alerts: { diskWarnPercent: 90 },
    archive: { retry: { firstSeconds: 30, maxSeconds: 3600 } },
    profiles: [
      {
        name: 'all',
        direction: 'both',
        users: [],
        groups: [],
        directCallsToActiveMembers: false,
        channels: 'both-stereo',
        recordFrom: 'setup',
        prompts: {},
        retention: null,
        targets: [],
      },
    ],
  });
  t.equal(c.provider.auth, undefined, 'no auth by default');
  t.equal(c.provider.register, undefined, 'no REGISTER by default');
  t.equal(c.alerts.email, undefined, 'no e-mail alerts by default');
});

t.test('default ports follow the transport (RFC 3261 §19.1.2)', async (t) => {
  const text = MINIMAL.replace('pbx: { host: 127.0.0.1, port: 5070 }', 'pbx: { host: pbx.example.com, transport: tls }').replace(
    '- { transport: udp, host: 127.0.0.1, port: 5060 }',
    '- { transport: tls, host: 127.0.0.1, cert: c.pem, key: k.pem }',
  );
  const c = parseConfig(text, '/etc/callrec/callrec.yaml');
  t.equal(c.pbx.port, 5061);
  t.same(c.sip.listen[0], { transport: 'tls', host: '127.0.0.1', port: 5061, cert: '/etc/callrec/c.pem', key: '/etc/callrec/k.pem' });
});

t.test('absolute paths stay as they are; control.socket may be set', async (t) => {
  const text = MINIMAL.replace('data: { dir: ./var }', 'data: { dir: /srv/callrec }\ncontrol: { socket: run/c.sock }');
  const c = parseConfig(text, 'conf/callrec.yaml');
  t.equal(c.data.dir, '/srv/callrec');
  t.equal(c.control.socket, path.resolve('conf/run/c.sock'), 'relative to the config file, not to data.dir');
});

t.test('smtp port defaults to 465 when secure', async (t) => {
  const text = `${MINIMAL}alerts:\n  email: { to: [a@example.com], from: b@example.com, smtp: { host: mail, secure: true } }\n`;
  t.equal(parseConfig(text, '/x/c.yaml').alerts.email?.smtp.port, 465);
});

t.test('defaultConfig() loads and records every call locally', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'callrec-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'callrec.yaml');
  writeFileSync(file, defaultConfig(path.join(dir, 'var')));
  const c = loadConfig(file);
  t.equal(c.instance, 'callrec-01');
  t.same(
    c.sip.listen.map((l) => `${l.transport} ${l.host}:${l.port}`),
    ['udp 127.0.0.1:5060', 'tcp 127.0.0.1:5060'],
  );
  t.match(c.pbx, { host: '127.0.0.1', port: 5070, transport: 'udp' });
  t.match(c.provider, { host: '127.0.0.1', port: 5080, transport: 'udp' });
  t.match(c.media, { host: '127.0.0.1', portMin: 20000, portMax: 29999 });
  t.equal(c.data.dir, path.join(dir, 'var'));
  t.equal(c.profiles.length, 1);
  t.match(c.profiles[0], { name: 'all', direction: 'both', users: [], groups: [] });
  t.same(c.profiles[0]?.targets, [{ type: 'local', path: path.join(dir, 'var/archive/$Y/$M/$D') }]);

  const relative = parseConfig(defaultConfig('./state'), '/opt/callrec/callrec.yaml');
  t.equal(relative.data.dir, '/opt/callrec/state', 'a relative data dir is relative to the config file');
  const quoted = parseConfig(defaultConfig('/tmp/a "b": c'), '/x/c.yaml');
  t.equal(quoted.data.dir, '/tmp/a "b": c', 'odd characters survive quoting');
});

t.test('a missing file says so', async (t) => {
  const err = t.throws(() => loadConfig('/nonexistent/callrec.yaml'));
  t.type(err, ConfigError);
  t.equal((err as Error).message, '/nonexistent/callrec.yaml: config file not found');
  t.throws(() => loadConfig(fixtureDir), { message: `${fixtureDir}: is a folder, not a config file` });
});

t.test('an empty file says so', async (t) => {
  t.throws(() => parseConfig('# nothing\n', 'c.yaml'), { message: 'c.yaml: config file is empty' });
});

t.test('YAML syntax errors name the line', async (t) => {
  const text = 'instance: rec-01\nsip:\n  listen: [ { transport: udp\npbx: {}\n';
  const err = t.throws(() => parseConfig(text, 'c.yaml')) as ConfigError;
  t.type(err, ConfigError);
  t.match(err.message, /^c\.yaml:\d+:\d+: YAML syntax error: /);
  t.notMatch(err.message, /\n/, 'one line');
  t.ok(err.line !== undefined && err.line >= 3, `line ${err.line}`);

  const dup = t.throws(() => parseConfig('instance: a\ninstance: b\n', 'c.yaml')) as ConfigError;
  t.equal(dup.line, 2, 'duplicate key on line 2');
  t.match(dup.message, /^c\.yaml:2:1: YAML syntax error: Map keys must be unique/);

  const tab = t.throws(() => parseConfig('instance: rec-01\nsip:\n\tlisten: []\n', 'c.yaml')) as ConfigError;
  t.equal(tab.line, 3, 'tab indentation on line 3');
});

t.test('validation errors name file, line, key path and problem', async (t) => {
  const text = MINIMAL.replace('media: { host: 127.0.0.1 }', 'media:\n  host: 127.0.0.1\n  portMin: twenty');
  const err = t.throws(() => parseConfig(text, 'callrec.yaml')) as ConfigError;
  t.equal(err.message, 'callrec.yaml:10:3: media.portMin: expected a number, got "twenty"');
  t.equal(err.keyPath, 'media.portMin');
  t.equal(err.problem, 'expected a number, got "twenty"');
  t.equal(err.line, 10, 'MINIMAL starts with an empty line');
});

t.test('several problems: the first in the file is named, the rest counted', async (t) => {
  const text = MINIMAL.replace('instance: rec-01', 'instance: rec-01\nbogus: 1').replace('profiles:', 'extra: 2\nprofiles:');
  const err = t.throws(() => parseConfig(text, 'c.yaml')) as ConfigError;
  t.equal(err.message, 'c.yaml:3:1: bogus: unknown key "bogus" (and 1 more problem)');
});
