import { open, type FileHandle } from 'node:fs/promises';
import { OFFSET, RECORD_BYTES, type SpoolRecord } from './spool-format.js';

/** Records read per index read (64 KiB). */
const INDEX_BATCH = 2048;
/** Payload bytes read at a time. */
const PAYLOAD_BLOCK = 1024 * 1024;

export interface LegSpoolPaths {
  index: string;
  payload: string;
}

/**
 * Streams one leg's spool back in arrival order without loading it: the
 * index in 64 KiB batches, the payload through a 1 MiB block that follows
 * the (increasing) payload offsets. A torn last index record is ignored, as
 * is a record whose payload is not (fully) on disk. Missing files read as an
 * empty leg.
 *
 *   const r = await SpoolReader.open(paths);
 *   while (r.nextBuffered() || (await r.next())) use(r.record, r.payload, r.payloadAt);
 *   await r.close();
 *
 * `record`, `payload` and `payloadAt` describe the current record and are
 * overwritten by the next call (no object per record).
 */
export class SpoolReader {
  readonly record: SpoolRecord = { arrival: 0, payloadOffset: 0, timestamp: 0, ssrc: 0, seq: 0, marker: false, payloadType: 0, flags: 0, length: 0 };
  payload: Buffer;
  payloadAt = 0;
  /** Records skipped because their payload lies outside the payload file. */
  missingPayload = 0;

  private readonly index = Buffer.allocUnsafe(INDEX_BATCH * RECORD_BYTES);
  private indexFill = 0;
  private indexAt = 0;
  private indexPos = 0;
  private blockStart = 0;
  private blockEnd = 0;

  private constructor(
    private readonly indexFile: FileHandle | undefined,
    private readonly payloadFile: FileHandle | undefined,
    /** Whole records in the index. */
    readonly records: number,
    readonly payloadBytes: number,
  ) {
    this.payload = Buffer.allocUnsafe(payloadFile === undefined ? 0 : PAYLOAD_BLOCK);
  }

  static async open(paths: LegSpoolPaths | undefined): Promise<SpoolReader> {
    if (paths === undefined) return new SpoolReader(undefined, undefined, 0, 0);
    const indexFile = await openIfExists(paths.index);
    const payloadFile = await openIfExists(paths.payload);
    if (indexFile === undefined || payloadFile === undefined) {
      await indexFile?.close();
      await payloadFile?.close();
      return new SpoolReader(undefined, undefined, 0, 0);
    }
    const records = Math.floor((await indexFile.stat()).size / RECORD_BYTES);
    const payloadBytes = (await payloadFile.stat()).size;
    return new SpoolReader(indexFile, payloadFile, records, payloadBytes);
  }

  /** Arrival time of the record `next()` would return, or undefined at the end. */
  async peekArrival(): Promise<number | undefined> {
    if (!(await this.fillIndex())) return undefined;
    return this.index.readDoubleLE(this.indexAt + OFFSET.arrival);
  }

  /**
   * Advances to the next record when that needs no I/O (index batch and
   * payload block already in memory); false when `next()` must be awaited.
   * Lets the caller run a tight synchronous loop over most records.
   */
  nextBuffered(): boolean {
    if (this.indexAt >= this.indexFill) return false;
    const at = this.indexAt;
    const offset = this.index.readDoubleLE(at + OFFSET.payloadOffset);
    const length = this.index.readUInt16LE(at + OFFSET.length);
    // Written so that NaN (a corrupt offset) fails too and goes the checked way.
    if (!(offset >= this.blockStart && offset + length <= this.blockEnd)) return false;
    this.decode(at);
    this.indexAt += RECORD_BYTES;
    this.payloadAt = offset - this.blockStart;
    return true;
  }

  /** Advances to the next record with its payload; false at the end. */
  async next(): Promise<boolean> {
    for (;;) {
      if (!(await this.fillIndex())) return false;
      const at = this.indexAt;
      this.indexAt += RECORD_BYTES;
      this.decode(at);
      if (await this.loadPayload(this.record.payloadOffset, this.record.length)) return true;
      this.missingPayload++;
    }
  }

  async close(): Promise<void> {
    await this.indexFile?.close().catch(() => {});
    await this.payloadFile?.close().catch(() => {});
  }

  private decode(at: number): void {
    const b = this.index;
    const r = this.record;
    const mpt = b[at + OFFSET.markerPt]!;
    r.arrival = b.readDoubleLE(at + OFFSET.arrival);
    r.payloadOffset = b.readDoubleLE(at + OFFSET.payloadOffset);
    r.timestamp = b.readUInt32LE(at + OFFSET.timestamp);
    r.ssrc = b.readUInt32LE(at + OFFSET.ssrc);
    r.seq = b.readUInt16LE(at + OFFSET.seq);
    r.marker = (mpt & 0x80) !== 0;
    r.payloadType = mpt & 0x7f;
    r.flags = b[at + OFFSET.flags]!;
    r.length = b.readUInt16LE(at + OFFSET.length);
  }

  private async fillIndex(): Promise<boolean> {
    if (this.indexAt < this.indexFill) return true;
    if (this.indexFile === undefined || this.indexPos >= this.records) return false;
    const n = Math.min(INDEX_BATCH, this.records - this.indexPos);
    await readFully(this.indexFile, this.index, n * RECORD_BYTES, this.indexPos * RECORD_BYTES);
    this.indexPos += n;
    this.indexFill = n * RECORD_BYTES;
    this.indexAt = 0;
    return true;
  }

  private async loadPayload(offset: number, length: number): Promise<boolean> {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > this.payloadBytes) return false;
    if (offset < this.blockStart || offset + length > this.blockEnd) {
      if (this.payloadFile === undefined) return false;
      const n = Math.min(this.payload.length, this.payloadBytes - offset);
      await readFully(this.payloadFile, this.payload, n, offset);
      this.blockStart = offset;
      this.blockEnd = offset + n;
    }
    this.payloadAt = offset - this.blockStart;
    return true;
  }
}

async function openIfExists(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function readFully(file: FileHandle, into: Buffer, length: number, position: number): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await file.read(into, done, length - done, position + done);
    if (bytesRead === 0) throw new Error(`unexpected end of file at ${position + done}`);
    done += bytesRead;
  }
}
