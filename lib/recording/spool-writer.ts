import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { RECORD_BYTES, writeRecord, type SpoolRecord } from './spool-format.js';

/**
 * Payload bytes buffered before a write: about 2 s of G.711 or G.722 for one
 * leg, twice what the 1 s flush timer lets gather, so a batch is rarely
 * written early; kept small because every recorded leg holds one (memory
 * per call, SPEC M2 benchmark).
 */
const PAYLOAD_BATCH = 16 * 1024;
/** Index records buffered before a write (2.5 s of 20 ms packets). */
const INDEX_BATCH = 128;
const EMPTY: Buffer = Buffer.alloc(0);

/**
 * Appends one leg's RTP payloads and index records to its spool files in
 * batches: no disk syscall per packet (ARCHITECTURE: hot path). Payload is
 * always written before the index records that point into it, so after a
 * crash every index record on disk has its payload.
 */
export class SpoolWriter {
  // Batches are allocated at the first packet and dropped at close, so a call
  // without media, or a closed spool waiting for finalization, holds none.
  private payload: Buffer = EMPTY;
  private payloadUsed = 0;
  private index: Buffer = EMPTY;
  private indexUsed = 0;
  /** Bytes of payload handed to the file so far (the next record's offset base). */
  private payloadOffset = 0;
  private chain: Promise<void> = Promise.resolve();
  private payloadFile: FileHandle | undefined;
  private indexFile: FileHandle | undefined;
  private closed = false;
  packets = 0;
  /** First write error, if any; the recording is marked incomplete rather than crashing. */
  error: Error | undefined;
  private readonly record: SpoolRecord = { arrival: 0, payloadOffset: 0, timestamp: 0, ssrc: 0, seq: 0, marker: false, payloadType: 0, flags: 0, length: 0 };

  constructor(readonly dir: string, readonly leg: string) {}

  get payloadPath(): string {
    return path.join(this.dir, `${this.leg}.payload`);
  }

  get indexPath(): string {
    return path.join(this.dir, `${this.leg}.index`);
  }

  /** Opens both files; packets appended meanwhile are kept and written once they are open. */
  async open(): Promise<void> {
    this.chain = this.chain.then(async () => {
      this.payloadFile = await open(this.payloadPath, 'a');
      this.indexFile = await open(this.indexPath, 'a');
    });
    await this.chain;
  }

  /** Copies one packet's payload and index record into the batch (RTP header already parsed by the caller). */
  append(packet: Buffer, payloadStart: number, payloadEnd: number, arrivalMs: number, flags: number): void {
    if (this.closed) return;
    const length = payloadEnd - payloadStart;
    if (this.payloadUsed + length > this.payload.length || this.indexUsed + RECORD_BYTES > this.index.length) {
      this.flush();
      if (this.payload.length === 0) this.allocate();
    }
    packet.copy(this.payload, this.payloadUsed, payloadStart, payloadEnd);
    const r = this.record;
    r.arrival = arrivalMs;
    r.payloadOffset = this.payloadOffset + this.payloadUsed;
    r.timestamp = packet.readUInt32BE(4);
    r.ssrc = packet.readUInt32BE(8);
    r.seq = (packet[2]! << 8) | packet[3]!;
    r.marker = (packet[1]! & 0x80) !== 0;
    r.payloadType = packet[1]! & 0x7f;
    r.flags = flags;
    r.length = length;
    writeRecord(this.index, this.indexUsed, r);
    this.payloadUsed += length;
    this.indexUsed += RECORD_BYTES;
    this.packets++;
  }

  /** A written batch's buffers, reused for the next one (no allocation per flush). */
  private spare: { payload: Buffer; index: Buffer } | undefined;

  private allocate(): void {
    const spare = this.spare;
    this.spare = undefined;
    this.payload = spare?.payload ?? Buffer.allocUnsafe(PAYLOAD_BATCH);
    this.index = spare?.index ?? Buffer.allocUnsafe(INDEX_BATCH * RECORD_BYTES);
  }

  /** Hands the current batch to the file system (asynchronously, in order). */
  flush(): void {
    if (this.indexUsed === 0) return;
    const fullPayload = this.payload;
    const fullIndex = this.index;
    const payload = fullPayload.subarray(0, this.payloadUsed);
    const index = fullIndex.subarray(0, this.indexUsed);
    this.payloadOffset += this.payloadUsed;
    this.payload = EMPTY;
    this.index = EMPTY;
    this.payloadUsed = 0;
    this.indexUsed = 0;
    this.chain = this.chain
      .then(async () => {
        if (this.payloadFile === undefined || this.indexFile === undefined) throw new Error(`spool ${this.leg} is not open`);
        await writeFully(this.payloadFile, payload);
        await writeFully(this.indexFile, index);
        if (!this.closed) this.spare = { payload: fullPayload, index: fullIndex };
      })
      .catch((err: unknown) => {
        this.error ??= err instanceof Error ? err : new Error(String(err));
      });
  }

  /** Flushes, syncs to disk and closes; idempotent. */
  async close(): Promise<void> {
    if (this.closed) {
      await this.chain;
      return;
    }
    this.flush();
    this.closed = true;
    await this.chain;
    this.spare = undefined;
    for (const f of [this.payloadFile, this.indexFile]) {
      if (f === undefined) continue;
      try {
        await f.sync();
      } catch (err) {
        this.error ??= err instanceof Error ? err : new Error(String(err));
      }
      await f.close().catch(() => {});
    }
  }
}

async function writeFully(file: FileHandle, data: Buffer): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await file.write(data, done, data.length - done);
    done += bytesWritten;
  }
}
