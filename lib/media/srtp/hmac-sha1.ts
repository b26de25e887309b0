/**
 * HMAC-SHA1 (RFC 2104, FIPS 180-4) for SRTP authentication (RFC 3711 §4.2.1),
 * allocation-free and with the key schedule done once.
 *
 * crypto.createHmac hashes the padded key again for every packet and
 * allocates a Hmac object and a digest per call. Here the two pad blocks
 * (K XOR ipad, K XOR opad) are compressed once per session key; a packet
 * then costs the compressions of its own bytes plus one for the outer hash,
 * with no allocation. bench/srtp/run.mjs measures both; the tests check this
 * against crypto.createHmac for every message length from 0 to 300 octets.
 *
 * The message is data[start..end) optionally followed by a 32-bit trailer,
 * which SRTP uses for the ROC: "M = Authenticated Portion || ROC" (§4.2).
 */

const W = new Int32Array(80);

function compress(h: Int32Array, b: Uint8Array, o: number): void {
  for (let t = 0; t < 16; t++, o += 4) W[t] = (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!;
  for (let t = 16; t < 80; t++) {
    const x = W[t - 3]! ^ W[t - 8]! ^ W[t - 14]! ^ W[t - 16]!;
    W[t] = (x << 1) | (x >>> 31);
  }
  let a = h[0]!, bb = h[1]!, c = h[2]!, d = h[3]!, e = h[4]!;
  let t = 0;
  for (; t < 20; t++) {
    const tmp = (((a << 5) | (a >>> 27)) + ((bb & c) | (~bb & d)) + e + 0x5a827999 + W[t]!) | 0;
    e = d; d = c; c = (bb << 30) | (bb >>> 2); bb = a; a = tmp;
  }
  for (; t < 40; t++) {
    const tmp = (((a << 5) | (a >>> 27)) + (bb ^ c ^ d) + e + 0x6ed9eba1 + W[t]!) | 0;
    e = d; d = c; c = (bb << 30) | (bb >>> 2); bb = a; a = tmp;
  }
  for (; t < 60; t++) {
    const tmp = (((a << 5) | (a >>> 27)) + ((bb & c) | (bb & d) | (c & d)) + e - 0x70e44324 + W[t]!) | 0;
    e = d; d = c; c = (bb << 30) | (bb >>> 2); bb = a; a = tmp;
  }
  for (; t < 80; t++) {
    const tmp = (((a << 5) | (a >>> 27)) + (bb ^ c ^ d) + e - 0x359d3e2a + W[t]!) | 0;
    e = d; d = c; c = (bb << 30) | (bb >>> 2); bb = a; a = tmp;
  }
  h[0] = (h[0]! + a) | 0; h[1] = (h[1]! + bb) | 0; h[2] = (h[2]! + c) | 0; h[3] = (h[3]! + d) | 0; h[4] = (h[4]! + e) | 0;
}

const SHA1_IV = [0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476, 0xc3d2e1f0 | 0];

export class HmacSha1 {
  private readonly inner = new Int32Array(5);
  private readonly outer = new Int32Array(5);
  private readonly h = new Int32Array(5);
  /** Tail of the inner message (up to 63 octets + 4 trailer octets) and its padding: two blocks. */
  private readonly tail = new Uint8Array(128);
  /** The outer message: the inner digest and its fixed padding. */
  private readonly outerBlock = new Uint8Array(64);
  /** The last MAC, as octets, for compare and copy. */
  private readonly mac = new Uint8Array(20);

  constructor(key: Uint8Array) {
    let k: Uint8Array = key;
    if (k.length > 64) k = HmacSha1.sha1(k);
    const pad = new Uint8Array(64);
    for (const [state, byte] of [[this.inner, 0x36], [this.outer, 0x5c]] as const) {
      pad.fill(byte);
      for (let i = 0; i < k.length; i++) pad[i] = k[i]! ^ byte;
      state.set(SHA1_IV);
      compress(state, pad, 0);
    }
    // 20-octet digest, 0x80, zeros, length (64 + 20) * 8 = 672 bits.
    this.outerBlock[20] = 0x80;
    this.outerBlock[62] = (672 >>> 8) & 0xff;
    this.outerBlock[63] = 672 & 0xff;
  }

  /** Plain SHA-1, for keys longer than a block (never the case in SRTP). */
  static sha1(data: Uint8Array): Uint8Array {
    const h = new Int32Array(SHA1_IV);
    const total = data.length;
    const padded = new Uint8Array(((total + 9 + 63) >>> 6) << 6);
    padded.set(data);
    padded[total] = 0x80;
    writeBitLength(padded, padded.length - 8, total);
    for (let o = 0; o < padded.length; o += 64) compress(h, padded, o);
    const out = new Uint8Array(20);
    for (let i = 0; i < 5; i++) writeWord(out, i * 4, h[i]!);
    return out;
  }

  /** Writes the first `tagLength` octets of HMAC(data[start..end) || trailer?) to out[outOffset..]. */
  sign(data: Uint8Array, start: number, end: number, trailer: number | undefined,
    out: Uint8Array, outOffset: number, tagLength: number): void {
    this.run(data, start, end, trailer);
    for (let i = 0; i < tagLength; i++) out[outOffset + i] = this.mac[i]!;
  }

  /** Compares, in time independent of the contents, the MAC with `tagLength` octets at tag[tagOffset..]. */
  verify(data: Uint8Array, start: number, end: number, trailer: number | undefined,
    tag: Uint8Array, tagOffset: number, tagLength: number): boolean {
    this.run(data, start, end, trailer);
    let diff = 0;
    for (let i = 0; i < tagLength; i++) diff |= this.mac[i]! ^ tag[tagOffset + i]!;
    return diff === 0;
  }

  private run(data: Uint8Array, start: number, end: number, trailer: number | undefined): void {
    const h = this.h;
    h.set(this.inner);
    let o = start;
    for (; end - o >= 64; o += 64) compress(h, data, o);
    const tail = this.tail;
    let n = 0;
    for (; o < end; o++) tail[n++] = data[o]!;
    if (trailer !== undefined) {
      tail[n++] = trailer >>> 24; tail[n++] = (trailer >>> 16) & 0xff;
      tail[n++] = (trailer >>> 8) & 0xff; tail[n++] = trailer & 0xff;
    }
    const messageLength = 64 + (end - start) + (trailer === undefined ? 0 : 4);
    tail[n++] = 0x80;
    const blocks = n + 8 > 64 ? 128 : 64;
    tail.fill(0, n, blocks - 8);
    writeBitLength(tail, blocks - 8, messageLength);
    compress(h, tail, 0);
    if (blocks === 128) compress(h, tail, 64);
    const ob = this.outerBlock;
    for (let i = 0; i < 5; i++) writeWord(ob, i * 4, h[i]!);
    h.set(this.outer);
    compress(h, ob, 0);
    for (let i = 0; i < 5; i++) writeWord(this.mac, i * 4, h[i]!);
  }
}

function writeWord(b: Uint8Array, o: number, w: number): void {
  b[o] = w >>> 24; b[o + 1] = (w >>> 16) & 0xff; b[o + 2] = (w >>> 8) & 0xff; b[o + 3] = w & 0xff;
}

/** Big-endian 64-bit bit count of an octet length (below 2^53 / 8). */
function writeBitLength(b: Uint8Array, o: number, octets: number): void {
  const bits = octets * 8;
  writeWord(b, o, Math.floor(bits / 0x100000000));
  writeWord(b, o + 4, bits >>> 0);
}
