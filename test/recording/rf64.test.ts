/**
 * WAV files past 4 GiB (RF64, EBU Tech 3306), made as sparse files with
 * WavWriter.skip() so the test uses almost no disk space.
 *
 * Verifies: a 5 GiB stereo A-law recording is finalized as RF64 (ds64 in
 * place of the JUNK reservation) and ffprobe reports its full duration;
 * ffmpeg seeks past 4 GiB and decodes the tones written at the end on the
 * right channels; a 3 GiB file stays RIFF with the exact 32-bit sizes and
 * ffprobe and SoX read its full duration; a G.722 RF64 file reads at 16 kHz.
 * Not verified: SoX on RF64 (correct but slow, see the note in the test).
 * The files are removed afterwards.
 */
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { parseWavHeader, WAV_HEADER_BYTES, type WavFormat } from '../../lib/recording/wav-header.js';
import { WavWriter } from '../../lib/recording/wav-writer.js';
import { ffprobe, soxTone, tempDir, tool, toolBuffer, zeroCrossings } from './helpers.js';

const GiB = 2 ** 30;

async function sparseWav(file: string, format: WavFormat, head: Buffer, hole: number, tail: Buffer): Promise<number> {
  const w = await WavWriter.create(file, format);
  await w.write(head);
  await w.skip(hole);
  await w.write(tail);
  const info = await w.close();
  return info.dataBytes;
}

async function header(file: string): Promise<ReturnType<typeof parseWavHeader>> {
  const f = await open(file, 'r');
  try {
    const b = Buffer.alloc(WAV_HEADER_BYTES);
    await f.read(b, 0, b.length, 0);
    return parseWavHeader(b);
  } finally {
    await f.close();
  }
}

t.test('5 GiB stereo A-law: RF64, full duration in ffprobe, seekable past 4 GiB', async (t) => {
  const dir = await tempDir(t, 'callrec-rf64-');
  const a = await soxTone(dir, 'al', 1000, 1);
  const b = await soxTone(dir, 'al', 440, 1);
  const tone = Buffer.alloc(16000);
  for (let i = 0; i < 8000; i++) {
    tone[2 * i] = a[i]!;
    tone[2 * i + 1] = b[i]!;
  }
  const file = path.join(dir, 'long.wav');
  const dataBytes = await sparseWav(file, { codec: 'pcma', channels: 2 }, tone, 5 * GiB, tone);
  t.equal(dataBytes, 5 * GiB + 32000);
  const st = await stat(file);
  t.equal(st.size, WAV_HEADER_BYTES + dataBytes);
  t.ok(st.blocks * 512 < 4 * 1024 * 1024, `sparse: ${st.blocks * 512} bytes on disk`);

  const h = await header(file);
  t.match(h, { rf64: true, dataBytes, riffSize: dataBytes + 86, sampleCount: dataBytes / 2, channels: 2 });
  const seconds = dataBytes / 16000;
  const p = await ffprobe(file);
  t.match(p, { codec_name: 'pcm_alaw', channels: 2, sample_rate: '8000' });
  t.ok(Math.abs(Number(p.duration) - seconds) < 0.02, `ffprobe duration ${p.duration} (want ${seconds})`);
  // SoX 14.4.2 reports this file's duration right too (335546.32 s, checked by hand), but
  // it reads through all of an RF64 file first (~30 s for 5 GiB, the same for a header
  // written by ffmpeg -rf64 always), so it is not run here; the 3 GiB RIFF case is.

  const end = await toolBuffer('ffmpeg', ['-v', 'error', '-ss', String(seconds - 0.9), '-i', file, '-t', '0.5', '-f', 's16le', '-acodec', 'pcm_s16le', '-']);
  const pcm = new Int16Array(end.buffer, end.byteOffset, end.length >> 1);
  t.equal(pcm.length, 8000, '0.5 s of stereo decoded past 4 GiB');
  t.ok(Math.abs(zeroCrossings(pcm, 2, 0) - 1000) < 20, 'left: the 1000 Hz tone at the end');
  t.ok(Math.abs(zeroCrossings(pcm, 2, 1) - 440) < 20, 'right: the 440 Hz tone at the end');
});

t.test('3 GiB stays RIFF with the exact 32-bit sizes and reads in full', async (t) => {
  const dir = await tempDir(t, 'callrec-rf64-');
  const file = path.join(dir, 'three.wav');
  const dataBytes = await sparseWav(file, { codec: 'pcmu', channels: 2 }, Buffer.alloc(16000, 0xff), 3 * GiB, Buffer.alloc(0));
  const h = await header(file);
  t.match(h, { rf64: false, dataBytes, riffSize: dataBytes + 86 });
  const p = await ffprobe(file);
  t.ok(Math.abs(Number(p.duration) - dataBytes / 16000) < 0.02, `ffprobe duration ${p.duration}`);
  const soxD = Number((await tool('sox', ['--i', '-D', file])).stdout.trim());
  t.ok(Math.abs(soxD - dataBytes / 16000) < 0.02, `sox duration ${soxD}`);
});

t.test('G.722 over 4 GiB: RF64 read at 16 kHz', async (t) => {
  const dir = await tempDir(t, 'callrec-rf64-');
  const file = path.join(dir, 'g722.wav');
  const dataBytes = await sparseWav(file, { codec: 'g722', channels: 1 }, Buffer.alloc(8000, 0xfc), 4 * GiB + 8000, Buffer.alloc(0));
  t.match(await header(file), { rf64: true, dataBytes, sampleRate: 16000, sampleCount: dataBytes * 2 });
  const p = await ffprobe(file);
  t.match(p, { codec_name: 'adpcm_g722', sample_rate: '16000', channels: 1 });
  t.ok(Math.abs(Number(p.duration) - dataBytes / 8000) < 0.02, `ffprobe duration ${p.duration} (want ${dataBytes / 8000})`);
});
