/**
 * Shared test helpers for test/evidence and test/keys: temp folders, fake
 * WAV files, a sample info object, running stock tools (sha256sum, shasum,
 * openssl, dash) and the project's verify.sh.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RecordingInfo } from '../../lib/evidence/info-file.js';
import type { SealInput } from '../../lib/evidence/seal.js';

/** The project root (dist/test/evidence/helpers.js -> three levels up). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const VERIFY_SH = path.join(ROOT, 'verify.sh');

export interface Teardown {
  teardown(fn: () => void): void;
}

/** A fresh temp folder, removed when the test ends. */
export function tempDir(t: Teardown, prefix = 'callrec-evidence-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): RunResult {
  const r = spawnSync(cmd, args, { cwd: options.cwd, env: options.env ?? process.env, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error?.message ?? '') };
}

export function hasTool(name: string): boolean {
  return run('sh', ['-c', `command -v ${name}`]).status === 0;
}

/**
 * A small valid WAV file: 8 kHz A-law (format tag 6), `channels` channels,
 * `seconds` of samples from a seed, so different files differ.
 */
export function fakeWav(file: string, seconds = 0.5, channels = 2, seed = 1): void {
  const dataBytes = Math.round(8000 * seconds) * channels;
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + dataBytes, 4);
  header.write('WAVE', 8, 'ascii');
  header.write('fmt ', 12, 'ascii');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(6, 20);
  header.writeUInt16LE(channels, 22);
  header.writeUInt32LE(8000, 24);
  header.writeUInt32LE(8000 * channels, 28);
  header.writeUInt16LE(channels, 32);
  header.writeUInt16LE(8, 34);
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(dataBytes, 40);
  const data = Buffer.alloc(dataBytes);
  for (let i = 0; i < dataBytes; i++) data[i] = (0xd5 ^ ((i * 31 + seed * 97) & 0x3f)) & 0xff;
  writeFileSync(file, Buffer.concat([header, data]));
}

/** Flips one bit of the byte at `offset` (negative: from the end). */
export function flipByte(file: string, offset: number): void {
  const bytes = readFileSync(file);
  const i = offset < 0 ? bytes.length + offset : offset;
  bytes[i] = bytes[i]! ^ 0x01;
  writeFileSync(file, bytes);
}

export function sampleInfo(n = 1): SealInput['info'] {
  const start = Date.UTC(2026, 10, 22, 13, 15, 3 + n * 60, 120);
  return {
    start: new Date(start).toISOString().replace('Z', '+00:00'),
    answer: new Date(start + 6000).toISOString().replace('Z', '+00:00'),
    end: new Date(start + 45_500).toISOString().replace('Z', '+00:00'),
    durationSeconds: 45.5,
    callerCallId: `a84b4c76e66710-${n}@192.0.2.4`,
    calleeCallId: `cr-${n}-9f2a@192.0.2.10`,
    callerNumber: '+49891234567',
    callerName: 'Hans Müller',
    calleeNumber: '+4930123456201',
    calleeName: 'Alice Trader',
    direction: 'inbound',
    profile: 'traders',
    instance: 'rec-01',
    softwareVersion: '0.1.0',
    codec: 'PCMA',
    channels: 'both-stereo',
    stopReason: 'hangup by callee',
  };
}

/** Base name as lib/recording/naming makes them (SPEC E8): time first. */
export function baseNameFor(n: number): string {
  return `20261122-1415${String(n).padStart(2, '0')}_+49891234567_+4930123456201_id${n}`;
}

export type { RecordingInfo };
