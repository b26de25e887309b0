import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { CaptureArea } from '../media/capture-format.js';
import type { CaptureSink } from '../media/media-relay.js';
import { spoolAppender, type AppendDone, type FileAppender } from './file-appender.js';
import { OFFSET, RECORD_BYTES, writeRecord, type SpoolRecord } from './spool-format.js';

/**
 * Sees one packet of a leg as it was spooled (its payload is
 * `payload[start, end)`, valid only during the call); returns true to end
 * the spool there (see SpoolWriter.visitNew).
 */
export type RecordVisitor = (payload: Buffer, start: number, end: number, payloadType: number, arrivalMs: number) => boolean;

/**
 * Payload bytes buffered before a write: about 2 s of G.711 or G.722 for one
 * leg, twice what the 1 s flush timer lets gather, so a batch is rarely
 * written early; kept small because every recorded leg holds one (memory
 * per call, SPEC M2 benchmark).
 */
const PAYLOAD_BATCH = 16 * 1024;
/** Index records buffered before a write (2.5 s of 20 ms packets). */
const INDEX_BATCH = 128;
/** Written batches kept for reuse: one is being filled while one is written. */
const SPARE_BATCHES = 1;

/** The index records are little-endian: typed-array views write them directly on such a host. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * One batch of a leg: payload bytes and their index records. The records are
 * written through typed-array views (no per-packet call into Buffer's
 * writers, nothing allocated); the record layout is spool-format.ts's. A
 * batch is also a capture area: the engine's fast path appends to it
 * through the same cursors while it is the leg's current batch.
 */
class Batch implements CaptureArea {
  readonly payload: Buffer;
  readonly index: Buffer;
  readonly f64: Float64Array;
  readonly u32: Uint32Array;
  readonly u16: Uint16Array;
  /**
   * [payload octets used, records used], shared with the engine; over an
   * ArrayBuffer of its own, which V8 keeps off its heap (never moved).
   */
  readonly cursor = new Int32Array(new ArrayBuffer(8));
  baseOffset = 0;

  constructor(payloadBytes: number) {
    const index = new ArrayBuffer(INDEX_BATCH * RECORD_BYTES);
    this.payload = Buffer.allocUnsafeSlow(payloadBytes);
    this.index = Buffer.from(index);
    this.f64 = new Float64Array(index);
    this.u32 = new Uint32Array(index);
    this.u16 = new Uint16Array(index);
  }

  get payloadUsed(): number {
    return this.cursor[0]!;
  }

  get records(): number {
    return this.cursor[1]!;
  }

  fits(length: number): boolean {
    return this.cursor[1]! < INDEX_BATCH && this.cursor[0]! + length <= this.payload.length;
  }

  arrival(record: number): number {
    return this.index.readDoubleLE(record * RECORD_BYTES + OFFSET.arrival);
  }

  /** Where a record's payload lies in `payload`. */
  payloadAt(record: number): number {
    return this.index.readDoubleLE(record * RECORD_BYTES + OFFSET.payloadOffset) - this.baseOffset;
  }

  /** Keeps the first `records` records and their payload only (the first dropped record's payload is where it ends). */
  truncate(records: number): void {
    if (records >= this.records) return;
    this.cursor[0] = this.payloadAt(records);
    this.cursor[1] = records;
  }
}

/**
 * Appends one leg's RTP payloads and index records to its spool files in
 * batches: no disk syscall per packet (ARCHITECTURE: hot path). Payload is
 * always written before the index records that point into it, so after a
 * crash every index record on disk has its payload. Batches are written one
 * at a time, in order, by a FileAppender (the native writer thread, or
 * fs.write), and then reused: a recorded
 * leg allocates nothing per packet or per flush in the steady state, so the
 * relay thread is not held up by the garbage collector. As a capture sink,
 * it lets the engine's fast path append to the current batch directly.
 */
export class SpoolWriter implements CaptureSink {
  // Batches are allocated at open and dropped at close, so a closed spool
  // waiting for finalization holds none.
  private current: Batch | undefined;
  private readonly spares: Batch[] = [];
  /** Batches handed to the file system, oldest first; [0] is being written while `writing`. */
  private readonly queue: Batch[] = [];
  private writing = false;
  /** Bytes of payload handed to the file so far (the next record's offset base). */
  private payloadOffset = 0;
  private payloadFile: FileHandle | undefined;
  private indexFile: FileHandle | undefined;
  private closed = false;
  /** Ended at a moment (endAt): takes no more packets, while the files stay open until close. */
  private ended = false;
  /** Records of the current batch that visitNew has shown. */
  private visited = 0;
  private opening: Promise<void> | undefined;
  /** The files could not be opened: nothing can be kept. */
  private broken = false;
  private idle: (() => void)[] = [];
  private readonly onWritten: AppendDone;
  /** Records of the batches handed to the file system so far. */
  private flushedRecords = 0;
  /** Packets that came through append (the rest the engine's fast path captured). */
  private appended = 0;
  /** Packets of this payload type are marked as telephone-events and never captured by the engine (-1: none). */
  slowPayloadType = -1;
  onAreaChange: (() => void) | undefined;
  /**
   * Called before a batch is handed to the file system (each flush), so
   * that a watcher of this or another leg sees every packet while it can
   * still end the spools before it (RecordingSession.watch).
   */
  beforeFlush: (() => void) | undefined;
  /** First write error, if any; the recording is marked incomplete rather than crashing. */
  error: Error | undefined;
  private readonly record: SpoolRecord = { arrival: 0, payloadOffset: 0, timestamp: 0, ssrc: 0, seq: 0, marker: false, payloadType: 0, flags: 0, length: 0 };

  constructor(
    readonly dir: string,
    readonly leg: string,
    private readonly appender: FileAppender = spoolAppender().appender,
  ) {
    this.onWritten = (err) => this.written(err);
  }

  /** Packets appended so far (by append or by the engine). */
  get packets(): number {
    return this.flushedRecords + (this.current?.records ?? 0);
  }

  /** Of those, the packets the engine's fast path captured itself. */
  get capturedByEngine(): number {
    return this.packets - this.appended;
  }

  /** The batch the engine may append to: none once closed or broken. */
  get area(): CaptureArea | undefined {
    return this.takesPackets ? this.current : undefined;
  }

  private get takesPackets(): boolean {
    return !this.closed && !this.broken && !this.ended;
  }

  /**
   * Shows the packets spooled since the last visit (by append or by the
   * engine), in order, each once, up to the first for which `visit` returns
   * true; returns that packet's arrival, or undefined. Run before each flush
   * (beforeFlush), it sees every packet before it is written.
   */
  visitNew(visit: RecordVisitor): number | undefined {
    const b = this.current;
    if (b === undefined) return undefined;
    const records = b.records;
    for (let r = this.visited; r < records; r++) {
      const at = r * RECORD_BYTES;
      const start = b.payloadAt(r);
      const arrival = b.arrival(r);
      this.visited = r + 1;
      if (visit(b.payload, start, start + b.index.readUInt16LE(at + OFFSET.length), b.index[at + OFFSET.markerPt]! & 0x7f, arrival)) return arrival;
    }
    return undefined;
  }

  /**
   * Ends the spool at `atMs` (SPEC M5: the stop sequence was pressed then):
   * packets of the current batch that arrived later are dropped, before
   * they reach the disk, and no more are taken; close() writes the rest.
   * Earlier batches were written already, and lie before the moment when
   * every flush is preceded by a visit that ends the spools.
   */
  endAt(atMs: number): void {
    if (!this.takesPackets) return;
    this.ended = true;
    this.onAreaChange?.(); // the engine lets go of the batch before it is cut
    const b = this.current;
    if (b === undefined) return;
    let keep = 0;
    while (keep < b.records && b.arrival(keep) <= atMs) keep++;
    b.truncate(keep);
  }

  get payloadPath(): string {
    return path.join(this.dir, `${this.leg}.payload`);
  }

  get indexPath(): string {
    return path.join(this.dir, `${this.leg}.index`);
  }

  /**
   * Opens both files; packets appended meanwhile are kept and written once
   * they are open. If they cannot be opened, the error is kept and packets
   * are dropped from then on (the recording is incomplete, the call goes on).
   */
  async open(): Promise<void> {
    // The first batch now, at call set-up, not with the first packet: when many calls' media
    // starts at once, their first packets would otherwise all allocate (and collect) together.
    if (this.current === undefined && !this.closed) this.setCurrent(new Batch(PAYLOAD_BATCH));
    this.opening = (async () => {
      this.payloadFile = await open(this.payloadPath, 'a');
      this.indexFile = await open(this.indexPath, 'a');
    })();
    try {
      await this.opening;
    } catch (err) {
      this.error ??= err instanceof Error ? err : new Error(String(err));
      this.broken = true;
      this.queue.length = 0;
      this.setCurrent(undefined);
      throw err;
    }
    this.pump();
  }

  /** Copies one packet's payload and index record into the batch (RTP header already parsed by the caller). */
  append(packet: Buffer, payloadStart: number, payloadEnd: number, arrivalMs: number, flags: number): void {
    if (!this.takesPackets) return;
    const length = payloadEnd - payloadStart;
    let b = this.current;
    // Room for the whole packet: it is copied in whole and its payload moved to the front (below).
    if (b === undefined || !b.fits(packet.length)) {
      this.flush();
      if (!this.takesPackets) return; // the flush's watcher ended the spool before this packet
      b = this.current;
      if (b === undefined || !b.fits(packet.length)) {
        b = this.spares.pop() ?? new Batch(PAYLOAD_BATCH);
        if (!b.fits(packet.length)) b = new Batch(Math.max(PAYLOAD_BATCH, packet.length)); // a jumbo packet (not G.711/G.722)
        b.baseOffset = this.payloadOffset;
        this.setCurrent(b);
      }
    }
    // set() of the packet as it is, then copyWithin(): two memmoves and no allocation, where
    // Buffer#copy of a sub-range makes a new view per packet (garbage at 100 packets/s per leg).
    const at = b.payloadUsed;
    b.payload.set(packet, at);
    if (payloadStart !== 0) b.payload.copyWithin(at, at + payloadStart, at + payloadEnd);
    const r = b.records;
    const offset = b.baseOffset + at;
    if (LITTLE_ENDIAN) {
      // RFC 3550 §5.1: timestamp at octet 4, SSRC at 8, both in network order.
      const d = r * (RECORD_BYTES / 8);
      const w = r * (RECORD_BYTES / 4);
      const h = r * (RECORD_BYTES / 2);
      b.f64[d + OFFSET.arrival / 8] = arrivalMs;
      b.f64[d + OFFSET.payloadOffset / 8] = offset;
      b.u32[w + OFFSET.timestamp / 4] = ((packet[4]! << 24) | (packet[5]! << 16) | (packet[6]! << 8) | packet[7]!) >>> 0;
      b.u32[w + OFFSET.ssrc / 4] = ((packet[8]! << 24) | (packet[9]! << 16) | (packet[10]! << 8) | packet[11]!) >>> 0;
      b.u16[h + OFFSET.seq / 2] = (packet[2]! << 8) | packet[3]!;
      b.u16[h + OFFSET.markerPt / 2] = packet[1]! | ((flags & 0xff) << 8); // marker and PT as on the wire, then flags
      b.u16[h + OFFSET.length / 2] = length;
      b.u16[h + OFFSET.length / 2 + 1] = 0;
    } else {
      const rec = this.record;
      rec.arrival = arrivalMs;
      rec.payloadOffset = offset;
      rec.timestamp = packet.readUInt32BE(4);
      rec.ssrc = packet.readUInt32BE(8);
      rec.seq = (packet[2]! << 8) | packet[3]!;
      rec.marker = (packet[1]! & 0x80) !== 0;
      rec.payloadType = packet[1]! & 0x7f;
      rec.flags = flags;
      rec.length = length;
      writeRecord(b.index, r * RECORD_BYTES, rec);
    }
    b.cursor[0] = at + length;
    b.cursor[1] = r + 1;
    this.appended++;
  }

  /**
   * Hands the current batch to the file system (asynchronously, in order)
   * and a spare one, if there is one, to the engine; otherwise the batch
   * goes back to the engine as soon as it is written (about a millisecond,
   * while the next packet is 20 ms away): a leg then lives on one batch, and
   * the engine's fast path rarely has to send a packet to JavaScript just
   * because a batch was written out.
   */
  flush(): void {
    this.beforeFlush?.();
    const b = this.current;
    if (b === undefined || b.records === 0) return;
    // The engine lets go of the batch before its cursors are read: it may append until then.
    this.setCurrent(undefined);
    this.payloadOffset += b.payloadUsed;
    this.flushedRecords += b.records;
    this.queue.push(b);
    this.pump();
    const next = this.takesPackets ? this.spares.pop() : undefined;
    if (next === undefined) return;
    next.baseOffset = this.payloadOffset;
    this.setCurrent(next);
  }

  private setCurrent(b: Batch | undefined): void {
    this.current = b;
    this.visited = 0;
    this.onAreaChange?.();
  }

  /** Flushes, syncs to disk and closes; idempotent. */
  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.flush();
      this.onAreaChange?.();
    }
    await this.opening?.catch(() => {});
    await this.drained();
    this.spares.length = 0;
    const files = [this.payloadFile, this.indexFile];
    this.payloadFile = this.indexFile = undefined;
    for (const f of files) {
      if (f === undefined) continue;
      try {
        await f.sync();
      } catch (err) {
        this.error ??= err instanceof Error ? err : new Error(String(err));
      }
      await f.close().catch(() => {});
    }
  }

  /** Resolves when every batch handed over so far is written (or failed), or at once when the files never opened. */
  private drained(): Promise<void> {
    if (this.queue.length === 0 || this.payloadFile === undefined) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /** Starts writing the oldest batch, unless one is being written or the files are not open yet. */
  private pump(): void {
    if (this.writing || this.queue.length === 0 || this.payloadFile === undefined || this.indexFile === undefined) return;
    this.writing = true;
    const b = this.queue[0]!;
    this.appender.append(this.payloadFile.fd, b.payload, b.payloadUsed, this.indexFile.fd, b.index, b.records * RECORD_BYTES, this.onWritten);
  }

  private written(err: NodeJS.ErrnoException | null): void {
    const b = this.queue[0]!;
    // Disk full, I/O error: the recording is marked incomplete; later batches are still tried.
    if (err !== null) this.error ??= err;
    this.queue.shift();
    this.writing = false;
    if (this.takesPackets && b.payload.length === PAYLOAD_BATCH) {
      b.cursor[0] = 0;
      b.cursor[1] = 0;
      if (this.current === undefined) {
        b.baseOffset = this.payloadOffset; // nothing was appended since the flush
        this.setCurrent(b);
      } else if (this.spares.length < SPARE_BATCHES) {
        this.spares.push(b);
      }
    }
    if (this.queue.length > 0) return this.pump();
    const idle = this.idle;
    this.idle = [];
    for (const resolve of idle) resolve();
  }
}
