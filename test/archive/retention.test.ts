/**
 * Retention (SPEC A4) with local targets.
 *
 * Verifies:
 * - recordings past retention_until are deleted from every target folder
 *   and the outbox, and marked deleted-by-retention with the time;
 * - recordings not yet expired and recordings without retention stay;
 * - the chain rows are untouched: positions, hashes, signatures and links
 *   are the same, so a chain verifier sees "deleted", not a gap;
 * - a target that cannot delete keeps the recording unmarked until a later
 *   run succeeds; a second run does nothing more;
 * - a recording deleted before it reached a target closes that upload row.
 */
import { existsSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { ArchiveDelivery, Retention, targetId } from '../../lib/archive/index.js';
import { expandTemplate } from '../../lib/recording/naming.js';
import { silentLogger } from '../../lib/util/log.js';
import { RecordingLog } from '../../lib/store/index.js';
import { makeRecording, profile, T0, tempDir, testConfig } from './helpers.js';

const DAY = 86_400_000;

function world(t: Parameters<typeof tempDir>[0]) {
  const dir = tempDir(t);
  const dataDir = path.join(dir, 'data');
  const targets = [
    { type: 'local' as const, path: path.join(dir, 'A', '$Y', '$M', '$D') },
    { type: 'local' as const, path: path.join(dir, 'B', '$Y-$M') },
  ];
  const config = testConfig(dataDir, [profile('traders', targets, 7 * 86_400)]);
  const log = RecordingLog.open(path.join(dataDir, 'callrec.db'));
  t.teardown(() => log.close());
  const logger = silentLogger();
  return { dir, dataDir, targets, config, log, logger };
}

t.test('expired recordings are deleted from every target, marked, chain intact', async (t) => {
  const w = world(t);
  const delivery = new ArchiveDelivery({ log: w.log, config: w.config, logger: w.logger, now: () => T0 + DAY });
  const recs = [
    makeRecording(w.log, w.dataDir, 1, { retentionUntil: T0 + 7 * DAY }),
    makeRecording(w.log, w.dataDir, 2, { retentionUntil: T0 + 8 * DAY }),
    makeRecording(w.log, w.dataDir, 3, { retentionUntil: null }),
    makeRecording(w.log, w.dataDir, 4, { retentionUntil: T0 + 7 * DAY + 1 }),
  ];
  for (const r of recs) delivery.enqueue(r.baseName, 'traders');
  const s = await delivery.runOnce();
  t.equal(s.delivered, 8);
  await delivery.stop();
  const chainBefore = w.log.listChain();

  const retention = new Retention({ log: w.log, config: w.config, logger: w.logger });
  t.teardown(() => retention.close());
  const now = T0 + 7 * DAY + 1;
  const result = await retention.applyRetention(now);
  t.same(result, { deleted: [recs[0]!.baseName, recs[3]!.baseName], failed: [] });

  for (const [i, r] of recs.entries()) {
    for (const tc of w.targets) {
      const folder = expandTemplate(tc.path, r.startedAt);
      const names = readdirSync(folder).filter((n) => n.startsWith(r.baseName));
      if (i === 0 || i === 3) t.same(names, [], `recording ${i + 1} gone from ${tc.path}`);
      else t.equal(names.length, 4, `recording ${i + 1} kept on ${tc.path}`);
    }
  }
  const after = w.log.listChain();
  t.same(
    after.map((r) => [r.chainPosition, r.baseName, r.hashSha256, r.signature, r.previousBase, r.previousSignature]),
    chainBefore.map((r) => [r.chainPosition, r.baseName, r.hashSha256, r.signature, r.previousBase, r.previousSignature]),
    'chain links unchanged',
  );
  t.same(after.map((r) => r.status), ['deleted-by-retention', 'sealed', 'sealed', 'deleted-by-retention']);
  t.equal(after[0]!.deletedAt, now);
  t.same(w.log.listDeletedByRetention().map((r) => r.baseName), [recs[0]!.baseName, recs[3]!.baseName]);
  t.equal(w.log.events.ofKind('retention.deleted', 10).length, 2, 'each deletion logged as an event');
  t.same(await retention.applyRetention(now + DAY), { deleted: [recs[1]!.baseName], failed: [] }, 'next one when its time comes');
  t.same(await retention.applyRetention(now + DAY), { deleted: [], failed: [] }, 'nothing twice');
});

t.test('a target that cannot delete keeps the recording unmarked until a later run', async (t) => {
  const w = world(t);
  const delivery = new ArchiveDelivery({ log: w.log, config: w.config, logger: w.logger, now: () => T0 + DAY });
  const rec = makeRecording(w.log, w.dataDir, 1, { retentionUntil: T0 + 7 * DAY });
  delivery.enqueue(rec.baseName, 'traders');
  await delivery.runOnce();
  await delivery.stop();
  // Target B's folder becomes a file where a folder is expected: unlink fails with ENOTDIR.
  const folderB = expandTemplate(w.targets[1]!.path, rec.startedAt);
  renameSync(folderB, `${folderB}.moved`);
  writeFileSync(folderB, 'not a folder');
  const retention = new Retention({ log: w.log, config: w.config, logger: w.logger });
  t.teardown(() => retention.close());
  const r1 = await retention.applyRetention(T0 + 8 * DAY);
  t.same(r1.deleted, []);
  t.equal(r1.failed.length, 1);
  t.match(r1.failed[0]!.error, new RegExp(`${targetId(w.targets[1]!).replace(/[$]/g, '\\$')}: cannot delete`));
  t.equal(w.log.findRecording(rec.baseName)!.status, 'sealed', 'not marked while a copy may remain');
  rmSync(folderB);
  renameSync(`${folderB}.moved`, folderB);
  const r2 = await retention.applyRetention(T0 + 9 * DAY);
  t.same(r2, { deleted: [rec.baseName], failed: [] });
  t.same(readdirSync(folderB), [], 'deleted on the retry');
  t.equal(w.log.findRecording(rec.baseName)!.status, 'deleted-by-retention');
});

t.test('deleted before a target got it: outbox removed, the open upload row is closed', async (t) => {
  const w = world(t);
  const rec = makeRecording(w.log, w.dataDir, 1, { retentionUntil: T0 + DAY });
  const delivery = new ArchiveDelivery({ log: w.log, config: w.config, logger: w.logger, now: () => T0 + 2 * DAY });
  delivery.enqueue(rec.baseName, 'traders');
  const retention = new Retention({ log: w.log, config: w.config, logger: w.logger });
  t.same((await retention.applyRetention(T0 + 2 * DAY)).deleted, [rec.baseName]);
  t.notOk(existsSync(path.join(w.dataDir, 'outbox', rec.baseName)), 'outbox copy deleted too');
  const s = await delivery.runOnce();
  t.equal(s.attempted, 0, 'nothing uploaded after the deletion');
  t.ok(w.log.uploads.allDone(rec.baseName), 'rows closed');
  await delivery.stop();
  await retention.close();
});
