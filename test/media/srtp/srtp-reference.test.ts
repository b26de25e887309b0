/**
 * Cross-check against an independent SRTP written here step by step from
 * the RFC text with Node crypto only: the PRF of RFC 3711 §4.3.3 with
 * per-call aes-128-ctr, the IV of §4.1.1 as the 128-bit integer formula
 * (BigInt), HMAC-SHA1 through crypto.createHmac (§4.2.1), the SRTCP layout
 * of §3.4, and RFC 7714 §8.1/§9.1 IVs and AADs for AEAD_AES_128_GCM.
 *
 * Verifies, for every suite, with and without an MKI, over a random stream
 * that crosses the 65535 -> 0 wrap (ROC 0 -> 1) with random CSRC lists,
 * header extensions, padding and payload lengths 0-300:
 * - our protect output equals the reference's octet for octet
 * - the reference unprotects ours, and ours unprotects the reference's, also
 *   delivered out of order
 * - SRTCP the same, including the reference's E=0 (authenticated only) packets
 * The keys come from the reference PRF, not from our key derivation.
 * Both crypto implementations (JavaScript and native/srtp_crypto.c); the
 * native one protects into its reused output buffer every other packet.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import t from 'tap';
import { SrtpMasterKey } from '../../../lib/media/srtp/master-key.js';
import type { SrtpCryptoName } from '../../../lib/media/srtp/native-crypto.js';
import { SrtpContext } from '../../../lib/media/srtp/srtp-context.js';
import type { SrtpSuiteName } from '../../../lib/media/srtp/srtp-suite.js';

interface RefKeys { enc: Buffer; auth: Buffer; salt: Buffer }

/** RFC 3711 §4.3.1: x = (label || r) XOR master_salt, r = 0; PRF = AES-CM(k_master, x * 2^16). */
function refPrf(masterKey: Buffer, masterSalt: Buffer, label: number, n: number): Buffer {
  const salt112 = BigInt('0x' + Buffer.concat([masterSalt, Buffer.alloc(14 - masterSalt.length)]).toString('hex'));
  const keyId = BigInt(label) << 48n; // label || 48-bit r
  const x = salt112 ^ keyId;
  const iv = Buffer.from((x << 16n).toString(16).padStart(32, '0'), 'hex');
  return createCipheriv('aes-128-ctr', masterKey, iv).update(Buffer.alloc(n));
}

function refKeys(suite: SrtpSuiteName, key: Buffer, salt: Buffer, rtcp: boolean): RefKeys {
  const base = rtcp ? 3 : 0;
  const gcm = suite === 'AEAD_AES_128_GCM';
  return {
    enc: refPrf(key, salt, base, 16),
    auth: gcm ? Buffer.alloc(0) : refPrf(key, salt, base + 1, 20),
    salt: refPrf(key, salt, base + 2, gcm ? 12 : 14),
  };
}

const big = (b: Buffer): bigint => BigInt('0x' + (b.length === 0 ? '0' : b.toString('hex')));
const bytes16 = (v: bigint): Buffer => Buffer.from(v.toString(16).padStart(32, '0'), 'hex');
const u32 = (v: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32BE(v >>> 0); return b; };

/** §4.1.1: IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16). */
const cmIv = (salt: Buffer, ssrc: number, index: bigint): Buffer =>
  bytes16((big(salt) << 16n) ^ (BigInt(ssrc) << 64n) ^ (index << 16n));

function rtpHeaderLength(p: Buffer): number {
  let n = 12 + (p[0]! & 0x0f) * 4;
  if (p[0]! & 0x10) n += 4 + p.readUInt16BE(n + 2) * 4;
  return n;
}

const TAG: Record<SrtpSuiteName, number> = { AES_CM_128_HMAC_SHA1_80: 10, AES_CM_128_HMAC_SHA1_32: 4, AEAD_AES_128_GCM: 16 };

function refProtectRtp(suite: SrtpSuiteName, k: RefKeys, p: Buffer, roc: number, mki: Buffer): Buffer {
  const h = rtpHeaderLength(p);
  const ssrc = p.readUInt32BE(8);
  const seq = p.readUInt16BE(2);
  if (suite === 'AEAD_AES_128_GCM') {
    const iv = Buffer.concat([Buffer.alloc(2), p.subarray(8, 12), u32(roc), p.subarray(2, 4)]);
    for (let i = 0; i < 12; i++) iv[i]! ^= k.salt[i]!;
    const c = createCipheriv('aes-128-gcm', k.enc, iv, { authTagLength: 16 });
    c.setAAD(p.subarray(0, h));
    const ct = Buffer.concat([c.update(p.subarray(h)), c.final()]);
    return Buffer.concat([p.subarray(0, h), ct, c.getAuthTag(), mki]);
  }
  const enc = createCipheriv('aes-128-ctr', k.enc, cmIv(k.salt, ssrc, (BigInt(roc) << 16n) | BigInt(seq))).update(p.subarray(h));
  const portion = Buffer.concat([p.subarray(0, h), enc]);
  const tag = createHmac('sha1', k.auth).update(portion).update(u32(roc)).digest().subarray(0, TAG[suite]);
  return Buffer.concat([portion, mki, tag]);
}

function refUnprotectRtp(suite: SrtpSuiteName, k: RefKeys, s: Buffer, roc: number, mki: Buffer): Buffer | undefined {
  const tagLength = TAG[suite];
  const end = s.length - tagLength - mki.length;
  const p = Buffer.from(s.subarray(0, end));
  const h = rtpHeaderLength(p);
  if (suite === 'AEAD_AES_128_GCM') {
    const iv = Buffer.concat([Buffer.alloc(2), p.subarray(8, 12), u32(roc), p.subarray(2, 4)]);
    for (let i = 0; i < 12; i++) iv[i]! ^= k.salt[i]!;
    const d = createDecipheriv('aes-128-gcm', k.enc, iv, { authTagLength: 16 });
    d.setAAD(p.subarray(0, h));
    d.setAuthTag(s.subarray(end, end + 16));
    const pt = d.update(p.subarray(h));
    try { d.final(); } catch { return undefined; }
    return Buffer.concat([p.subarray(0, h), pt]);
  }
  const tag = createHmac('sha1', k.auth).update(p).update(u32(roc)).digest().subarray(0, tagLength);
  if (!timingSafeEqual(tag, s.subarray(s.length - tagLength))) return undefined;
  const seq = p.readUInt16BE(2);
  const pt = createCipheriv('aes-128-ctr', k.enc, cmIv(k.salt, p.readUInt32BE(8), (BigInt(roc) << 16n) | BigInt(seq))).update(p.subarray(h));
  return Buffer.concat([p.subarray(0, h), pt]);
}

/** RFC 3711 §3.4 / RFC 7714 §9. */
function refProtectRtcp(suite: SrtpSuiteName, k: RefKeys, p: Buffer, index: number, encrypt: boolean, mki: Buffer): Buffer {
  const ssrc = p.readUInt32BE(4);
  const eIndex = u32((encrypt ? 0x80000000 : 0) + index);
  if (suite === 'AEAD_AES_128_GCM') {
    const iv = Buffer.concat([Buffer.alloc(2), p.subarray(4, 8), Buffer.alloc(2), u32(index)]);
    for (let i = 0; i < 12; i++) iv[i]! ^= k.salt[i]!;
    const c = createCipheriv('aes-128-gcm', k.enc, iv, { authTagLength: 16 });
    if (encrypt) {
      c.setAAD(Buffer.concat([p.subarray(0, 8), eIndex]));
      const ct = Buffer.concat([c.update(p.subarray(8)), c.final()]);
      return Buffer.concat([p.subarray(0, 8), ct, c.getAuthTag(), eIndex, mki]);
    }
    c.setAAD(Buffer.concat([p, eIndex]));
    c.final();
    return Buffer.concat([p, c.getAuthTag(), eIndex, mki]);
  }
  const body = encrypt ? createCipheriv('aes-128-ctr', k.enc, cmIv(k.salt, ssrc, BigInt(index))).update(p.subarray(8)) : p.subarray(8);
  const portion = Buffer.concat([p.subarray(0, 8), body, eIndex]);
  const tag = createHmac('sha1', k.auth).update(portion).digest().subarray(0, 10);
  return Buffer.concat([portion, mki, tag]);
}

function refUnprotectRtcp(suite: SrtpSuiteName, k: RefKeys, s: Buffer, mki: Buffer): { plain: Buffer; index: number } | undefined {
  if (suite === 'AEAD_AES_128_GCM') {
    const eAt = s.length - mki.length - 4;
    const eIndex = s.readUInt32BE(eAt);
    const index = eIndex & 0x7fffffff;
    const iv = Buffer.concat([Buffer.alloc(2), s.subarray(4, 8), Buffer.alloc(2), u32(index)]);
    for (let i = 0; i < 12; i++) iv[i]! ^= k.salt[i]!;
    const d = createDecipheriv('aes-128-gcm', k.enc, iv, { authTagLength: 16 });
    d.setAAD(Buffer.concat([s.subarray(0, 8), s.subarray(eAt, eAt + 4)]));
    d.setAuthTag(s.subarray(eAt - 16, eAt));
    const pt = d.update(s.subarray(8, eAt - 16));
    try { d.final(); } catch { return undefined; }
    return { plain: Buffer.concat([s.subarray(0, 8), pt]), index };
  }
  const tagAt = s.length - 10;
  const portionEnd = tagAt - mki.length;
  const tag = createHmac('sha1', k.auth).update(s.subarray(0, portionEnd)).digest().subarray(0, 10);
  if (!timingSafeEqual(tag, s.subarray(tagAt))) return undefined;
  const index = s.readUInt32BE(portionEnd - 4) & 0x7fffffff;
  const pt = createCipheriv('aes-128-ctr', k.enc, cmIv(k.salt, s.readUInt32BE(4), BigInt(index))).update(s.subarray(8, portionEnd - 4));
  return { plain: Buffer.concat([s.subarray(0, 8), pt]), index };
}

function randomRtp(seq: number, ssrc: number): Buffer {
  const cc = Math.floor(Math.random() * 4);
  const ext = Math.random() < 0.3 ? Math.floor(Math.random() * 4) : -1;
  const payload = randomBytes(Math.floor(Math.random() * 301));
  const pad = Math.random() < 0.2 ? 1 + Math.floor(Math.random() * 4) : 0;
  const head = Buffer.alloc(12);
  head[0] = 0x80 | (pad > 0 ? 0x20 : 0) | (ext >= 0 ? 0x10 : 0) | cc;
  head[1] = 0x60;
  head.writeUInt16BE(seq, 2);
  head.writeUInt32BE(randomBytes(4).readUInt32BE(0), 4);
  head.writeUInt32BE(ssrc, 8);
  const parts = [head, randomBytes(cc * 4)];
  if (ext >= 0) parts.push(Buffer.from([0xbe, 0xde, 0, ext]), randomBytes(ext * 4));
  parts.push(payload);
  if (pad > 0) parts.push(Buffer.concat([Buffer.alloc(pad - 1), Buffer.from([pad])]));
  return Buffer.concat(parts);
}

const SUITES: SrtpSuiteName[] = ['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32', 'AEAD_AES_128_GCM'];

for (const crypto of ['js', 'native'] as SrtpCryptoName[]) for (const suite of SUITES) {
  for (const mki of [Buffer.alloc(0), Buffer.from([0x01, 0x02])]) {
    t.test(`${crypto} ${suite}${mki.length > 0 ? ' with MKI' : ''}: octet-equal to the reference, both ways`, async (t) => {
      const masterKey = randomBytes(16);
      const masterSalt = randomBytes(suite === 'AEAD_AES_128_GCM' ? 12 : 14);
      const rk = refKeys(suite, masterKey, masterSalt, false);
      const rkc = refKeys(suite, masterKey, masterSalt, true);
      const make = (): SrtpContext => new SrtpContext({ suite, key: new SrtpMasterKey(masterKey, masterSalt), mki, crypto });
      const ours = make();
      const oursRx = make();
      const ssrc = randomBytes(4).readUInt32BE(0);
      // the sender model: SEQ from near the top, ROC counts the wraps (RFC 3711 §3.3.1)
      let seq = 65536 - 40 - Math.floor(Math.random() * 20);
      let roc = 0;
      const fromRef: { srtp: Buffer; plain: Buffer }[] = [];
      let mismatches = 0;
      for (let n = 0; n < 80; n++) {
        const p = randomRtp(seq, ssrc);
        const mine = ours.protectRtp(p, p.length, crypto === 'native' && n % 2 === 1);
        const ref = refProtectRtp(suite, rk, p, roc, mki);
        if (!mine.equals(ref)) mismatches++;
        const back = refUnprotectRtp(suite, rk, mine, roc, mki);
        if (back === undefined || !back.equals(p)) mismatches++;
        fromRef.push({ srtp: ref, plain: p });
        seq += 1 + Math.floor(Math.random() * 3);
        if (seq > 0xffff) {
          seq -= 0x10000;
          roc++;
        }
      }
      t.equal(roc, 1, 'the stream crossed the wrap');
      t.equal(mismatches, 0, 'protect equals the reference and the reference unprotects it');
      // deliver the reference's packets to ours in a locally shuffled order
      const order = fromRef.map((_, i) => i);
      for (let i = 0; i + 1 < order.length; i += 3) [order[i], order[i + 1]] = [order[i + 1]!, order[i]!];
      let bad = 0;
      for (const i of order) {
        const u = oursRx.unprotectRtp(Buffer.from(fromRef[i]!.srtp));
        if (typeof u === 'string' || !u.equals(fromRef[i]!.plain)) bad++;
      }
      t.equal(bad, 0, 'ours unprotects the reference, reordered');
      t.equal(oursRx.rolloverCounter(ssrc, 'receive'), 1);

      // SRTCP: ours -> reference, reference (E=1 and E=0) -> ours
      let rtcpBad = 0;
      for (let i = 1; i <= 5; i++) {
        const c = Buffer.concat([Buffer.from([0x81, 0xc9, 0, 7]), u32(ssrc), randomBytes(24)]);
        const mine = ours.protectRtcp(c, c.length, crypto === 'native' && i % 2 === 1);
        if (!mine.equals(refProtectRtcp(suite, rkc, c, i, true, mki))) rtcpBad++;
        const r = refUnprotectRtcp(suite, rkc, mine, mki);
        if (r === undefined || !r.plain.equals(c) || r.index !== i) rtcpBad++;
        for (const encrypt of [true, false]) {
          const u = oursRx.unprotectRtcp(refProtectRtcp(suite, rkc, c, 2 * i + (encrypt ? 0 : 1), encrypt, mki));
          if (typeof u === 'string' || !u.equals(c)) rtcpBad++;
        }
      }
      t.equal(rtcpBad, 0, 'SRTCP equal both ways, E=1 and E=0');
    });
  }
}
