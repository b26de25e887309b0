import path from 'node:path';
import { syncDirectory, writeFileAtomic } from '../keys/atomic-file.js';
import type { Keystore } from '../keys/keystore.js';
import { formatHashFile, HASH_SUFFIX, hashFiles, sha256Bytes, type HashEntry } from './hash-file.js';
import { checkFileName, formatInfoFile, INFO_SUFFIX, type RecordingInfo } from './info-file.js';
import { formatSignatureFile, SIGNATURE_SUFFIX, signBytes } from './signature.js';

/** The file names of a recording's evidence, from its base name (SPEC E1-E3). */
export function evidenceFileNames(baseName: string): { info: string; hash: string; sig: string } {
  const hash = `${baseName}${HASH_SUFFIX}`;
  return { info: `${baseName}${INFO_SUFFIX}`, hash, sig: `${hash}${SIGNATURE_SUFFIX}` };
}

/** The link to the recording sealed before this one (SPEC E5); undefined for the first. */
export interface PreviousLink {
  baseName: string;
  /** Base64 signature of the previous recording's hash file. */
  signature: string;
}

export interface SealInput {
  /** Folder that holds the audio files; the evidence files are written beside them. */
  dir: string;
  baseName: string;
  /** Audio file names in `dir`. */
  audioFiles: readonly string[];
  /** The metadata; audio files and the chain link are filled in from the other inputs. */
  info: Omit<RecordingInfo, 'audioFiles' | 'previousRecording' | 'previousSignature'>;
  keystore: Pick<Keystore, 'privateKey'>;
  previous: PreviousLink | undefined;
}

export interface SealResult {
  /** Absolute or `dir`-relative paths, as `dir` was given. */
  infoFile: string;
  hashFile: string;
  sigFile: string;
  /** Base64 signature of the hash file: the next recording's Previous-Signature. */
  signature: string;
  /** What the hash file lists: the info file first, then the audio files. */
  hashes: HashEntry[];
}

/**
 * Seals a finished recording (SPEC E1-E3, E5): writes `<base>_info.txt` with
 * the chain link, `<base>_hash.txt` with the SHA-256 of the info file and
 * every audio file, and `<base>_hash.txt.SHA256withRSA.sig`, in that order.
 * Each is written to a temp name, fsynced and renamed, so a crash leaves no
 * half file under a final name; the signature file, written last, marks a
 * complete seal. Sealing again (crash recovery) replaces all three.
 */
export async function sealRecording(input: SealInput): Promise<SealResult> {
  const { dir, baseName, audioFiles, keystore, previous } = input;
  checkFileName(baseName, 'base name');
  if (audioFiles.length === 0) throw new TypeError('a recording needs at least one audio file');
  for (const name of audioFiles) checkFileName(name, 'audio file name');
  const names = evidenceFileNames(baseName);
  const info: RecordingInfo = {
    ...input.info,
    audioFiles: [...audioFiles],
    previousRecording: previous?.baseName ?? null,
    previousSignature: previous?.signature ?? null,
  };
  const infoText = Buffer.from(formatInfoFile(info), 'utf8');

  // Audio hashing is the long part (one hour of stereo G.711 is 57.6 MB): start it first.
  const audioHashes = hashFiles(dir, audioFiles);
  audioHashes.catch(() => undefined); // awaited below; keeps an early failure from counting as unhandled
  const infoFile = path.join(dir, names.info);
  await writeFileAtomic(infoFile, infoText, { syncDir: false });
  const hashes: HashEntry[] = [{ name: names.info, sha256: sha256Bytes(infoText) }, ...(await audioHashes)];
  const hashText = Buffer.from(formatHashFile(hashes), 'utf8');
  const hashFile = path.join(dir, names.hash);
  await writeFileAtomic(hashFile, hashText, { syncDir: false });

  const signature = signBytes(hashText, keystore.privateKey);
  const sigFile = path.join(dir, names.sig);
  await writeFileAtomic(sigFile, formatSignatureFile(signature), { syncDir: false });
  await syncDirectory(dir);
  return { infoFile, hashFile, sigFile, signature, hashes };
}
