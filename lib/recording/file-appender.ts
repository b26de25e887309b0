import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { getSystemErrorName } from 'node:util';

/** Called once a job's chunks are all written, or with the first error. */
export type AppendDone = (err: NodeJS.ErrnoException | null) => void;

/**
 * Writes a job of up to two chunks to the end of their files (opened for
 * appending), the first whole before the second: a spool's payload before
 * the index records that point into it, so that after a crash every record
 * on disk has its payload. The memory must stay unchanged until `done`.
 * A caller with one job in flight at a time gets its jobs written in order.
 */
export interface FileAppender {
  readonly name: 'native' | 'fs';
  append(fd: number, data: Uint8Array, length: number, fd2: number, data2: Uint8Array | undefined, length2: number, done: AppendDone): void;
}

/** Node's fs.write on the libuv threadpool: a request and a callback per write. */
export class FsAppender implements FileAppender {
  readonly name = 'fs';

  append(fd: number, data: Uint8Array, length: number, fd2: number, data2: Uint8Array | undefined, length2: number, done: AppendDone): void {
    const chunks: [number, Uint8Array, number][] = [[fd, data, length]];
    if (fd2 >= 0 && data2 !== undefined) chunks.push([fd2, data2, length2]);
    let chunk = 0;
    let written = 0;
    const next = (): void => {
      const [f, d, end] = chunks[chunk]!;
      if (written >= end) {
        chunk++;
        written = 0;
        if (chunk === chunks.length) return done(null);
        return next();
      }
      fs.write(f, d, written, end - written, null, (err, n) => {
        if (err !== null) return done(err);
        written += n;
        next();
      });
    };
    next();
  }
}

interface FileAppenderAddon {
  init(callback: (finished: number[]) => void): void;
  append(id: number, fd: number, data: Uint8Array, length: number, fd2: number, data2: Uint8Array | undefined, length2: number): void;
}

/**
 * The native module's writer thread (native/file_appender.c): jobs gather
 * and are written in rounds, and the event loop hears of them once per
 * round, instead of a threadpool request and a callback per write.
 */
export class NativeAppender implements FileAppender {
  readonly name = 'native';
  private nextId = 1;
  /** Jobs in flight, with what keeps their memory referenced until written. */
  private readonly jobs = new Map<number, { done: AppendDone; data: Uint8Array; data2: Uint8Array | undefined }>();

  constructor(private readonly addon: FileAppenderAddon) {
    addon.init((finished) => this.finished(finished));
  }

  append(fd: number, data: Uint8Array, length: number, fd2: number, data2: Uint8Array | undefined, length2: number, done: AppendDone): void {
    const id = this.nextId;
    this.nextId = this.nextId === 0x7fffffff ? 1 : this.nextId + 1;
    this.jobs.set(id, { done, data, data2 });
    try {
      this.addon.append(id, fd, data, length, fd2 >= 0 && data2 !== undefined ? fd2 : -1, data2, length2);
    } catch (err) {
      this.jobs.delete(id);
      done(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private finished(list: number[]): void {
    for (let i = 0; i + 1 < list.length; i += 2) {
      const job = this.jobs.get(list[i]!);
      if (job === undefined) continue;
      this.jobs.delete(list[i]!);
      const errno = list[i + 1]!;
      job.done(errno === 0 ? null : errnoError(errno));
    }
  }
}

/** An error like fs's own for a failed write(2): code ENOSPC, EIO, ... */
function errnoError(errno: number): NodeJS.ErrnoException {
  let code: string;
  try {
    code = getSystemErrorName(-errno);
  } catch {
    code = `E${errno}`;
  }
  return Object.assign(new Error(`${code}: spool write failed`), { code, errno: -errno, syscall: 'write' });
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const FILE_APPENDER_ADDON_PATH = path.join(ROOT, 'build', 'Release', 'file_appender.node');

export interface FileAppenderChoice {
  appender: FileAppender;
  /** Why fs.write is used, when it is. */
  reason?: string;
}

let chosen: FileAppenderChoice | undefined;

/**
 * The native writer thread when its module loads, else fs.write; chosen once
 * per process (the module has one writer). CALLREC_SPOOL_WRITES=fs forces
 * fs.write (to compare the two, or to rule the module out when diagnosing);
 * =native makes a missing module an error instead of a fallback.
 */
export function spoolAppender(env: NodeJS.ProcessEnv = process.env, addonPath = FILE_APPENDER_ADDON_PATH): FileAppenderChoice {
  if (chosen !== undefined) return chosen;
  const wanted = env['CALLREC_SPOOL_WRITES'];
  if (wanted === 'fs') return (chosen = { appender: new FsAppender(), reason: 'CALLREC_SPOOL_WRITES=fs' });
  try {
    const require = createRequire(import.meta.url);
    chosen = { appender: new NativeAppender(require(addonPath) as FileAppenderAddon) };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (wanted === 'native') throw new Error(`CALLREC_SPOOL_WRITES=native but the native module does not load: ${message}`);
    chosen = { appender: new FsAppender(), reason: `native file appender not loaded (${message}); run make build` };
  }
  return chosen;
}
