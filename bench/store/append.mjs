#!/usr/bin/env node
/**
 * appendToChain throughput of the recording log (lib/store), as built in dist/.
 *
 *   npx tsc -p . && node bench/store/append.mjs [count]      # default 2000
 *
 * Each append is one immediate transaction committed with synchronous=FULL
 * in WAL mode (one fsync of the WAL per recording), plus two upload rows.
 * Also shown: the same appends batched 100 per transaction (fsync amortised),
 * to tell disk-sync cost from SQL cost. Writes to a temporary folder under
 * the system temp dir (or BENCH_DIR), removed at the end.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RecordingLog } from '../../dist/lib/store/index.js';

const count = Number(process.argv[2] ?? 2000);
const dir = mkdtempSync(path.join(process.env.BENCH_DIR ?? os.tmpdir(), 'callrec-bench-'));
const hex = (i) => i.toString(16).padStart(64, '0');

function recording(i, head, tag) {
  const start = Date.UTC(2026, 0, 1) + i * 1000;
  const base = `20260101-000000_0891234567_0301234567_${tag}${i.toString(16).padStart(6, '0')}`;
  return {
    baseName: base, folder: '2026/01/01', profile: 'traders',
    startedAt: start, answeredAt: start + 100, endedAt: start + 900, durationMs: 800,
    codec: 'PCMA', channelMode: 'both-stereo', stopReason: 'bye-caller',
    files: [
      { name: `${base}.wav`, size: 12_844, sha256: hex(i) },
      { name: `${base}_info.txt`, size: 612, sha256: hex(i + 1) },
    ],
    hashSha256: hex(i + 2), signature: 'A'.repeat(344),
    previousBase: head.baseName, previousSignature: head.signature,
    spoolKey: `${tag}-${i}`, sealedAt: start + 1000, retentionUntil: start + 7 * 365 * 86_400_000,
  };
}

function run(label, batch) {
  const log = RecordingLog.open(path.join(dir, `${label}.db`));
  const targets = ['local', 'sftp'];
  const lat = [];
  const t0 = process.hrtime.bigint();
  for (let i = 1; i <= count; i += batch) {
    const s = process.hrtime.bigint();
    const work = () => {
      for (let j = i; j < Math.min(i + batch, count + 1); j++) {
        log.appendToChain(recording(j, log.chainHead(), label), { uploadTargets: targets });
      }
    };
    if (batch === 1) work();
    else log.transaction(work);
    lat.push(Number(process.hrtime.bigint() - s) / 1e6);
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (log.chainHead().position !== count) throw new Error('chain length mismatch');
  log.close();
  lat.sort((a, b) => a - b);
  const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))].toFixed(3);
  console.log(
    `${label.padEnd(28)} ${count} appends in ${ms.toFixed(0)} ms = ${Math.round((count / ms) * 1000)} /s` +
      `   per commit: p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, max ${lat[lat.length - 1].toFixed(3)} ms`,
  );
}

console.log(`appendToChain, WAL + synchronous=FULL, 2 upload targets, dir ${dir}`);
try {
  run('one-per-transaction', 1);
  run('batched-100-per-transaction', 100);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
