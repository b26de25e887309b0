/**
 * In-band DTMF in G.711 audio: Goertzel filters over blocks of 102 samples
 * (12.75 ms at 8 kHz), with the acceptance tests of Asterisk main/dsp.c and
 * spandsp (Steve Underwood's detector), which cite the AT&T / ITU-T Q.24
 * figures:
 *
 *   Minimum tone on 40 ms, minimum tone off 50 ms, at most 10 digits/s,
 *   normal twist <= 8 dB, reverse twist <= 4 dB, S/N >= 15 dB,
 *   frequency tolerance +-1.5 % detect, +-3.5 % reject.
 *
 *              1209 Hz 1336 Hz 1477 Hz 1633 Hz
 *     697 Hz      1       2       3       A
 *     770 Hz      4       5       6       B
 *     852 Hz      7       8       9       C
 *     941 Hz      *       0       #       D
 *
 * A block is a hit for a key when
 *   - the strongest row and column tone both reach DTMF_THRESHOLD (8.0e7,
 *     Goertzel power at 16-bit sample scale),
 *   - twist: the column is at most 4 dB above the row (2.51) and the row at
 *     most 8 dB above the column (6.31), as dsp.c names them,
 *   - each is 8 dB (6.3) above the other tones of its group,
 *   - the two tones hold most of the block's energy:
 *     row + column > 42 * sum(x^2) (the most a pure pair reaches is N/2 = 51),
 *   - second harmonics (the old Asterisk/spandsp test against speech, whose
 *     voiced sounds are rich in harmonics): the column tone 18 dB (63.1)
 *     above its 2nd harmonic, the row tone 4 dB (2.5) above its own (the
 *     row harmonics, 1394-1882 Hz, sit next to column tones, hence the
 *     looser figure).
 * A key is reported when the same hit is seen in `hitsToBegin` consecutive
 * blocks (2, i.e. >= 25.5 ms of tone), and once until it has been missing for
 * `missesToEnd` blocks (1). Blocks span packet boundaries.
 *
 * Per packet the work is a table lookup and eight multiply-adds per sample;
 * nothing is allocated.
 */
import { g711Table, type G711Codec } from './g711.js';
import { KeyQueue } from './key-queue.js';
import type { DtmfKey } from './keys.js';

const SAMPLE_RATE = 8000;
/** Asterisk DTMF_GSIZE, spandsp DTMF_SAMPLES_PER_BLOCK. */
export const DTMF_BLOCK_SIZE = 102;

const ROW_HZ = [697, 770, 852, 941] as const;
const COLUMN_HZ = [1209, 1336, 1477, 1633] as const;
/** Event codes by row * 4 + column: "123A" "456B" "789C" "*0#D". */
const POSITION_CODE = [1, 2, 3, 12, 4, 5, 6, 13, 7, 8, 9, 14, 10, 0, 11, 15] as const;

const DTMF_THRESHOLD = 8.0e7;
const NORMAL_TWIST = 6.31; // 8 dB
const REVERSE_TWIST = 2.51; // 4 dB
const RELATIVE_PEAK_ROW = 6.3; // 8 dB
const RELATIVE_PEAK_COLUMN = 6.3; // 8 dB
const TO_TOTAL_ENERGY = 42.0;
const SECOND_HARMONIC_ROW = 2.5; // 4 dB
const SECOND_HARMONIC_COLUMN = 63.1; // 18 dB

const coefficient = (hz: number): number => 2 * Math.cos((2 * Math.PI * hz) / SAMPLE_RATE);
/** Goertzel coefficients: 4 rows, 4 columns, then their second harmonics in the same order. */
const COEFFICIENTS = Float64Array.from([...ROW_HZ, ...COLUMN_HZ, ...ROW_HZ.map((f) => 2 * f), ...COLUMN_HZ.map((f) => 2 * f)], coefficient);

/**
 * Goertzel powers of the block at the four row and four column
 * frequencies, in one pass over the samples (each sample read once; the
 * eight filters are independent, so their updates interleave).
 */
function goertzelGroups(block: Int16Array, out: Float64Array): void {
  const c0 = COEFFICIENTS[0]!, c1 = COEFFICIENTS[1]!, c2 = COEFFICIENTS[2]!, c3 = COEFFICIENTS[3]!;
  const c4 = COEFFICIENTS[4]!, c5 = COEFFICIENTS[5]!, c6 = COEFFICIENTS[6]!, c7 = COEFFICIENTS[7]!;
  let a0 = 0, b0 = 0, a1 = 0, b1 = 0, a2 = 0, b2 = 0, a3 = 0, b3 = 0;
  let a4 = 0, b4 = 0, a5 = 0, b5 = 0, a6 = 0, b6 = 0, a7 = 0, b7 = 0;
  for (let n = 0; n < block.length; n++) {
    const x = block[n]!;
    let s = x + c0 * a0 - b0; b0 = a0; a0 = s;
    s = x + c1 * a1 - b1; b1 = a1; a1 = s;
    s = x + c2 * a2 - b2; b2 = a2; a2 = s;
    s = x + c3 * a3 - b3; b3 = a3; a3 = s;
    s = x + c4 * a4 - b4; b4 = a4; a4 = s;
    s = x + c5 * a5 - b5; b5 = a5; a5 = s;
    s = x + c6 * a6 - b6; b6 = a6; a6 = s;
    s = x + c7 * a7 - b7; b7 = a7; a7 = s;
  }
  out[0] = a0 * a0 + b0 * b0 - c0 * a0 * b0;
  out[1] = a1 * a1 + b1 * b1 - c1 * a1 * b1;
  out[2] = a2 * a2 + b2 * b2 - c2 * a2 * b2;
  out[3] = a3 * a3 + b3 * b3 - c3 * a3 * b3;
  out[4] = a4 * a4 + b4 * b4 - c4 * a4 * b4;
  out[5] = a5 * a5 + b5 * b5 - c5 * a5 * b5;
  out[6] = a6 * a6 + b6 * b6 - c6 * a6 * b6;
  out[7] = a7 * a7 + b7 * b7 - c7 * a7 * b7;
}

/** Goertzel power |X(f)|^2 of the block at one coefficient. */
function goertzel(block: Int16Array, coeff: number): number {
  let s1 = 0;
  let s2 = 0;
  for (let n = 0; n < block.length; n++) {
    const s0 = block[n]! + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return s1 * s1 + s2 * s2 - coeff * s1 * s2;
}

export interface InbandDtmfDetectorOptions {
  /** Consecutive hit blocks before a key is reported (default 2). */
  hitsToBegin?: number;
  /** Blocks without the key before the same key can be reported again (default 1). */
  missesToEnd?: number;
  /**
   * A jump of the caller's timestamps beyond this (default 200 ms: lost
   * packets, silence suppression, a re-INVITE) discards the partial block
   * and the hit history, so two stretches of audio are not read as one.
   */
  maxGapMs?: number;
}

/** Sans-I/O in-band DTMF detector for one direction of G.711 audio. */
export class InbandDtmfDetector {
  private readonly hitsToBegin: number;
  private readonly missesToEnd: number;
  private readonly maxGapMs: number;
  private readonly block = new Int16Array(DTMF_BLOCK_SIZE);
  private readonly power = new Float64Array(8);
  private readonly out = new KeyQueue(4);
  private filled = 0;
  private lastHit = -1;
  private hits = 0;
  private current = -1;
  private misses = 0;
  private lastPushMs = Number.NaN;

  constructor(options: InbandDtmfDetectorOptions = {}) {
    this.hitsToBegin = Math.max(1, options.hitsToBegin ?? 2);
    this.missesToEnd = Math.max(1, options.missesToEnd ?? 1);
    this.maxGapMs = options.maxGapMs ?? 200;
  }

  /**
   * The payload of one G.711 RTP packet (no header; `payload[start, end)`),
   * and when it was taken (arrival or RTP time, in ms). Returns a key when one has just been
   * recognised, at most one per call.
   */
  push(payload: Uint8Array, codec: G711Codec, timestampMs: number, start = 0, end = payload.length): DtmfKey | undefined {
    if (timestampMs - this.lastPushMs > this.maxGapMs || timestampMs < this.lastPushMs - this.maxGapMs) this.restart();
    this.lastPushMs = timestampMs;
    const table = g711Table(codec);
    const block = this.block;
    let filled = this.filled;
    for (let i = start; i < end; i++) {
      block[filled++] = table[payload[i]!]!;
      if (filled === DTMF_BLOCK_SIZE) {
        this.onBlock(this.classify());
        filled = 0;
      }
    }
    this.filled = filled;
    return this.out.take();
  }

  /** Forget the partial block, the hit history and undelivered keys. */
  reset(): void {
    this.restart();
    this.out.clear();
  }

  private restart(): void {
    this.filled = 0;
    this.lastHit = -1;
    this.hits = 0;
    this.current = -1;
    this.misses = 0;
  }

  /** Debouncing as in Asterisk dtmf_detect() (hits_to_begin, misses_to_end). */
  private onBlock(hit: number): void {
    if (this.current >= 0) {
      if (hit !== this.current) {
        if (++this.misses >= this.missesToEnd) this.current = -1;
      } else this.misses = 0;
    }
    if (hit !== this.lastHit) {
      this.lastHit = hit;
      this.hits = 0;
    }
    if (hit >= 0 && hit !== this.current && ++this.hits === this.hitsToBegin) {
      this.current = hit;
      this.misses = 0;
      this.out.put(hit);
    }
  }

  /** The event code (0-15) the full block holds, or -1. */
  private classify(): number {
    const block = this.block;
    let energy = 0;
    for (let n = 0; n < DTMF_BLOCK_SIZE; n++) energy += block[n]! * block[n]!;
    // |X(f)|^2 <= N * sum(x^2): a quiet block cannot reach the threshold.
    if (energy * DTMF_BLOCK_SIZE < DTMF_THRESHOLD) return -1;

    const power = this.power;
    goertzelGroups(block, power);
    let row = 0;
    let column = 4;
    for (let i = 1; i < 4; i++) if (power[i]! > power[row]!) row = i;
    for (let i = 5; i < 8; i++) if (power[i]! > power[column]!) column = i;
    const rowPower = power[row]!;
    const columnPower = power[column]!;
    if (rowPower < DTMF_THRESHOLD || columnPower < DTMF_THRESHOLD) return -1;
    if (columnPower >= rowPower * REVERSE_TWIST || rowPower >= columnPower * NORMAL_TWIST) return -1;
    for (let i = 0; i < 4; i++) {
      if (i !== row && power[i]! * RELATIVE_PEAK_ROW > rowPower) return -1;
      if (i + 4 !== column && power[i + 4]! * RELATIVE_PEAK_COLUMN > columnPower) return -1;
    }
    if (rowPower + columnPower <= TO_TOTAL_ENERGY * energy) return -1;
    if (columnPower <= goertzel(block, COEFFICIENTS[column + 8]!) * SECOND_HARMONIC_COLUMN) return -1;
    if (rowPower <= goertzel(block, COEFFICIENTS[row + 8]!) * SECOND_HARMONIC_ROW) return -1;
    return POSITION_CODE[row * 4 + column - 4]!;
  }
}
