/**
 * The native SRTP crypto module (native/srtp_crypto.c) against the
 * JavaScript implementation, its reference.
 *
 * Verifies:
 * - the module loads (a build without it fails here, as batched I/O does)
 * - RFC 3711 Appendix B.2: the AES-CM keystream segment, from the native
 *   CTR session with authentication off (TAG_LEN 0)
 * - RFC 2202 HMAC-SHA-1 test cases 1-3, 6 (key longer than a block), and
 *   HMAC over every length 0-300 with and without the 32-bit trailer, equal
 *   to crypto.createHmac, with encryption off (ENC_END = ENC_START)
 * - every suite, with and without MKI, RTP payload lengths 0-300 and SRTCP
 *   bodies 0-300: native protect equals JavaScript protect octet for
 *   octet, also into the reused output buffer; each unprotects the other's
 * - protect with `reuse`: one buffer per context, views by length, the
 *   input unchanged, the result overwritten by the next protect
 * - tampered packets (every octet flipped in turn) rejected as 'auth' with
 *   the buffer unchanged (GCM decrypts to a scratch area first); replayed
 *   packets rejected
 * - offsets out of range and a session of the wrong kind throw, touching nothing
 * - fallback: CALLREC_SRTP_CRYPTO=js, a missing module (selectSrtpCrypto with
 *   a wrong path; and a copy of the compiled code with no build/ beside it,
 *   in a child process, whose SrtpContext then runs on JavaScript);
 *   CALLREC_SRTP_CRYPTO=native with a missing module is an error
 */
import { execFileSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { SrtpMasterKey } from '../../../lib/media/srtp/master-key.js';
import {
  loadSrtpCryptoAddon, NativeAesCmHmac, P_AUTH_END, P_COPY, P_ENC_END, P_ENC_START, P_HAS_TRAILER, P_IV0, P_IV1,
  P_IV2, P_IV3, P_TAG_AT, P_TAG_LEN, P_TRAILER, PARAM_BYTES, selectSrtpCrypto, type SrtpCryptoAddon,
} from '../../../lib/media/srtp/native-crypto.js';
import { SrtpContext } from '../../../lib/media/srtp/srtp-context.js';
import type { SrtpSuiteName } from '../../../lib/media/srtp/srtp-suite.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const SUITES: SrtpSuiteName[] = ['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32', 'AEAD_AES_128_GCM'];

const loaded = loadSrtpCryptoAddon();
if (loaded instanceof Error) {
  t.fail(`native SRTP module does not load: ${loaded.message}`);
  process.exit(1);
}
const addon: SrtpCryptoAddon = loaded;

/** A CM session with only the keystream (TAG_LEN 0) or only the MAC (empty encryption range). */
function cm(encKey: Buffer, authKey: Buffer = Buffer.alloc(20)): NativeAesCmHmac {
  return new NativeAesCmHmac(addon, encKey, authKey);
}

function keystream(s: NativeAesCmHmac, iv: Buffer, n: number): Buffer {
  const buf = Buffer.alloc(n);
  const p = s.p;
  p.fill(0);
  p[P_ENC_END] = n;
  p[P_IV0] = iv.readUInt32BE(0);
  p[P_IV1] = iv.readUInt32BE(4);
  p[P_IV2] = iv.readUInt32BE(8);
  p[P_IV3] = iv.readUInt32BE(12);
  s.protect(buf, buf);
  return buf;
}

function mac(s: NativeAesCmHmac, data: Buffer, trailer?: number): Buffer {
  const buf = Buffer.concat([data, Buffer.alloc(20)]);
  const p = s.p;
  p.fill(0);
  p[P_AUTH_END] = data.length;
  p[P_HAS_TRAILER] = trailer === undefined ? 0 : 1;
  p[P_TRAILER] = trailer ?? 0;
  p[P_TAG_AT] = data.length;
  p[P_TAG_LEN] = 20;
  s.protect(buf, buf);
  return buf.subarray(data.length);
}

t.test('RFC 3711 B.2: AES-CM keystream segment', async (t) => {
  const s = cm(hex('2B7E151628AED2A6ABF7158809CF4F3C'));
  // "IV = F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000"
  const ks = keystream(s, hex('F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000'), 48);
  t.equal(ks.toString('hex'), hex(`E03EAD0935C95E80E166B16DD92B4EB4
    D23513162B02D0F72A43A2FE4A5F97AB 41E95B3BB0A2E8DD477901E4FCA894C0`).toString('hex'));
  // the whole segment of B.2: 65282 blocks, counters ...FD0000 to ...FDFF01
  const long = keystream(s, hex('F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000'), 1044512);
  t.equal(long.subarray(long.length - 48).toString('hex'), hex(`EC8CDF7398607CB0F2D21675EA9EA1E4
    362B7C3C6773516318A077D7FC5073AE 6A2CC3787889374FBEB4C81B17BA6C44`).toString('hex'));
  t.equal(keystream(s, Buffer.alloc(16), 65536 * 16).length, 65536 * 16, '2^16 blocks');
  t.throws(() => keystream(s, Buffer.alloc(16), 65536 * 16 + 1), RangeError, 'beyond 2^16 blocks');
});

t.test('RFC 2202 HMAC-SHA-1, and every length 0-300 against createHmac', async (t) => {
  const cases: [Buffer, Buffer, string][] = [
    [Buffer.alloc(20, 0x0b), Buffer.from('Hi There'), 'b617318655057264e28bc0b6fb378c8ef146be00'],
    [Buffer.from('Jefe'), Buffer.from('what do ya want for nothing?'), 'effcdf6ae5eb2fa2d27416d5f184df9c259a7c79'],
    [Buffer.alloc(20, 0xaa), Buffer.alloc(50, 0xdd), '125d7342b9ac11cd91a39af48aa17b4f63f175d3'],
    [Buffer.alloc(80, 0xaa), Buffer.from('Test Using Larger Than Block-Size Key - Hash Key First'), 'aa4ae5e15272d00e95705637ce8a3b55ed402112'],
  ];
  for (const [key, data, want] of cases) t.equal(mac(cm(Buffer.alloc(16), key), data).toString('hex'), want);
  const key = randomBytes(20);
  const s = cm(Buffer.alloc(16), key);
  let bad = 0;
  for (let n = 0; n <= 300; n++) {
    const data = randomBytes(n);
    const roc = randomBytes(4).readUInt32BE(0);
    if (!mac(s, data).equals(createHmac('sha1', key).update(data).digest())) bad++;
    const withRoc = createHmac('sha1', key).update(data).update(Buffer.from(roc.toString(16).padStart(8, '0'), 'hex')).digest();
    if (!mac(s, data, roc).equals(withRoc)) bad++;
  }
  t.equal(bad, 0);
});

function rtpPacket(seq: number, payload: number): Buffer {
  const p = randomBytes(12 + payload);
  p[0] = 0x80;
  p[1] = 0x60;
  p.writeUInt16BE(seq & 0xffff, 2);
  p.writeUInt32BE(0x5eed0001, 8);
  return p;
}

const rtcpPacket = (body: number): Buffer => Buffer.concat([Buffer.from([0x80, 0xc9, 0x00, 0x01, 0x5e, 0xed, 0x00, 0x01]), randomBytes(body)]);

for (const suite of SUITES) {
  for (const mki of [undefined, Buffer.from([9, 8, 7])]) {
    t.test(`${suite}${mki ? ' with MKI' : ''}: native equals JavaScript for every length 0-300`, async (t) => {
      const key = new SrtpMasterKey(randomBytes(16), randomBytes(suite === 'AEAD_AES_128_GCM' ? 12 : 14));
      const make = (crypto: 'js' | 'native'): SrtpContext => new SrtpContext({ suite, key, mki, crypto });
      const [js, nat, natReuse, jsRx, natRx] = [make('js'), make('native'), make('native'), make('js'), make('native')];
      t.equal(nat.crypto, 'native');
      t.equal(js.crypto, 'js');
      let bad = 0;
      for (let n = 0; n <= 300; n++) {
        const p = rtpPacket(65400 + n, n);
        const copy = Buffer.from(p);
        const a = js.protectRtp(p);
        const b = nat.protectRtp(p);
        const c = natReuse.protectRtp(p, p.length, true);
        if (!a.equals(b) || !a.equals(c) || !p.equals(copy)) bad++;
        const ua = natRx.unprotectRtp(Buffer.from(a));
        const ub = jsRx.unprotectRtp(Buffer.from(c));
        if (typeof ua === 'string' || typeof ub === 'string' || !ua.equals(p) || !ub.equals(p)) bad++;
        const r = rtcpPacket(n);
        const ra = js.protectRtcp(r);
        const rb = nat.protectRtcp(r);
        const rc = natReuse.protectRtcp(r, r.length, true);
        if (!ra.equals(rb) || !ra.equals(rc)) bad++;
        const ura = natRx.unprotectRtcp(Buffer.from(ra));
        const urb = jsRx.unprotectRtcp(Buffer.from(rc));
        if (typeof ura === 'string' || typeof urb === 'string' || !ura.equals(r) || !urb.equals(r)) bad++;
      }
      t.equal(bad, 0, 'protect equal, each unprotects the other (the wrap 65535 -> 0 included)');
      t.equal(natRx.rolloverCounter(0x5eed0001, 'receive'), 1);
      t.same(natRx.counters, jsRx.counters);
    });
  }

  t.test(`${suite}: native rejects tampered and replayed packets, buffer unchanged`, async (t) => {
    const key = new SrtpMasterKey(randomBytes(16), randomBytes(suite === 'AEAD_AES_128_GCM' ? 12 : 14));
    const tx = new SrtpContext({ suite, key, crypto: 'native' });
    const rx = new SrtpContext({ suite, key, crypto: 'native' });
    const good = tx.protectRtp(rtpPacket(7, 40));
    let accepted = 0;
    let changed = 0;
    for (let i = 0; i < good.length; i++) {
      const bad = Buffer.from(good);
      bad[i]! ^= 0x01 << (i % 8);
      const before = Buffer.from(bad);
      const r = rx.unprotectRtp(bad);
      if (typeof r !== 'string') accepted++;
      if (!bad.equals(before)) changed++;
    }
    t.equal(accepted, 0, 'no flipped bit passes');
    t.equal(changed, 0, 'a rejected packet is left as it came');
    t.equal(rx.counters.rtpUnprotected, 0);
    t.type(rx.unprotectRtp(Buffer.from(good)), Buffer, 'the real packet passes');
    t.equal(rx.unprotectRtp(Buffer.from(good)), 'replay', 'and only once');
    const c = tx.protectRtcp(rtcpPacket(20));
    const cBad = Buffer.from(c);
    cBad[12]! ^= 0x80;
    t.equal(rx.unprotectRtcp(cBad), 'auth');
    t.type(rx.unprotectRtcp(Buffer.from(c)), Buffer);
    t.equal(rx.unprotectRtcp(Buffer.from(c)), 'replay');
  });
}

t.test('protect into the reused buffer', async (t) => {
  const key = new SrtpMasterKey(randomBytes(16), randomBytes(14));
  const tx = new SrtpContext({ suite: 'AES_CM_128_HMAC_SHA1_80', key, crypto: 'native' });
  const a = tx.protectRtp(rtpPacket(1, 160), 172, true);
  const aCopy = Buffer.from(a);
  const b = tx.protectRtp(rtpPacket(2, 160), 172, true);
  t.equal(a.buffer, b.buffer, 'one buffer');
  t.equal(a, b, 'the same view for the same length (no allocation)');
  t.notSame(aCopy, b, 'overwritten by the next protect');
  const c = tx.protectRtcp(rtcpPacket(20), 28, true);
  t.equal(c.buffer, a.buffer, 'RTCP shares it');
  t.equal(c.length, 28 + 4 + 10);
  const big = tx.protectRtp(rtpPacket(3, 3000), 3012, true);
  t.equal(big.length, 3022, 'a larger packet grows the buffer');
  const rx = new SrtpContext({ suite: 'AES_CM_128_HMAC_SHA1_80', key, crypto: 'js' });
  t.type(rx.unprotectRtp(Buffer.from(big)), Buffer);
  const fresh = tx.protectRtp(rtpPacket(4, 160));
  t.not(fresh.buffer, big.buffer, 'without reuse: a buffer of its own');
});

t.test('native checks offsets and session kinds', async (t) => {
  const params = new ArrayBuffer(PARAM_BYTES);
  const session = addon.cmCreate(randomBytes(16), randomBytes(20), params);
  const p = new Int32Array(params);
  const buf = Buffer.alloc(64, 7);
  const before = Buffer.from(buf);
  const cases: [string, (p: Int32Array) => void][] = [
    ['encryption past the end', (p) => { p[P_ENC_END] = 65; }],
    ['negative start', (p) => { p[P_ENC_START] = -1; p[P_ENC_END] = 4; }],
    ['end before start', (p) => { p[P_ENC_START] = 10; p[P_ENC_END] = 4; }],
    ['tag past the end', (p) => { p[P_TAG_LEN] = 10; p[P_AUTH_END] = 10; p[P_TAG_AT] = 60; }],
    ['tag too long', (p) => { p[P_TAG_LEN] = 21; p[P_AUTH_END] = 10; p[P_TAG_AT] = 0; }],
    ['tag offset overflowing', (p) => { p[P_TAG_LEN] = 10; p[P_AUTH_END] = 10; p[P_TAG_AT] = 0x7ffffffc; }],
    ['authenticated portion past the end', (p) => { p[P_TAG_LEN] = 10; p[P_AUTH_END] = 100; p[P_TAG_AT] = 0; }],
    ['header copy past the end', (p) => { p[P_COPY] = 65; }],
  ];
  for (const [what, set] of cases) {
    p.fill(0);
    set(p);
    t.throws(() => addon.cmProtect(session, buf, Buffer.alloc(64)), RangeError, what);
    // unprotect decrypts in place: it has no header to copy
    if (!what.startsWith('header')) t.throws(() => addon.cmUnprotect(session, buf), RangeError, what);
  }
  p.fill(0);
  p[P_COPY] = 65;
  t.throws(() => addon.cmProtect(session, Buffer.alloc(80), buf), RangeError, 'header copy past the destination');
  t.same(buf, before, 'nothing written');
  const gcm = addon.gcmCreate(randomBytes(16), new ArrayBuffer(PARAM_BYTES));
  t.throws(() => addon.cmProtect(gcm, buf, buf), 'a GCM session is not a CM session');
  t.throws(() => addon.gcmOpen(session, buf, buf), 'nor the other way round');
  t.throws(() => addon.cmProtect({} as never, buf, buf), 'not a session');
  t.throws(() => addon.cmCreate(randomBytes(15), randomBytes(20), new ArrayBuffer(PARAM_BYTES)), RangeError, 'AES key length');
  t.throws(() => addon.cmCreate(randomBytes(16), randomBytes(20), new ArrayBuffer(8)), 'params too small');
  t.same(buf, before, 'nothing written');
});

t.test('fallback to JavaScript', async (t) => {
  t.same(selectSrtpCrypto({ CALLREC_SRTP_CRYPTO: 'js' }), { name: 'js', addon: undefined, reason: 'CALLREC_SRTP_CRYPTO=js' });
  t.equal(selectSrtpCrypto({}).name, 'native');
  const missing = selectSrtpCrypto({}, '/nonexistent/srtp_crypto.node');
  t.equal(missing.name, 'js');
  t.match(missing.reason, /native SRTP module not loaded/);
  t.throws(() => selectSrtpCrypto({ CALLREC_SRTP_CRYPTO: 'native' }, '/nonexistent/srtp_crypto.node'), /CALLREC_SRTP_CRYPTO=native/);

  // The compiled SRTP code copied where no build/Release/srtp_crypto.node is beside it.
  const here = path.dirname(fileURLToPath(import.meta.url));
  const distLib = path.resolve(here, '..', '..', '..', 'lib', 'media');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'srtp-fallback-'));
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const media = path.join(tmp, 'dist', 'lib', 'media');
  fs.cpSync(path.join(distLib, 'srtp'), path.join(media, 'srtp'), { recursive: true });
  fs.copyFileSync(path.join(distLib, 'rtp-header.js'), path.join(media, 'rtp-header.js'));
  fs.writeFileSync(path.join(tmp, 'package.json'), '{"type":"module"}');
  const script = `
    import { SrtpContext } from './dist/lib/media/srtp/srtp-context.js';
    import { SrtpMasterKey } from './dist/lib/media/srtp/master-key.js';
    import { srtpCrypto } from './dist/lib/media/srtp/native-crypto.js';
    const key = new SrtpMasterKey(Buffer.alloc(16, 1), Buffer.alloc(14, 2));
    const tx = new SrtpContext({ suite: 'AES_CM_128_HMAC_SHA1_80', key });
    const rx = new SrtpContext({ suite: 'AES_CM_128_HMAC_SHA1_80', key });
    const p = Buffer.alloc(172, 5); p[0] = 0x80;
    const u = rx.unprotectRtp(tx.protectRtp(p, p.length, true));
    console.log(JSON.stringify({ crypto: tx.crypto, ok: typeof u !== 'string' && u.equals(p), reason: srtpCrypto().reason }));`;
  fs.writeFileSync(path.join(tmp, 'probe.mjs'), script);
  const env = { ...process.env };
  delete env['CALLREC_SRTP_CRYPTO'];
  const out = JSON.parse(execFileSync(process.execPath, ['probe.mjs'], { cwd: tmp, env, encoding: 'utf8' })) as { crypto: string; ok: boolean; reason: string };
  t.equal(out.crypto, 'js', 'SrtpContext runs on JavaScript');
  t.equal(out.ok, true, 'and works');
  t.match(out.reason, /srtp_crypto\.node/, 'the reason names the module');
});
