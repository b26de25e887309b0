#!/usr/bin/env node
/**
 * Assembly benchmark: how long turning the spool of a one-hour call into its
 * stereo WAV takes (lib/recording/assemble.ts, timeline + interleave + write).
 *
 * Makes a synthetic spool of a one-hour A-law call in a temp dir: both legs
 * 180,000 packets of 20 ms; the caller with up to 30 ms of jitter (reordering)
 * and 1 % loss, the callee with a clock 50 ppm fast, jitter, a duplicate every
 * 500 packets and an SSRC change at half time. Then runs assembleRecording
 * (both-stereo, 57.6 MB WAV) BENCH_REPEAT times and prints each time and the
 * median. The spool is written once and not timed; the temp dir is removed.
 *
 * Needs a build (npx tsc -p .): it imports dist/lib/recording.
 *
 * Environment:
 *   BENCH_REPEAT   runs (default 3)
 *   BENCH_SECONDS  call length in seconds (default 3600)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DIST = path.join(ROOT, 'dist', 'lib', 'recording');
if (!fs.existsSync(path.join(DIST, 'assemble.js'))) {
  console.error('bench-assembly: dist/lib/recording/assemble.js is missing; run npx tsc -p . first');
  process.exit(2);
}
const { assembleRecording } = await import(path.join(DIST, 'assemble.js'));
const { RECORD_BYTES, writeRecord } = await import(path.join(DIST, 'spool-format.js'));

const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3600);
const ORIGIN = 1_700_000_000_000;
const PACKETS = SECONDS * 50;

function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Writes one leg's spool; returns its paths and packet count. */
function writeLeg(dir, leg, { seed, ppm, lossRate, jitterMs, dupEvery, ssrcChangeAt }) {
  const rand = prng(seed);
  const packets = [];
  for (let i = 0; i < PACKETS; i++) {
    if (rand() < lossRate) continue;
    const send = (i * 20) / (1 + ppm * 1e-6);
    const second = ssrcChangeAt !== undefined && i >= ssrcChangeAt;
    const p = { i, arrival: ORIGIN + send + rand() * jitterMs, ssrc: second ? 0x2222 : 0x1111, ts: ((second ? 777 : 99) + i * 160) >>> 0 };
    packets.push(p);
    if (dupEvery > 0 && i % dupEvery === 0) packets.push({ ...p, arrival: p.arrival + 1 });
  }
  packets.sort((a, b) => a.arrival - b.arrival);
  const index = Buffer.alloc(packets.length * RECORD_BYTES);
  const payload = Buffer.alloc(packets.length * 160);
  const rec = { arrival: 0, payloadOffset: 0, timestamp: 0, ssrc: 0, seq: 0, marker: false, payloadType: 8, flags: 0, length: 160 };
  packets.forEach((p, k) => {
    payload.fill((p.i * 7) & 0xff, k * 160, (k + 1) * 160);
    rec.arrival = p.arrival;
    rec.payloadOffset = k * 160;
    rec.timestamp = p.ts;
    rec.ssrc = p.ssrc;
    rec.seq = p.i & 0xffff;
    writeRecord(index, k * RECORD_BYTES, rec);
  });
  const paths = { index: path.join(dir, `${leg}.index`), payload: path.join(dir, `${leg}.payload`) };
  fs.writeFileSync(paths.payload, payload);
  fs.writeFileSync(paths.index, index);
  return paths;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'callrec-bench-assembly-'));
try {
  const caller = writeLeg(dir, 'caller', { seed: 1, ppm: 0, lossRate: 0.01, jitterMs: 30, dupEvery: 0 });
  const callee = writeLeg(dir, 'callee', { seed: 2, ppm: 50, lossRate: 0, jitterMs: 10, dupEvery: 500, ssrcChangeAt: PACKETS / 2 });
  const times = [];
  let result;
  for (let r = 0; r < REPEAT; r++) {
    const base = path.join(dir, `out-${r}`);
    const t0 = process.hrtime.bigint();
    result = await assembleRecording({ caller, callee, codec: 'pcma', channels: 'both-stereo', originMs: ORIGIN, endMs: ORIGIN + SECONDS * 1000 + 100, outputBase: base });
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    fs.rmSync(`${base}.wav`);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  const s = result.stats;
  console.log(`assembly of a ${SECONDS} s call, both legs to one stereo A-law WAV (${(result.files[0].fileBytes / 1e6).toFixed(1)} MB)`);
  console.log(`  caller: placed ${s.caller.placed}, lost ${s.caller.lostUnits} units, late ${s.caller.late}, re-anchors ${s.caller.reanchors}`);
  console.log(`  callee: placed ${s.callee.placed}, duplicates ${s.callee.duplicates}, segments ${s.callee.segments}, re-anchors ${s.callee.reanchors}`);
  console.log(`  runs: ${times.map((t) => `${t.toFixed(0)} ms`).join(', ')}`);
  console.log(`  median: ${median.toFixed(0)} ms (node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'}, ${os.cpus().length} cpus)`);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
