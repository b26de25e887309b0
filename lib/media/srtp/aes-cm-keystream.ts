/**
 * AES in Counter Mode as SRTP uses it (RFC 3711 §4.1.1), with one reusable
 * cipher object per session key.
 *
 * Node's 'aes-128-ctr' takes the IV at creation only, so the obvious path
 * creates a cipher object per packet. Instead we keep one AES-ECB cipher
 * (no padding, never finalised) and encrypt the packet's counter blocks
 * ourselves; ECB over whole blocks buffers nothing, so the object serves any
 * number of packets. The keystream buffer that `update` returns is the only
 * per-packet allocation (Node allocates it; there is no update-into). The
 * counter blocks live in one buffer that grows on demand.
 * bench/srtp/run.mjs measures both paths.
 *
 *   counter block j = IV + j,  IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16)
 *
 * The low 16 bits of an SRTP IV are zero ("* 2^16"), and a keystream segment
 * is at most 2^16 blocks (§4.1.1), so j only ever touches those 16 bits.
 */
import { createCipheriv, type Cipher } from 'node:crypto';

/** §4.1.1: "the keystream ... is at most 2^16 blocks" per packet. */
export const MAX_KEYSTREAM_OCTETS = 65536 * 16;

export class AesCmKeystream {
  private readonly ecb: Cipher;
  private counters: Buffer;
  private view: DataView;
  /** counters.subarray(0, 16 * n) for n below 128 (2 KiB), made once: no view object per packet. */
  private blocks: (Buffer | undefined)[] = new Array<Buffer | undefined>(128);

  constructor(key: Buffer) {
    this.ecb = createCipheriv(`aes-${key.length * 8}-ecb`, key, null);
    this.ecb.setAutoPadding(false);
    this.counters = Buffer.alloc(2048);
    this.view = new DataView(this.counters.buffer, this.counters.byteOffset, this.counters.length);
  }

  /**
   * dst[dstStart..] = src[srcStart..srcEnd) XOR keystream(IV), the IV given as
   * four big-endian 32-bit words (iv3's low 16 bits must be zero). src and
   * dst may be the same buffer at the same offset (in-place).
   */
  xor(iv0: number, iv1: number, iv2: number, iv3: number,
    src: Uint8Array, srcStart: number, srcEnd: number, dst: Uint8Array, dstStart: number): void {
    const n = srcEnd - srcStart;
    if (n <= 0) return;
    if (n > MAX_KEYSTREAM_OCTETS) throw new RangeError(`keystream of ${n} octets exceeds 2^16 blocks`);
    const ks = this.generate(iv0, iv1, iv2, iv3, n);
    for (let k = 0; k < n; k++) dst[dstStart + k] = src[srcStart + k]! ^ ks[k]!;
  }

  /**
   * The keystream of `octets` (rounded up to whole blocks): AES of the counter
   * blocks iv0 || iv1 || iv2 || (iv3 + j mod 2^32), j = 0, 1, ... For SRTP the
   * low 16 bits of iv3 are zero; GCM (NIST SP 800-38D inc32) starts iv3 at 1.
   */
  generate(iv0: number, iv1: number, iv2: number, iv3: number, octets: number): Buffer {
    const bytes = (octets + 15) & ~15;
    if (bytes > this.counters.length) this.grow(bytes);
    const v = this.view;
    for (let off = 0, j = 0; off < bytes; off += 16, j++) {
      v.setUint32(off, iv0);
      v.setUint32(off + 4, iv1);
      v.setUint32(off + 8, iv2);
      v.setUint32(off + 12, (iv3 + j) >>> 0);
    }
    const n = bytes >>> 4;
    if (n >= 128) return this.ecb.update(this.counters.subarray(0, bytes));
    let input = this.blocks[n];
    if (input === undefined) input = this.blocks[n] = this.counters.subarray(0, bytes);
    return this.ecb.update(input);
  }

  private grow(bytes: number): void {
    if (bytes > MAX_KEYSTREAM_OCTETS + 16) throw new RangeError(`keystream of ${bytes} octets exceeds 2^16 blocks`);
    this.counters = Buffer.alloc(bytes);
    this.view = new DataView(this.counters.buffer, this.counters.byteOffset, this.counters.length);
    this.blocks = new Array<Buffer | undefined>(128);
  }
}
