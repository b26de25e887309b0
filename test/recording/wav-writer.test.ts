/**
 * lib/recording/wav-writer: streaming WAV files, read back by real tools.
 *
 * Verifies: ffprobe and `sox --i` read mono and stereo A-law and µ-law with
 * the right codec, channels, rate and duration (within one 20 ms packet);
 * ffprobe reads mono G.722 as adpcm_g722, 16000 Hz, with the right duration
 * (SoX 14.4.2 cannot read tag 0x028F at all: checked as a known limit);
 * the data on disk equals the bytes written whatever the chunking (small
 * chunks buffered, large ones written directly); an odd data size gets a pad
 * byte; the file appears under its name only when closed; close() is
 * idempotent; abort() removes the partial file.
 * Not verified here: files above 4 GiB (rf64.test).
 */
import { access, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { parseWavHeader, WAV_DATA_OFFSET, type WavFormat } from '../../lib/recording/wav-header.js';
import { WavWriter } from '../../lib/recording/wav-writer.js';
import { decodeS16, ffprobe, g722Tone, prng, randomBytes, soxTone, tempDir, tool, zeroCrossings } from './helpers.js';

async function writeWav(file: string, format: WavFormat, data: Buffer, chunk = 160): Promise<void> {
  const w = await WavWriter.create(file, format);
  for (let at = 0; at < data.length; at += chunk) await w.write(data.subarray(at, at + chunk));
  const info = await w.close();
  if (info.dataBytes !== data.length) throw new Error('size');
}

function interleave(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length * 2);
  for (let i = 0; i < a.length; i++) {
    out[2 * i] = a[i]!;
    out[2 * i + 1] = b[i]!;
  }
  return out;
}

async function soxInfo(file: string): Promise<{ channels: number; rate: number; encoding: string; samples: number }> {
  const q = async (flag: string): Promise<string> => (await tool('sox', ['--i', flag, file])).stdout.trim();
  return { channels: Number(await q('-c')), rate: Number(await q('-r')), encoding: await q('-e'), samples: Number(await q('-s')) };
}

for (const [codec, type, ffName, soxEnc] of [
  ['pcma', 'al', 'pcm_alaw', 'A-law'],
  ['pcmu', 'ul', 'pcm_mulaw', 'u-law'],
] as const) {
  t.test(`${codec}: mono and stereo read by ffprobe, sox and ffmpeg`, async (t) => {
    const dir = await tempDir(t);
    const a = await soxTone(dir, type, 1000, 2);
    const b = await soxTone(dir, type, 440, 2);
    const mono = path.join(dir, 'mono.wav');
    const stereo = path.join(dir, 'stereo.wav');
    await writeWav(mono, { codec, channels: 1 }, a);
    await writeWav(stereo, { codec, channels: 2 }, interleave(a, b), 320);

    for (const [file, ch] of [[mono, 1], [stereo, 2]] as const) {
      const p = await ffprobe(file);
      t.equal(p.codec_name, ffName, `${file}: ffprobe codec`);
      t.equal(p.channels, ch);
      t.equal(p.sample_rate, '8000');
      t.ok(Math.abs(Number(p.duration) - 2) <= 0.02, `ffprobe duration ${p.duration}`);
      const s = await soxInfo(file);
      t.same(s, { channels: ch, rate: 8000, encoding: soxEnc, samples: 16000 }, `sox --i ${path.basename(file)}`);
    }
    const pcm = await decodeS16(stereo);
    const c0 = zeroCrossings(pcm, 2, 0);
    const c1 = zeroCrossings(pcm, 2, 1);
    t.ok(Math.abs(c0 - 4000) < 40, `channel 0 is 1000 Hz (${c0} crossings in 2 s)`);
    t.ok(Math.abs(c1 - 1760) < 40, `channel 1 is 440 Hz (${c1} crossings in 2 s)`);
    const bytes = await readFile(stereo);
    t.ok(bytes.subarray(WAV_DATA_OFFSET).equals(interleave(a, b)), 'data bit-exact');
  });
}

t.test('G.722 mono: ffprobe reads adpcm_g722 at 16000 Hz; SoX cannot read 0x028F', async (t) => {
  const dir = await tempDir(t);
  const g = await g722Tone(dir, 1000, 2);
  t.equal(g.length, 16000, '8000 bytes per second');
  const file = path.join(dir, 'g722.wav');
  await writeWav(file, { codec: 'g722', channels: 1 }, g);
  const p = await ffprobe(file);
  t.match(p, { codec_name: 'adpcm_g722', channels: 1, sample_rate: '16000' });
  t.ok(Math.abs(Number(p.duration) - 2) <= 0.02, `duration ${p.duration}`);
  const pcm = await decodeS16(file);
  t.ok(Math.abs(pcm.length - 32000) <= 320, `decodes to 2 s at 16 kHz (${pcm.length} samples)`);
  t.ok(Math.abs(zeroCrossings(pcm, 1, 0) - 4000) < 40, 'a 1000 Hz tone');
  await t.rejects(tool('sox', ['--i', file]), 'SoX 14.4.2: "Unknown WAV file encoding (type 28f)" (tech-facts-media §2)');
});

t.test('data equals the bytes written, whatever the chunking', async (t) => {
  const dir = await tempDir(t);
  const data = randomBytes(3 * 256 * 1024 + 12345, prng(40));
  const file = path.join(dir, 'x.wav');
  const w = await WavWriter.create(file, { codec: 'pcma', channels: 2 }, { blockBytes: 64 * 1024 });
  const sizes = [1, 159, 64 * 1024, 200_000, 3, 300_000];
  let at = 0;
  for (let i = 0; at < data.length; i++) {
    const n = sizes[i % sizes.length]!;
    await w.write(data.subarray(at, at + n));
    at += n;
  }
  t.equal(w.dataBytes, data.length);
  const info = await w.close();
  t.match(info, { path: file, dataBytes: data.length, fileBytes: data.length + 94 + 1, rf64: false });
  const bytes = await readFile(file);
  t.equal(bytes.length, info.fileBytes, 'odd data: one pad byte');
  t.equal(bytes[bytes.length - 1], 0);
  t.ok(bytes.subarray(WAV_DATA_OFFSET, WAV_DATA_OFFSET + data.length).equals(data));
  t.match(parseWavHeader(bytes), { dataBytes: data.length, channels: 2 });
  t.ok(Math.abs(info.durationSec - data.length / 16000) < 1e-9);
});

t.test('an odd-sized mono file is read with the right duration', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'odd.wav');
  await writeWav(file, { codec: 'pcmu', channels: 1 }, Buffer.alloc(8001, 0xff));
  const p = await ffprobe(file);
  t.ok(Math.abs(Number(p.duration) - 1.000125) < 0.001, `duration ${p.duration}`);
  t.equal((await soxInfo(file)).samples, 8001);
});

t.test('the file gets its name only on close; close is idempotent; abort removes the partial file', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'y.wav');
  const w = await WavWriter.create(file, { codec: 'pcma', channels: 1 });
  await w.write(Buffer.alloc(1000, 0xd5));
  await access(`${file}.part`);
  await t.rejects(access(file), 'not under its name while being written');
  const first = await w.close();
  t.same(await w.close(), first, 'second close returns the same info');
  await t.rejects(access(`${file}.part`));
  t.equal((await stat(file)).size, 1094);
  await t.rejects(w.write(Buffer.alloc(1)), { name: 'WavWriterStateError' });

  const z = path.join(dir, 'z.wav');
  const w2 = await WavWriter.create(z, { codec: 'pcma', channels: 1 });
  await w2.write(Buffer.alloc(10));
  await w2.abort();
  await w2.abort();
  await t.rejects(access(`${z}.part`), 'partial file removed');
  await t.rejects(access(z));
  await t.rejects(w2.close(), { name: 'WavWriterStateError' });
  await t.rejects(WavWriter.create(z, { codec: 'g722', channels: 2 }), { name: 'WavFormatError' });
});
