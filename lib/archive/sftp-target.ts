import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import SftpClient from 'ssh2-sftp-client';
import type { SftpTargetConfig } from '../config/index.js';
import { ArchiveError, errorText, type ArchiveFile, type ArchiveTarget, type TargetDeps } from './target.js';

/**
 * An SFTP server (SPEC A1), through ssh2-sftp-client (pure-JS ssh2).
 *
 * Per `put`: connect (password or private key), `mkdir -p` the folder,
 * upload each file to `.<name>.partial`, check its size with `stat`, then
 * `posixRename` it onto the final name. Plain SFTP v3 `rename` fails when
 * the target exists ("Failure"), which would make a retry after a partial
 * delivery impossible; the OpenSSH extension posix-rename@openssh.com
 * replaces atomically. SFTP has no checksum operation (reading the file
 * back would double the transfer), so the check is the size.
 *
 * One connection per call: uploads are rare (one per recording and target)
 * and a fresh connection never carries a half-dead session into the next
 * attempt. Host keys: pinned on first use in `deps.knownHostsFile` when
 * given (a changed key is refused: the recordings are confidential);
 * otherwise the key's fingerprint is only logged.
 */
export class SftpTarget implements ArchiveTarget {
  readonly type = 'sftp' as const;
  private readonly logger: Logger | undefined;

  constructor(
    readonly id: string,
    private readonly config: SftpTargetConfig,
    private readonly deps: TargetDeps = {},
  ) {
    this.logger = deps.logger;
  }

  async put(files: readonly ArchiveFile[], folder: string): Promise<void> {
    await this.session('upload', async (sftp) => {
      const dir = folder === '' ? '.' : folder;
      await step(`create folder ${dir}`, () => sftp.mkdir(dir, true));
      for (const f of files) {
        const final = `${dir}/${f.name}`;
        const tmp = `${dir}/.${f.name}.partial`;
        await step(`upload ${tmp}`, () => sftp.fastPut(f.localPath, tmp));
        const size = (await step(`stat ${tmp}`, () => sftp.stat(tmp))).size;
        if (size !== f.size) {
          await sftp.delete(tmp, true).catch(() => {});
          throw new Error(`${tmp}: size ${size} after upload, expected ${f.size}`);
        }
        await step(`rename ${tmp} to ${final}`, () => sftp.posixRename(tmp, final));
        const after = (await step(`stat ${final}`, () => sftp.stat(final))).size;
        if (after !== f.size) throw new Error(`${final}: size ${after} after rename, expected ${f.size}`);
      }
    });
  }

  async remove(folder: string, names: readonly string[]): Promise<void> {
    await this.session('delete', async (sftp) => {
      const dir = folder === '' ? '.' : folder;
      for (const name of names) {
        for (const p of [`${dir}/${name}`, `${dir}/.${name}.partial`]) {
          // noErrorOK: a file already gone is what we want.
          await step(`delete ${p}`, () => sftp.delete(p, true));
        }
      }
    });
  }

  async close(): Promise<void> {}

  private async session<T>(what: string, fn: (sftp: SftpClient) => Promise<T>): Promise<T> {
    const c = this.config;
    const sftp = new SftpClient(`callrec-${what}`);
    const hostKey = new HostKeyCheck(`${c.host}:${c.port}`, this.deps.knownHostsFile);
    try {
      await sftp.connect({
        host: c.host,
        port: c.port,
        username: c.username,
        ...(c.password !== undefined ? { password: c.password } : {}),
        ...(c.privateKey !== undefined ? { privateKey: readKey(c.privateKey) } : {}),
        readyTimeout: 20_000,
        hostVerifier: (key: Buffer) => hostKey.verify(key),
      });
    } catch (err) {
      await sftp.end().catch(() => {});
      const reason = hostKey.refused ?? describeConnectError(err);
      throw new ArchiveError(this.id, `cannot connect to ${c.username}@${c.host}:${c.port}: ${reason}`, { cause: err });
    }
    try {
      hostKey.commit(this.logger, this.id);
      return await fn(sftp);
    } catch (err) {
      throw new ArchiveError(this.id, `${c.host}:${c.port}: ${what} failed: ${errorText(err)}`, { cause: err });
    } finally {
      await sftp.end().catch(() => {});
    }
  }
}

function readKey(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read private key ${file}: ${errorText(err)}`, { cause: err });
  }
}

async function step<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new Error(`${what}: ${errorText(err)}`, { cause: err });
  }
}

function describeConnectError(err: unknown): string {
  const text = errorText(err);
  if (/All configured authentication methods failed/i.test(text)) return 'authentication failed (user, password or key refused)';
  return text;
}

/**
 * Trust on first use, like OpenSSH's known_hosts: the first key seen for a
 * host:port is stored; later connections must present the same key.
 */
class HostKeyCheck {
  refused: string | undefined;
  private seen: string | undefined;
  private pinned: Record<string, string> = {};

  constructor(
    private readonly hostPort: string,
    private readonly file: string | undefined,
  ) {
    if (file === undefined) return;
    try {
      this.pinned = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
    } catch {
      this.pinned = {};
    }
  }

  verify(key: Buffer): boolean {
    this.seen = `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
    const expected = this.pinned[this.hostPort];
    if (expected !== undefined && expected !== this.seen) {
      this.refused =
        `host key changed: the server offers ${this.seen}, ${this.file} pins ${expected}. ` +
        `If the server was re-keyed on purpose, remove its entry from that file`;
      return false;
    }
    return true;
  }

  /** After a successful connection: pin a key seen for the first time, or log it. */
  commit(logger: Logger | undefined, id: string): void {
    if (this.seen === undefined || this.pinned[this.hostPort] === this.seen) return;
    if (this.file === undefined) {
      logger?.info({ event: 'archive.sftp-host-key', target: id, fingerprint: this.seen }, 'sftp host key (not pinned)');
      return;
    }
    this.pinned[this.hostPort] = this.seen;
    mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(this.pinned, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.file);
    logger?.info({ event: 'archive.sftp-host-key', target: id, fingerprint: this.seen }, 'sftp host key pinned on first use');
  }
}
