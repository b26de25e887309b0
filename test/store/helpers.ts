import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChainHead, NewRecording } from '../../lib/store/index.js';

/** A fresh folder for one test's database, removed when the test ends. */
export function tempDb(t: { teardown(fn: () => void): void }, name = 'callrec.db'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'callrec-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, name);
}

export const T0 = Date.UTC(2026, 10, 22, 14, 15, 3);

export function hex64(seed: number | string): string {
  return String(seed).padStart(8, '0').replace(/[^0-9a-f]/g, 'f').repeat(8).slice(0, 64);
}

/** Recording number `i`, linked to `head` (the chain head read before "signing"). */
export function recording(i: number, head: ChainHead, over: Partial<NewRecording> = {}): NewRecording {
  const start = T0 + i * 60_000;
  const base = `20261122-${String(141503 + i).padStart(6, '0')}_0891234567_0301234567_${i.toString(16).padStart(6, '0')}`;
  return {
    baseName: base,
    folder: '2026/11/22',
    profile: 'traders',
    startedAt: start,
    answeredAt: start + 2_000,
    endedAt: start + 32_000,
    durationMs: 32_000,
    codec: 'PCMA',
    channelMode: 'both-stereo',
    stopReason: 'bye-callee',
    files: [
      { name: `${base}.wav`, size: 512_044, sha256: hex64(i) },
      { name: `${base}_info.txt`, size: 600, sha256: hex64(i + 1) },
    ],
    hashSha256: hex64(i + 2),
    signature: Buffer.from(`signature ${i}`).toString('base64'),
    previousBase: head.baseName,
    previousSignature: head.signature,
    spoolKey: `spool-${i}`,
    sealedAt: start + 33_000,
    ...over,
  };
}
