/**
 * HMAC-SHA1 with precomputed pads (RFC 2104), as SRTP's auth (RFC 3711 §4.2.1).
 *
 * Verifies:
 * - RFC 2202 test cases 1, 2 and 6 (short key, "Jefe", 80-octet key hashed first)
 * - equality with crypto.createHmac for every message length 0-300, with and
 *   without the 32-bit ROC trailer, at an offset inside a larger buffer, on
 *   one reused object
 * - truncated tags (4 and 10 octets) and verify's rejection of a flipped bit
 */
import { createHmac, randomBytes } from 'node:crypto';
import t from 'tap';
import { HmacSha1 } from '../../../lib/media/srtp/hmac-sha1.js';

const mac = (key: Buffer, data: Buffer): string => {
  const out = Buffer.alloc(20);
  new HmacSha1(key).sign(data, 0, data.length, undefined, out, 0, 20);
  return out.toString('hex');
};

t.test('RFC 2202 HMAC-SHA-1 test cases', async (t) => {
  t.equal(mac(Buffer.alloc(20, 0x0b), Buffer.from('Hi There')), 'b617318655057264e28bc0b6fb378c8ef146be00', 'case 1');
  t.equal(mac(Buffer.from('Jefe'), Buffer.from('what do ya want for nothing?')), 'effcdf6ae5eb2fa2d27416d5f184df9c259a7c79', 'case 2');
  t.equal(mac(Buffer.alloc(80, 0xaa), Buffer.from('Test Using Larger Than Block-Size Key - Hash Key First')),
    'aa4ae5e15272d00e95705637ce8a3b55ed402112', 'case 6');
});

t.test('matches crypto.createHmac for lengths 0-300, with and without trailer', async (t) => {
  const key = randomBytes(20);
  const h = new HmacSha1(key);
  const buf = randomBytes(320);
  const out = Buffer.alloc(24);
  let bad = 0;
  for (let n = 0; n <= 300; n++) {
    for (const trailer of [undefined, 0, 0xdeadbeef, 1]) {
      const ref = createHmac('sha1', key).update(buf.subarray(7, 7 + n));
      if (trailer !== undefined) {
        const tb = Buffer.alloc(4);
        tb.writeUInt32BE(trailer);
        ref.update(tb);
      }
      h.sign(buf, 7, 7 + n, trailer, out, 2, 20);
      if (!out.subarray(2, 22).equals(ref.digest())) bad++;
    }
  }
  t.equal(bad, 0, 'no mismatch in 1204 MACs');
});

t.test('truncated tags verify; a flipped bit does not', async (t) => {
  const key = randomBytes(20);
  const h = new HmacSha1(key);
  const data = randomBytes(172);
  for (const len of [4, 10]) {
    const tag = Buffer.alloc(len);
    h.sign(data, 0, data.length, 7, tag, 0, len);
    t.same(tag, createHmac('sha1', key).update(Buffer.concat([data, Buffer.from([0, 0, 0, 7])])).digest().subarray(0, len));
    t.ok(h.verify(data, 0, data.length, 7, tag, 0, len));
    t.notOk(h.verify(data, 0, data.length, 8, tag, 0, len), 'other ROC');
    tag[len - 1]! ^= 1;
    t.notOk(h.verify(data, 0, data.length, 7, tag, 0, len), 'flipped tag bit');
  }
});
