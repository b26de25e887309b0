/**
 * AES-128-GCM (NIST SP 800-38D) for AEAD_AES_128_GCM SRTP (RFC 7714), with
 * a reusable cipher per session key.
 *
 * Node's aes-128-gcm takes the IV at creation, so it costs a cipher object
 * and five native calls per packet. Here the counter blocks go through the
 * same reused AES-ECB object as AES-CM (one native call per packet gives
 * E(K, J0) and the payload keystream), and GHASH runs in JS with Shoup's
 * 8-bit tables for H, built once per key. bench/srtp/run.mjs compares both.
 *
 *   J0 = IV || 0^31 || 1                   (96-bit IV, §7.1 step 2)
 *   C  = P XOR E(K, inc32(J0)), E(K, inc32^2(J0)), ...
 *   S  = GHASH_H(A || 0^v || C || 0^u || [len(A)]64 || [len(C)]64)
 *   T  = E(K, J0) XOR S                    (16 octets, RFC 7714 §12)
 *
 * Deviation from a constant-time GHASH: table lookups depend on H and the
 * data, the classic software GHASH trade-off (a local cache-timing concern,
 * not a network one); the tag compare itself is constant-time.
 */
import { AesCmKeystream } from './aes-cm-keystream.js';

/** R8[b]: the reduction word for the 8 bits b shifted out of x^127 by Z * x^8. */
const R8 = (() => {
  const r = new Int32Array(256);
  for (let b = 0; b < 256; b++) {
    let v0 = 0, v1 = 0, v2 = 0, v3 = b;
    for (let i = 0; i < 8; i++) {
      const carry = v3 & 1;
      v3 = (v3 >>> 1) | (v2 << 31);
      v2 = (v2 >>> 1) | (v1 << 31);
      v1 = (v1 >>> 1) | (v0 << 31);
      v0 = (v0 >>> 1) ^ (carry ? 0xe1000000 : 0);
    }
    r[b] = v0 | 0;
    if ((v1 | v2 | v3) !== 0) throw new Error('GHASH reduction table');
  }
  return r;
})();

export class AesGcm {
  private readonly ctr: AesCmKeystream;
  /** M[b] = b * H for every octet value b in the first octet position, 4 words each. */
  private readonly m = new Int32Array(1024);
  private y0 = 0;
  private y1 = 0;
  private y2 = 0;
  private y3 = 0;

  constructor(key: Buffer) {
    this.ctr = new AesCmKeystream(key);
    const h = this.ctr.generate(0, 0, 0, 0, 16); // H = E(K, 0^128)
    const m = this.m;
    let v0 = h.readInt32BE(0), v1 = h.readInt32BE(4), v2 = h.readInt32BE(8), v3 = h.readInt32BE(12);
    for (let bit = 0x80; bit >= 1; bit >>>= 1) {
      m[bit * 4] = v0; m[bit * 4 + 1] = v1; m[bit * 4 + 2] = v2; m[bit * 4 + 3] = v3;
      const carry = v3 & 1; // V * x: shift right, reduce by R = 11100001 || 0^120
      v3 = (v3 >>> 1) | (v2 << 31);
      v2 = (v2 >>> 1) | (v1 << 31);
      v1 = (v1 >>> 1) | (v0 << 31);
      v0 = (v0 >>> 1) ^ (carry ? 0xe1000000 : 0);
    }
    for (let i = 2; i < 256; i <<= 1) {
      for (let j = 1; j < i; j++) {
        for (let w = 0; w < 4; w++) m[(i + j) * 4 + w] = m[i * 4 + w]! ^ m[j * 4 + w]!;
      }
    }
  }

  /**
   * Encrypts src[srcStart..srcEnd) to dst[dstStart..] (in place allowed) under
   * the 96-bit IV (three big-endian words), authenticates aad[aadStart..aadEnd)
   * and the ciphertext, and writes the 16-octet tag to tag[tagAt..].
   */
  seal(iv0: number, iv1: number, iv2: number, aad: Uint8Array, aadStart: number, aadEnd: number,
    src: Uint8Array, srcStart: number, srcEnd: number, dst: Uint8Array, dstStart: number, tag: Uint8Array, tagAt: number): void {
    const n = srcEnd - srcStart;
    const ks = this.ctr.generate(iv0, iv1, iv2, 1, 16 + n);
    for (let k = 0; k < n; k++) dst[dstStart + k] = src[srcStart + k]! ^ ks[16 + k]!;
    this.tag(aad, aadStart, aadEnd, dst, dstStart, dstStart + n, ks);
    writeWord(tag, tagAt, this.y0);
    writeWord(tag, tagAt + 4, this.y1);
    writeWord(tag, tagAt + 8, this.y2);
    writeWord(tag, tagAt + 12, this.y3);
  }

  /**
   * Verifies the tag at tag[tagAt..] over aad and the ciphertext, and only
   * then decrypts src[srcStart..srcEnd) to dst[dstStart..] (in place allowed).
   * False, with nothing written, when the tag does not verify.
   */
  open(iv0: number, iv1: number, iv2: number, aad: Uint8Array, aadStart: number, aadEnd: number,
    src: Uint8Array, srcStart: number, srcEnd: number, dst: Uint8Array, dstStart: number, tag: Uint8Array, tagAt: number): boolean {
    const n = srcEnd - srcStart;
    const ks = this.ctr.generate(iv0, iv1, iv2, 1, 16 + n);
    this.tag(aad, aadStart, aadEnd, src, srcStart, srcEnd, ks);
    const diff = (this.y0 ^ readWord(tag, tagAt)) | (this.y1 ^ readWord(tag, tagAt + 4))
      | (this.y2 ^ readWord(tag, tagAt + 8)) | (this.y3 ^ readWord(tag, tagAt + 12));
    if (diff !== 0) return false;
    for (let k = 0; k < n; k++) dst[dstStart + k] = src[srcStart + k]! ^ ks[16 + k]!;
    return true;
  }

  /** y = E(K, J0) XOR GHASH(A, C); E(K, J0) is ks[0..16). */
  private tag(aad: Uint8Array, aadStart: number, aadEnd: number, c: Uint8Array, cStart: number, cEnd: number, ks: Uint8Array): void {
    this.y0 = this.y1 = this.y2 = this.y3 = 0;
    this.ghash(aad, aadStart, aadEnd);
    this.ghash(c, cStart, cEnd);
    const aBits = (aadEnd - aadStart) * 8;
    const cBits = (cEnd - cStart) * 8;
    this.block(Math.floor(aBits / 0x100000000), aBits >>> 0, Math.floor(cBits / 0x100000000), cBits >>> 0);
    this.y0 ^= readWord(ks, 0);
    this.y1 ^= readWord(ks, 4);
    this.y2 ^= readWord(ks, 8);
    this.y3 ^= readWord(ks, 12);
  }

  /** Folds data[start..end) into y, the last partial block zero-padded. */
  private ghash(data: Uint8Array, start: number, end: number): void {
    let o = start;
    for (; end - o >= 16; o += 16) this.block(readWord(data, o), readWord(data, o + 4), readWord(data, o + 8), readWord(data, o + 12));
    if (o < end) {
      const tail = end - o;
      this.block(partialWord(data, o, tail), partialWord(data, o + 4, tail - 4),
        partialWord(data, o + 8, tail - 8), partialWord(data, o + 12, tail - 12));
    }
  }

  /** y = (y XOR x) * H, Horner over the 16 octets with M and R8 (Shoup). */
  private block(x0: number, x1: number, x2: number, x3: number): void {
    const m = this.m;
    const a0 = this.y0 ^ x0, a1 = this.y1 ^ x1, a2 = this.y2 ^ x2, a3 = this.y3 ^ x3;
    let i = (a3 & 0xff) << 2;
    let z0 = m[i]!, z1 = m[i + 1]!, z2 = m[i + 2]!, z3 = m[i + 3]!;
    for (let k = 1; k < 16; k++) {
      const word = k < 4 ? a3 : k < 8 ? a2 : k < 12 ? a1 : a0;
      const b = (word >>> ((k & 3) * 8)) & 0xff;
      const rem = z3 & 0xff;
      z3 = (z3 >>> 8) | (z2 << 24);
      z2 = (z2 >>> 8) | (z1 << 24);
      z1 = (z1 >>> 8) | (z0 << 24);
      z0 = (z0 >>> 8) ^ R8[rem]!;
      i = b << 2;
      z0 ^= m[i]!; z1 ^= m[i + 1]!; z2 ^= m[i + 2]!; z3 ^= m[i + 3]!;
    }
    this.y0 = z0; this.y1 = z1; this.y2 = z2; this.y3 = z3;
  }
}

/** The big-endian word at b[o..o+4) with only its first `n` octets (0-4, clamped) taken, the rest zero. */
function partialWord(b: Uint8Array, o: number, n: number): number {
  if (n <= 0) return 0;
  if (n >= 4) return readWord(b, o);
  let w = 0;
  for (let i = 0; i < n; i++) w |= b[o + i]! << (24 - 8 * i);
  return w;
}

function readWord(b: Uint8Array, o: number): number {
  return (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!;
}

function writeWord(b: Uint8Array, o: number, w: number): void {
  b[o] = w >>> 24; b[o + 1] = (w >>> 16) & 0xff; b[o + 2] = (w >>> 8) & 0xff; b[o + 3] = w & 0xff;
}
