import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import {
  WAV_DATA_OFFSET,
  checkFormat,
  durationSeconds,
  needsRf64,
  placeholderHeader,
  wavFileSize,
  wavHeader,
  type WavFormat,
} from './wav-header.js';

/** Data is handed to the file system in blocks of this size (about 16 s of stereo G.711). */
export const WAV_WRITE_BLOCK = 256 * 1024;

export interface WavWriterOptions {
  /** Bytes buffered before a write; at least 64 KiB is sensible. */
  blockBytes?: number;
}

/** A finished WAV file. */
export interface WavFileInfo {
  path: string;
  format: WavFormat;
  dataBytes: number;
  fileBytes: number;
  rf64: boolean;
  durationSec: number;
}

export class WavWriterStateError extends Error {
  override name = 'WavWriterStateError';
}

/**
 * Streams one WAV file to disk (PJSIP's split: `wav-header.ts` knows the
 * bytes, this class the file). The file is written as `<path>.part` with a
 * placeholder header, data goes out in large positional writes, and
 * `close()` patches the sizes (RIFF, or RF64 past 4 GiB), fsyncs and renames
 * it to `<path>`: a crash never leaves a file that looks finished. Memory
 * use is one block whatever the file size.
 *
 * Await each `write()` before the next; chunks are copied, so the caller may
 * reuse its buffers once the promise resolves.
 */
export class WavWriter {
  private readonly block: Buffer;
  private used = 0;
  /** Data bytes accepted so far (written, buffered or skipped). */
  private data = 0;
  /** File position of the next block write. */
  private position = WAV_DATA_OFFSET;
  private state: 'open' | 'closed' | 'aborted' = 'open';
  private info: WavFileInfo | undefined;

  private constructor(
    readonly path: string,
    readonly format: WavFormat,
    private readonly file: FileHandle,
    blockBytes: number,
  ) {
    this.block = Buffer.allocUnsafe(blockBytes);
  }

  /** Creates `<path>.part` (replacing a stale one) and writes the placeholder header. */
  static async create(path: string, format: WavFormat, options: WavWriterOptions = {}): Promise<WavWriter> {
    checkFormat(format);
    const blockBytes = Math.max(4096, options.blockBytes ?? WAV_WRITE_BLOCK);
    const file = await open(`${path}.part`, 'w');
    try {
      await writeAt(file, placeholderHeader(format), 0);
    } catch (err) {
      await file.close().catch(() => {});
      throw err;
    }
    return new WavWriter(path, format, file, blockBytes);
  }

  /** Data bytes so far. */
  get dataBytes(): number {
    return this.data;
  }

  /** Appends audio data. Large chunks bypass the buffer when it is empty. */
  async write(chunk: Buffer): Promise<void> {
    this.checkOpen();
    let at = 0;
    while (at < chunk.length) {
      if (this.used === 0 && chunk.length - at >= this.block.length) {
        const n = chunk.length - at - ((chunk.length - at) % this.block.length);
        await writeAt(this.file, chunk.subarray(at, at + n), this.position);
        this.position += n;
        this.data += n;
        at += n;
        continue;
      }
      const n = Math.min(this.block.length - this.used, chunk.length - at);
      chunk.copy(this.block, this.used, at, at + n);
      this.used += n;
      this.data += n;
      at += n;
      if (this.used === this.block.length) await this.flush();
    }
  }

  /**
   * Appends `bytes` of data without writing them: the file gets a hole that
   * reads as zero bytes and takes no disk space. For tools and tests that
   * need a huge file (RF64) without writing gigabytes; recordings never call it.
   */
  async skip(bytes: number): Promise<void> {
    this.checkOpen();
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`bad skip ${bytes}`);
    await this.flush();
    this.position += bytes;
    this.data += bytes;
  }

  /**
   * Writes what is buffered, patches the header for the final size, syncs,
   * closes and renames the file into place. Idempotent: later calls return
   * the same info.
   */
  async close(): Promise<WavFileInfo> {
    if (this.info !== undefined) return this.info;
    this.checkOpen();
    try {
      await this.flush();
      const dataBytes = this.data;
      const fileBytes = wavFileSize(dataBytes);
      // RIFF chunks are word aligned: an odd data chunk is followed by one pad byte.
      if (dataBytes % 2 === 1) await writeAt(this.file, Buffer.alloc(1), this.position);
      // A trailing hole from skip() is not on disk yet; truncate extends the file sparsely.
      await this.file.truncate(fileBytes);
      await writeAt(this.file, wavHeader(this.format, dataBytes), 0);
      await this.file.sync();
      this.state = 'closed';
      await this.file.close();
      await rename(`${this.path}.part`, this.path);
      this.info = {
        path: this.path,
        format: this.format,
        dataBytes,
        fileBytes,
        rf64: needsRf64(dataBytes),
        durationSec: durationSeconds(this.format, dataBytes),
      };
      return this.info;
    } catch (err) {
      await this.abort();
      throw err;
    }
  }

  /** Closes and removes the partial file (error paths). Idempotent; never throws. */
  async abort(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    await this.file.close().catch(() => {});
    await rm(`${this.path}.part`, { force: true }).catch(() => {});
  }

  private checkOpen(): void {
    if (this.state !== 'open') throw new WavWriterStateError(`${this.path}: writer is ${this.state}`);
  }

  private async flush(): Promise<void> {
    if (this.used === 0) return;
    await writeAt(this.file, this.block.subarray(0, this.used), this.position);
    this.position += this.used;
    this.used = 0;
  }
}

async function writeAt(file: FileHandle, data: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await file.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}
