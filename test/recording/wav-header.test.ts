/**
 * lib/recording/wav-header: the header bytes, checked byte by byte against
 * the layout (tech-facts-media §1-§3).
 *
 * Verifies: RIFF/WAVE, JUNK(28) right after WAVE, fmt 18 with cbSize 0, fact
 * with the sample count per channel, data; A-law tag 6 and µ-law tag 7 mono
 * and stereo; G.722 tag 0x028F, 16000 Hz, 4 bits, block align 1, mono only;
 * odd data gets a pad byte in the RIFF size; RF64 exactly when the RIFF size
 * passes 0xFFFFFFFF, with ds64 (riffSize, dataSize, sampleCount u64, table
 * length 0) and 0xFFFFFFFF in the 32-bit fields; parseWavHeader reads back
 * what was written. Not verified here: readers (wav-writer.test, rf64.test).
 */
import t from 'tap';
import {
  WAV_HEADER_BYTES,
  WavFormatError,
  formatFields,
  needsRf64,
  parseWavHeader,
  placeholderHeader,
  riffSize,
  wavHeader,
} from '../../lib/recording/wav-header.js';

const id = (b: Buffer, at: number): string => b.toString('latin1', at, at + 4);

t.test('A-law mono: every field of the RIFF layout', async (t) => {
  const b = wavHeader({ codec: 'pcma', channels: 1 }, 8000);
  t.equal(b.length, 94);
  t.equal(WAV_HEADER_BYTES, 94);
  t.equal(id(b, 0), 'RIFF');
  t.equal(b.readUInt32LE(4), 94 - 8 + 8000, 'RIFF size = file size - 8');
  t.equal(id(b, 8), 'WAVE');
  t.equal(id(b, 12), 'JUNK', 'JUNK right after WAVE');
  t.equal(b.readUInt32LE(16), 28, 'JUNK holds 28 bytes, the size of ds64');
  t.ok(b.subarray(20, 48).equals(Buffer.alloc(28)), 'JUNK body is zero');
  t.equal(id(b, 48), 'fmt ');
  t.equal(b.readUInt32LE(52), 18, 'fmt is WAVEFORMATEX (18 bytes)');
  t.same(
    [b.readUInt16LE(56), b.readUInt16LE(58), b.readUInt32LE(60), b.readUInt32LE(64), b.readUInt16LE(68), b.readUInt16LE(70), b.readUInt16LE(72)],
    [6, 1, 8000, 8000, 1, 8, 0],
    'tag 6, 1 ch, 8000 Hz, 8000 B/s, align 1, 8 bits, cbSize 0',
  );
  t.equal(id(b, 74), 'fact');
  t.equal(b.readUInt32LE(78), 4);
  t.equal(b.readUInt32LE(82), 8000, 'fact: samples per channel');
  t.equal(id(b, 86), 'data');
  t.equal(b.readUInt32LE(90), 8000);
});

t.test('the same bytes ffmpeg writes for its fmt chunk', async (t) => {
  // tech-facts-media §1/§2 (xxd of ffmpeg output): stereo A-law and mono G.722 fmt bodies.
  const stereo = wavHeader({ codec: 'pcma', channels: 2 }, 16000).subarray(56, 72).toString('hex');
  t.equal(stereo, '06000200401f0000803e000002000800');
  const g722 = wavHeader({ codec: 'g722', channels: 1 }, 8000).subarray(56, 72).toString('hex');
  // Deviation (documented): nAvgBytesPerSec 8000 (true octet rate) where ffmpeg writes 16000.
  t.equal(g722, '8f020100803e0000401f000001000400');
});

t.test('µ-law stereo and G.722 fields', async (t) => {
  t.same(formatFields({ codec: 'pcmu', channels: 2 }), { formatTag: 7, channels: 2, sampleRate: 8000, byteRate: 16000, blockAlign: 2, bitsPerSample: 8 });
  t.same(formatFields({ codec: 'pcmu', channels: 1 }), { formatTag: 7, channels: 1, sampleRate: 8000, byteRate: 8000, blockAlign: 1, bitsPerSample: 8 });
  t.same(formatFields({ codec: 'g722', channels: 1 }), { formatTag: 0x028f, channels: 1, sampleRate: 16000, byteRate: 8000, blockAlign: 1, bitsPerSample: 4 });
  const st = wavHeader({ codec: 'pcmu', channels: 2 }, 16000);
  t.equal(st.readUInt32LE(82), 8000, 'stereo fact counts samples per channel');
  const g = wavHeader({ codec: 'g722', channels: 1 }, 8000);
  t.equal(g.readUInt32LE(82), 16000, 'G.722 fact: two 4-bit samples per byte (as ffmpeg writes)');
  t.throws(() => wavHeader({ codec: 'g722', channels: 2 }, 0), WavFormatError, 'no stereo G.722');
});

t.test('placeholder header: empty data, JUNK reserved', async (t) => {
  const b = placeholderHeader({ codec: 'pcma', channels: 2 });
  t.equal(b.readUInt32LE(4), 86);
  t.equal(b.readUInt32LE(90), 0);
  t.equal(id(b, 12), 'JUNK');
});

t.test('odd data size: RIFF size includes the pad byte, data size does not', async (t) => {
  const b = wavHeader({ codec: 'pcmu', channels: 1 }, 8001);
  t.equal(b.readUInt32LE(4), 86 + 8002);
  t.equal(b.readUInt32LE(90), 8001);
});

t.test('RF64 exactly when the RIFF size no longer fits 32 bits', async (t) => {
  // RIFF sizes are even (pad byte), so the largest is 0xFFFFFFFE.
  const maxRiffData = 0xffffffff - 86 - 1;
  t.equal(riffSize(maxRiffData), 0xfffffffe);
  t.notOk(needsRf64(maxRiffData));
  t.ok(needsRf64(maxRiffData + 1), 'one more byte (plus its pad byte) does not fit');
  const last = wavHeader({ codec: 'pcma', channels: 2 }, maxRiffData);
  t.equal(id(last, 0), 'RIFF');
  t.equal(last.readUInt32LE(4), 0xfffffffe);
  t.equal(last.readUInt32LE(90), maxRiffData);
  t.equal(id(wavHeader({ codec: 'pcma', channels: 1 }, maxRiffData + 1), 0), 'RF64');

  const data = 5 * 2 ** 30; // 5 GiB
  const b = wavHeader({ codec: 'pcma', channels: 2 }, data);
  t.equal(id(b, 0), 'RF64');
  t.equal(b.readUInt32LE(4), 0xffffffff);
  t.equal(id(b, 8), 'WAVE');
  t.equal(id(b, 12), 'ds64', 'JUNK became ds64');
  t.equal(b.readUInt32LE(16), 28);
  t.equal(b.readBigUInt64LE(20), BigInt(86 + data), 'ds64 RIFF size');
  t.equal(b.readBigUInt64LE(28), BigInt(data), 'ds64 data size');
  t.equal(b.readBigUInt64LE(36), BigInt(data / 2), 'ds64 sample count (per channel)');
  t.equal(b.readUInt32LE(44), 0, 'table length 0');
  t.equal(id(b, 48), 'fmt ', 'fmt where it was');
  t.equal(b.readUInt32LE(82), 0xffffffff, 'fact 0xFFFFFFFF');
  t.equal(b.readUInt32LE(90), 0xffffffff, 'data 0xFFFFFFFF');
});

t.test('G.722 over 2 GiB of data saturates fact while still RIFF', async (t) => {
  const b = wavHeader({ codec: 'g722', channels: 1 }, 3 * 2 ** 30);
  t.equal(id(b, 0), 'RIFF');
  t.equal(b.readUInt32LE(82), 0xffffffff);
});

t.test('parseWavHeader reads back RIFF and RF64', async (t) => {
  t.match(parseWavHeader(wavHeader({ codec: 'pcmu', channels: 2 }, 1234)), {
    rf64: false, dataBytes: 1234, sampleCount: 617, formatTag: 7, channels: 2, sampleRate: 8000, riffSize: 86 + 1234,
  });
  t.match(parseWavHeader(wavHeader({ codec: 'g722', channels: 1 }, 6 * 2 ** 30)), {
    rf64: true, dataBytes: 6 * 2 ** 30, sampleCount: 12 * 2 ** 30, formatTag: 0x028f, sampleRate: 16000, bitsPerSample: 4,
  });
  t.throws(() => parseWavHeader(Buffer.alloc(10)), WavFormatError);
  const bad = wavHeader({ codec: 'pcma', channels: 1 }, 0);
  bad.write('LIST', 12, 'latin1');
  t.throws(() => parseWavHeader(bad), { name: 'WavFormatError', message: /expected "JUNK" at offset 12/ });
  t.throws(() => wavHeader({ codec: 'pcma', channels: 1 }, -1), WavFormatError);
});
