/**
 * SMB target against a real Samba smbd (Debian samba) started by the test
 * on 127.0.0.1 with a random port, smb.conf and state in a temp folder,
 * default security settings (SMB3, NTLMv2 only, async I/O on), a test
 * share and the dedicated system user `callrec-smbtest` (created when
 * missing; its Samba password lives in the temp passdb only).
 * (../shared/research/tech-facts-tools.md §4)
 *
 * Verifies:
 * - nested folders created; files on the share byte-identical under final
 *   names, no temporary names left; a second put replaces; remove;
 * - the password never appears in smbclient's arguments; the -A file is
 *   mode 0600 and removed by close();
 * - NT_STATUS errors become clear messages (logon failure, no such share,
 *   connection refused); folder names smbclient cannot take are refused;
 * - delivery through ArchiveDelivery with smbd down for a while then back.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { ArchiveDelivery, collectRecordingFiles, SmbTarget, targetId } from '../../lib/archive/index.js';
import type { SmbTargetConfig } from '../../lib/config/index.js';
import { expandTemplate } from '../../lib/recording/naming.js';
import { RecordingLog } from '../../lib/store/index.js';
import { silentLogger } from '../../lib/util/log.js';
import {
  ensureSystemUser, findBinary, freePort, isRoot, makeRecording, profile, ServerProcess, sha256,
  snapshotOutbox, tempDir, testConfig, waitForPort, type Teardown,
} from './helpers.js';

const SMBD = findBinary('smbd');
const SMBCLIENT = findBinary('smbclient');
const SMBPASSWD = findBinary('smbpasswd');
const TEST_USER = 'callrec-smbtest';
const PASSWORD = 'SmbPw-123';

if (SMBD === undefined || SMBCLIENT === undefined || SMBPASSWD === undefined) {
  t.plan(0, 'smbd, smbpasswd or smbclient missing: install the Debian packages samba and smbclient (make install-debian)');
} else if (!isRoot) {
  t.plan(0, 'smbd tests need root (smbd switches to the share user; a system user is created)');
} else {
  await main(SMBD, SMBPASSWD);
}

interface Smbd {
  port: number;
  share: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

async function setupSmbd(t: Teardown, smbd: string, smbpasswd: string): Promise<Smbd> {
  await ensureSystemUser(TEST_USER);
  const dir = tempDir(t, 'callrec-smbd-');
  chmodSync(dir, 0o755); // smbd serves the share as the test user
  for (const d of ['private', 'lock', 'state', 'cache', 'pid', 'log', 'ncalrpc', 'share']) mkdirSync(path.join(dir, d));
  const share = path.join(dir, 'share');
  const uid = Number(execFileSync('id', ['-u', TEST_USER], { encoding: 'utf8' }).trim());
  chownSync(share, uid, -1);
  const port = await freePort();
  const conf = path.join(dir, 'smb.conf');
  writeFileSync(conf, [
    '[global]',
    '   server role = standalone server',
    '   workgroup = WORKGROUP',
    '   netbios name = RECTEST',
    '   interfaces = lo',
    '   bind interfaces only = yes',
    `   smb ports = ${port}`,
    '   disable netbios = yes',
    ...['private', 'lock', 'state', 'cache', 'pid', 'ncalrpc'].map((d) => `   ${d === 'private' ? 'private dir' : d === 'lock' ? 'lock directory' : d === 'state' ? 'state directory' : d === 'cache' ? 'cache directory' : d === 'pid' ? 'pid directory' : 'ncalrpc dir'} = ${path.join(dir, d)}`),
    `   log file = ${path.join(dir, 'log', 'log.%m')}`,
    `   passdb backend = tdbsam:${path.join(dir, 'private', 'passdb.tdb')}`,
    '   load printers = no',
    '   printing = bsd',
    '   printcap name = /dev/null',
    '   disable spoolss = yes',
    '   map to guest = never',
    '[recordings]',
    `   path = ${share}`,
    '   read only = no',
    `   valid users = ${TEST_USER}`,
    '',
  ].join('\n'));
  execFileSync(smbpasswd, ['-c', conf, '-s', '-a', TEST_USER], { input: `${PASSWORD}\n${PASSWORD}\n`, stdio: ['pipe', 'ignore', 'pipe'] });
  let proc: ServerProcess | undefined;
  const s: Smbd = {
    port,
    share,
    async start() {
      // smbd makes itself a process-group leader (setsid); stop() signals the whole group.
      proc = ServerProcess.start(smbd, ['--foreground', '--debug-stdout', '-d', '1', '-s', conf], { group: 'self' });
      const p = proc;
      await waitForPort(port, 15_000, () => !p.exited).catch((err: unknown) => {
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

function smbConfig(s: Smbd, over: Partial<SmbTargetConfig> = {}): SmbTargetConfig {
  return {
    type: 'smb',
    host: '127.0.0.1',
    port: s.port,
    share: 'recordings',
    domain: 'WORKGROUP',
    username: TEST_USER,
    password: PASSWORD,
    path: 'Aufzeichnung/$Y-$M-$D/sub folder',
    ...over,
  };
}

async function main(smbd: string, smbpasswd: string): Promise<void> {
  t.test('nested folders, identical files under final names, replace, remove', async (t) => {
    const s = await setupSmbd(t, smbd, smbpasswd);
    await s.start();
    const dir = tempDir(t);
    const log = RecordingLog.open(path.join(dir, 'callrec.db'));
    t.teardown(() => log.close());
    const rec = makeRecording(log, dir, 1, { audioBytes: 3_000_000, separate: true });
    const files = await collectRecordingFiles(dir, rec);
    const cfg = smbConfig(s);
    const target = new SmbTarget(targetId(cfg), cfg);
    t.teardown(() => target.close());
    const folder = expandTemplate(cfg.path, rec.startedAt);
    await target.put(files, folder);
    const onDisk = path.join(s.share, folder);
    t.same(readdirSync(onDisk).sort(), files.map((f) => f.name).sort(), 'final names only');
    for (const f of files) t.equal(sha256(readFileSync(path.join(onDisk, f.name))), f.sha256, `${f.name} identical`);
    await target.put(files, folder);
    t.same(readdirSync(onDisk).sort(), files.map((f) => f.name).sort(), 'second put replaces (rename -f)');
    await target.remove(folder, files.map((f) => f.name));
    t.same(readdirSync(onDisk), [], 'removed');
    await target.remove(folder, files.map((f) => f.name));
    t.pass('remove of files already gone is fine');
  });

  t.test('credentials only in a 0600 file, never in the arguments', async (t) => {
    const s = await setupSmbd(t, smbd, smbpasswd);
    await s.start();
    const dir = tempDir(t);
    const log = RecordingLog.open(path.join(dir, 'callrec.db'));
    t.teardown(() => log.close());
    const files = await collectRecordingFiles(dir, makeRecording(log, dir, 2));
    // A wrapper that records what smbclient is called with, then runs it.
    const trace = path.join(dir, 'trace');
    const wrapper = path.join(dir, 'smbclient-wrapper');
    writeFileSync(wrapper, [
      '#!/bin/sh',
      `printf '%s\\n' "$*" >> ${trace}`,
      'prev=""; for a in "$@"; do if [ "$prev" = "-A" ]; then stat -c "%a" "$a" >> ' + trace + '; fi; prev="$a"; done',
      `exec ${SMBCLIENT} "$@"`,
      '',
    ].join('\n'), { mode: 0o755 });
    const cfg = smbConfig(s, { path: 'creds' });
    const target = new SmbTarget('smb:creds', cfg, { smbclientPath: wrapper });
    await target.put(files, 'creds');
    const lines = readFileSync(trace, 'utf8');
    t.notMatch(lines, PASSWORD, 'password not in any argument list');
    t.match(lines, /-A \S+\/auth -m SMB3/);
    t.match(lines, /^600$/m, 'auth file mode 0600');
    const authFile = /-A (\S+)/.exec(lines)![1]!;
    t.ok(existsSync(authFile));
    await target.close();
    t.notOk(existsSync(authFile), 'auth file removed by close');
  });

  t.test('errors are explained', async (t) => {
    const s = await setupSmbd(t, smbd, smbpasswd);
    await s.start();
    const dir = tempDir(t);
    const log = RecordingLog.open(path.join(dir, 'callrec.db'));
    t.teardown(() => log.close());
    const files = await collectRecordingFiles(dir, makeRecording(log, dir, 3));
    const attempt = async (over: Partial<SmbTargetConfig>, folder = 'x'): Promise<string> => {
      const target = new SmbTarget('smb:e', smbConfig(s, over));
      try {
        await target.put(files, folder);
        return 'no error';
      } catch (err) {
        return (err as Error).message;
      } finally {
        await target.close();
      }
    };
    t.match(await attempt({ password: 'wrong' }), /logon failure: wrong user name, password or domain \[NT_STATUS_LOGON_FAILURE\]/);
    t.match(await attempt({ share: 'nosuch' }), /no such share on the server \[NT_STATUS_BAD_NETWORK_NAME\]/);
    t.match(await attempt({ port: await freePort() }), /connection refused \(server down or wrong port\) \[NT_STATUS_CONNECTION_REFUSED\]/);
    t.match(await attempt({}, 'a;rm b'), /has a character SMB or smbclient cannot take/);
    chmodSync(s.share, 0o555);
    t.match(await attempt({}, 'readonly'), /access denied|NT_STATUS_ACCESS_DENIED/);
    chmodSync(s.share, 0o755);
  });

  t.test('delivery through SMB with smbd down for a while then back', async (t) => {
    const s = await setupSmbd(t, smbd, smbpasswd);
    const dir = tempDir(t);
    const dataDir = path.join(dir, 'data');
    const cfg = smbConfig(s);
    const config = testConfig(dataDir, [profile('traders', [cfg])]);
    const log = RecordingLog.open(path.join(dataDir, 'callrec.db'));
    t.teardown(() => log.close());
    let now = Date.UTC(2026, 10, 22, 18, 0, 0);
    const d = new ArchiveDelivery({ log, config, logger: silentLogger(), now: () => now });
    const recs = Array.from({ length: 3 }, (_, i) => makeRecording(log, dataDir, i + 1));
    const snaps = recs.map((r) => snapshotOutbox(dataDir, r.baseName));
    recs.forEach((r) => d.enqueue(r.baseName, 'traders'));
    let sum = await d.runOnce();
    t.same([sum.delivered, sum.failed], [0, 1], 'smbd not running');
    t.match(log.uploads.backlog()[0], { pending: 3, failed: 1 });
    await s.start();
    now += 30_000;
    sum = await d.runOnce();
    t.same([sum.delivered, sum.failed, sum.completed.length], [3, 0, 3], 'all delivered once smbd is up');
    t.same(readdirSync(path.join(dataDir, 'outbox')), [], 'outbox emptied');
    for (const [i, r] of recs.entries()) {
      const folder = path.join(s.share, expandTemplate(cfg.path, r.startedAt));
      for (const [name, sha] of snaps[i]!) t.equal(sha256(readFileSync(path.join(folder, name))), sha, `on the share: ${name}`);
    }
    await d.stop();
  });
}
