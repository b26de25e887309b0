import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { SmbTargetConfig } from '../config/index.js';
import { ArchiveError, errorText, trimSlashes, type ArchiveFile, type ArchiveTarget, type TargetDeps } from './target.js';

/**
 * An SMB2/3 share (SPEC A1 "SMB/CIFS share") through Samba's `smbclient`.
 *
 * Why the CLI and not an npm SMB library: the npm SMB2 clients
 * (@marsaud/smb2, v9u-smb2) only work against Samba with NTLMv1 allowed,
 * OpenSSL's legacy provider (MD4/DES) switched on in Node, and async I/O
 * switched off on the server (they break on STATUS_PENDING interim
 * replies); both look unmaintained. Real NAS boxes and Windows servers
 * refuse NTLMv1 and do send STATUS_PENDING. `smbclient` (Debian package
 * smbclient) speaks SMB3 with NTLMv2/Kerberos against default server
 * settings and is maintained with Samba itself
 * (../shared/research/tech-facts-tools.md §4).
 *
 * Credentials go into a mode-0600 authentication file passed with `-A`,
 * never on the command line (where `ps` would show them).
 *
 * smbclient's `-c` script has two traps the code works around:
 * - it keeps going after a failed command and usually exits 0, so success
 *   is decided by parsing the output for `NT_STATUS_*`;
 * - a failed `cd` leaves the current folder unchanged, so a later `put`
 *   would land in the wrong place: every command uses a full path instead.
 * Commands are split at ';' even inside quotes, so names holding `;` or `"`
 * are refused (recording names never do; folder templates are checked).
 */
export class SmbTarget implements ArchiveTarget {
  readonly type = 'smb' as const;
  private authDir: string | undefined;
  private authFile: Promise<string> | undefined;

  constructor(
    readonly id: string,
    private readonly config: SmbTargetConfig,
    private readonly deps: TargetDeps = {},
  ) {}

  async put(files: readonly ArchiveFile[], folder: string): Promise<void> {
    const dir = this.remoteFolder(folder);
    // mkdir -p: one mkdir per level; "already exists" is expected.
    const levels = dir.split('/').filter((s) => s !== '');
    if (levels.length > 0) {
      const script = levels.map((_, i) => `mkdir ${quote(levels.slice(0, i + 1).join('/'))}`).join('; ');
      await this.run(script, undefined, ['NT_STATUS_OBJECT_NAME_COLLISION'], 'create folder');
    }
    // One session per local folder (smbclient's local paths are relative to its working directory).
    const byDir = new Map<string, ArchiveFile[]>();
    for (const f of files) {
      this.checkName(f.name);
      const d = path.dirname(f.localPath);
      byDir.set(d, [...(byDir.get(d) ?? []), f]);
    }
    for (const [localDir, group] of byDir) {
      const cmds: string[] = [];
      for (const f of group) {
        const local = path.basename(f.localPath);
        this.checkName(local);
        const tmp = joinRemote(dir, `.${f.name}.partial`);
        const final = joinRemote(dir, f.name);
        // rename -f replaces an existing file (a retry after a partial delivery).
        cmds.push(`put ${quote(local)} ${quote(tmp)}`, `rename ${quote(tmp)} ${quote(final)} -f`);
      }
      // List only this recording's files (they share the base name), not a whole day's folder.
      cmds.push(`ls ${quote(joinRemote(dir, `${commonPrefix(group.map((f) => f.name))}*`))}`);
      const out = await this.run(cmds.join('; '), localDir, [], 'upload');
      const sizes = parseListing(out);
      for (const f of group) {
        const size = sizes.get(f.name);
        if (size === undefined) throw new ArchiveError(this.id, `${joinRemote(dir, f.name)} is missing after upload`);
        if (size !== f.size) {
          throw new ArchiveError(this.id, `${joinRemote(dir, f.name)}: size ${size} after upload, expected ${f.size}`);
        }
      }
    }
  }

  async remove(folder: string, names: readonly string[]): Promise<void> {
    const dir = this.remoteFolder(folder);
    if (names.length === 0) return;
    const cmds = names.map((n) => {
      this.checkName(n);
      return `del ${quote(joinRemote(dir, n))}`;
    });
    await this.run(cmds.join('; '), undefined, GONE, 'delete');
  }

  async close(): Promise<void> {
    const dir = this.authDir;
    this.authDir = undefined;
    this.authFile = undefined;
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  }

  private remoteFolder(folder: string): string {
    const dir = trimSlashes(folder.replace(/\\/g, '/'));
    if (/[;"\r\n*?<>|:]/.test(dir)) {
      throw new ArchiveError(this.id, `folder ${JSON.stringify(folder)} has a character SMB or smbclient cannot take (; " * ? < > | :)`);
    }
    return dir;
  }

  private checkName(name: string): void {
    if (/[;"\r\n*?<>|:/\\]/.test(name)) {
      throw new ArchiveError(this.id, `file name ${JSON.stringify(name)} has a character SMB or smbclient cannot take`);
    }
  }

  /** The `-A` authentication file: created once per target, mode 0600, in a private temp folder. */
  private credentials(): Promise<string> {
    this.authFile ??= (async () => {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'callrec-smb-'));
      this.authDir = dir;
      const file = path.join(dir, 'auth');
      const c = this.config;
      const lines = [`username = ${c.username}`, `password = ${c.password}`];
      if (c.domain !== undefined) lines.push(`domain = ${c.domain}`);
      await writeFile(file, `${lines.join('\n')}\n`, { mode: 0o600 });
      return file;
    })();
    return this.authFile;
  }

  /**
   * Runs one smbclient script; resolves with its output. Any NT_STATUS code
   * not in `tolerated` (and any non-zero exit) is an ArchiveError naming it.
   */
  private async run(script: string, cwd: string | undefined, tolerated: readonly string[], what: string): Promise<string> {
    const c = this.config;
    const auth = await this.credentials();
    const args = [`//${c.host}/${c.share}`, '-p', String(c.port), '-A', auth, '-m', 'SMB3', '-t', '60', '-c', script];
    const where = `//${c.host}:${c.port}/${c.share}`;
    let code: number;
    let output: string;
    try {
      ({ code, output } = await runProcess(this.deps.smbclientPath ?? 'smbclient', args, cwd, 30 * 60_000));
    } catch (err) {
      throw new ArchiveError(this.id, `${where}: ${what} failed: ${errorText(err)}`, { cause: err });
    }
    const statuses = [...output.matchAll(/NT_STATUS_[A-Z0-9_]+/g)].map((m) => m[0]);
    const bad = statuses.filter((s) => !tolerated.includes(s));
    if (bad.length > 0) {
      const line = output.split('\n').find((l) => l.includes(bad[0]!))?.trim() ?? bad[0]!;
      throw new ArchiveError(this.id, `${where}: ${what} failed: ${explainStatus(bad[0]!)} (${line})`);
    }
    // smbclient's exit code reflects its last command: a tolerated status ("already exists",
    // "already gone") there makes it non-zero although nothing went wrong.
    if (code !== 0 && statuses.length === 0) {
      const text = output.trim().split('\n').slice(-3).join(' / ');
      throw new ArchiveError(this.id, `${where}: ${what} failed: smbclient exited with ${code}${text !== '' ? `: ${text}` : ''}`);
    }
    return output;
  }
}

/** Statuses that mean "already gone" when deleting. */
const GONE = ['NT_STATUS_NO_SUCH_FILE', 'NT_STATUS_OBJECT_NAME_NOT_FOUND', 'NT_STATUS_OBJECT_PATH_NOT_FOUND'];

const STATUS_TEXT: Record<string, string> = {
  NT_STATUS_LOGON_FAILURE: 'logon failure: wrong user name, password or domain',
  NT_STATUS_ACCOUNT_DISABLED: 'the account is disabled',
  NT_STATUS_ACCOUNT_LOCKED_OUT: 'the account is locked out',
  NT_STATUS_PASSWORD_EXPIRED: 'the password has expired',
  NT_STATUS_BAD_NETWORK_NAME: 'no such share on the server',
  NT_STATUS_ACCESS_DENIED: 'access denied (check the share and folder permissions)',
  NT_STATUS_CONNECTION_REFUSED: 'connection refused (server down or wrong port)',
  NT_STATUS_HOST_UNREACHABLE: 'host unreachable',
  NT_STATUS_NETWORK_UNREACHABLE: 'network unreachable',
  NT_STATUS_IO_TIMEOUT: 'timed out',
  NT_STATUS_CONNECTION_RESET: 'connection reset by the server',
  NT_STATUS_CONNECTION_DISCONNECTED: 'the server closed the connection',
  NT_STATUS_DISK_FULL: 'the share is full',
  NT_STATUS_OBJECT_PATH_NOT_FOUND: 'folder not found',
  NT_STATUS_OBJECT_NAME_NOT_FOUND: 'file not found',
  NT_STATUS_OBJECT_NAME_COLLISION: 'a file or folder of that name exists',
  NT_STATUS_NOT_A_DIRECTORY: 'a path component is a file, not a folder',
  NT_STATUS_SHARING_VIOLATION: 'the file is in use by another client',
  NT_STATUS_INVALID_PARAMETER: 'invalid parameter',
  NT_STATUS_NOT_SUPPORTED: 'not supported by the server (SMB3 required)',
};

export function explainStatus(status: string): string {
  return `${STATUS_TEXT[status] ?? 'server error'} [${status}]`;
}

/** `ls` output: `  <name>   <attrs>   <size>  <Www Mmm dd hh:mm:ss yyyy>`; names may hold spaces. */
export function parseListing(output: string): Map<string, number> {
  const sizes = new Map<string, number>();
  const re = /^ {2}(.+?)\s+([A-Z]*)\s+(\d+)\s+\w{3} \w{3}\s+\d+ \d\d:\d\d:\d\d \d{4}\s*$/;
  for (const line of output.split('\n')) {
    const m = re.exec(line);
    if (m === null || m[1] === '.' || m[1] === '..' || m[2]!.includes('D')) continue;
    sizes.set(m[1]!, Number(m[3]));
  }
  return sizes;
}

function commonPrefix(names: readonly string[]): string {
  let p = names[0] ?? '';
  for (const n of names) while (!n.startsWith(p)) p = p.slice(0, -1);
  return p;
}

function quote(s: string): string {
  return `"${s}"`;
}

function joinRemote(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

function runProcess(cmd: string, args: string[], cwd: string | undefined, timeoutMs: number): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => chunks.push(b));
    child.stderr.on('data', (b: Buffer) => chunks.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      const e = err as NodeJS.ErrnoException;
      reject(new Error(e.code === 'ENOENT' ? `${cmd} not found: install the Debian package smbclient` : e.message, { cause: err }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal !== null ? 128 : 1), output: Buffer.concat(chunks).toString('utf8') });
    });
  });
}
