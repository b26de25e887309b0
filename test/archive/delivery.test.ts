/**
 * ArchiveDelivery (SPEC A3 "nothing is lost") with local targets, a target
 * whose outage the test switches on and off, and a real SMTP server
 * (npm smtp-server) receiving the alerts.
 *
 * Verifies:
 * - enqueue makes one row per target of the profile, idempotently;
 * - the outbox copy is removed only when every target confirmed every file;
 * - back-off: firstSeconds, doubling, capped at maxSeconds; a failed target
 *   waits out its back-off (one attempt and one alert per interval);
 * - fault: target down for a while then back -> zero recordings lost, all
 *   delivered byte-identical, failure alerts per attempt plus one recovery
 *   alert, outbox emptied;
 * - restart: a new ArchiveDelivery on the same database honours the stored
 *   back-off and delivers the backlog;
 * - at most `concurrency` uploads at once, one recording per target at a time;
 * - the periodic loop delivers what is enqueued; stop waits for it;
 * - a damaged outbox copy is never delivered; a gone outbox copy whose files
 *   the target already holds is confirmed instead;
 * - alerts without e-mail only log; disk watermark mails once per crossing;
 *   a dead mail server does not hold up deliveries.
 * Not here: the remote protocols (sftp, smb, onedrive test files).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino, type Logger } from 'pino';
import t, { type Test } from 'tap';
import {
  Alerts,
  ArchiveDelivery,
  createTarget,
  targetId,
  type ArchiveTarget,
  type TargetFactory,
} from '../../lib/archive/index.js';
import { collectRecordingFiles } from '../../lib/archive/recording-files.js';
import type { TargetConfig } from '../../lib/config/index.js';
import { expandTemplate } from '../../lib/recording/naming.js';
import { RecordingLog } from '../../lib/store/index.js';
import type { RecordingRow } from '../../lib/store/types.js';
import { emailConfig, freePort, makeRecording, profile, sha256, snapshotOutbox, startSmtp, tempDir, testConfig, type Teardown } from './helpers.js';

/** A pino logger whose lines the test can read. */
function memoryLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { logger, lines };
}

/** A switchable outage in front of real targets, counting concurrent puts. */
class Faults {
  down = new Set<string>();
  active = 0;
  maxActive = 0;
  perTarget = new Map<string, number>();
  maxPerTarget = 0;
  putDelayMs = 0;
  puts = 0;

  factory: TargetFactory = (config, deps) => {
    const real = createTarget(config, deps);
    const f = this;
    const wrapped: ArchiveTarget = {
      id: real.id,
      type: real.type,
      async put(files, folder) {
        f.active++;
        f.maxActive = Math.max(f.maxActive, f.active);
        const n = (f.perTarget.get(real.id) ?? 0) + 1;
        f.perTarget.set(real.id, n);
        f.maxPerTarget = Math.max(f.maxPerTarget, n);
        try {
          if (f.putDelayMs > 0) await sleep(f.putDelayMs);
          if (f.down.has(real.id)) throw new Error(`connect ECONNREFUSED (${real.id} is down)`);
          f.puts++;
          await real.put(files, folder);
        } finally {
          f.active--;
          f.perTarget.set(real.id, (f.perTarget.get(real.id) ?? 1) - 1);
        }
      },
      remove: real.remove?.bind(real),
      confirm: real.confirm?.bind(real),
      close: () => real.close(),
    };
    return wrapped;
  };
}

function world(t: Teardown, targetCount = 2, o: { retry?: { firstSeconds: number; maxSeconds: number }; smtpPort?: number } = {}) {
  const dir = tempDir(t);
  const dataDir = path.join(dir, 'data');
  const dbFile = path.join(dataDir, 'callrec.db');
  const targets: TargetConfig[] = Array.from({ length: targetCount }, (_, i) => ({ type: 'local' as const, path: path.join(dir, `archive-${'ABCDEFG'[i]}`, '$Y', '$M') }));
  const config = testConfig(dataDir, [profile('traders', targets)], {
    ...(o.retry ? { retry: o.retry } : {}),
    ...(o.smtpPort !== undefined ? { alerts: { email: emailConfig(o.smtpPort) } } : {}),
  });
  const ids = targets.map(targetId);
  let log = RecordingLog.open(dbFile);
  t.teardown(() => log.close());
  const faults = new Faults();
  let clock = Date.UTC(2026, 10, 22, 15, 0, 0);
  const mem = memoryLogger();
  const alerts = new Alerts({ config, logger: mem.logger, log, now: () => clock });
  t.teardown(() => alerts.close());
  const make = () => new ArchiveDelivery({ log, config, logger: mem.logger, now: () => clock, targetFactory: faults.factory, alerts });
  return {
    dir, dataDir, dbFile, config, targets, ids, faults, alerts, mem,
    get log() { return log; },
    reopen() { log.close(); log = RecordingLog.open(dbFile); return log; },
    now: () => clock,
    advance(seconds: number) { clock += seconds * 1000; },
    make,
  };
}

/** Every file of the recording is on the target, byte-identical to the outbox snapshot. */
function assertDelivered(t: Test, rec: RecordingRow, template: string, snapshot: Map<string, string>): void {
  const folder = expandTemplate(template, rec.startedAt);
  for (const [name, sha] of snapshot) {
    const p = path.join(folder, name);
    t.ok(existsSync(p) && sha256(readFileSync(p)) === sha, `${path.basename(path.dirname(path.dirname(path.dirname(p))))}: ${name}`);
  }
}

t.test('enqueue makes one row per target of the profile, idempotently', async (t) => {
  const w = world(t, 3);
  const d = w.make();
  const rec = makeRecording(w.log, w.dataDir, 1);
  t.equal(d.enqueue(rec.baseName, 'traders'), 3);
  t.equal(d.enqueue(rec.baseName, w.config.profiles[0]!), 0, 'second enqueue adds nothing');
  t.same(w.log.uploads.forRecording(rec.baseName).map((r) => [r.target, r.state]).sort(), w.ids.map((id) => [id, 'pending']).sort());
  t.same(d.backlog().map((b) => [b.target, b.pending]), w.ids.map((id) => [id, 1]).sort().map(([id]) => [id, 1]));
  t.throws(() => d.enqueue(rec.baseName, 'nope'), /no profile named nope/);
  await d.stop();
});

t.test('fault: a target down for a while then back: nothing lost, alerts, outbox emptied', async (t) => {
  const smtp = await startSmtp(t);
  const w = world(t, 2, { smtpPort: smtp.port });
  const [a, b] = w.ids as [string, string];
  const d = w.make();
  const recs = Array.from({ length: 5 }, (_, i) => makeRecording(w.log, w.dataDir, i + 1, { separate: i % 2 === 0 }));
  const snaps = recs.map((r) => snapshotOutbox(w.dataDir, r.baseName));
  recs.forEach((r) => d.enqueue(r.baseName, 'traders'));
  w.faults.down.add(b);

  let s = await d.runOnce();
  t.same([s.delivered, s.failed], [5, 1], 'A takes all five; B fails once and is not hammered');
  t.equal(s.completed.length, 0, 'nothing complete while B lacks everything');
  for (const r of recs) t.ok(existsSync(path.join(w.dataDir, 'outbox', r.baseName)), 'outbox copy kept');
  const failed = w.log.uploads.forRecording(recs[0]!.baseName).find((r) => r.target === b)!;
  t.equal(failed.state, 'failed');
  t.equal(failed.nextAttemptAt - w.now(), 30_000, 'first retry after firstSeconds');
  t.match(failed.lastError, /ECONNREFUSED/);

  // The row of B attempted last (each retry takes B's oldest due row).
  const lastOfB = () =>
    recs
      .map((r) => w.log.uploads.forRecording(r.baseName).find((x) => x.target === b)!)
      .sort((x, y) => (y.lastAttemptAt ?? 0) - (x.lastAttemptAt ?? 0) || y.nextAttemptAt - x.nextAttemptAt)[0]!;
  const delays: number[] = [];
  for (let i = 0; i < 3; i++) {
    w.advance(10);
    s = await d.runOnce();
    t.equal(s.attempted, 0, 'nothing tried during the back-off');
    w.advance((lastOfB().nextAttemptAt - w.now()) / 1000);
    s = await d.runOnce();
    t.same([s.attempted, s.failed], [1, 1], `retry ${i + 1}: one attempt, failed`);
    delays.push((lastOfB().nextAttemptAt - w.now()) / 1000);
  }
  t.same(delays, [60, 120, 240], 'back-off doubles');

  w.faults.down.delete(b);
  w.advance(240);
  s = await d.runOnce();
  t.same([s.delivered, s.failed], [5, 0], 'B back: the whole backlog goes in one pass');
  t.equal(s.completed.length, 5);
  t.same(readdirSync(path.join(w.dataDir, 'outbox')), [], 'outbox emptied');
  for (const [i, r] of recs.entries()) {
    assertDelivered(t, r, w.targets[0]!.path, snaps[i]!);
    assertDelivered(t, r, w.targets[1]!.path, snaps[i]!);
  }
  t.same(d.backlog().map((x) => x.pending), [0, 0]);
  t.ok(w.log.uploads.forRecording(recs[4]!.baseName).every((r) => r.state === 'done' && r.doneAt !== null));

  await w.alerts.flush();
  const mails = await smtp.waitFor(5);
  const failures = mails.filter((m) => /upload to .* failed/.test(m.subject));
  const recoveries = mails.filter((m) => /recovered/.test(m.subject));
  t.equal(failures.length, 4, 'one failure mail per failed attempt');
  t.equal(recoveries.length, 1, 'one recovery mail');
  t.match(failures[0]!.raw, /ECONNREFUSED/);
  t.match(failures[0]!.raw, /Backlog: +5 recording/);
  t.match(failures[0]!.subject, /archive-B/);
  t.same(failures[0]!.to, ['compliance@example.test']);
  t.equal(failures[0]!.user, 'alerts', 'mail sent with SMTP AUTH');
  t.match(recoveries[0]!.raw, /Failing since:/);
  // By its whole id: the temp folder's random name may itself contain "archive-A".
  t.notOk(mails.some((m) => m.subject.includes(a)), 'no alert for the healthy target');
  t.equal(w.log.events.ofKind('archive.upload-failed', 10).length, 4, 'failures also in the events table');
  t.equal(w.log.events.ofKind('archive.target-recovered', 10).length, 1);
  t.notOk(w.log.uploads.forRecording(recs[0]!.baseName).some((r) => r.target === a && r.attempts !== 1), 'A needed one attempt each');
  await d.stop();
});

t.test('back-off is capped at maxSeconds', async (t) => {
  const w = world(t, 1, { retry: { firstSeconds: 30, maxSeconds: 100 } });
  const d = w.make();
  const rec = makeRecording(w.log, w.dataDir, 1);
  d.enqueue(rec.baseName, 'traders');
  w.faults.down.add(w.ids[0]!);
  const delays: number[] = [];
  for (let i = 0; i < 5; i++) {
    await d.runOnce();
    const row = w.log.uploads.forRecording(rec.baseName)[0]!;
    const delay = (row.nextAttemptAt - w.now()) / 1000;
    delays.push(delay);
    w.advance(delay);
  }
  t.same(delays, [30, 60, 100, 100, 100]);
  t.equal(w.log.uploads.forRecording(rec.baseName)[0]!.attempts, 5);
  await d.stop();
});

t.test('restart with a backlog: the stored back-off holds, then the backlog is delivered', async (t) => {
  const smtp = await startSmtp(t);
  const w = world(t, 2, { smtpPort: smtp.port });
  const recs = Array.from({ length: 4 }, (_, i) => makeRecording(w.log, w.dataDir, i + 1));
  const snaps = recs.map((r) => snapshotOutbox(w.dataDir, r.baseName));
  const first = w.make();
  recs.forEach((r) => first.enqueue(r.baseName, 'traders'));
  w.faults.down.add(w.ids[0]!);
  w.faults.down.add(w.ids[1]!);
  const s1 = await first.runOnce();
  t.same([s1.delivered, s1.failed], [0, 2], 'both targets down');
  await first.stop();

  // "callrec restarted": new log connection, new delivery object, targets up again.
  w.reopen();
  w.faults.down.clear();
  const second = new ArchiveDelivery({ log: w.log, config: w.config, logger: w.mem.logger, now: w.now, targetFactory: w.faults.factory, alerts: w.alerts });
  w.advance(5);
  let s = await second.runOnce();
  // The rows never tried are due; the two that failed wait for their stored next attempt.
  t.same([s.delivered, s.failed], [6, 0], 'untried rows go at once');
  t.equal(second.backlog().reduce((n, b) => n + b.pending, 0), 2, 'the failed rows wait out their back-off');
  w.advance(30);
  s = await second.runOnce();
  t.same([s.delivered, s.failed], [2, 0], 'after the stored back-off the rest goes');
  t.same(readdirSync(path.join(w.dataDir, 'outbox')), [], 'outbox emptied');
  for (const [i, r] of recs.entries()) for (const tc of w.targets) assertDelivered(t, r, tc.path, snaps[i]!);
  await w.alerts.flush();
  const mails = await smtp.waitFor(4);
  t.equal(mails.filter((m) => /recovered/.test(m.subject)).length, 2, 'recovery detected from the stored failed state after the restart');
  await second.stop();
});

t.test('at most two uploads at a time, one recording per target', async (t) => {
  const w = world(t, 3);
  w.faults.putDelayMs = 30;
  const d = w.make();
  const recs = Array.from({ length: 4 }, (_, i) => makeRecording(w.log, w.dataDir, i + 1));
  recs.forEach((r) => d.enqueue(r.baseName, 'traders'));
  const s = await d.runOnce();
  t.equal(s.delivered, 12);
  t.equal(w.faults.maxActive, 2, 'two uploads in parallel, never more');
  t.equal(w.faults.maxPerTarget, 1, 'one recording per target at a time');
  await d.stop();
});

t.test('the loop delivers what is enqueued; stop waits for it', async (t) => {
  const w = world(t, 2);
  const d = new ArchiveDelivery({ log: w.log, config: w.config, logger: w.mem.logger, targetFactory: w.faults.factory, pollIntervalMs: 50 });
  d.start();
  const rec = makeRecording(w.log, w.dataDir, 1);
  d.enqueue(rec.baseName, 'traders');
  const outbox = path.join(w.dataDir, 'outbox', rec.baseName);
  const end = Date.now() + 5000;
  while (existsSync(outbox) && Date.now() < end) await sleep(20);
  t.notOk(existsSync(outbox), 'delivered and removed by the loop');
  t.ok(w.log.uploads.allDone(rec.baseName));
  const rec2 = makeRecording(w.log, w.dataDir, 2);
  w.log.uploads.enqueue(rec2.baseName, w.ids, Date.now());
  const end2 = Date.now() + 5000;
  while (!w.log.uploads.allDone(rec2.baseName) && Date.now() < end2) await sleep(20);
  t.ok(w.log.uploads.allDone(rec2.baseName), 'rows enqueued by someone else are found by polling');
  await d.stop();
  await d.stop();
  t.pass('stop is idempotent');
});

t.test('a damaged outbox copy is not delivered; a gone one already on the target is confirmed', async (t) => {
  const w = world(t, 1);
  const d = w.make();
  const bad = makeRecording(w.log, w.dataDir, 1);
  rmSync(path.join(w.dataDir, 'outbox', bad.baseName, `${bad.baseName}.wav`));
  writeFileSync(path.join(w.dataDir, 'outbox', bad.baseName, `${bad.baseName}.wav`), 'not the sealed audio');
  d.enqueue(bad.baseName, 'traders');
  let s = await d.runOnce();
  t.same([s.delivered, s.failed], [0, 1]);
  t.match(w.log.uploads.forRecording(bad.baseName)[0]!.lastError, /differs from the sealed recording/);
  t.equal(w.faults.puts, 0, 'nothing was sent');

  // Delivered once (e.g. by an older run), outbox removed, row still open: confirmed from the target.
  const w2 = world(t, 1);
  const d2 = w2.make();
  const rec = makeRecording(w2.log, w2.dataDir, 2);
  const files = await collectRecordingFiles(w2.dataDir, rec);
  await createTarget(w2.targets[0]!, {}).put(files, expandTemplate(w2.targets[0]!.path, rec.startedAt));
  rmSync(path.join(w2.dataDir, 'outbox', rec.baseName), { recursive: true });
  d2.enqueue(rec.baseName, 'traders');
  s = await d2.runOnce();
  t.same([s.delivered, s.failed], [1, 0], 'confirmed without the outbox copy');
  t.equal(w2.faults.puts, 0, 'no upload needed');
  await d.stop();
  await d2.stop();
});

t.test('sweepOutbox removes folders of fully delivered recordings only', async (t) => {
  const w = world(t, 1);
  const d = w.make();
  const done = makeRecording(w.log, w.dataDir, 1);
  const open = makeRecording(w.log, w.dataDir, 2);
  const unqueued = makeRecording(w.log, w.dataDir, 3);
  w.log.uploads.enqueue(done.baseName, w.ids, w.now());
  w.log.uploads.markDone({ recordingBase: done.baseName, target: w.ids[0]! }, w.now());
  w.log.uploads.enqueue(open.baseName, w.ids, w.now());
  mkdirSync(path.join(w.dataDir, 'outbox', 'not-sealed-yet'));
  t.same(await d.sweepOutbox(), [done.baseName]);
  t.same(readdirSync(path.join(w.dataDir, 'outbox')).sort(), [open.baseName, unqueued.baseName, 'not-sealed-yet'].sort());
  await d.stop();
});

t.test('alerts: without e-mail only logged; disk watermark mails once per crossing; dead SMTP does not block', async (t) => {
  const dir = tempDir(t);
  const mem = memoryLogger();
  const quiet = new Alerts({ config: testConfig(dir, []), logger: mem.logger });
  quiet.uploadFailed({ target: 'x', recordingBase: 'b', error: 'boom', attempts: 1, nextAttemptAt: Date.now(), backlog: 3 });
  quiet.targetRecovered({ target: 'x', recordingBase: 'b', failingSince: null, backlog: 0 });
  await quiet.close();
  t.same(mem.lines.map((l) => l.event), ['archive.upload-failed', 'archive.target-recovered'], 'logged only');

  const smtp = await startSmtp(t);
  let used = 50;
  const statfs = async () => ({ blocks: 1000, bfree: 1000 - used * 10, bavail: 1000 - used * 10, bsize: 4096 });
  const cfg = testConfig(dir, [], { alerts: { email: emailConfig(smtp.port), diskWarnPercent: 90 } });
  const alerts = new Alerts({ config: cfg, logger: mem.logger, statfs });
  t.teardown(() => alerts.close());
  const seq: boolean[] = [];
  for (const u of [50, 95, 97, 80, 92, 99]) {
    used = u;
    seq.push((await alerts.checkDisk()).warning);
  }
  t.same(seq, [false, true, true, false, true, true]);
  await alerts.flush();
  const mails = await smtp.waitFor(2);
  t.equal(mails.length, 2, 'one mail per upward crossing');
  t.match(mails[0]!.subject, /disk 95\.0% full/);
  t.match(mails[1]!.subject, /disk 92\.0% full/);
  const real = await new Alerts({ config: cfg, logger: mem.logger }).checkDisk();
  t.ok(real.totalBytes > 0 && real.freeBytes >= 0 && real.usedPercent >= 0, 'real statfs of data.dir works');

  // SMTP nobody listens on: delivery goes on, the failed mail is logged.
  const deadPort = await freePort();
  const w = world(t, 1, { smtpPort: deadPort });
  const d = w.make();
  const rec = makeRecording(w.log, w.dataDir, 1);
  d.enqueue(rec.baseName, 'traders');
  w.faults.down.add(w.ids[0]!);
  const started = Date.now();
  await d.runOnce();
  t.ok(Date.now() - started < 2000, 'the failed attempt does not wait for the mail');
  await w.alerts.flush();
  t.ok(w.mem.lines.some((l) => l.event === 'alert.mail-failed'), 'mail failure logged');
  await d.stop();
});
