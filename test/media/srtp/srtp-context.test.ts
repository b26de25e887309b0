/**
 * SrtpContext behaviour (RFC 3711 §3.3, §3.4; RFC 7714) for every suite,
 * with each crypto implementation (JavaScript, and native/srtp_crypto.c:
 * a native module that does not load fails the native half).
 *
 * Verifies:
 * - round trip, packet sizes (tags 10/4/16, SRTCP tag 10 for _32, E|index),
 *   protect leaves its input alone, unprotect returns a view of its input
 * - ROC across the sequence wrap 65535 -> 0 forward, and a late 65535 after 0
 *   (ROC-1), on the receiver and the sender
 * - replayed packets rejected (duplicate, left of a 128 and a 64 window),
 *   SRTP and SRTCP, and counted
 * - tampered payload, tag, header or index rejected as 'auth', counted, the
 *   buffer not decrypted; a forged packet neither creates state nor moves the
 *   window (a forged far-ahead SEQ does not block the real stream)
 * - malformed input: too short, not version 2, RTCP in the clear (a final
 *   BYE, an APP keep-alive); protect throws SrtpError
 * - MKI: carried (before the tag for AES-CM, after it for GCM), checked
 * - SSRCs kept apart; the oldest state evicted beyond maxStreams
 * - keys never in JSON or inspect output
 */
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import t from 'tap';
import { SrtpMasterKey } from '../../../lib/media/srtp/master-key.js';
import { SrtpContext, SrtpError, type SrtpContextOptions } from '../../../lib/media/srtp/srtp-context.js';
import type { SrtpCryptoName } from '../../../lib/media/srtp/native-crypto.js';
import type { SrtpSuiteName } from '../../../lib/media/srtp/srtp-suite.js';

const SUITES: SrtpSuiteName[] = ['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32', 'AEAD_AES_128_GCM'];
const CRYPTOS: SrtpCryptoName[] = ['js', 'native'];
const KEY = randomBytes(16);
const SALT = randomBytes(14);

function pairOf(suite: SrtpSuiteName, extra: Partial<SrtpContextOptions> = {}, crypto: SrtpCryptoName = 'js'): [SrtpContext, SrtpContext] {
  const key = new SrtpMasterKey(KEY, suite === 'AEAD_AES_128_GCM' ? SALT.subarray(0, 12) : SALT);
  return [new SrtpContext({ suite, key, crypto, ...extra }), new SrtpContext({ suite, key, crypto, ...extra })];
}

function rtp(seq: number, ssrc = 0x11223344, payload = 160): Buffer {
  const p = Buffer.alloc(12 + payload);
  p[0] = 0x80;
  p[1] = 8;
  p.writeUInt16BE(seq & 0xffff, 2);
  p.writeUInt32BE(seq * 160 >>> 0, 4);
  p.writeUInt32BE(ssrc >>> 0, 8);
  for (let i = 12; i < p.length; i++) p[i] = (seq + i) & 0xff;
  return p;
}

const rtcp = (ssrc = 0x11223344): Buffer =>
  Buffer.concat([Buffer.from([0x81, 0xc8, 0x00, 0x0c]), Buffer.from(ssrc.toString(16).padStart(8, '0'), 'hex'), randomBytes(44)]);

const plain = (r: Buffer | string): string => (typeof r === 'string' ? `failure:${r}` : r.toString('hex'));

for (const crypto of CRYPTOS) for (const suite of SUITES) {
  const pair = (s: SrtpSuiteName, extra: Partial<SrtpContextOptions> = {}): [SrtpContext, SrtpContext] => pairOf(s, extra, crypto);

  t.test(`${crypto} ${suite}: round trip, sizes, buffers`, async (t) => {
    const [tx, rx] = pair(suite);
    t.equal(tx.crypto, crypto);
    const p = rtp(1000);
    const copy = Buffer.from(p);
    const s = tx.protectRtp(p);
    t.same(p, copy, 'protect leaves the input unchanged');
    t.equal(s.length, p.length + { AES_CM_128_HMAC_SHA1_80: 10, AES_CM_128_HMAC_SHA1_32: 4, AEAD_AES_128_GCM: 16 }[suite]);
    t.equal(tx.rtpOverhead, s.length - p.length);
    t.same(s.subarray(0, 12), p.subarray(0, 12), 'header in the clear');
    t.notSame(s.subarray(12, p.length), p.subarray(12), 'payload encrypted');
    const u = rx.unprotectRtp(s);
    t.equal(plain(u), p.toString('hex'));
    if (typeof u !== 'string') t.equal(u.buffer, s.buffer, 'a view of the input buffer (decrypted in place)');
    const c = rtcp();
    const sc = tx.protectRtcp(c);
    t.equal(sc.length, c.length + 4 + (suite === 'AEAD_AES_128_GCM' ? 16 : 10), 'SRTCP: E|index and tag (80 bits for _32 too)');
    t.equal(tx.rtcpOverhead, sc.length - c.length);
    t.equal(plain(rx.unprotectRtcp(sc)), c.toString('hex'));
    t.same(rx.counters, { rtpProtected: 0, rtpUnprotected: 1, rtcpProtected: 0, rtcpUnprotected: 1,
      authFailures: 0, replayed: 0, malformed: 0, unknownMki: 0 });
    t.equal(tx.counters.rtpProtected, 1);
    t.equal(tx.counters.rtcpProtected, 1);
  });

  t.test(`${crypto} ${suite}: ROC across 65535 -> 0, forward and with a late packet`, async (t) => {
    const [tx, rx] = pair(suite);
    const seqs = [65530, 65531, 65532, 65533, 65534, 65535, 0, 1, 2];
    const sent = seqs.map((q) => tx.protectRtp(rtp(q)));
    t.equal(tx.rolloverCounter(0x11223344, 'send'), 1, 'sender ROC 1 after the wrap');
    // deliver with 65535 arriving after 0 and 1: it must be taken with ROC-1.
    const order = [0, 1, 2, 3, 4, 6, 7, 5, 8];
    for (const i of order) t.equal(plain(rx.unprotectRtp(sent[i]!)), rtp(seqs[i]!).toString('hex'), `seq ${seqs[i]}`);
    t.equal(rx.rolloverCounter(0x11223344, 'receive'), 1);
    // a sender that sees its input reordered keeps the index: 65535 after 0 is still ROC 0.
    const [tx2, rx2] = pair(suite);
    const a = tx2.protectRtp(rtp(65534));
    const b = tx2.protectRtp(rtp(0));
    const c = tx2.protectRtp(rtp(65535));
    t.equal(tx2.rolloverCounter(0x11223344, 'send'), 1);
    for (const [pkt, q] of [[a, 65534], [b, 0], [c, 65535]] as const) t.equal(plain(rx2.unprotectRtp(pkt)), rtp(q).toString('hex'));
    // many wraps
    const [tx3, rx3] = pair(suite);
    for (let q = 0; q < 3 * 65536 + 1000; q += 1000) {
      const u = rx3.unprotectRtp(tx3.protectRtp(rtp(q)));
      if (typeof u === 'string') t.fail(`index ${q}: ${u}`);
    }
    t.equal(rx3.rolloverCounter(0x11223344, 'receive'), 3);
  });

  t.test(`${crypto} ${suite}: replay`, async (t) => {
    const [tx, rx] = pair(suite);
    const first = tx.protectRtp(rtp(10));
    const keep = Buffer.from(first);
    t.type(rx.unprotectRtp(first), Buffer);
    t.equal(rx.unprotectRtp(Buffer.from(keep)), 'replay', 'duplicate');
    for (let q = 11; q <= 10 + 128; q++) rx.unprotectRtp(tx.protectRtp(rtp(q)));
    const late = tx.protectRtp(rtp(11 + 128 - 128));
    t.equal(rx.unprotectRtp(late), 'replay', 'seq 11 already seen');
    t.equal(rx.counters.replayed, 2);
    const [tx64, rx64] = pair(suite, { replayWindow: 64 });
    const old = tx64.protectRtp(rtp(101));
    const inWindow = tx64.protectRtp(rtp(102));
    rx64.unprotectRtp(tx64.protectRtp(rtp(165)));
    t.equal(rx64.unprotectRtp(old), 'replay', '64 behind: left of a 64 window');
    t.type(rx64.unprotectRtp(inWindow), Buffer, '63 behind: last slot, unseen');
    const c = tx.protectRtcp(rtcp());
    const cKeep = Buffer.from(c);
    t.type(rx.unprotectRtcp(c), Buffer);
    t.equal(rx.unprotectRtcp(cKeep), 'replay', 'SRTCP duplicate');
  });

  t.test(`${crypto} ${suite}: tampering`, async (t) => {
    const [tx, rx] = pair(suite);
    const good = tx.protectRtp(rtp(5));
    for (const [what, at] of [['payload', 40], ['tag', good.length - 1], ['sequence number', 3], ['timestamp', 5]] as const) {
      const bad = Buffer.from(good);
      bad[at]! ^= 0x10;
      const before = Buffer.from(bad);
      t.equal(rx.unprotectRtp(bad), 'auth', what);
      t.same(bad, before, `${what}: buffer not decrypted`);
    }
    t.equal(rx.counters.authFailures, 4);
    t.equal(rx.rolloverCounter(0x11223344, 'receive'), undefined, 'no state from forged packets');
    // a forged packet far ahead must not move the window
    const forged = Buffer.from(tx.protectRtp(rtp(5000)));
    forged[30]! ^= 1;
    t.equal(rx.unprotectRtp(forged), 'auth');
    t.type(rx.unprotectRtp(good), Buffer, 'the real packet still passes');
    t.type(rx.unprotectRtp(tx.protectRtp(rtp(6))), Buffer);
    const c = tx.protectRtcp(rtcp());
    const idx = Buffer.from(c);
    idx[suite === 'AEAD_AES_128_GCM' ? idx.length - 1 : idx.length - 11]! ^= 1;
    t.equal(rx.unprotectRtcp(idx), 'auth', 'SRTCP index altered');
    const body = Buffer.from(c);
    body[10]! ^= 1;
    t.equal(rx.unprotectRtcp(body), 'auth', 'SRTCP body altered');
    t.type(rx.unprotectRtcp(c), Buffer);
    const other = pair(suite)[0];
    const wrongKey = new SrtpContext({ suite, crypto, key: new SrtpMasterKey(randomBytes(16), randomBytes(suite === 'AEAD_AES_128_GCM' ? 12 : 14)) });
    t.equal(wrongKey.unprotectRtp(other.protectRtp(rtp(1))), 'auth', 'other key');
  });

  t.test(`${crypto} ${suite}: RTCP sent in the clear is dropped as malformed, not counted as an auth failure`, async (t) => {
    const [tx, rx] = pair(suite);
    t.type(rx.unprotectRtcp(tx.protectRtcp(rtcp())), Buffer, 'the stream is known (a later clear packet may also hit the replay check)');
    // A final RTCP BYE (reason "Adjo") + SDES CNAME in the clear, as baresip sends it when hanging up.
    const bye = Buffer.from('81cb00034e064b5a0441646a6f00000081ca00074e064b5a01137369703a616c696365403132372e302e302e31000000', 'hex');
    const ping = Buffer.from('80cc00034e064b5a50494e47504f4e47', 'hex'); // clear APP "PING" keep-alive
    for (const [what, p] of [['BYE + SDES', bye], ['APP keep-alive', ping]] as const) {
      const before = Buffer.from(p);
      t.equal(rx.unprotectRtcp(p), 'malformed', what);
      t.same(p, before, `${what}: left unchanged`);
    }
    t.equal(rx.counters.authFailures, 0);
    t.equal(rx.counters.replayed, 0);
    const forged = Buffer.from(tx.protectRtcp(rtcp()));
    forged[forged.length - 1]! ^= 1;
    t.equal(rx.unprotectRtcp(forged), 'auth', 'a tampered SRTCP packet is still an auth failure');
  });

  t.test(`${crypto} ${suite}: MKI`, async (t) => {
    const mki = Buffer.from([0, 0, 0, 7]);
    const [tx, rx] = pair(suite, { mki });
    const s = tx.protectRtp(rtp(1));
    const tag = suite === 'AEAD_AES_128_GCM' ? 16 : suite === 'AES_CM_128_HMAC_SHA1_80' ? 10 : 4;
    t.equal(s.length, 172 + 4 + tag);
    const at = suite === 'AEAD_AES_128_GCM' ? 172 + 16 : 172;
    t.same(s.subarray(at, at + 4), mki, suite === 'AEAD_AES_128_GCM' ? 'MKI after the tag' : 'MKI before the tag');
    t.equal(plain(rx.unprotectRtp(Buffer.from(s))), rtp(1).toString('hex'));
    const [, other] = pair(suite, { mki: Buffer.from([0, 0, 0, 8]) });
    t.equal(other.unprotectRtp(Buffer.from(tx.protectRtp(rtp(2)))), 'auth');
    t.equal(other.counters.unknownMki, 1);
    const c = rtcp();
    t.equal(plain(rx.unprotectRtcp(tx.protectRtcp(c))), c.toString('hex'), 'SRTCP with MKI');
  });

  t.test(`${crypto} ${suite}: malformed`, async (t) => {
    const [tx, rx] = pair(suite);
    t.equal(rx.unprotectRtp(Buffer.alloc(10)), 'malformed', 'too short');
    const v1 = tx.protectRtp(rtp(1));
    v1[0] = 0x40;
    t.equal(rx.unprotectRtp(v1), 'malformed', 'version 1');
    const cc = tx.protectRtp(rtp(2, 0x11223344, 20));
    cc[0] = 0x8f; // 15 CSRCs: header beyond the end
    t.equal(rx.unprotectRtp(cc), 'malformed', 'CSRC list beyond the end');
    t.equal(rx.unprotectRtcp(Buffer.alloc(12, 0x80)), 'malformed', 'SRTCP too short');
    t.equal(rx.counters.malformed, 4);
    t.throws(() => tx.protectRtp(Buffer.alloc(8)), SrtpError);
    t.throws(() => tx.protectRtcp(Buffer.from([0x40, 200, 0, 1, 0, 0, 0, 0])), SrtpError);
  });

  t.test(`${crypto} ${suite}: CSRCs, header extension, padding`, async (t) => {
    const [tx, rx] = pair(suite);
    const p = Buffer.concat([
      Buffer.from([0xb2, 0x08, 0x00, 0x09, 0, 0, 0, 1, 0xca, 0xfe, 0xba, 0xbe]), // V=2 P X CC=2
      randomBytes(8), // two CSRCs
      Buffer.from([0xbe, 0xde, 0x00, 0x01]), randomBytes(4), // one-word extension
      randomBytes(37), Buffer.from([0, 0, 3]), // payload and 3 octets of padding
    ]);
    const s = tx.protectRtp(p);
    t.same(s.subarray(0, 28), p.subarray(0, 28), 'CSRCs and extension in the clear');
    t.equal(plain(rx.unprotectRtp(s)), p.toString('hex'));
  });

  t.test(`${crypto} ${suite}: SSRCs apart, state evicted beyond maxStreams`, async (t) => {
    const [tx, rx] = pair(suite, { maxStreams: 2 });
    const a = tx.protectRtp(rtp(65535, 1));
    const b = tx.protectRtp(rtp(0, 2));
    t.type(rx.unprotectRtp(a), Buffer);
    t.type(rx.unprotectRtp(b), Buffer);
    t.equal(rx.rolloverCounter(1, 'receive'), 0);
    t.equal(rx.rolloverCounter(2, 'receive'), 0, 'seq 0 of SSRC 2 is not a wrap of SSRC 1');
    t.type(rx.unprotectRtp(tx.protectRtp(rtp(5, 3))), Buffer);
    t.equal(rx.rolloverCounter(1, 'receive'), undefined, 'oldest SSRC evicted');
    t.equal(rx.rolloverCounter(3, 'receive'), 0);
  });
}

t.test('keys are never shown', async (t) => {
  const key = new SrtpMasterKey(Buffer.alloc(16, 0x42), Buffer.alloc(14, 0x43));
  const ctx = new SrtpContext({ suite: 'AES_CM_128_HMAC_SHA1_80', key });
  for (const text of [JSON.stringify(ctx), inspect(ctx, { showHidden: true, depth: 9 }), JSON.stringify(key),
    inspect(key, { showHidden: true }), String(key), JSON.stringify({ ...key })]) {
    t.notMatch(text, /4242|4343|QkJC|Q0ND/, text);
  }
  t.match(JSON.stringify(ctx), /AES_CM_128_HMAC_SHA1_80/);
});

t.test('lifetime is reported, packets still flow', async (t) => {
  const [tx, rx] = pairOf('AES_CM_128_HMAC_SHA1_80', { lifetime: 2 });
  for (let q = 0; q < 3; q++) t.type(rx.unprotectRtp(tx.protectRtp(rtp(q))), Buffer);
  t.equal(rx.lifetimeExceeded, true);
  t.equal(pairOf('AES_CM_128_HMAC_SHA1_80')[0].lifetimeExceeded, false);
});
