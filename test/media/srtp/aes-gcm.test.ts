/**
 * AES-128-GCM over a reused ECB cipher with table GHASH (NIST SP 800-38D),
 * the AEAD_AES_128_GCM engine (RFC 7714).
 *
 * Verifies:
 * - the GCM specification's test cases 2, 3 and 4 (McGrew & Viega, "The
 *   Galois/Counter Mode of Operation", Appendix B; the same as NIST's
 *   gcmEncryptExtIV128 vectors)
 * - equality with Node's aes-128-gcm for AAD lengths 0-40 and plaintext
 *   lengths 0-400 (partial blocks on both), one object reused
 * - open: in place, nothing written on a bad tag, AAD or ciphertext change
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import t from 'tap';
import { AesGcm } from '../../../lib/media/srtp/aes-gcm.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const words = (iv: Buffer): [number, number, number] => [iv.readUInt32BE(0), iv.readUInt32BE(4), iv.readUInt32BE(8)];

function seal(key: Buffer, iv: Buffer, aad: Buffer, p: Buffer): { c: Buffer; tag: Buffer } {
  const c = Buffer.alloc(p.length);
  const tag = Buffer.alloc(16);
  new AesGcm(key).seal(...words(iv), aad, 0, aad.length, p, 0, p.length, c, 0, tag, 0);
  return { c, tag };
}

t.test('GCM spec test cases 2, 3, 4', async (t) => {
  const tc2 = seal(Buffer.alloc(16), Buffer.alloc(12), Buffer.alloc(0), Buffer.alloc(16));
  t.equal(tc2.c.toString('hex'), '0388dace60b6a392f328c2b971b2fe78');
  t.equal(tc2.tag.toString('hex'), 'ab6e47d42cec13bdf53a67b21257bddf');
  const key = hex('feffe9928665731c6d6a8f9467308308');
  const iv = hex('cafebabefacedbaddecaf888');
  const p = hex(`d9313225f88406e5a55909c5aff5269a 86a7a9531534f7da2e4c303d8a318a72
    1c3c0c95956809532fcf0e2449a6b525 b16aedf5aa0de657ba637b391aafd255`);
  const c = hex(`42831ec2217774244b7221b784d0d49c e3aa212f2c02a4e035c17e2329aca12e
    21d514b25466931c7d8f6a5aac84aa05 1ba30b396a0aac973d58e091473f5985`);
  const tc3 = seal(key, iv, Buffer.alloc(0), p);
  t.equal(tc3.c.toString('hex'), c.toString('hex'));
  t.equal(tc3.tag.toString('hex'), '4d5c2af327cd64a62cf35abd2ba6fab4');
  const tc4 = seal(key, iv, hex('feedfacedeadbeeffeedfacedeadbeefabaddad2'), p.subarray(0, 60));
  t.equal(tc4.c.toString('hex'), c.subarray(0, 60).toString('hex'));
  t.equal(tc4.tag.toString('hex'), '5bc94fbc3221a5db94fae95ae7121a47');
});

t.test('equal to Node aes-128-gcm, partial blocks everywhere', async (t) => {
  const key = randomBytes(16);
  const g = new AesGcm(key);
  let bad = 0;
  for (let a = 0; a <= 40; a += 5) {
    for (let n = 0; n <= 400; n += 13) {
      const iv = randomBytes(12);
      const aad = randomBytes(a);
      const p = randomBytes(n);
      const node = createCipheriv('aes-128-gcm', key, iv);
      node.setAAD(aad);
      const c = Buffer.concat([node.update(p), node.final()]);
      const out = Buffer.alloc(n + 16);
      g.seal(...words(iv), aad, 0, a, p, 0, n, out, 0, out, n);
      if (!out.equals(Buffer.concat([c, node.getAuthTag()]))) bad++;
      const back = Buffer.from(out);
      if (!g.open(...words(iv), aad, 0, a, back, 0, n, back, 0, back, n) || !back.subarray(0, n).equals(p)) bad++;
    }
  }
  t.equal(bad, 0);
});

t.test('open rejects any change and writes nothing', async (t) => {
  const g = new AesGcm(randomBytes(16));
  const iv = words(randomBytes(12));
  const aad = randomBytes(12);
  const p = randomBytes(160);
  const sealed = Buffer.alloc(176);
  g.seal(...iv, aad, 0, 12, p, 0, 160, sealed, 0, sealed, 160);
  for (const at of [0, 100, 159, 160, 175]) {
    const bad = Buffer.from(sealed);
    bad[at]! ^= 0x01;
    const before = Buffer.from(bad);
    t.notOk(g.open(...iv, aad, 0, 12, bad, 0, 160, bad, 0, bad, 160), `octet ${at}`);
    t.same(bad, before, `octet ${at}: untouched`);
  }
  const aad2 = Buffer.from(aad);
  aad2[3]! ^= 0x80;
  t.notOk(g.open(...iv, aad2, 0, 12, Buffer.from(sealed), 0, 160, Buffer.alloc(160), 0, sealed, 160), 'AAD changed');
  t.notOk(g.open(iv[0], iv[1], iv[2] ^ 1, aad, 0, 12, Buffer.from(sealed), 0, 160, Buffer.alloc(160), 0, sealed, 160), 'IV changed');
  t.ok(g.open(...iv, aad, 0, 12, sealed, 0, 160, sealed, 0, sealed, 160));
  t.same(sealed.subarray(0, 160), p);
});
