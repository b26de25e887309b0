#!/usr/bin/env node
/**
 * SRTP micro-benchmark on the compiled code (run `npx tsc -p .` first):
 *
 *   node bench/srtp/run.mjs            # every suite, 3 runs of ~1 s each
 *   BENCH_SRTP_SECONDS=2 node bench/srtp/run.mjs
 *
 * Per suite and crypto implementation (js: lib/media/srtp's JavaScript;
 * native: native/srtp_crypto.c, when build/Release/srtp_crypto.node loads;
 * native+reuse: the same with protect writing into the context's reused
 * output buffer): packets per second for protect + unprotect (one pair =
 * one packet) of a 172-octet RTP packet (12-octet header + 160 octets of
 * G.711, 20 ms), sequence numbers running on across the 65535 -> 0 wrap; the
 * median of 3 runs. Also the SRTCP pair rate and the JavaScript primitives
 * the JS path chose between (why: see lib/media/srtp/aes-cm-keystream.ts, hmac-sha1.ts):
 *   - AES-CTR keystream: createCipheriv('aes-128-ctr') per packet vs one
 *     reused ECB cipher over our own counter blocks
 *   - HMAC-SHA1 over 176 octets: createHmac per packet vs HmacSha1 with
 *     precomputed pads
 *   - AES-128-GCM seal of 160 octets with a 12-octet AAD: createCipheriv
 *     ('aes-128-gcm') per packet vs AesGcm (reused ECB + table GHASH)
 * One CPU core; the machine's other load shows in the spread, so the
 * figures are medians. Results print as a table and as one JSON line.
 */
import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const dist = (p) => pathToFileURL(path.join(ROOT, 'dist', 'lib', 'media', 'srtp', p)).href;
const { SrtpContext } = await import(dist('srtp-context.js'));
const { SrtpMasterKey } = await import(dist('master-key.js'));
const { AesCmKeystream } = await import(dist('aes-cm-keystream.js'));
const { HmacSha1 } = await import(dist('hmac-sha1.js'));
const { AesGcm } = await import(dist('aes-gcm.js'));
const { loadSrtpCryptoAddon } = await import(dist('native-crypto.js'));
const nativeLoaded = loadSrtpCryptoAddon();
const IMPLS = nativeLoaded instanceof Error ? ['js'] : ['js', 'native', 'native+reuse'];

const SECONDS = Number(process.env.BENCH_SRTP_SECONDS ?? 1);
const RUNS = 3;
const SUITES = ['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32', 'AEAD_AES_128_GCM'];

/** Calls step(i) in batches until SECONDS passed; returns operations per second. */
function rate(step) {
  for (let i = 0; i < 2000; i++) step(i); // warm-up
  const end = process.hrtime.bigint() + BigInt(Math.round(SECONDS * 1e9));
  const start = process.hrtime.bigint();
  let n = 0;
  let now = start;
  while (now < end) {
    for (let k = 0; k < 1000; k++) step(n++);
    now = process.hrtime.bigint();
  }
  return n / (Number(now - start) / 1e9);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const measure = (step) => {
  const runs = [];
  for (let r = 0; r < RUNS; r++) runs.push(rate(step));
  return { median: Math.round(median(runs)), runs: runs.map(Math.round) };
};

function contexts(suite, crypto) {
  const key = new SrtpMasterKey(randomBytes(16), randomBytes(suite === 'AEAD_AES_128_GCM' ? 12 : 14));
  return [new SrtpContext({ suite, key, crypto }), new SrtpContext({ suite, key, crypto })];
}

const results = {
  node: process.version, cpu: os.cpus()[0]?.model ?? 'unknown', loadavg: os.loadavg().map((x) => +x.toFixed(2)),
  native: nativeLoaded instanceof Error ? `not loaded: ${nativeLoaded.message}` : 'loaded', suites: {}, primitives: {},
};

for (const suite of SUITES) for (const impl of IMPLS) {
  const reuse = impl === 'native+reuse';
  const [tx, rx] = contexts(suite, impl === 'js' ? 'js' : 'native');
  const rtp = Buffer.alloc(172);
  rtp[0] = 0x80;
  rtp[1] = 8;
  rtp.writeUInt32BE(0x5eed5eed, 8);
  randomBytes(160).copy(rtp, 12);
  let seq = 65000;
  const rtpPair = measure(() => {
    rtp.writeUInt16BE(seq, 2);
    seq = (seq + 1) & 0xffff;
    const out = rx.unprotectRtp(tx.protectRtp(rtp, rtp.length, reuse));
    if (typeof out === 'string') throw new Error(`${suite} ${impl}: ${out}`);
  });
  const rtcp = Buffer.concat([Buffer.from([0x80, 0xc8, 0x00, 0x06, 0x5e, 0xed, 0x5e, 0xed]), randomBytes(20)]);
  const rtcpPair = measure(() => {
    const out = rx.unprotectRtcp(tx.protectRtcp(rtcp, rtcp.length, reuse));
    if (typeof out === 'string') throw new Error(`${suite} ${impl} rtcp: ${out}`);
  });
  (results.suites[suite] ??= {})[impl] = { rtpProtectUnprotectPerSecond: rtpPair, rtcpProtectUnprotectPerSecond: rtcpPair };
}

{
  const key = randomBytes(16);
  const iv = randomBytes(16);
  iv[14] = iv[15] = 0;
  const payload = randomBytes(160);
  const out = Buffer.alloc(160);
  results.primitives.ctrCreateCipherivPerPacket = measure((i) => {
    iv[13] = i;
    createCipheriv('aes-128-ctr', key, iv).update(payload).copy(out);
  });
  const ks = new AesCmKeystream(key);
  results.primitives.ctrReusedEcb = measure((i) => ks.xor(1, 2, 3 ^ i, 0, payload, 0, 160, out, 0));
  const authKey = randomBytes(20);
  const msg = randomBytes(172);
  const roc = Buffer.alloc(4);
  const tag = Buffer.alloc(10);
  results.primitives.hmacCreateHmacPerPacket = measure(() => {
    createHmac('sha1', authKey).update(msg).update(roc).digest().copy(tag, 0, 0, 10);
  });
  const hmac = new HmacSha1(authKey);
  results.primitives.hmacPrecomputedPads = measure(() => hmac.sign(msg, 0, 172, 0, tag, 0, 10));
  const gcmIv = randomBytes(12);
  const gcmOut = Buffer.alloc(176);
  results.primitives.gcmCreateCipherivPerPacket = measure((i) => {
    gcmIv[11] = i;
    const c = createCipheriv('aes-128-gcm', key, gcmIv, { authTagLength: 16 });
    c.setAAD(msg.subarray(0, 12));
    c.update(msg.subarray(12)).copy(gcmOut, 12);
    c.final();
    c.getAuthTag().copy(gcmOut, 160);
  });
  const gcm = new AesGcm(key);
  results.primitives.gcmReusedEcbTableGhash = measure((i) => gcm.seal(1, 2, i, msg, 0, 12, msg, 12, 172, gcmOut, 0, gcmOut, 160));
}

const fmt = (n) => n.toLocaleString('en-US');
console.log(`SRTP bench: ${results.node}, ${results.cpu}, load ${results.loadavg.join(' ')}, median of ${RUNS} x ${SECONDS}s`);
if (nativeLoaded instanceof Error) console.log(`native SRTP module not loaded (${nativeLoaded.message}): JavaScript only`);
console.log('suite                     crypto          RTP pairs/s  us/pair  vs js   SRTCP pairs/s');
for (const [suite, byImpl] of Object.entries(results.suites)) {
  const js = byImpl.js.rtpProtectUnprotectPerSecond.median;
  for (const [impl, r] of Object.entries(byImpl)) {
    const rtp = r.rtpProtectUnprotectPerSecond.median;
    console.log(`${suite.padEnd(26)}${impl.padEnd(14)}${fmt(rtp).padStart(13)}${(1e6 / rtp).toFixed(2).padStart(9)}`
      + `${`${(rtp / js).toFixed(2)}x`.padStart(7)}${fmt(r.rtcpProtectUnprotectPerSecond.median).padStart(16)}`);
  }
}
console.log('JavaScript primitive (160-176 octets) ops/s');
for (const [name, r] of Object.entries(results.primitives)) console.log(`${name.padEnd(34)}${fmt(r.median).padStart(13)}`);
console.log(JSON.stringify(results));
