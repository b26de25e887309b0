import { endianness } from 'node:os';

/** Interleaved output block size in bytes. */
const OUT_BYTES = 256 * 1024;
const LITTLE_ENDIAN = endianness() === 'LE';

/**
 * Interleaves two byte streams of one-byte samples into a two-channel
 * stream, byte by byte: left (channel 0) sample i, right (channel 1) sample
 * i, ... Never mixes. Sans-I/O: chunks in on each side, whole output blocks
 * out as far as both sides have data. Input chunks are kept (not copied)
 * until consumed, so they must not change meanwhile.
 */
export class StereoInterleaver {
  private readonly left = new ChunkQueue();
  private readonly right = new ChunkQueue();
  private out = Buffer.allocUnsafe(OUT_BYTES);
  private outUsed = 0;

  pushLeft(chunk: Buffer): void {
    this.left.push(chunk);
  }

  pushRight(chunk: Buffer): void {
    this.right.push(chunk);
  }

  /** Bytes waiting on each side. */
  get pendingLeft(): number {
    return this.left.bytes;
  }

  get pendingRight(): number {
    return this.right.bytes;
  }

  /** A full output block, or with `flush` whatever is ready; undefined when nothing is. */
  read(flush = false): Buffer | undefined {
    const L = this.left;
    const R = this.right;
    while (this.outUsed < this.out.length && L.bytes > 0 && R.bytes > 0) {
      const lc = L.head();
      const rc = R.head();
      const n = Math.min(lc.length - L.at, rc.length - R.at, (this.out.length - this.outUsed) >> 1);
      interleave(this.out, this.outUsed, lc, L.at, rc, R.at, n);
      this.outUsed += 2 * n;
      L.consume(n);
      R.consume(n);
    }
    if (this.outUsed === this.out.length || (flush && this.outUsed > 0)) {
      const block = this.outUsed === this.out.length ? this.out : this.out.subarray(0, this.outUsed);
      this.out = Buffer.allocUnsafe(OUT_BYTES);
      this.outUsed = 0;
      return block;
    }
    return undefined;
  }
}

function interleave(out: Buffer, o: number, l: Buffer, li: number, r: Buffer, ri: number, n: number): void {
  if (LITTLE_ENDIAN && (out.byteOffset + o) % 2 === 0) {
    // One 16-bit store per sample pair: low byte = left, high byte = right.
    const w = new Uint16Array(out.buffer, out.byteOffset + o, n);
    for (let i = 0; i < n; i++) w[i] = l[li + i]! | (r[ri + i]! << 8);
    return;
  }
  for (let i = 0; i < n; i++) {
    out[o + 2 * i] = l[li + i]!;
    out[o + 2 * i + 1] = r[ri + i]!;
  }
}

class ChunkQueue {
  private readonly chunks: Buffer[] = [];
  private first = 0;
  at = 0;
  bytes = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.bytes += chunk.length;
  }

  head(): Buffer {
    return this.chunks[this.first]!;
  }

  consume(n: number): void {
    this.at += n;
    this.bytes -= n;
    if (this.at === this.chunks[this.first]!.length) {
      this.first++;
      this.at = 0;
      if (this.first === this.chunks.length) {
        this.chunks.length = 0;
        this.first = 0;
      } else if (this.first > 1024) {
        this.chunks.splice(0, this.first);
        this.first = 0;
      }
    }
  }
}
