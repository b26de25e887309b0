import { randomBytes } from 'node:crypto';
import { link, open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';

export interface AtomicWriteOptions {
  /** File mode of the result, set with fchmod so the umask cannot change it (default 0o644). */
  mode?: number;
  /**
   * Never replace an existing file: the temp file is hard-linked to the final
   * name (fails with EEXIST when the name is taken), then removed. For files
   * whose loss is unrecoverable, such as the keystore.
   */
  exclusive?: boolean;
  /** fsync the folder after the rename, so the new name survives a power cut (default true). */
  syncDir?: boolean;
}

/** Codes that say the file system cannot hard-link; `exclusive` then falls back to check + rename. */
const NO_LINK = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV', 'EMLINK']);

/**
 * Writes `data` to `file` so that a crash leaves either the old file, or the
 * complete new one: write to `<file>.tmp-<random>` in the same folder, fsync,
 * rename (or link, for `exclusive`), fsync the folder. Temp names end in
 * `.tmp-<hex>`, never in a suffix the verifier looks for.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<void> {
  const mode = options.mode ?? 0o644;
  const temp = `${file}.tmp-${randomBytes(6).toString('hex')}`;
  const handle = await open(temp, 'wx', mode);
  let placed = false;
  try {
    try {
      await handle.chmod(mode);
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (options.exclusive === true) await placeExclusive(temp, file);
    else await rename(temp, file);
    placed = true;
  } finally {
    if (!placed || options.exclusive === true) await unlink(temp).catch(() => undefined);
  }
  if (options.syncDir ?? true) await syncDirectory(path.dirname(file));
}

async function placeExclusive(temp: string, file: string): Promise<void> {
  try {
    await link(temp, file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (!NO_LINK.has(code)) throw err;
    // No hard links here (some network file systems): check, then rename. Not
    // race-free against another process, but never replaces a file seen to exist.
    const exists = await open(file, 'r').then(async (h) => { await h.close(); return true; }, () => false);
    if (exists) throw Object.assign(new Error(`EEXIST: file already exists, '${file}'`), { code: 'EEXIST' });
    await rename(temp, file);
  }
}

/** fsync of a folder, so renames and new names in it are durable; ignored where unsupported. */
export async function syncDirectory(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // some platforms or file systems cannot fsync a folder; the data itself is synced
  } finally {
    await handle?.close();
  }
}
