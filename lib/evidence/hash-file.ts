import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { checkFileName } from './info-file.js';

/**
 * SPEC E2: `<base>_hash.txt`, the SHA-256 of the info file and of every audio
 * file, in the one format that both `shasum -a 256 -c` (Perl) and GNU
 * `sha256sum -c` accept (tech-facts-media §5, verified):
 *
 *   <64 lowercase hex><space><space><file name>\n
 *
 * LF only (shasum reads a CR as part of the name), two spaces (shasum refuses
 * one), names relative to the recording's folder (both tools resolve names
 * against the current directory: `cd` into the folder first).
 */

export const HASH_SUFFIX = '_hash.txt';

export interface HashEntry {
  /** File name in the recording's folder. */
  name: string;
  /** SHA-256, 64 lowercase hex digits. */
  sha256: string;
}

export class HashFileError extends Error {
  override readonly name = 'HashFileError';
  constructor(message: string, readonly line?: number) {
    super(line === undefined ? message : `line ${line}: ${message}`);
  }
}

/** Read size for hashing: large reads keep the syscall count low on one-hour files. */
const READ_CHUNK = 1024 * 1024;

/** SHA-256 of a file, streamed (constant memory whatever the size), lowercase hex. */
export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    const stream = createReadStream(file, { highWaterMark: READ_CHUNK });
    stream.on('data', (chunk) => hash.update(chunk));
    stream.on('error', reject);
    stream.on('end', () => resolve(hash.digest('hex')));
  });
}

export function sha256Bytes(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Hashes the named files of `dir` (concurrently, so reading overlaps hashing). */
export async function hashFiles(dir: string, names: readonly string[]): Promise<HashEntry[]> {
  return Promise.all(names.map(async (name) => ({ name, sha256: await sha256File(path.join(dir, name)) })));
}

/** The text of a hash file: one `<hex>  <name>` line per entry, LF, in the order given. */
export function formatHashFile(entries: readonly HashEntry[]): string {
  const seen = new Set<string>();
  let text = '';
  for (const { name, sha256 } of entries) {
    checkFileName(name);
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new HashFileError(`not a lowercase SHA-256 hex digest for ${name}: ${sha256}`);
    if (seen.has(name)) throw new HashFileError(`${name} listed twice`);
    seen.add(name);
    text += `${sha256}  ${name}\n`;
  }
  return text;
}

/**
 * Parses a hash file. Accepts what the two tools write and accept: text
 * (`<hex>  <name>`) and binary (`<hex> *<name>`) lines, upper- or lowercase
 * hex, CRLF, blank lines. Refuses names with folders (a signed hash file names
 * files of its own folder only). Digests are returned in lowercase.
 */
export function parseHashFile(text: string): HashEntry[] {
  const entries: HashEntry[] = [];
  const seen = new Set<string>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') return;
    const m = /^([0-9A-Fa-f]{64}) [ *](.+)$/.exec(line);
    if (m === null) throw new HashFileError(`not a "<sha256>  <file>" line: ${JSON.stringify(line.slice(0, 100))}`, i + 1);
    const name = m[2]!;
    try {
      checkFileName(name);
    } catch {
      throw new HashFileError(`file name ${JSON.stringify(name)} is not a plain name in the recording's folder`, i + 1);
    }
    if (seen.has(name)) throw new HashFileError(`${name} listed twice`, i + 1);
    seen.add(name);
    entries.push({ name, sha256: m[1]!.toLowerCase() });
  });
  if (entries.length === 0) throw new HashFileError('no checksum lines');
  return entries;
}
