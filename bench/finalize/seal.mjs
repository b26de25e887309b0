#!/usr/bin/env node
/**
 * Sealing benchmark (SPEC E1-E3; performance aim "finalization of a one-hour
 * call in well under a second"): the evidence part of finalization for one
 * hour of stereo G.711, a 57.6 MB WAV (3600 s x 8000 samples/s x 2 channels x
 * 1 byte + 44-byte header).
 *
 * Per run it times sealRecording() end to end (SHA-256 of the info file and
 * the WAV, streamed; info, hash and signature files written to temp names,
 * fsynced and renamed; folder fsync; one RSA-2048 signature), and, apart,
 * the streamed SHA-256 of the WAV alone and one signature alone. BENCH_RUNS
 * runs (default 5); prints the medians and writes them with the raw times to
 * bench/finalize/results-<date>.json.
 *
 * The WAV is written just before the runs, so it is read from the page cache,
 * as it is when finalization follows assembly directly. Needs a build (dist/).
 *
 * Environment:
 *   BENCH_RUNS   runs (default 5)
 *   BENCH_DIR    folder for the test files (default: a new folder in the OS temp dir, removed afterwards)
 *   BENCH_OUT    result file (default bench/finalize/results-<date>.json; "-" for none)
 */
import { sign } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const DIST = path.join(ROOT, 'dist', 'lib');
if (!fs.existsSync(path.join(DIST, 'evidence', 'seal.js'))) {
  console.error('bench/finalize: dist/lib/evidence/seal.js is missing; run `npx tsc -p .` first');
  process.exit(2);
}
const { loadOrCreateKeystore } = await import(pathToFileURL(path.join(DIST, 'keys', 'keystore.js')).href);
const { sealRecording } = await import(pathToFileURL(path.join(DIST, 'evidence', 'seal.js')).href);
const { sha256File } = await import(pathToFileURL(path.join(DIST, 'evidence', 'hash-file.js')).href);
const { isoTimestamp } = await import(pathToFileURL(path.join(DIST, 'evidence', 'info-file.js')).href);

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const SECONDS = 3600;
const CHANNELS = 2;
const DATA_BYTES = SECONDS * 8000 * CHANNELS;

const ownDir = process.env.BENCH_DIR === undefined;
const dir = process.env.BENCH_DIR ?? fs.mkdtempSync(path.join(os.tmpdir(), 'callrec-bench-seal-'));
fs.mkdirSync(dir, { recursive: true });
const baseName = '20261122-141503_+49891234567_+4930123456201_bench';
const wav = `${baseName}.wav`;

function writeWav(file) {
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + DATA_BYTES, 4);
  header.write('WAVEfmt ', 8, 'ascii');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(6, 20); // A-law
  header.writeUInt16LE(CHANNELS, 22);
  header.writeUInt32LE(8000, 24);
  header.writeUInt32LE(8000 * CHANNELS, 28);
  header.writeUInt16LE(CHANNELS, 32);
  header.writeUInt16LE(8, 34);
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(DATA_BYTES, 40);
  const fd = fs.openSync(file, 'w');
  fs.writeSync(fd, header);
  const chunk = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (0xd5 ^ ((i * 7) & 0x3f)) & 0xff; // A-law near silence, varied
  for (let left = DATA_BYTES; left > 0; left -= chunk.length) fs.writeSync(fd, chunk, 0, Math.min(left, chunk.length));
  fs.fsyncSync(fd);
  fs.closeSync(fd);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

try {
  writeWav(path.join(dir, wav));
  const size = fs.statSync(path.join(dir, wav)).size;
  const keystore = await loadOrCreateKeystore(path.join(dir, 'keys'), 'bench');
  const now = Date.now();
  const info = {
    start: isoTimestamp(now - SECONDS * 1000), answer: isoTimestamp(now - SECONDS * 1000 + 5000), end: isoTimestamp(now),
    durationSeconds: SECONDS, callerCallId: 'bench-a@192.0.2.4', calleeCallId: 'bench-b@192.0.2.10',
    callerNumber: '+49891234567', callerName: 'Bench Caller', calleeNumber: '+4930123456201', calleeName: 'Bench Callee',
    direction: 'outbound', profile: 'bench', instance: 'bench', softwareVersion: '0.1.0', codec: 'PCMA',
    channels: 'both-stereo', stopReason: 'hangup',
  };
  // Warm-up (JIT, page cache), not counted.
  await sealRecording({ dir, baseName, audioFiles: [wav], info, keystore, previous: undefined });

  const seal = [];
  const hash = [];
  const signing = [];
  let previous;
  for (let i = 0; i < RUNS; i++) {
    let t0 = performance.now();
    const r = await sealRecording({ dir, baseName, audioFiles: [wav], info, keystore, previous });
    seal.push(performance.now() - t0);
    previous = { baseName, signature: r.signature };
    t0 = performance.now();
    await sha256File(path.join(dir, wav));
    hash.push(performance.now() - t0);
    const data = fs.readFileSync(r.hashFile);
    t0 = performance.now();
    sign('sha256', data, keystore.privateKey);
    signing.push(performance.now() - t0);
  }

  const result = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: `${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}`,
    fileBytes: size,
    runs: RUNS,
    medianMs: { seal: median(seal), sha256OfWav: median(hash), rsaSign: median(signing) },
    rawMs: { seal, sha256OfWav: hash, rsaSign: signing },
    sha256MBps: size / 1e6 / (median(hash) / 1000),
  };
  const f = (ms) => `${ms.toFixed(1)} ms`;
  console.log(`seal of one hour stereo G.711 (${(size / 1e6).toFixed(1)} MB), median of ${RUNS} runs:`);
  console.log(`  sealRecording (hash info + WAV, write + fsync 3 files, sign): ${f(result.medianMs.seal)}`);
  console.log(`  SHA-256 of the WAV alone (streamed):                         ${f(result.medianMs.sha256OfWav)}  (${result.sha256MBps.toFixed(0)} MB/s)`);
  console.log(`  RSA-2048 signature alone:                                    ${result.medianMs.rsaSign.toFixed(2)} ms`);
  const out = process.env.BENCH_OUT ?? path.join(HERE, `results-${result.date.replace(/[:.]/g, '-').slice(0, 19)}.json`);
  if (out !== '-') {
    fs.writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`  results: ${path.relative(process.cwd(), out)}`);
  }
} finally {
  if (ownDir) fs.rmSync(dir, { recursive: true, force: true });
}
