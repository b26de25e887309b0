/**
 * SFTP target against a real OpenSSH sshd (Debian openssh-server) started by
 * the test on 127.0.0.1 with a random port, throwaway host and user keys,
 * its own sshd_config and AuthorizedKeysFile in a temp folder
 * (../shared/research/tech-facts-tools.md §3). As root it logs in as the
 * dedicated system user `callrec-sftptest` (created when missing; its
 * password is set to a random value for the run and locked at teardown);
 * otherwise sshd runs as the current user with key login only.
 *
 * Verifies:
 * - key login; nested folders created; files arrive byte-identical under
 *   final names, no temporary names left; a second put replaces; remove;
 * - password login (root only); a wrong password gives a clear message;
 * - the host key is pinned on first use and a changed key is refused;
 * - fault: sshd down for a while then back -> failure alerts by e-mail (real
 *   SMTP server), nothing lost, recovery alert, outbox emptied; and a
 *   restarted ArchiveDelivery on the same database delivers the backlog.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { Alerts, ArchiveDelivery, collectRecordingFiles, SftpTarget, targetId } from '../../lib/archive/index.js';
import type { SftpTargetConfig } from '../../lib/config/index.js';
import { expandTemplate } from '../../lib/recording/naming.js';
import { RecordingLog } from '../../lib/store/index.js';
import { silentLogger } from '../../lib/util/log.js';
import {
  emailConfig, ensureSystemUser, findBinary, freePort, isRoot, makeRecording, profile, ServerProcess,
  sha256, snapshotOutbox, startSmtp, tempDir, testConfig, waitForPort, type Teardown,
} from './helpers.js';

const SSHD = findBinary('sshd');
const KEYGEN = findBinary('ssh-keygen');
const TEST_USER = 'callrec-sftptest';

if (SSHD === undefined || KEYGEN === undefined) {
  t.plan(0, 'sshd or ssh-keygen missing: install the Debian package openssh-server (make install-debian)');
} else {
  await main(SSHD, KEYGEN);
}

interface Sshd {
  dir: string;
  port: number;
  user: string;
  password: string | undefined;
  clientKey: string;
  root: string;
  start(hostKey?: string): Promise<void>;
  stop(): Promise<void>;
  newHostKey(name: string): string;
}

async function setupSshd(t: Teardown, sshd: string, keygen: string): Promise<Sshd> {
  const dir = tempDir(t, 'callrec-sshd-');
  chmodSync(dir, 0o755); // the login user reads authorized_keys below it
  let user = os.userInfo().username;
  let password: string | undefined;
  let uid = os.userInfo().uid;
  if (isRoot) {
    await ensureSystemUser(TEST_USER);
    user = TEST_USER;
    password = `pw-${Math.random().toString(36).slice(2)}`;
    execFileSync('chpasswd', [], { input: `${user}:${password}\n` });
    t.teardown(() => void execFileSync('usermod', ['-L', user]));
    uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // privilege separation dir (root sshd)
  }
  const key = (name: string): string => {
    const p = path.join(dir, name);
    execFileSync(keygen, ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', p]);
    return p;
  };
  const hostKey = key('host_ed25519');
  const clientKey = key('client_ed25519');
  writeFileSync(path.join(dir, 'authorized_keys'), readFileSync(`${clientKey}.pub`), { mode: 0o644 });
  const root = path.join(dir, 'sftp-root');
  mkdirSync(root);
  if (isRoot) chownSync(root, uid, -1);
  const port = await freePort();
  let proc: ServerProcess | undefined;
  const s: Sshd = {
    dir, port, user, password, clientKey, root,
    newHostKey: key,
    async start(hk = hostKey) {
      const conf = path.join(dir, 'sshd_config');
      writeFileSync(conf, [
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${hk}`,
        `PidFile ${path.join(dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
        'PubkeyAuthentication yes',
        `PasswordAuthentication ${isRoot ? 'yes' : 'no'}`,
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'StrictModes no',
        `AllowUsers ${user}`,
        'Subsystem sftp internal-sftp',
        'ForceCommand internal-sftp',
        'LogLevel VERBOSE',
        '',
      ].join('\n'));
      proc = ServerProcess.start(sshd, ['-D', '-e', '-f', conf], { group: 'spawn' });
      const p = proc;
      await waitForPort(port, 10_000, () => !p.exited).catch((err: unknown) => {
        throw new Error(`${String(err)}\n${p.text()}`);
      });
    },
    async stop() {
      await proc?.stop();
      proc = undefined;
    },
  };
  t.teardown(() => s.stop());
  return s;
}

function sftpConfig(s: Sshd, over: Partial<SftpTargetConfig> = {}): SftpTargetConfig {
  return {
    type: 'sftp',
    host: '127.0.0.1',
    port: s.port,
    username: s.user,
    privateKey: s.clientKey,
    path: path.join(s.root, 'calls', '$Y', '$M'),
    ...over,
  };
}

async function main(sshd: string, keygen: string): Promise<void> {
  t.test('key login: nested folders, temp name then rename, identical files, replace, remove', async (t) => {
    const s = await setupSshd(t, sshd, keygen);
    await s.start();
    const dir = tempDir(t);
    const log = RecordingLog.open(path.join(dir, 'callrec.db'));
    t.teardown(() => log.close());
    const rec = makeRecording(log, dir, 1, { audioBytes: 2_500_000, separate: true });
    const files = await collectRecordingFiles(dir, rec);
    const cfg = sftpConfig(s);
    const target = new SftpTarget(targetId(cfg), cfg, { knownHostsFile: path.join(dir, 'known_hosts.json') });
    const folder = expandTemplate(cfg.path, rec.startedAt);
    await target.put(files, folder);
    t.same(readdirSync(folder).sort(), files.map((f) => f.name).sort(), 'final names only');
    for (const f of files) t.equal(sha256(readFileSync(path.join(folder, f.name))), f.sha256, `${f.name} identical`);
    await target.put(files, folder);
    t.same(readdirSync(folder).sort(), files.map((f) => f.name).sort(), 'second put replaces (posix-rename)');
    await target.remove(folder, files.map((f) => f.name));
    t.same(readdirSync(folder), [], 'removed');
    await target.remove(folder, files.map((f) => f.name));
    t.pass('remove of files already gone is fine');
    const pinned = JSON.parse(readFileSync(path.join(dir, 'known_hosts.json'), 'utf8')) as Record<string, string>;
    t.match(pinned[`127.0.0.1:${s.port}`], /^SHA256:[A-Za-z0-9+/]{43}$/, 'host key pinned on first use');
  });

  t.test('password login; a wrong password says so', { skip: isRoot ? false : 'password login needs a root-run sshd' }, async (t) => {
    const s = await setupSshd(t, sshd, keygen);
    await s.start();
    const dir = tempDir(t);
    const log = RecordingLog.open(path.join(dir, 'callrec.db'));
    t.teardown(() => log.close());
    const rec = makeRecording(log, dir, 2);
    const files = await collectRecordingFiles(dir, rec);
    const cfg = sftpConfig(s, { privateKey: undefined, password: s.password, path: path.join(s.root, 'pw') });
    await new SftpTarget('sftp:pw', cfg).put(files, cfg.path);
    t.equal(readdirSync(cfg.path).length, 4, 'uploaded with the password');
    const bad = { ...cfg, password: 'wrong' };
    await t.rejects(new SftpTarget('sftp:bad', bad).put(files, cfg.path), {
      name: 'ArchiveError',
      message: new RegExp(`cannot connect to ${s.user}@127.0.0.1:${s.port}: authentication failed`),
    });
  });

  t.test('a changed host key is refused', async (t) => {
    const s = await setupSshd(t, sshd, keygen);
    await s.start();
    const dir = tempDir(t);
    const log = RecordingLog.open(path.join(dir, 'callrec.db'));
    t.teardown(() => log.close());
    const files = await collectRecordingFiles(dir, makeRecording(log, dir, 3));
    const cfg = sftpConfig(s);
    const known = path.join(dir, 'known_hosts.json');
    await new SftpTarget('sftp:a', cfg, { knownHostsFile: known }).put(files, path.join(s.root, 'a'));
    await s.stop();
    await s.start(s.newHostKey('other_host_ed25519'));
    await t.rejects(new SftpTarget('sftp:a', cfg, { knownHostsFile: known }).put(files, path.join(s.root, 'b')), /host key changed: the server offers SHA256:.*pins SHA256:/);
    t.notOk(existsSync(path.join(s.root, 'b')), 'nothing written to the impostor');
  });

  t.test('fault: sshd down for a while then back; restart with a backlog', async (t) => {
    const s = await setupSshd(t, sshd, keygen);
    const smtp = await startSmtp(t);
    const dir = tempDir(t);
    const dataDir = path.join(dir, 'data');
    const cfg = sftpConfig(s);
    const config = testConfig(dataDir, [profile('traders', [cfg, { type: 'local', path: path.join(dir, 'local', '$Y') }])], {
      alerts: { email: emailConfig(smtp.port) },
    });
    let log = RecordingLog.open(path.join(dataDir, 'callrec.db'));
    t.teardown(() => log.close());
    let now = Date.UTC(2026, 10, 22, 17, 0, 0);
    const logger = silentLogger();
    const make = () => {
      const alerts = new Alerts({ config, logger, log, now: () => now });
      return { alerts, d: new ArchiveDelivery({ log, config, logger, now: () => now, alerts, targetDeps: { knownHostsFile: path.join(dir, 'kh.json') } }) };
    };
    let { alerts, d } = make();
    const recs = Array.from({ length: 4 }, (_, i) => makeRecording(log, dataDir, i + 1));
    const snaps = recs.map((r) => snapshotOutbox(dataDir, r.baseName));
    recs.forEach((r) => d.enqueue(r.baseName, 'traders'));

    // sshd not running: connection refused.
    let sum = await d.runOnce();
    t.same([sum.delivered, sum.failed], [4, 1], 'local target gets all; sftp fails once');
    now += 30_000;
    sum = await d.runOnce();
    t.same([sum.delivered, sum.failed], [0, 1], 'still down after the back-off');
    await alerts.flush();
    await d.stop();
    await alerts.close();
    t.same(readdirSync(path.join(dataDir, 'outbox')).sort(), recs.map((r) => r.baseName).sort(), 'every recording kept in the outbox');

    // callrec restarts with the backlog; sshd comes back.
    log.close();
    log = RecordingLog.open(path.join(dataDir, 'callrec.db'));
    ({ alerts, d } = make());
    await s.start();
    now += 60_000;
    sum = await d.runOnce();
    t.same([sum.delivered, sum.failed, sum.completed.length], [4, 0, 4], 'backlog delivered after the restart');
    t.same(readdirSync(path.join(dataDir, 'outbox')), [], 'outbox emptied');
    for (const [i, r] of recs.entries()) {
      const folder = expandTemplate(cfg.path, r.startedAt);
      for (const [name, sha] of snaps[i]!) t.equal(sha256(readFileSync(path.join(folder, name))), sha, `on the sftp server: ${name}`);
    }
    await alerts.flush();
    const mails = await smtp.waitFor(3);
    const failures = mails.filter((m) => /upload to sftp:.* failed/.test(m.subject));
    t.equal(failures.length, 2, 'one alert per failed attempt');
    t.match(failures[0]!.raw, /refused/i, 'the alert names the error');
    t.match(failures[0]!.raw, /Backlog: +4 recording/);
    t.equal(mails.filter((m) => /sftp:.* recovered/.test(m.subject)).length, 1, 'one recovery alert');
    await d.stop();
    await alerts.close();
  });
}
