import { stat } from 'node:fs/promises';
import path from 'node:path';
import { formatHashFile, sha256Bytes } from '../evidence/hash-file.js';
import { evidenceFileNames } from '../evidence/seal.js';
import { formatSignatureFile } from '../evidence/signature.js';
import type { RecordingRow } from '../store/types.js';
import { sha256Of } from './local-target.js';
import type { ArchiveFile } from './target.js';

/**
 * The files of one recording as they go to a target, in upload order:
 * audio, `_info.txt`, `_hash.txt`, and the signature last. A target that
 * holds the signature file therefore holds the whole recording.
 */
export function recordingFileNames(rec: RecordingRow): string[] {
  const ev = evidenceFileNames(rec.baseName);
  const listed = rec.files.map((f) => f.name);
  const audio = listed.filter((n) => n !== ev.info && n !== ev.hash && n !== ev.sig);
  return [...audio, ev.info, ev.hash, ev.sig];
}

/** The outbox folder of a recording: `<data.dir>/outbox/<baseName>`. */
export function outboxFolder(dataDir: string, baseName: string): string {
  return path.join(dataDir, 'outbox', baseName);
}

export class OutboxMissingError extends Error {
  override readonly name = 'OutboxMissingError';
}

/**
 * Reads the outbox copy of a recording and checks it against the log
 * before anything is sent: sizes and SHA-256 of the audio and info files
 * (from the recording row), SHA-256 of the hash file (`hashSha256`). A
 * damaged spool copy is reported, never delivered as evidence.
 */
export async function collectRecordingFiles(dataDir: string, rec: RecordingRow): Promise<ArchiveFile[]> {
  const dir = outboxFolder(dataDir, rec.baseName);
  const ev = evidenceFileNames(rec.baseName);
  const known = new Map(rec.files.map((f) => [f.name, f]));
  const out: ArchiveFile[] = [];
  for (const name of recordingFileNames(rec)) {
    const localPath = path.join(dir, name);
    let size: number;
    try {
      size = (await stat(localPath)).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new OutboxMissingError(`outbox copy ${localPath} is missing`);
      }
      throw err;
    }
    const sha256 = await sha256Of(localPath);
    const expected = known.get(name);
    if (expected !== undefined && (expected.size !== size || expected.sha256 !== sha256)) {
      throw new Error(`outbox copy ${localPath} differs from the sealed recording (size ${size}/${expected.size}, SHA-256 ${sha256.slice(0, 12)}…/${expected.sha256.slice(0, 12)}…)`);
    }
    if (name === ev.hash && sha256 !== rec.hashSha256) {
      throw new Error(`outbox copy ${localPath} differs from the sealed hash file (SHA-256 ${sha256.slice(0, 12)}…/${rec.hashSha256.slice(0, 12)}…)`);
    }
    out.push({ name, localPath, size, sha256 });
  }
  return out;
}

/**
 * The same files described from the log alone, for `confirm` when the
 * outbox copy is gone. The hash and signature files are rebuilt from the
 * row (the hash file's text must hash to `hashSha256`, else undefined).
 */
export function loggedRecordingFiles(dataDir: string, rec: RecordingRow): ArchiveFile[] | undefined {
  const ev = evidenceFileNames(rec.baseName);
  const hashText = formatHashFile(rec.files.map((f) => ({ name: f.name, sha256: f.sha256 })));
  if (sha256Bytes(hashText) !== rec.hashSha256) return undefined;
  const sigText = formatSignatureFile(rec.signature);
  const known = new Map<string, { size: number; sha256: string }>(rec.files.map((f) => [f.name, f]));
  known.set(ev.hash, { size: Buffer.byteLength(hashText), sha256: rec.hashSha256 });
  known.set(ev.sig, { size: Buffer.byteLength(sigText), sha256: sha256Bytes(sigText) });
  const out: ArchiveFile[] = [];
  for (const name of recordingFileNames(rec)) {
    const f = known.get(name);
    if (f === undefined) return undefined;
    out.push({ name, localPath: path.join(outboxFolder(dataDir, rec.baseName), name), size: f.size, sha256: f.sha256 });
  }
  return out;
}
