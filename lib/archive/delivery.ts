import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Config, ProfileConfig, TargetConfig } from '../config/index.js';
import { expandTemplate } from '../recording/naming.js';
import type { RecordingLog } from '../store/recording-log.js';
import type { TargetBacklog, UploadRow } from '../store/types.js';
import type { AlertSink, DiskStatus } from './alerts.js';
import { collectRecordingFiles, loggedRecordingFiles, OutboxMissingError, outboxFolder } from './recording-files.js';
import { defaultTargetDeps, errorText, TargetPool, targetId, targetsById, type ArchiveFile, type TargetDeps, type TargetFactory } from './target.js';

/**
 * Delivery without loss (SPEC A3): every sealed recording goes from the
 * outbox (`<data.dir>/outbox/<base>/`) to every target of its profile.
 *
 * State lives in the recording log's upload queue, one row per recording
 * and target, so it survives restarts and crashes:
 *
 *   enqueue ──> pending ──put ok──> done ──(all targets done)──> outbox folder removed
 *                  │  ^
 *           put failed │ next attempt due (back-off)
 *                  v  │
 *                failed
 *
 * - Back-off: `archive.retry.firstSeconds`, doubling per consecutive
 *   failure of the target, capped at `archive.retry.maxSeconds` (hourly by
 *   default). After a failure the whole target waits until then, so a dead
 *   server costs one attempt (and one alert) per interval, not one per
 *   queued recording. The next attempt time is stored with the row.
 * - The outbox copy is deleted only when every target has confirmed every
 *   file (`allDone`); a crash between upload and markDone means one more
 *   (idempotent) upload, never a lost recording.
 * - Concurrency: at most `concurrency` uploads at a time (default 2), one
 *   recording at a time per target, oldest first.
 */

export interface DeliveryOptions {
  log: RecordingLog;
  config: Pick<Config, 'data' | 'archive' | 'profiles'>;
  logger: Logger;
  /** Wall-clock ms; injectable so tests move through back-off without waiting. */
  now?: () => number;
  /** Shared target instances (with retention); by default one is made from `targetFactory`/`targetDeps` and closed by `stop`. */
  targets?: TargetPool;
  targetFactory?: TargetFactory;
  targetDeps?: TargetDeps;
  /** Failure and recovery alerts; the disk watermark is checked each loop when it has `checkDisk`. */
  alerts?: AlertSink & { checkDisk?(): Promise<DiskStatus> };
  /** Retention runs from the same loop when given. */
  retention?: { applyRetention(now: number): Promise<unknown> };
  concurrency?: number;
  /** How often the loop looks for due uploads, ms (default 10 s); `enqueue` wakes it at once. */
  pollIntervalMs?: number;
  /** How often the disk watermark is checked, ms (default 60 s). */
  diskCheckIntervalMs?: number;
  /** How often retention runs, ms (default 1 h). */
  retentionIntervalMs?: number;
  /** Rows read from the queue per pass (default 200). */
  batchSize?: number;
}

export interface DeliverySummary {
  attempted: number;
  delivered: number;
  failed: number;
  /** Recordings whose outbox folder was removed in this pass (every target confirmed). */
  completed: string[];
}

export class ArchiveDelivery {
  private readonly now: () => number;
  private readonly pool: TargetPool;
  private readonly ownsPool: boolean;
  private readonly byId: Map<string, TargetConfig>;
  private readonly concurrency: number;
  /** Per target: no attempt before this time (set by a failure). */
  private readonly blockedUntil = new Map<string, number>();
  /** Per target: consecutive failed attempts (the back-off exponent). */
  private readonly streak = new Map<string, number>();
  /** Per target: first failure of the current outage. */
  private readonly failingSince = new Map<string, number>();
  /** Targets that delivered since their last failure in this process (no recovery alert for their old failed rows). */
  private readonly healthy = new Set<string>();
  private running: Promise<DeliverySummary> | undefined;
  private started = false;
  private stopping = false;
  private timer: NodeJS.Timeout | undefined;
  private again = false;
  private lastDiskCheck = -Infinity;
  private lastRetention = -Infinity;
  private lastSweep = -Infinity;

  constructor(private readonly o: DeliveryOptions) {
    this.now = o.now ?? Date.now;
    this.ownsPool = o.targets === undefined;
    this.pool = o.targets ?? new TargetPool(o.targetFactory, defaultTargetDeps(o.config.data.dir, o.logger, o.targetDeps));
    this.byId = targetsById(o.config.profiles);
    this.concurrency = Math.max(1, o.concurrency ?? 2);
  }

  /** The target ids of a profile, as stored in the upload queue. */
  targetIds(profile: ProfileConfig | string): string[] {
    const p = typeof profile === 'string' ? this.o.config.profiles.find((x) => x.name === profile) : profile;
    if (p === undefined) throw new Error(`no profile named ${String(profile)} in the config`);
    return [...new Set(p.targets.map(targetId))];
  }

  /**
   * Makes sure the recording has an upload row for every target of its
   * profile (idempotent; rows already there keep their state) and wakes
   * the loop. Returns how many rows were added.
   */
  enqueue(recordingBase: string, profile: ProfileConfig | string): number {
    const ids = this.targetIds(profile);
    if (ids.length === 0) return 0;
    const added = this.o.log.uploads.enqueue(recordingBase, ids, this.now());
    if (added > 0) this.o.logger.info({ event: 'archive.enqueued', base: recordingBase, targets: ids }, 'recording queued for archive targets');
    this.kick();
    return added;
  }

  /** Upload backlog per configured target (and any other target still holding rows). */
  backlog(): TargetBacklog[] {
    return this.o.log.uploads.backlog([...this.byId.keys()]);
  }

  /**
   * One pass over the due uploads. Concurrent calls share the pass in
   * progress. Resolves when every upload started in it has ended.
   */
  runOnce(): Promise<DeliverySummary> {
    this.running ??= this.pass().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Starts the periodic loop (idempotent). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.stopping = false;
    this.schedule(0);
  }

  /** Stops the loop, waits for uploads in progress, closes the targets it created. */
  async stop(): Promise<void> {
    this.started = false;
    this.stopping = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => {});
    if (this.ownsPool) await this.pool.close();
  }

  // ---- the loop --------------------------------------------------------------------

  private kick(): void {
    if (!this.started) return;
    if (this.running !== undefined) {
      this.again = true;
      return;
    }
    this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), ms);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    this.timer = undefined;
    if (!this.started) return;
    let full = false;
    try {
      const s = await this.runOnce();
      full = s.attempted >= (this.o.batchSize ?? 200);
      await this.housekeeping();
    } catch (err) {
      this.o.logger.error({ event: 'archive.loop-error', err: errorText(err) }, 'archive delivery pass failed');
    }
    if (!this.started) return;
    const soon = full || this.again;
    this.again = false;
    this.schedule(soon ? 0 : (this.o.pollIntervalMs ?? 10_000));
  }

  private async housekeeping(): Promise<void> {
    const now = this.now();
    const disk = this.o.alerts?.checkDisk;
    if (disk !== undefined && now - this.lastDiskCheck >= (this.o.diskCheckIntervalMs ?? 60_000)) {
      this.lastDiskCheck = now;
      await disk.call(this.o.alerts).catch((err: unknown) => {
        this.o.logger.error({ event: 'disk.check-failed', err: errorText(err) }, 'disk watermark check failed');
      });
    }
    if (now - this.lastSweep >= 3_600_000) {
      this.lastSweep = now;
      await this.sweepOutbox().catch((err: unknown) => {
        this.o.logger.error({ event: 'archive.sweep-failed', err: errorText(err) }, 'outbox sweep failed');
      });
    }
    if (this.o.retention !== undefined && now - this.lastRetention >= (this.o.retentionIntervalMs ?? 3_600_000)) {
      this.lastRetention = now;
      await this.o.retention.applyRetention(now).catch((err: unknown) => {
        this.o.logger.error({ event: 'retention.failed', err: errorText(err) }, 'retention pass failed');
      });
    }
  }

  // ---- one pass ----------------------------------------------------------------------

  private async pass(): Promise<DeliverySummary> {
    const summary: DeliverySummary = { attempted: 0, delivered: 0, failed: 0, completed: [] };
    const now = this.now();
    const lanes = new Map<string, UploadRow[]>();
    for (const row of this.o.log.uploads.due(now, this.o.batchSize ?? 200)) {
      if ((this.blockedUntil.get(row.target) ?? -Infinity) > now) continue;
      const lane = lanes.get(row.target);
      if (lane === undefined) lanes.set(row.target, [row]);
      else lane.push(row);
    }
    const slots = new Semaphore(this.concurrency);
    await Promise.all(
      [...lanes.values()].map(async (rows) => {
        for (const row of rows) {
          if (this.stopping) return;
          await slots.acquire();
          let ok: boolean;
          try {
            ok = await this.deliver(row, summary);
          } finally {
            slots.release();
          }
          // A failed target is not tried again in this pass (its back-off starts now).
          if (!ok) return;
        }
      }),
    );
    return summary;
  }

  /** One recording to one target. Returns false when the attempt failed. */
  private async deliver(row: UploadRow, summary: DeliverySummary): Promise<boolean> {
    const key = { recordingBase: row.recordingBase, target: row.target };
    const rec = this.o.log.findRecording(row.recordingBase);
    if (rec === undefined) return true; // cannot happen: the row references the recording
    if (rec.status === 'deleted-by-retention') {
      // Retention ran out before this target ever got it: nothing left to deliver.
      this.o.log.uploads.markDone(key, this.now());
      this.o.logger.warn({ event: 'archive.upload-cancelled', base: rec.baseName, target: row.target }, 'recording deleted by retention before delivery');
      return true;
    }
    summary.attempted++;
    const started = this.now();
    try {
      const config = this.byId.get(row.target);
      if (config === undefined) {
        throw new Error(`target ${row.target} is no longer in the config; the recording stays in the outbox until it is configured again`);
      }
      const target = this.pool.get(config);
      const folder = expandTemplate(config.path, rec.startedAt);
      let files: ArchiveFile[] | undefined;
      try {
        files = await collectRecordingFiles(this.o.config.data.dir, rec);
      } catch (err) {
        // The outbox copy is gone (delivered and removed by an older run?): done if the target holds it all.
        const logged = err instanceof OutboxMissingError ? loggedRecordingFiles(this.o.config.data.dir, rec) : undefined;
        if (logged === undefined || target.confirm === undefined || !(await target.confirm(logged, folder))) throw err;
      }
      if (files !== undefined) await target.put(files, folder);
    } catch (err) {
      this.failed(row, err, summary);
      return false;
    }
    await this.succeeded(row, started, summary);
    return true;
  }

  private async succeeded(row: UploadRow, started: number, summary: DeliverySummary): Promise<void> {
    const now = this.now();
    const key = { recordingBase: row.recordingBase, target: row.target };
    this.o.log.uploads.markDone(key, now);
    summary.delivered++;
    this.o.logger.info({ event: 'archive.delivered', base: row.recordingBase, target: row.target, ms: now - started }, 'recording delivered');
    // Failed rows of this target (maybe from before a restart) mean an outage ends here,
    // unless the target already delivered since its last failure in this process.
    const wasFailing =
      this.failingSince.has(row.target) ||
      (!this.healthy.has(row.target) && (row.state === 'failed' || this.failedRows(row.target) > 0));
    this.healthy.add(row.target);
    const since = this.failingSince.get(row.target) ?? row.firstFailedAt;
    this.failingSince.delete(row.target);
    this.streak.delete(row.target);
    this.blockedUntil.delete(row.target);
    if (wasFailing) {
      this.o.alerts?.targetRecovered({ target: row.target, recordingBase: row.recordingBase, failingSince: since, backlog: this.pendingFor(row.target) });
    }
    if (this.o.log.uploads.allDone(row.recordingBase) && (await this.removeOutbox(row.recordingBase))) {
      summary.completed.push(row.recordingBase);
    }
  }

  private async removeOutbox(base: string): Promise<boolean> {
    try {
      await rm(outboxFolder(this.o.config.data.dir, base), { recursive: true, force: true });
      this.o.logger.info({ event: 'archive.outbox-removed', base }, 'every target confirmed the recording; outbox copy removed');
      return true;
    } catch (err) {
      this.o.logger.error({ event: 'archive.outbox-remove-failed', base, err: errorText(err) }, 'cannot remove the outbox copy');
      return false;
    }
  }

  /**
   * Removes outbox folders of recordings that every queued target has
   * confirmed (left by a crash between the last confirmation and the
   * removal). Folders without upload rows are left alone: they are still
   * being sealed, or not queued yet. Returns the bases removed.
   */
  async sweepOutbox(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(path.join(this.o.config.data.dir, 'outbox'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const removed: string[] = [];
    for (const base of names) {
      if (this.o.log.findRecording(base) === undefined) continue;
      if (this.o.log.uploads.forRecording(base).length === 0 || !this.o.log.uploads.allDone(base)) continue;
      if (await this.removeOutbox(base)) removed.push(base);
    }
    return removed;
  }

  private failed(row: UploadRow, err: unknown, summary: DeliverySummary): void {
    const now = this.now();
    const key = { recordingBase: row.recordingBase, target: row.target };
    const message = errorText(err);
    const { firstSeconds, maxSeconds } = this.o.config.archive.retry;
    const streak = Math.max(row.attempts, this.streak.get(row.target) ?? 0);
    const delayS = Math.min(firstSeconds * 2 ** Math.min(streak, 40), maxSeconds);
    const next = now + delayS * 1000;
    summary.failed++;
    let attempts = row.attempts + 1;
    try {
      const updated = this.o.log.uploads.markFailed(key, message, next, now);
      attempts = updated.attempts;
      if (!this.failingSince.has(row.target)) this.failingSince.set(row.target, updated.firstFailedAt ?? now);
    } catch (storeErr) {
      // E.g. another process marked it done meanwhile: nothing is lost, say so and go on.
      this.o.logger.error({ event: 'archive.mark-failed-error', base: row.recordingBase, target: row.target, err: errorText(storeErr) }, 'cannot record the failed upload');
    }
    this.streak.set(row.target, streak + 1);
    this.blockedUntil.set(row.target, next);
    this.healthy.delete(row.target);
    const failure = { target: row.target, recordingBase: row.recordingBase, error: message, attempts, nextAttemptAt: next, backlog: this.pendingFor(row.target) };
    if (this.o.alerts !== undefined) this.o.alerts.uploadFailed(failure);
    else this.o.logger.warn({ event: 'archive.upload-failed', ...failure }, 'upload failed; will retry');
  }

  private failedRows(target: string): number {
    return this.o.log.uploads.backlog([target]).find((b) => b.target === target)?.failed ?? 0;
  }

  private pendingFor(target: string): number {
    return this.o.log.uploads.backlog([target]).find((b) => b.target === target)?.pending ?? 0;
  }
}

/** A counting semaphore for the upload slots. */
class Semaphore {
  private readonly waiters: Array<() => void> = [];

  constructor(private free: number) {}

  acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    const next = this.waiters.shift();
    if (next !== undefined) next();
    else this.free++;
  }
}
