import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Config, TargetConfig } from '../config/index.js';
import { expandTemplate } from '../recording/naming.js';
import type { RecordingLog } from '../store/recording-log.js';
import type { RecordingRow } from '../store/types.js';
import { LocalTarget } from './local-target.js';
import { outboxFolder, recordingFileNames } from './recording-files.js';
import { defaultTargetDeps, errorText, TargetPool, targetId, targetsById, type TargetDeps, type TargetFactory } from './target.js';

/**
 * Retention (SPEC A4): recordings whose `retention_until` has passed are
 * deleted from every target that allows deletion (all four types do) and
 * from the outbox, then marked `deleted-by-retention` in the log.
 *
 * The recording row, its hash, signature and chain link are never touched:
 * `callrec verify --chain` still walks an unbroken chain and reports the
 * recording as deleted by retention, not as missing. A recording is marked
 * only when every reachable target confirmed the deletion; otherwise it is
 * tried again on the next run.
 */

export interface RetentionOptions {
  log: RecordingLog;
  config: Pick<Config, 'data' | 'profiles'>;
  logger: Logger;
  targets?: TargetPool;
  targetFactory?: TargetFactory;
  targetDeps?: TargetDeps;
  /** Recordings handled per run (default 500). */
  batchSize?: number;
}

export interface RetentionResult {
  deleted: string[];
  failed: Array<{ recordingBase: string; error: string }>;
}

export class Retention {
  private readonly pool: TargetPool;
  private readonly ownsPool: boolean;
  private readonly byId: Map<string, TargetConfig>;

  constructor(private readonly o: RetentionOptions) {
    this.ownsPool = o.targets === undefined;
    this.pool = o.targets ?? new TargetPool(o.targetFactory, defaultTargetDeps(o.config.data.dir, o.logger, o.targetDeps));
    this.byId = targetsById(o.config.profiles);
  }

  async applyRetention(now: number): Promise<RetentionResult> {
    const result: RetentionResult = { deleted: [], failed: [] };
    for (const rec of this.o.log.expiredRecordings(now, this.o.batchSize ?? 500)) {
      try {
        await this.deleteEverywhere(rec);
        if (this.o.log.markDeleted(rec.baseName, now)) {
          result.deleted.push(rec.baseName);
          this.o.logger.info({ event: 'retention.deleted', base: rec.baseName, retentionUntil: rec.retentionUntil }, 'recording deleted after its retention period');
          this.o.log.events.add({
            at: now,
            level: 'info',
            kind: 'retention.deleted',
            message: `deleted after retention ran out (${new Date(rec.retentionUntil ?? now).toISOString()})`,
            recordingBase: rec.baseName,
          });
        }
      } catch (err) {
        const error = errorText(err);
        result.failed.push({ recordingBase: rec.baseName, error });
        this.o.logger.error({ event: 'retention.delete-failed', base: rec.baseName, err: error }, 'retention could not delete the recording; retried next run');
      }
    }
    return result;
  }

  async close(): Promise<void> {
    if (this.ownsPool) await this.pool.close();
  }

  private async deleteEverywhere(rec: RecordingRow): Promise<void> {
    const names = recordingFileNames(rec);
    const profile = this.o.config.profiles.find((p) => p.name === rec.profile);
    const rows = this.o.log.uploads.forRecording(rec.baseName);
    // Every target that got (or may have got part of) it, plus the profile's current targets.
    const ids = new Set([...rows.map((r) => r.target), ...(profile?.targets ?? []).map(targetId)]);
    const problems: string[] = [];
    for (const id of ids) {
      const config = this.byId.get(id);
      if (config === undefined) {
        this.o.logger.warn({ event: 'retention.target-unknown', base: rec.baseName, target: id }, 'target no longer configured; its copy cannot be deleted from here');
        continue;
      }
      const target = this.pool.get(config);
      if (target.remove === undefined) continue;
      try {
        await target.remove(expandTemplate(config.path, rec.startedAt), names);
      } catch (err) {
        problems.push(`${id}: ${errorText(err)}`);
      }
    }
    if (ids.size === 0) {
      // A profile without targets: the finalizer keeps the files at data.dir/<folder>.
      await new LocalTarget('local:fallback').remove(path.join(this.o.config.data.dir, rec.folder), names).catch((err: unknown) => {
        problems.push(`${rec.folder}: ${errorText(err)}`);
      });
    }
    if (problems.length > 0) throw new Error(problems.join('; '));
    await rm(outboxFolder(this.o.config.data.dir, rec.baseName), { recursive: true, force: true });
  }
}
