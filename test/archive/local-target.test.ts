/**
 * Local folder target and the outbox file set (SPEC A1, A2, E2/E3 files).
 *
 * Verifies:
 * - files land under their final names only, via a temporary name, content identical;
 * - nested folders from the template are created; a second put overwrites (idempotent);
 * - a size or checksum mismatch after writing fails the put and leaves no final file;
 * - remove deletes files and leftovers, ignores files already gone; confirm checks content;
 * - the outbox file set: audio, info, hash, signature last; a damaged outbox copy is refused;
 *   the hash and signature files can be rebuilt from the log row alone.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { ArchiveError, LocalTarget, targetId } from '../../lib/archive/index.js';
import { collectRecordingFiles, loggedRecordingFiles, OutboxMissingError, recordingFileNames } from '../../lib/archive/recording-files.js';
import { expandTemplate } from '../../lib/recording/naming.js';
import { RecordingLog } from '../../lib/store/index.js';
import { makeRecording, sha256, tempDir } from './helpers.js';

function setup(tt: Parameters<typeof tempDir>[0]) {
  const dir = tempDir(tt);
  const log = RecordingLog.open(path.join(dir, 'data', 'callrec.db'));
  tt.teardown(() => log.close());
  return { dir, dataDir: path.join(dir, 'data'), log };
}

t.test('put writes every file under a temp name, renames, creates nested folders', async (t) => {
  const { dir, dataDir, log } = setup(t);
  const rec = makeRecording(log, dataDir, 1, { separate: true });
  const files = await collectRecordingFiles(dataDir, rec);
  const template = path.join(dir, 'archive', '$Y', '$M', '$D');
  const target = new LocalTarget(targetId({ type: 'local', path: template }));
  const folder = expandTemplate(template, rec.startedAt);
  await target.put(files, folder);
  const listed = readdirSync(folder).sort();
  t.same(listed, files.map((f) => f.name).sort(), 'only final names, no .partial left');
  for (const f of files) t.equal(sha256(readFileSync(path.join(folder, f.name))), f.sha256, `${f.name} identical`);
  t.match(folder, /archive\/2026\/11\/2[23]$/, 'template expanded to year/month/day');
  // Again: overwrites, still identical.
  await target.put(files, folder);
  t.same(readdirSync(folder).sort(), files.map((f) => f.name).sort(), 'second put is idempotent');
  t.ok(await target.confirm(files, folder), 'confirm sees every file intact');
  writeFileSync(path.join(folder, files[0]!.name), 'tampered');
  t.notOk(await target.confirm(files, folder), 'confirm notices a changed file');
});

t.test('a checksum or size mismatch after writing fails and leaves no final file', async (t) => {
  const { dir, dataDir, log } = setup(t);
  const rec = makeRecording(log, dataDir, 2);
  const files = await collectRecordingFiles(dataDir, rec);
  const target = new LocalTarget('local:test');
  const folder = path.join(dir, 'bad');
  const wrongSha = files.map((f, i) => (i === 0 ? { ...f, sha256: '0'.repeat(64) } : f));
  await t.rejects(target.put(wrongSha, folder), { name: 'ArchiveError', message: /SHA-256 .* expected 0{64}/ });
  t.same(readdirSync(folder), [], 'neither final nor temporary file left');
  const wrongSize = files.map((f, i) => (i === 0 ? { ...f, size: f.size + 1 } : f));
  await t.rejects(target.put(wrongSize, folder), /size \d+ after writing, expected \d+/);
  t.same(readdirSync(folder), []);
  const missing = [{ ...files[0]!, localPath: path.join(dir, 'nope') }];
  const err = await target.put(missing, folder).catch((e: unknown) => e);
  t.ok(err instanceof ArchiveError && err.targetId === 'local:test', 'ArchiveError names the target');
});

t.test('remove deletes files and leftovers; files already gone are fine', async (t) => {
  const { dir, dataDir, log } = setup(t);
  const rec = makeRecording(log, dataDir, 3);
  const files = await collectRecordingFiles(dataDir, rec);
  const target = new LocalTarget('local:test');
  const folder = path.join(dir, 'a');
  await target.put(files, folder);
  writeFileSync(path.join(folder, `.${files[0]!.name}.partial`), 'left by a crash');
  writeFileSync(path.join(folder, 'other-recording.wav'), 'keep');
  await target.remove(folder, files.map((f) => f.name));
  t.same(readdirSync(folder), ['other-recording.wav'], 'only foreign files remain');
  await target.remove(folder, files.map((f) => f.name));
  t.pass('second remove is a no-op');
});

t.test('the outbox file set: order, checks, rebuild from the log', async (t) => {
  const { dataDir, log } = setup(t);
  const rec = makeRecording(log, dataDir, 4, { separate: true });
  const names = recordingFileNames(rec);
  t.same(names, [
    `${rec.baseName}_caller.wav`,
    `${rec.baseName}_callee.wav`,
    `${rec.baseName}_info.txt`,
    `${rec.baseName}_hash.txt`,
    `${rec.baseName}_hash.txt.SHA256withRSA.sig`,
  ], 'audio, info, hash, signature last');
  const files = await collectRecordingFiles(dataDir, rec);
  const logged = loggedRecordingFiles(dataDir, rec);
  t.same(logged?.map((f) => [f.name, f.size, f.sha256]), files.map((f) => [f.name, f.size, f.sha256]), 'hash and signature files rebuilt from the row match the outbox');

  const wav = path.join(dataDir, 'outbox', rec.baseName, `${rec.baseName}_caller.wav`);
  writeFileSync(wav, Buffer.concat([readFileSync(wav), Buffer.from('x')]));
  await t.rejects(collectRecordingFiles(dataDir, rec), /differs from the sealed recording/, 'a damaged outbox copy is refused');
  const hash = path.join(dataDir, 'outbox', rec.baseName, `${rec.baseName}_hash.txt`);
  const rec2 = makeRecording(log, dataDir, 5);
  writeFileSync(path.join(dataDir, 'outbox', rec2.baseName, `${rec2.baseName}_hash.txt`), 'changed\n');
  await t.rejects(collectRecordingFiles(dataDir, rec2), /differs from the sealed hash file/);
  t.ok(existsSync(hash));
  const rec3 = makeRecording(log, dataDir, 6);
  writeFileSync(path.join(dataDir, 'outbox', rec3.baseName, 'unrelated'), '');
  const sig = path.join(dataDir, 'outbox', rec3.baseName, `${rec3.baseName}_hash.txt.SHA256withRSA.sig`);
  (await import('node:fs')).rmSync(sig);
  await t.rejects(collectRecordingFiles(dataDir, rec3), OutboxMissingError);
});

t.test('target ids are stable and name the destination', async (t) => {
  t.equal(targetId({ type: 'local', path: '/srv/archive/$Y' }), 'local:/srv/archive/$Y');
  t.equal(
    targetId({ type: 'sftp', host: '10.0.0.5', port: 22, username: 'rec', password: 'pw', path: 'calls/$Y/$M' }),
    'sftp:rec@10.0.0.5:22/calls/$Y/$M',
  );
  t.equal(
    targetId({ type: 'smb', host: 'nas', port: 445, share: 'recordings', domain: 'CORP', username: 'rec', password: 'x', path: '/A/$Y-$M-$D/' }),
    'smb:CORP\\rec@nas:445/recordings/A/$Y-$M-$D',
  );
  t.equal(
    targetId({ type: 'onedrive', tenantId: 't', clientId: 'c', clientSecret: 's', user: 'u@x', path: 'Calls/$Y', authorityHost: 'https://a', graphUrl: 'https://g' }),
    'onedrive:t/u@x/Calls/$Y',
  );
  t.notMatch(targetId({ type: 'sftp', host: 'h', port: 22, username: 'u', password: 'secret', path: 'p' }), /secret/, 'no secrets in ids');
});
