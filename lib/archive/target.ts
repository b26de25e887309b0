import path from 'node:path';
import type { Logger } from 'pino';
import type { TargetConfig, TargetType } from '../config/index.js';
// The implementations import ArchiveError from here; the cycle is safe because
// neither side uses the other at module load, only inside functions.
import { LocalTarget } from './local-target.js';
import { OneDriveTarget, type OneDriveOptions } from './onedrive-target.js';
import { SftpTarget } from './sftp-target.js';
import { SmbTarget } from './smb-target.js';

/**
 * An archive target (SPEC A1): somewhere a recording's files are delivered
 * to. Every implementation keeps two promises:
 *
 * - a reader of the target never sees half a file: each file is written
 *   under a temporary name and renamed to its final name once complete
 *   (OneDrive: the upload session is the temporary state; the item only
 *   appears when its last byte is committed);
 * - `put` resolves only when the target has confirmed every file: the size
 *   read back from the target equals the local size, and the content
 *   checksum too where the target can give one without a second transfer
 *   (local: SHA-256 of the written file; OneDrive: QuickXorHash).
 *
 * `put` is idempotent: delivering the same files again overwrites them, so
 * a retry after a failure half-way (or after a crash) is always safe.
 */
export interface ArchiveFile {
  /** Final file name on the target, e.g. `20261122-141503_0891234567_0301234567_ab12cd.wav`. */
  name: string;
  /** Absolute path of the local (outbox) copy. */
  localPath: string;
  size: number;
  /** Lower-case hex SHA-256 of the content. */
  sha256: string;
}

export interface ArchiveTarget {
  /** Stable identity, the `target` column of the upload queue, e.g. `sftp:rec@10.0.0.5:22/calls/$Y/$M`. */
  readonly id: string;
  readonly type: TargetType;
  /** Delivers every file into `folder` (the expanded folder template), creating missing folders. */
  put(files: readonly ArchiveFile[], folder: string): Promise<void>;
  /** Deletes the named files from `folder` (retention, SPEC A4); files already gone are not an error. */
  remove?(folder: string, names: readonly string[]): Promise<void>;
  /**
   * True when the target already holds every file with the right size (and
   * checksum where it can tell). Used when the outbox copy is gone but the
   * queue still waits for this target.
   */
  confirm?(files: readonly ArchiveFile[], folder: string): Promise<boolean>;
  /** Releases connections and temporary files; idempotent. */
  close(): Promise<void>;
}

/** A delivery to or deletion from a target failed; `message` says what the target answered. */
export class ArchiveError extends Error {
  override readonly name = 'ArchiveError';
  constructor(
    readonly targetId: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** What the target factories need besides the target's own config. */
export interface TargetDeps {
  logger?: Logger;
  /**
   * SFTP: file that pins each server's host key on first use (trust on
   * first use); a changed key is refused. Without it host keys are only logged.
   */
  knownHostsFile?: string;
  /** OneDrive: options passed through to the OneDrive target (tests: network client, chunk size). */
  onedrive?: OneDriveOptions;
  /** SMB: the smbclient binary (default `smbclient` from PATH). */
  smbclientPath?: string;
}

export type TargetFactory = (config: TargetConfig, deps: TargetDeps) => ArchiveTarget;

/** Remote paths never start or end with '/', and have no empty segments. */
export function trimSlashes(p: string): string {
  return p.split('/').filter((s) => s !== '').join('/');
}

/**
 * The stable id of a target config. Two profiles naming the same
 * destination share one id, so they share one queue lane.
 */
export function targetId(t: TargetConfig): string {
  switch (t.type) {
    case 'local':
      return `local:${t.path}`;
    case 'sftp':
      return `sftp:${t.username}@${t.host}:${t.port}/${t.path}`;
    case 'smb':
      return `smb:${t.domain !== undefined ? `${t.domain}\\` : ''}${t.username}@${t.host}:${t.port}/${t.share}/${trimSlashes(t.path)}`;
    case 'onedrive':
      return `onedrive:${t.tenantId}/${t.user}/${trimSlashes(t.path)}`;
  }
}

/** Every target of every profile, by id (first config wins for duplicates). */
export function targetsById(profiles: ReadonlyArray<{ targets: readonly TargetConfig[] }>): Map<string, TargetConfig> {
  const byId = new Map<string, TargetConfig>();
  for (const p of profiles) for (const t of p.targets) if (!byId.has(targetId(t))) byId.set(targetId(t), t);
  return byId;
}

/** The built-in factory: one implementation per `type` of SPEC A1. */
export const createTarget: TargetFactory = (config, deps) => {
  switch (config.type) {
    case 'local':
      return new LocalTarget(targetId(config));
    case 'sftp':
      return new SftpTarget(targetId(config), config, deps);
    case 'smb':
      return new SmbTarget(targetId(config), config, deps);
    case 'onedrive':
      return new OneDriveTarget(targetId(config), config, deps.onedrive ?? {}, deps.logger);
  }
};

/**
 * Target instances by id, created on first use and shared by delivery and
 * retention; `close()` closes them all.
 */
export class TargetPool {
  private readonly targets = new Map<string, ArchiveTarget>();

  constructor(
    private readonly factory: TargetFactory = createTarget,
    private readonly deps: TargetDeps = {},
  ) {}

  get(config: TargetConfig): ArchiveTarget {
    const id = targetId(config);
    let t = this.targets.get(id);
    if (t === undefined) {
      t = this.factory(config, this.deps);
      this.targets.set(id, t);
    }
    return t;
  }

  async close(): Promise<void> {
    const all = [...this.targets.values()];
    this.targets.clear();
    await Promise.allSettled(all.map((t) => t.close()));
  }
}

/** Where SFTP host keys are pinned by default: `<data.dir>/archive-known-hosts.json`. */
export function defaultTargetDeps(dataDir: string, logger: Logger | undefined, deps: TargetDeps = {}): TargetDeps {
  return { logger, knownHostsFile: path.join(dataDir, 'archive-known-hosts.json'), ...deps };
}

/** A one-line description of any thrown value. */
export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message !== '' ? err.message : err.name;
  return String(err);
}
