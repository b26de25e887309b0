/**
 * WAV header bytes for recordings that keep the RTP payload as received (no
 * transcoding): G.711 A-law / µ-law, mono or stereo, and G.722, mono only.
 * Pure functions; `WavWriter` does the file I/O.
 *
 * The header always has the same 94 bytes, so it can be written as a
 * placeholder first and patched in place when the data size is known:
 *
 *   offset  size  RIFF (data fits in 32 bits)      RF64 (EBU Tech 3306)
 *   ------  ----  -------------------------------  -------------------------
 *        0     4  "RIFF"                           "RF64"
 *        4     4  file size - 8 (u32)              0xFFFFFFFF
 *        8     4  "WAVE"                           "WAVE"
 *       12     4  "JUNK"                           "ds64"
 *       16     4  28                               28
 *       20     8  0 (reserved)                     RIFF size (u64)
 *       28     8  0 (reserved)                     data size (u64)
 *       36     8  0 (reserved)                     sample count (u64)
 *       44     4  0 (reserved)                     table length 0
 *       48     4  "fmt "
 *       52     4  18 (WAVEFORMATEX)
 *       56     2  wFormatTag       6 A-law, 7 µ-law, 0x028F G.722
 *       58     2  nChannels        1 | 2 (G.722: 1)
 *       60     4  nSamplesPerSec   8000 (G.722: 16000, the audio rate)
 *       64     4  nAvgBytesPerSec  8000 x channels (G.722: 8000)
 *       68     2  nBlockAlign      channels (G.722: 1)
 *       70     2  wBitsPerSample   8 (G.722: 4)
 *       72     2  cbSize           0
 *       74     4  "fact"
 *       78     4  4
 *       82     4  samples per channel (u32)        0xFFFFFFFF
 *       86     4  "data"
 *       90     4  data size (u32)                  0xFFFFFFFF
 *       94        data: payload bytes; stereo interleaves byte by byte
 *                 (caller sample, callee sample, ...), then a pad byte if
 *                 the data size is odd (RIFF chunks are word aligned)
 *
 * Why these choices (tech-facts-media §1-§3, verified with ffprobe and SoX):
 * - "All newly defined WAVE types must contain both a fact chunk and an
 *   extended wave format description within the 'fmt' chunk." (Microsoft
 *   Multimedia Registration Kit) - hence fmt 18 + fact, as ffmpeg writes.
 * - G.722: ffmpeg maps only tag 0x028F to G.722 and needs 16000 in
 *   nSamplesPerSec and 4 bits per sample to compute the duration.
 *   Deviation: ffmpeg writes nAvgBytesPerSec 16000; we write the true octet
 *   rate 8000 (verified to decode identically).
 * - A JUNK chunk of the size of ds64 sits right after WAVE so that a file
 *   which outgrows 32-bit sizes is turned into RF64 by rewriting the header
 *   only: "RF64" and the 32-bit sizes become 0xFFFFFFFF, JUNK becomes ds64.
 */

export type WavCodec = 'pcma' | 'pcmu' | 'g722';

export interface WavFormat {
  codec: WavCodec;
  channels: 1 | 2;
}

/** The WAVEFORMATEX fields written for a format. */
export interface WavFormatFields {
  formatTag: number;
  channels: number;
  sampleRate: number;
  byteRate: number;
  blockAlign: number;
  bitsPerSample: number;
}

export const WAV_HEADER_BYTES = 94;
/** Offset of the first data byte. */
export const WAV_DATA_OFFSET = WAV_HEADER_BYTES;

const U32_MAX = 0xffffffff;
const DS64_BYTES = 28;
const FMT_BYTES = 18;

/** Named offsets of the layout above. */
export const WAV_OFFSET = {
  riffId: 0,
  riffSize: 4,
  wave: 8,
  junkId: 12,
  junkSize: 16,
  ds64RiffSize: 20,
  ds64DataSize: 28,
  ds64SampleCount: 36,
  ds64TableLength: 44,
  fmtId: 48,
  fmtSize: 52,
  formatTag: 56,
  channels: 58,
  sampleRate: 60,
  byteRate: 64,
  blockAlign: 68,
  bitsPerSample: 70,
  cbSize: 72,
  factId: 74,
  factSize: 78,
  factSamples: 82,
  dataId: 86,
  dataSize: 90,
} as const;

export class WavFormatError extends Error {
  override name = 'WavFormatError';
}

export function checkFormat(format: WavFormat): void {
  if (format.codec !== 'pcma' && format.codec !== 'pcmu' && format.codec !== 'g722') {
    throw new WavFormatError(`unsupported codec ${String(format.codec)}`);
  }
  if (format.channels !== 1 && format.channels !== 2) throw new WavFormatError(`unsupported channel count ${String(format.channels)}`);
  // tech-facts-media §2: the ffmpeg G.722 decoder is mono-only; no reader decodes a stereo 0x028F file.
  if (format.codec === 'g722' && format.channels !== 1) throw new WavFormatError('G.722 WAV files are mono only');
}

export function formatFields(format: WavFormat): WavFormatFields {
  checkFormat(format);
  if (format.codec === 'g722') {
    return { formatTag: 0x028f, channels: 1, sampleRate: 16000, byteRate: 8000, blockAlign: 1, bitsPerSample: 4 };
  }
  const ch = format.channels;
  return { formatTag: format.codec === 'pcma' ? 6 : 7, channels: ch, sampleRate: 8000, byteRate: 8000 * ch, blockAlign: ch, bitsPerSample: 8 };
}

/** Data bytes per second of audio (G.722: 8000 octets for 16000 samples). */
export function bytesPerSecond(format: WavFormat): number {
  return formatFields(format).byteRate;
}

/** The fact chunk's dwSampleLength: samples per channel (G.722: two 4-bit samples per byte). */
export function sampleCount(format: WavFormat, dataBytes: number): number {
  return format.codec === 'g722' ? dataBytes * 2 : Math.floor(dataBytes / format.channels);
}

export function durationSeconds(format: WavFormat, dataBytes: number): number {
  return dataBytes / bytesPerSecond(format);
}

/** RIFF size field: everything after the first 8 bytes, including the pad byte of odd data. */
export function riffSize(dataBytes: number): number {
  return WAV_HEADER_BYTES - 8 + dataBytes + (dataBytes % 2);
}

/** Total file size for a data size. */
export function wavFileSize(dataBytes: number): number {
  return riffSize(dataBytes) + 8;
}

/** True when the sizes no longer fit the 32-bit RIFF fields. */
export function needsRf64(dataBytes: number): boolean {
  return riffSize(dataBytes) > U32_MAX;
}

/** The header written when the file is opened: a RIFF header with empty data and the JUNK reservation. */
export function placeholderHeader(format: WavFormat): Buffer {
  return wavHeader(format, 0);
}

/**
 * The final header for `dataBytes` of data: RIFF while every size fits in
 * 32 bits, else RF64 with a ds64 chunk in place of the JUNK reservation.
 */
export function wavHeader(format: WavFormat, dataBytes: number): Buffer {
  if (!Number.isSafeInteger(dataBytes) || dataBytes < 0) throw new WavFormatError(`bad data size ${dataBytes}`);
  const f = formatFields(format);
  const b = Buffer.alloc(WAV_HEADER_BYTES);
  const O = WAV_OFFSET;
  const rf64 = needsRf64(dataBytes);
  const samples = sampleCount(format, dataBytes);
  b.write(rf64 ? 'RF64' : 'RIFF', O.riffId, 'latin1');
  b.writeUInt32LE(rf64 ? U32_MAX : riffSize(dataBytes), O.riffSize);
  b.write('WAVE', O.wave, 'latin1');
  b.write(rf64 ? 'ds64' : 'JUNK', O.junkId, 'latin1');
  b.writeUInt32LE(DS64_BYTES, O.junkSize);
  if (rf64) {
    b.writeBigUInt64LE(BigInt(riffSize(dataBytes)), O.ds64RiffSize);
    b.writeBigUInt64LE(BigInt(dataBytes), O.ds64DataSize);
    b.writeBigUInt64LE(BigInt(samples), O.ds64SampleCount);
    b.writeUInt32LE(0, O.ds64TableLength);
  }
  b.write('fmt ', O.fmtId, 'latin1');
  b.writeUInt32LE(FMT_BYTES, O.fmtSize);
  b.writeUInt16LE(f.formatTag, O.formatTag);
  b.writeUInt16LE(f.channels, O.channels);
  b.writeUInt32LE(f.sampleRate, O.sampleRate);
  b.writeUInt32LE(f.byteRate, O.byteRate);
  b.writeUInt16LE(f.blockAlign, O.blockAlign);
  b.writeUInt16LE(f.bitsPerSample, O.bitsPerSample);
  b.writeUInt16LE(0, O.cbSize);
  b.write('fact', O.factId, 'latin1');
  b.writeUInt32LE(4, O.factSize);
  // Deviation: a G.722 file over 2 GiB of data (74 h) counts more samples than
  // a u32 holds while still being RIFF; readers ignore fact, so it saturates.
  b.writeUInt32LE(rf64 ? U32_MAX : Math.min(samples, U32_MAX), O.factSamples);
  b.write('data', O.dataId, 'latin1');
  b.writeUInt32LE(rf64 ? U32_MAX : dataBytes, O.dataSize);
  return b;
}

/** What `parseWavHeader` reads back from a header this module wrote. */
export interface ParsedWavHeader extends WavFormatFields {
  rf64: boolean;
  riffSize: number;
  dataBytes: number;
  sampleCount: number;
}

/**
 * Reads back a header in exactly the layout above (not a general WAV
 * parser): for tests and for verifying finished recordings.
 */
export function parseWavHeader(b: Buffer): ParsedWavHeader {
  if (b.length < WAV_HEADER_BYTES) throw new WavFormatError(`header too short: ${b.length} bytes`);
  const O = WAV_OFFSET;
  const id = (at: number): string => b.toString('latin1', at, at + 4);
  const riff = id(O.riffId);
  const rf64 = riff === 'RF64';
  const expect = (at: number, want: string): void => {
    if (id(at) !== want) throw new WavFormatError(`expected "${want}" at offset ${at}, found "${id(at)}"`);
  };
  if (!rf64) expect(O.riffId, 'RIFF');
  expect(O.wave, 'WAVE');
  expect(O.junkId, rf64 ? 'ds64' : 'JUNK');
  expect(O.fmtId, 'fmt ');
  expect(O.factId, 'fact');
  expect(O.dataId, 'data');
  const u64 = (at: number): number => Number(b.readBigUInt64LE(at));
  return {
    rf64,
    riffSize: rf64 ? u64(O.ds64RiffSize) : b.readUInt32LE(O.riffSize),
    dataBytes: rf64 ? u64(O.ds64DataSize) : b.readUInt32LE(O.dataSize),
    sampleCount: rf64 ? u64(O.ds64SampleCount) : b.readUInt32LE(O.factSamples),
    formatTag: b.readUInt16LE(O.formatTag),
    channels: b.readUInt16LE(O.channels),
    sampleRate: b.readUInt32LE(O.sampleRate),
    byteRate: b.readUInt32LE(O.byteRate),
    blockAlign: b.readUInt16LE(O.blockAlign),
    bitsPerSample: b.readUInt16LE(O.bitsPerSample),
  };
}
