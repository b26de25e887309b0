import { open } from 'node:fs/promises';
import { FLAG, OFFSET, RECORD_BYTES } from './spool-format.js';

/** RFC 3551 Table 4: static audio payload types a WAV can hold unchanged. */
export const STATIC_CODECS: Readonly<Record<number, string>> = { 0: 'PCMU', 8: 'PCMA', 9: 'G722' };
const COMFORT_NOISE = 13;

/**
 * The payload type a leg actually carried most, from its spool index.
 * Peers do not always send what they negotiated (a far end answering PCMU
 * and sending PCMA is common), and the recording must keep what was sent.
 * Telephone-events and comfort noise are not audio and are not counted.
 */
export async function dominantPayloadType(indexFile: string, telephoneEventPt: number | undefined): Promise<number | undefined> {
  let fh;
  try {
    fh = await open(indexFile, 'r');
  } catch {
    return undefined;
  }
  const counts = new Map<number, number>();
  try {
    const buf = Buffer.alloc(RECORD_BYTES * 32768);
    let pos = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      const whole = bytesRead - (bytesRead % RECORD_BYTES);
      for (let at = 0; at < whole; at += RECORD_BYTES) {
        if ((buf[at + OFFSET.flags]! & FLAG.event) !== 0) continue;
        const pt = buf[at + OFFSET.markerPt]! & 0x7f;
        if (pt === telephoneEventPt || pt === COMFORT_NOISE) continue;
        counts.set(pt, (counts.get(pt) ?? 0) + 1);
      }
      if (bytesRead < buf.length) break;
      pos += whole;
    }
  } finally {
    await fh.close();
  }
  let best: number | undefined;
  let most = 0;
  for (const [pt, n] of counts) if (n > most) [best, most] = [pt, n];
  return best;
}
