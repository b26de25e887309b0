/**
 * SDES a=crypto attributes (RFC 4568 §9.1 grammar, §6.1 key parameters,
 * §7.1.2 answerer) and RFC 7714 §14.2 AEAD_AES_128_GCM.
 *
 * Verifies:
 * - parse: tag, suite, inline key||salt split by the suite's lengths,
 *   lifetime `2^n` and decimal, MKI value:length, session parameters,
 *   with or without `a=` / `crypto:`; several key params
 * - malformed lines rejected (tag, base64, key length, MKI range, order)
 * - unknown suites kept without keys; readCryptoAttributes skips bad lines
 * - choose: first supported in offer order, skipping unknown suites, lines
 *   with several keys or unsupported session parameters (UNENCRYPTED_SRTCP,
 *   KDR, FEC_ORDER); WSH accepted; restricted suite list
 * - create/answer: fresh key from injected randomness, offered tag kept,
 *   two answers never share a key; format round-trips through parse
 * - keys never in toString, JSON or inspect; redactCryptoKeys blanks SDP
 * - the parsed key drives an SrtpContext that interoperates with a context
 *   made from the formatted line
 * Does not verify: key methods other than inline (none is registered for SRTP).
 */
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import t from 'tap';
import { SrtpContext } from '../../lib/media/srtp/srtp-context.js';
import {
  answerCryptoAttribute, chooseCryptoAttribute, createCryptoAttribute, CryptoAttributeError, formatCryptoAttribute,
  CryptoMki, parseCryptoAttribute, readCryptoAttributes, redactCryptoKeys,
} from '../../lib/sdp/crypto-attribute.js';

// RFC 4568 §9.1 / §10 example key: 30 octets of key||salt.
const KEY40 = 'PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR';

t.test('parse: the RFC 4568 example with lifetime and MKI', async (t) => {
  const a = parseCryptoAttribute(`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY40}|2^20|1:4`);
  t.equal(a.tag, 1);
  t.equal(a.suite, 'AES_CM_128_HMAC_SHA1_80');
  t.equal(a.srtpSuite?.rtpTagLength, 10);
  t.equal(a.keys.length, 1);
  const k = a.keys[0]!;
  const raw = Buffer.from(KEY40, 'base64');
  t.same(k.masterKey.key, raw.subarray(0, 16));
  t.same(k.masterKey.salt, raw.subarray(16));
  t.equal(k.lifetime, 2 ** 20);
  t.same(k.mki, { value: 1n, length: 4 });
  t.same(a.mkiBytes, Buffer.from([0, 0, 0, 1]));
  t.same(a.sessionParams, []);
});

t.test('parse: variants', async (t) => {
  const b = parseCryptoAttribute(`crypto:7 AES_CM_128_HMAC_SHA1_32 inline:${KEY40}|1048576 WSH=64 -FOO=1\r`);
  t.equal(b.tag, 7);
  t.equal(b.keys[0]!.lifetime, 1048576);
  t.equal(b.keys[0]!.mki, undefined);
  t.same(b.sessionParams, ['WSH=64', '-FOO=1']);
  const c = parseCryptoAttribute(`2 AES_CM_128_HMAC_SHA1_80 inline:${KEY40}|5:1;inline:${KEY40}|2^31|6:1`);
  t.equal(c.keys.length, 2);
  t.same(c.keys.map((k) => k.mki?.value), [5n, 6n]);
  t.equal(c.keys[0]!.lifetime, undefined);
  const gcmKey = randomBytes(28).toString('base64');
  t.match(gcmKey, /=$/, '28 octets carry base64 padding');
  const g = parseCryptoAttribute(`a=crypto:3 AEAD_AES_128_GCM inline:${gcmKey}`);
  t.same([g.keys[0]!.masterKey.key.length, g.keys[0]!.masterKey.salt.length], [16, 12]);
  t.same(g.keys[0]!.masterKey.concat(), Buffer.from(gcmKey, 'base64'));
  const unknown = parseCryptoAttribute('a=crypto:4 AES_256_CM_HMAC_SHA1_80 inline:whatever|2^20');
  t.equal(unknown.srtpSuite, undefined);
  t.same(unknown.keys, []);
  t.same(new CryptoMki(258n, 3).toBuffer(), Buffer.from([0, 1, 2]));
  t.equal(JSON.stringify(c.keys[0]!.mki), '"5:1"');
});

t.test('parse: malformed lines', async (t) => {
  const bad = [
    'a=crypto:1 AES_CM_128_HMAC_SHA1_80',
    `a=crypto:x AES_CM_128_HMAC_SHA1_80 inline:${KEY40}`,
    `a=crypto:1234567890 AES_CM_128_HMAC_SHA1_80 inline:${KEY40}`,
    'a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:not*base64',
    `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY40.slice(0, 36)}`,
    `a=crypto:1 AEAD_AES_128_GCM inline:${KEY40}`,
    `a=crypto:1 AES_CM_128_HMAC_SHA1_80 keymgt:${KEY40}`,
    `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY40}|1:4|2^20`,
    `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY40}|256:1`,
    `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY40}|1:0`,
    `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY40}|2^49`,
    `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY40}|2^x`,
  ];
  for (const line of bad) t.throws(() => parseCryptoAttribute(line), CryptoAttributeError, line);
});

t.test('read and choose: first supported, offer order, tag kept', async (t) => {
  const sdp = [
    'v=0', 'm=audio 4000 RTP/SAVP 0',
    `a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:${randomBytes(46).toString('base64')}`,
    'a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:garbage!',
    `a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:${KEY40} UNENCRYPTED_SRTCP`,
    `a=crypto:4 AES_CM_128_HMAC_SHA1_80 inline:${KEY40}|1:1;inline:${KEY40}|2:1`,
    `a=crypto:5 AES_CM_128_HMAC_SHA1_32 inline:${KEY40} KDR=1`,
    `a=crypto:6 AES_CM_128_HMAC_SHA1_32 inline:${KEY40} FEC_ORDER=FEC_SRTP`,
    `a=crypto:7 AES_CM_128_HMAC_SHA1_32 inline:${KEY40}|2^31 WSH=128`,
    `a=crypto:8 AES_CM_128_HMAC_SHA1_80 inline:${KEY40}`,
    '',
  ].join('\r\n');
  const offered = readCryptoAttributes(sdp);
  t.same(offered.map((a) => a.tag), [1, 3, 4, 5, 6, 7, 8], 'the malformed line 2 is skipped');
  t.equal(chooseCryptoAttribute(offered)?.tag, 7);
  t.equal(chooseCryptoAttribute(offered, ['AES_CM_128_HMAC_SHA1_80'])?.tag, 8);
  t.equal(chooseCryptoAttribute(offered, ['AEAD_AES_128_GCM']), undefined);
  t.equal(chooseCryptoAttribute([]), undefined);
});

t.test('create and answer: our own fresh key, injected randomness', async (t) => {
  const fixed = Buffer.from(Array.from({ length: 30 }, (_, i) => i));
  const a = createCryptoAttribute({ tag: 1, suite: 'AES_CM_128_HMAC_SHA1_80', random: () => Buffer.from(fixed) });
  t.equal(formatCryptoAttribute(a), `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${fixed.toString('base64')}`);
  const withParams = createCryptoAttribute({ tag: 2, suite: 'AES_CM_128_HMAC_SHA1_32', random: () => Buffer.from(fixed),
    lifetime: 2 ** 31, mki: { value: 1n, length: 4 } });
  t.equal(formatCryptoAttribute(withParams), `a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:${fixed.toString('base64')}|2^31|1:4`);
  const back = parseCryptoAttribute(formatCryptoAttribute(withParams));
  t.ok(back.keys[0]!.masterKey.equals(withParams.keys[0]!.masterKey));
  t.equal(back.keys[0]!.lifetime, 2 ** 31);
  t.same(back.keys[0]!.mki, { value: 1n, length: 4 });
  t.equal(formatCryptoAttribute(createCryptoAttribute({ tag: 3, suite: 'AES_CM_128_HMAC_SHA1_80', random: () => Buffer.from(fixed),
    lifetime: 1000 })), `a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:${fixed.toString('base64')}|1000`);
  const offer = parseCryptoAttribute(`a=crypto:9 AES_CM_128_HMAC_SHA1_32 inline:${KEY40}|2^20|1:4`);
  const answer = answerCryptoAttribute(offer);
  const answer2 = answerCryptoAttribute(offer);
  t.equal(answer.tag, 9, 'the offered tag is kept');
  t.equal(answer.suite, 'AES_CM_128_HMAC_SHA1_32');
  t.notOk(answer.keys[0]!.masterKey.equals(offer.keys[0]!.masterKey), 'never the offerer\'s key');
  t.notOk(answer.keys[0]!.masterKey.equals(answer2.keys[0]!.masterKey), 'fresh per answer');
  const gcm = createCryptoAttribute({ tag: 1, suite: 'AEAD_AES_128_GCM' });
  t.same([gcm.keys[0]!.masterKey.key.length, gcm.keys[0]!.masterKey.salt.length], [16, 12]);
  t.throws(() => createCryptoAttribute({ tag: 1, suite: 'AEAD_AES_128_GCM', random: () => Buffer.alloc(3) }), RangeError);
  t.throws(() => answerCryptoAttribute(parseCryptoAttribute('a=crypto:1 F8_128_HMAC_SHA1_80 inline:x')), CryptoAttributeError);
});

t.test('keys never in logs', async (t) => {
  const a = parseCryptoAttribute(`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY40}|2^20|1:4`);
  const keyHex = Buffer.from(KEY40, 'base64').toString('hex').slice(0, 12);
  for (const text of [String(a), `${a}`, JSON.stringify(a), JSON.stringify({ offer: a }), JSON.stringify(a.keys),
    inspect(a, { depth: 9, showHidden: true }), inspect(a.keys, { depth: 9 })]) {
    t.notOk(text.includes(KEY40.slice(0, 12)) || text.includes(keyHex), text);
  }
  t.match(String(a), /AES_CM_128_HMAC_SHA1_80 inline:\[redacted\]/);
  const sdp = `m=audio 1 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY40}|2^20|1:4\r\n`;
  t.equal(redactCryptoKeys(sdp), 'm=audio 1 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:[redacted]|2^20|1:4\r\n');
});

t.test('a parsed key drives an SrtpContext that talks to one made from our formatted line', async (t) => {
  for (const suite of ['AES_CM_128_HMAC_SHA1_80', 'AEAD_AES_128_GCM'] as const) {
    const ours = createCryptoAttribute({ tag: 1, suite, mki: { value: 3n, length: 2 } });
    const theirs = parseCryptoAttribute(formatCryptoAttribute(ours));
    const tx = new SrtpContext({ suite, key: ours.keys[0]!.masterKey, mki: ours.mkiBytes });
    const rx = new SrtpContext({ suite, key: theirs.keys[0]!.masterKey, mki: theirs.mkiBytes });
    const p = Buffer.concat([Buffer.from('800000010000000000000001', 'hex'), randomBytes(160)]);
    const u = rx.unprotectRtp(tx.protectRtp(p));
    t.same(u, p, suite);
  }
});
