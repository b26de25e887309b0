import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, open, rename, rm, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ArchiveError, errorText, type ArchiveFile, type ArchiveTarget } from './target.js';

/**
 * A folder on a local or mounted file system (SPEC A1 "local folder").
 *
 * Each file is copied to `.<name>.partial` in the target folder, flushed
 * with fsync, checked (size and SHA-256 of what is on disk), renamed to its
 * final name, and the folder is fsynced so the rename survives a power cut.
 * A reader of the folder therefore sees either no file or the whole file.
 */
export class LocalTarget implements ArchiveTarget {
  readonly type = 'local' as const;

  constructor(readonly id: string) {}

  async put(files: readonly ArchiveFile[], folder: string): Promise<void> {
    try {
      await mkdir(folder, { recursive: true });
    } catch (err) {
      throw new ArchiveError(this.id, `cannot create folder ${folder}: ${errorText(err)}`, { cause: err });
    }
    for (const f of files) {
      const final = path.join(folder, f.name);
      const tmp = path.join(folder, `.${f.name}.partial`);
      try {
        await copyFile(f.localPath, tmp);
        await fsyncFile(tmp);
        await this.check(tmp, f);
        await rename(tmp, final);
      } catch (err) {
        await rm(tmp, { force: true }).catch(() => {});
        if (err instanceof ArchiveError) throw err;
        throw new ArchiveError(this.id, `cannot write ${final}: ${errorText(err)}`, { cause: err });
      }
    }
    await fsyncDir(folder);
  }

  async remove(folder: string, names: readonly string[]): Promise<void> {
    for (const name of names) {
      for (const p of [path.join(folder, name), path.join(folder, `.${name}.partial`)]) {
        try {
          await unlink(p);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
          throw new ArchiveError(this.id, `cannot delete ${p}: ${errorText(err)}`, { cause: err });
        }
      }
    }
    await fsyncDir(folder).catch(() => {});
  }

  async confirm(files: readonly ArchiveFile[], folder: string): Promise<boolean> {
    for (const f of files) {
      try {
        await this.check(path.join(folder, f.name), f);
      } catch {
        return false;
      }
    }
    return true;
  }

  async close(): Promise<void> {}

  private async check(file: string, f: ArchiveFile): Promise<void> {
    const size = (await stat(file)).size;
    if (size !== f.size) {
      throw new ArchiveError(this.id, `${file}: size ${size} after writing, expected ${f.size}`);
    }
    const sha = await sha256Of(file);
    if (sha !== f.sha256) {
      throw new ArchiveError(this.id, `${file}: SHA-256 ${sha} after writing, expected ${f.sha256}`);
    }
  }
}

async function fsyncFile(file: string): Promise<void> {
  const h = await open(file, 'r+');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/** Makes a rename in `dir` durable (POSIX: the directory entry lives in the folder). */
async function fsyncDir(dir: string): Promise<void> {
  const h = await open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

export async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}
