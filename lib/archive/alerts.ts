import { statfs } from 'node:fs/promises';
import os from 'node:os';
import nodemailer, { type Transporter } from 'nodemailer';
import type { Logger } from 'pino';
import type { AlertsConfig, EmailAlertConfig } from '../config/index.js';
import type { RecordingLog } from '../store/recording-log.js';
import { errorText } from './target.js';

/**
 * Operator alerts of the archive (SPEC A3 "an e-mail alert per failed
 * attempt (SMTP)", issue 6 "one when the target recovers", and the disk
 * watermark of `alerts.diskWarnPercent`).
 *
 * Every alert is logged (pino, with an `event` field) and written to the
 * recording log's events table; when `alerts.email` is configured it is
 * also mailed through `alerts.email.smtp` with nodemailer. Mail is sent in
 * the background: a dead mail server must never hold up deliveries, and a
 * mail that fails is logged, not retried (the next attempt alerts again).
 */

export interface UploadFailure {
  target: string;
  recordingBase: string;
  error: string;
  /** Attempts of this upload so far, this one included. */
  attempts: number;
  nextAttemptAt: number;
  /** Uploads not yet delivered to this target. */
  backlog: number;
}

export interface TargetRecovery {
  target: string;
  recordingBase: string;
  /** When the target's first failure of this outage was seen, if known. */
  failingSince: number | null;
  backlog: number;
}

export interface DiskStatus {
  path: string;
  totalBytes: number;
  freeBytes: number;
  /** Used share of the space available to unprivileged users, as `df` shows it. */
  usedPercent: number;
  /** True while usage is above `alerts.diskWarnPercent`. */
  warning: boolean;
}

/** What ArchiveDelivery needs from the alerts (tests pass a recorder). */
export interface AlertSink {
  uploadFailed(f: UploadFailure): void;
  targetRecovered(r: TargetRecovery): void;
}

export interface MailMessage {
  subject: string;
  text: string;
}

export interface AlertsOptions {
  config: { alerts: AlertsConfig; data: { dir: string }; instance?: string };
  logger: Logger;
  /** Alerts are also written to its events table. */
  log?: RecordingLog;
  now?: () => number;
  /** Replaces `fs.statfs` (tests). */
  statfs?: (path: string) => Promise<{ blocks: number; bfree: number; bavail: number; bsize: number }>;
}

export class Alerts implements AlertSink {
  private readonly email: EmailAlertConfig | undefined;
  private readonly transport: Transporter | undefined;
  private readonly pending = new Set<Promise<void>>();
  private readonly now: () => number;
  private diskWarned = false;
  private lastDisk: DiskStatus | undefined;
  private readonly instance: string;

  constructor(private readonly o: AlertsOptions) {
    this.email = o.config.alerts.email;
    this.now = o.now ?? Date.now;
    this.instance = o.config.instance ?? os.hostname();
    if (this.email !== undefined) {
      const s = this.email.smtp;
      this.transport = nodemailer.createTransport({
        host: s.host,
        port: s.port,
        secure: s.secure,
        // Without `secure`, STARTTLS is used when the server offers it.
        ...(s.username !== undefined ? { auth: { user: s.username, pass: s.password ?? '' } } : {}),
        connectionTimeout: 30_000,
        greetingTimeout: 30_000,
        socketTimeout: 60_000,
      });
    }
  }

  uploadFailed(f: UploadFailure): void {
    const next = new Date(f.nextAttemptAt).toISOString();
    this.o.logger.warn(
      { event: 'archive.upload-failed', target: f.target, base: f.recordingBase, attempts: f.attempts, nextAttemptAt: next, backlog: f.backlog, err: f.error },
      'upload failed; will retry',
    );
    this.record('warn', 'archive.upload-failed', `upload to ${f.target} failed: ${f.error}`, f.recordingBase, {
      target: f.target, attempts: f.attempts, nextAttemptAt: f.nextAttemptAt, backlog: f.backlog,
    });
    this.mail({
      subject: `[callrec ${this.instance}] upload to ${f.target} failed`,
      text: [
        `An archive upload failed. The recording stays in the local spool and is retried.`,
        '',
        `Target:        ${f.target}`,
        `Recording:     ${f.recordingBase}`,
        `Error:         ${f.error}`,
        `Attempt:       ${f.attempts}`,
        `Next attempt:  ${next}`,
        `Backlog:       ${f.backlog} recording(s) waiting for this target`,
      ].join('\n'),
    });
  }

  targetRecovered(r: TargetRecovery): void {
    this.o.logger.info({ event: 'archive.target-recovered', target: r.target, base: r.recordingBase, backlog: r.backlog }, 'archive target delivers again');
    this.record('info', 'archive.target-recovered', `${r.target} accepts uploads again`, r.recordingBase, {
      target: r.target, failingSince: r.failingSince, backlog: r.backlog,
    });
    this.mail({
      subject: `[callrec ${this.instance}] ${r.target} recovered`,
      text: [
        `The archive target accepts uploads again.`,
        '',
        `Target:        ${r.target}`,
        `Delivered:     ${r.recordingBase}`,
        ...(r.failingSince !== null ? [`Failing since: ${new Date(r.failingSince).toISOString()}`] : []),
        `Backlog:       ${r.backlog} recording(s) still waiting for this target`,
      ].join('\n'),
    });
  }

  /**
   * Checks the disk of data.dir against `alerts.diskWarnPercent`. Crossing
   * the mark upwards logs and mails once; dropping below it re-arms.
   */
  async checkDisk(): Promise<DiskStatus> {
    const dir = this.o.config.data.dir;
    const s = await (this.o.statfs ?? statfs)(dir);
    const used = s.blocks - s.bfree;
    const usable = used + s.bavail;
    const usedPercent = usable > 0 ? (used / usable) * 100 : 0;
    const limit = this.o.config.alerts.diskWarnPercent;
    const status: DiskStatus = {
      path: dir,
      totalBytes: s.blocks * s.bsize,
      freeBytes: s.bavail * s.bsize,
      usedPercent,
      warning: usedPercent > limit,
    };
    this.lastDisk = status;
    if (status.warning && !this.diskWarned) {
      this.diskWarned = true;
      const pct = usedPercent.toFixed(1);
      this.o.logger.warn({ event: 'disk.warning', path: dir, usedPercent: pct, freeBytes: status.freeBytes, limit }, 'disk of data.dir above the warning mark');
      this.record('warn', 'disk.warning', `disk of ${dir} is ${pct}% full (warning above ${limit}%)`, null, {
        path: dir, usedPercent, freeBytes: status.freeBytes, limit,
      });
      this.mail({
        subject: `[callrec ${this.instance}] disk ${pct}% full`,
        text: [
          `The disk holding the recorder's data is filling up. When it is full, calls can no longer be recorded.`,
          '',
          `Folder:     ${dir}`,
          `Used:       ${pct}% (warning above ${limit}%)`,
          `Free:       ${formatBytes(status.freeBytes)}`,
        ].join('\n'),
      });
    } else if (!status.warning && this.diskWarned) {
      this.diskWarned = false;
      this.o.logger.info({ event: 'disk.ok', path: dir, usedPercent: usedPercent.toFixed(1), limit }, 'disk of data.dir below the warning mark again');
    }
    return status;
  }

  /** The result of the last `checkDisk` (for `callrec status`); undefined before the first. */
  get disk(): DiskStatus | undefined {
    return this.lastDisk;
  }

  /** Resolves when every mail started so far was sent or failed (tests, shutdown). */
  async flush(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  async close(): Promise<void> {
    await this.flush();
    this.transport?.close();
  }

  private mail(m: MailMessage): void {
    if (this.email === undefined || this.transport === undefined) return;
    const sent = this.transport
      .sendMail({ from: this.email.from, to: this.email.to, subject: m.subject, text: m.text })
      .then(
        () => undefined,
        (err: unknown) => {
          this.o.logger.error({ event: 'alert.mail-failed', subject: m.subject, err: errorText(err) }, 'alert e-mail could not be sent');
        },
      )
      .finally(() => this.pending.delete(sent));
    this.pending.add(sent);
  }

  private record(level: 'info' | 'warn', kind: string, message: string, base: string | null, details: Record<string, string | number | null>): void {
    if (this.o.log === undefined) return;
    try {
      this.o.log.events.add({ at: this.now(), level, kind, message, recordingBase: base, details });
    } catch (err) {
      this.o.logger.error({ event: 'alert.log-failed', kind, err: errorText(err) }, 'alert could not be written to the recording log');
    }
  }
}

function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}
