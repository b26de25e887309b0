/**
 * AES-CM keystream through one reusable ECB cipher (RFC 3711 §4.1.1).
 *
 * Verifies:
 * - Appendix B.2 exactly: the full 1044512-octet (65282-block) keystream
 *   segment of session key 2B7E.../salt F0F1...FCFD, its first three and
 *   last three blocks
 * - equality with Node's own aes-128-ctr for random IVs, lengths 0-400,
 *   packet after packet on the same object (the ECB cipher is reused)
 * - in-place operation and its inverse
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import t from 'tap';
import { AesCmKeystream } from '../../../lib/media/srtp/aes-cm-keystream.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

t.test('RFC 3711 B.2: AES-CM keystream segment', async (t) => {
  // Session Key 2B7E151628AED2A6ABF7158809CF4F3C, ROC 0, SEQ 0, SSRC 0,
  // Session Salt F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000 (already shifted) = the first counter block.
  const ks = new AesCmKeystream(hex('2B7E151628AED2A6ABF7158809CF4F3C'));
  const length = 1044512;
  t.equal(length / 16, 65282, 'segment of 65282 blocks');
  const out = Buffer.alloc(length);
  ks.xor(0xf0f1f2f3, 0xf4f5f6f7, 0xf8f9fafb, 0xfcfd0000, Buffer.alloc(length), 0, length, out, 0);
  t.equal(out.subarray(0, 48).toString('hex').toUpperCase(),
    'E03EAD0935C95E80E166B16DD92B4EB4' + 'D23513162B02D0F72A43A2FE4A5F97AB' + '41E95B3BB0A2E8DD477901E4FCA894C0');
  t.equal(out.subarray(length - 48).toString('hex').toUpperCase(),
    'EC8CDF7398607CB0F2D21675EA9EA1E4' + '362B7C3C6773516318A077D7FC5073AE' + '6A2CC3787889374FBEB4C81B17BA6C44');
});

t.test('same as Node aes-128-ctr for random IVs and lengths, object reused', async (t) => {
  const key = randomBytes(16);
  const ks = new AesCmKeystream(key);
  for (let n = 0; n <= 400; n += 7) {
    const iv = randomBytes(16);
    iv[14] = 0;
    iv[15] = 0;
    const data = randomBytes(n + 5);
    const expected = createCipheriv('aes-128-ctr', key, iv).update(data.subarray(3, 3 + n));
    const out = Buffer.alloc(n + 2);
    ks.xor(iv.readUInt32BE(0), iv.readUInt32BE(4), iv.readUInt32BE(8), iv.readUInt32BE(12), data, 3, 3 + n, out, 2);
    if (!out.subarray(2).equals(expected)) t.fail(`length ${n}`);
  }
  t.pass('lengths 0..400');
});

t.test('in place, and applying twice restores the input', async (t) => {
  const ks = new AesCmKeystream(randomBytes(16));
  const plain = randomBytes(172);
  const buf = Buffer.from(plain);
  ks.xor(1, 2, 3, 0x40000, buf, 12, 172, buf, 12);
  t.same(buf.subarray(0, 12), plain.subarray(0, 12), 'header untouched');
  t.notSame(buf.subarray(12), plain.subarray(12));
  ks.xor(1, 2, 3, 0x40000, buf, 12, 172, buf, 12);
  t.same(buf, plain);
});

t.test('a segment beyond 2^16 blocks is refused', async (t) => {
  const ks = new AesCmKeystream(randomBytes(16));
  const big = Buffer.alloc(65536 * 16 + 1);
  t.throws(() => ks.xor(0, 0, 0, 0, big, 0, big.length, big, 0), RangeError);
});
