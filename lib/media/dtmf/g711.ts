/**
 * ITU-T G.711 A-law and µ-law expansion to 16-bit linear PCM through
 * 256-entry tables built once at module load, so decoding a payload octet
 * is one array read (the hot path of the in-band DTMF detector).
 *
 * The values are the G.711 decision-interval midpoints scaled to 16 bits,
 * as Sun's reference g711.c, sox and ffmpeg produce them:
 *   A-law: ±8 ... ±32256 (13-bit magnitude << 3, even bits inverted: XOR 0x55)
 *   µ-law: 0 ... ±32124 (14-bit magnitude << 2, all bits inverted, bias 0x84)
 * test/media/dtmf/g711.test.ts checks all 256 codes against sox.
 */

/** G.711 §A: A-law code -> linear16. */
function alawToLinear(code: number): number {
  const a = code ^ 0x55;
  const segment = (a & 0x70) >> 4;
  let magnitude = (a & 0x0f) << 4;
  if (segment === 0) magnitude += 8;
  else magnitude = (magnitude + 0x108) << (segment - 1);
  return (a & 0x80) !== 0 ? magnitude : -magnitude;
}

/** G.711 §µ: µ-law code -> linear16. */
function ulawToLinear(code: number): number {
  const u = ~code & 0xff;
  const magnitude = (((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
  return (u & 0x80) !== 0 ? 0x84 - magnitude : magnitude - 0x84;
}

function buildTable(expand: (code: number) => number): Int16Array {
  const table = new Int16Array(256);
  for (let code = 0; code < 256; code++) table[code] = expand(code);
  return table;
}

/** A-law octet -> linear16 sample. */
export const ALAW_TO_LINEAR: Readonly<Int16Array> = buildTable(alawToLinear);
/** µ-law octet -> linear16 sample. */
export const ULAW_TO_LINEAR: Readonly<Int16Array> = buildTable(ulawToLinear);

export type G711Codec = 'pcma' | 'pcmu';

/** The expansion table of a codec (PCMA = A-law, PCMU = µ-law). */
export function g711Table(codec: G711Codec): Readonly<Int16Array> {
  return codec === 'pcma' ? ALAW_TO_LINEAR : ULAW_TO_LINEAR;
}

/**
 * linear16 -> A-law octet (G.711 segment search). Not for the hot path;
 * tests use it to build signals.
 */
export function linearToAlaw(sample: number): number {
  let pcm = Math.max(-32768, Math.min(32767, Math.round(sample))) >> 3;
  let mask: number;
  if (pcm >= 0) mask = 0xd5;
  else {
    mask = 0x55;
    pcm = -pcm - 1;
  }
  let segment = 0;
  while (segment < 8 && pcm > (0x20 << segment) - 1) segment++;
  if (segment >= 8) return 0x7f ^ mask;
  const mantissa = segment < 2 ? (pcm >> 1) & 0x0f : (pcm >> segment) & 0x0f;
  return ((segment << 4) | mantissa) ^ mask;
}

/** linear16 -> µ-law octet (G.711 with bias 0x84, clipped at 32635). */
export function linearToUlaw(sample: number): number {
  let pcm = Math.max(-32768, Math.min(32767, Math.round(sample))) >> 2;
  let mask: number;
  if (pcm < 0) {
    pcm = -pcm;
    mask = 0x7f;
  } else mask = 0xff;
  pcm = Math.min(pcm, 8159) + (0x84 >> 2);
  let segment = 0;
  while (segment < 8 && pcm > (0x40 << segment) - 1) segment++;
  if (segment >= 8) return 0x7f ^ mask;
  return ((segment << 4) | ((pcm >> (segment + 1)) & 0x0f)) ^ mask;
}
