import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { RECORD_BYTES, readRecord } from './spool-format.js';
import type { RecordingFacts, RecordingStop } from './recording-session.js';

/** meta.json of a spool folder, written by RecordingSession. */
export interface SpoolMeta {
  facts: RecordingFacts;
  stop: RecordingStop | null;
}

export async function readSpoolMeta(dir: string): Promise<SpoolMeta> {
  const text = await readFile(path.join(dir, 'meta.json'), 'utf8');
  const meta = JSON.parse(text) as SpoolMeta;
  if (typeof meta !== 'object' || meta === null || typeof meta.facts !== 'object') throw new Error(`${dir}/meta.json is not a spool description`);
  return meta;
}

/** Arrival time of the last complete index record of a leg, or undefined (no packets). */
export async function lastArrival(dir: string, leg: string): Promise<number | undefined> {
  const file = path.join(dir, `${leg}.index`);
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch {
    return undefined;
  }
  const records = Math.floor(size / RECORD_BYTES);
  if (records === 0) return undefined;
  const { open } = await import('node:fs/promises');
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(RECORD_BYTES);
    await fh.read(buf, 0, RECORD_BYTES, (records - 1) * RECORD_BYTES);
    return readRecord(buf, 0).arrival;
  } finally {
    await fh.close();
  }
}

/** Spool folders under `<data.dir>/spool` (each one recording). */
export async function listSpools(spoolRoot: string): Promise<string[]> {
  try {
    const entries = await readdir(spoolRoot, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory()).map((e) => path.join(spoolRoot, e.name)).sort();
  } catch {
    return [];
  }
}
