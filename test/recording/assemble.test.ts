/**
 * lib/recording/assemble: spool files of both legs -> WAV file(s).
 *
 * Verifies: stereo A-law and µ-law put the caller's tone on channel 0 and the
 * callee's on channel 1 (decoded by ffmpeg, zero crossings per channel),
 * with the WAV data equal to the payload bytes (bit-exact, byte-interleaved,
 * never mixed); mono caller-only and callee-only files; both-separate writes
 * `<base>_caller.wav` / `<base>_callee.wav` of equal length with a late leg
 * preceded by silence; G.722 asked as stereo gives two mono files and a
 * warning; a missing leg is silence with a warning; a torn last index record
 * is ignored; a 5-minute call written by the real SpoolWriter (payload
 * larger than the reader's block) comes out bit-exact; the result lists
 * files with sizes and durations.
 */
import { readFile, appendFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { assembleRecording } from '../../lib/recording/assemble.js';
import { SpoolWriter } from '../../lib/recording/spool-writer.js';
import { WAV_DATA_OFFSET } from '../../lib/recording/wav-header.js';
import { decodeS16, ffprobe, g722Tone, prng, randomBytes, soxTone, stream, tempDir, writeSpool, zeroCrossings } from './helpers.js';

const ORIGIN = 1_700_000_000_000;

function channel(data: Buffer, ch: 0 | 1): Buffer {
  const out = Buffer.alloc(data.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = data[2 * i + ch]!;
  return out;
}

const wavData = async (file: string): Promise<Buffer> => (await readFile(file)).subarray(WAV_DATA_OFFSET);

for (const [codec, type, pt] of [['pcma', 'al', 8], ['pcmu', 'ul', 0]] as const) {
  t.test(`${codec} stereo: caller tone on channel 0, callee tone on channel 1, bit-exact`, async (t) => {
    const dir = await tempDir(t);
    const a = await soxTone(dir, type, 1000, 2);
    const b = await soxTone(dir, type, 440, 2);
    const caller = await writeSpool(dir, 'caller', stream({ audio: a, startMs: ORIGIN, pt, ssrc: 11 }));
    const callee = await writeSpool(dir, 'callee', stream({ audio: b, startMs: ORIGIN, pt, ssrc: 22, ts0: 4_000_000_000 }));
    const base = path.join(dir, 'call');
    const r = await assembleRecording({ caller, callee, codec, channels: 'both-stereo', originMs: ORIGIN, endMs: ORIGIN + 2000, outputBase: base });
    t.same(r.warnings, []);
    t.same(r.files, [{ path: `${base}.wav`, content: 'both', channels: 2, fileBytes: 32094, dataBytes: 32000, durationSec: 2, rf64: false }]);
    t.match(r.stats, { caller: { placed: 100, lostUnits: 0, late: 0 }, callee: { placed: 100, lostUnits: 0 } });

    const data = await wavData(`${base}.wav`);
    t.ok(channel(data, 0).equals(a), 'channel 0 = caller payload, bit-exact');
    t.ok(channel(data, 1).equals(b), 'channel 1 = callee payload, bit-exact');
    const p = await ffprobe(`${base}.wav`);
    t.match(p, { channels: 2, sample_rate: '8000' });
    t.ok(Math.abs(Number(p.duration) - 2) < 0.02);
    const pcm = await decodeS16(`${base}.wav`);
    const c0 = zeroCrossings(pcm, 2, 0);
    const c1 = zeroCrossings(pcm, 2, 1);
    t.ok(Math.abs(c0 - 4000) < 40, `channel 0: 1000 Hz (${c0} crossings in 2 s)`);
    t.ok(Math.abs(c1 - 1760) < 40, `channel 1: 440 Hz (${c1} crossings in 2 s)`);
  });
}

t.test('caller-only and callee-only mono files', async (t) => {
  const dir = await tempDir(t);
  const a = randomBytes(8000, prng(50));
  const b = randomBytes(8000, prng(51));
  const caller = await writeSpool(dir, 'caller', stream({ audio: a, startMs: ORIGIN }));
  const callee = await writeSpool(dir, 'callee', stream({ audio: b, startMs: ORIGIN }));
  for (const [mode, want] of [['caller', a], ['callee', b]] as const) {
    const base = path.join(dir, mode);
    const r = await assembleRecording({ caller, callee, codec: 'pcma', channels: mode, originMs: ORIGIN, endMs: ORIGIN + 1000, outputBase: base });
    t.match(r.files, [{ path: `${base}.wav`, content: mode, channels: 1, dataBytes: 8000, durationSec: 1 }]);
    t.ok((await wavData(`${base}.wav`)).equals(want), `${mode}: bit-exact`);
    t.same(Object.keys(r.stats), [mode], 'only that leg is assembled');
  }
});

t.test('both-separate: two mono files of equal length; a late leg starts with silence', async (t) => {
  const dir = await tempDir(t);
  const a = randomBytes(8000, prng(52));
  const b = randomBytes(4000, prng(53));
  const caller = await writeSpool(dir, 'caller', stream({ audio: a, startMs: ORIGIN }));
  const callee = await writeSpool(dir, 'callee', stream({ audio: b, startMs: ORIGIN + 500 }));
  const base = path.join(dir, 'sep');
  const r = await assembleRecording({ caller, callee, codec: 'pcma', channels: 'both-separate', originMs: ORIGIN, endMs: ORIGIN + 1000, outputBase: base });
  t.same(r.files.map((f) => [path.basename(f.path), f.content, f.dataBytes, f.durationSec]), [
    ['sep_caller.wav', 'caller', 8000, 1],
    ['sep_callee.wav', 'callee', 8000, 1],
  ]);
  t.ok((await wavData(`${base}_caller.wav`)).equals(a));
  const c = await wavData(`${base}_callee.wav`);
  t.ok(c.subarray(0, 4000).equals(Buffer.alloc(4000, 0xd5)), '500 ms of A-law silence first');
  t.ok(c.subarray(4000).equals(b));
});

t.test('G.722 asked as stereo: two mono files and a warning', async (t) => {
  const dir = await tempDir(t);
  const a = await g722Tone(dir, 1000, 1);
  const b = await g722Tone(dir, 440, 1);
  const caller = await writeSpool(dir, 'caller', stream({ audio: a, startMs: ORIGIN, pt: 9 }));
  const callee = await writeSpool(dir, 'callee', stream({ audio: b, startMs: ORIGIN, pt: 9 }));
  const base = path.join(dir, 'g');
  const r = await assembleRecording({ caller, callee, codec: 'g722', channels: 'both-stereo', originMs: ORIGIN, endMs: ORIGIN + 1000, outputBase: base });
  t.match(r.warnings, [/G\.722 cannot be stored as stereo/]);
  t.same(r.files.map((f) => [path.basename(f.path), f.channels, f.durationSec]), [['g_caller.wav', 1, 1], ['g_callee.wav', 1, 1]]);
  t.ok((await wavData(`${base}_caller.wav`)).equals(a), 'bit-exact');
  for (const [leg, crossings] of [['caller', 2000], ['callee', 880]] as const) {
    const p = await ffprobe(`${base}_${leg}.wav`);
    t.match(p, { codec_name: 'adpcm_g722', channels: 1, sample_rate: '16000' });
    t.ok(Math.abs(Number(p.duration) - 1) < 0.02, `${leg} duration ${p.duration}`);
    const z = zeroCrossings(await decodeS16(`${base}_${leg}.wav`), 1, 0);
    t.ok(Math.abs(z - crossings) < 30, `${leg}: ${z} crossings`);
  }
});

t.test('a missing leg is silence with a warning; a torn last index record is ignored', async (t) => {
  const dir = await tempDir(t);
  const a = randomBytes(8000, prng(54));
  const caller = await writeSpool(dir, 'caller', stream({ audio: a, startMs: ORIGIN }));
  await appendFile(caller.index, Buffer.alloc(17, 0xee)); // a crash in the middle of a record
  const base = path.join(dir, 'm');
  const callee = { index: path.join(dir, 'none.index'), payload: path.join(dir, 'none.payload') };
  const r = await assembleRecording({ caller, callee, codec: 'pcma', channels: 'both-stereo', originMs: ORIGIN, endMs: ORIGIN + 1000, outputBase: base });
  t.match(r.warnings, [/callee leg: no audio received/]);
  const data = await wavData(`${base}.wav`);
  t.ok(channel(data, 0).equals(a), 'caller bit-exact; torn record ignored');
  t.ok(channel(data, 1).equals(Buffer.alloc(8000, 0xd5)), 'callee channel is silence');
  const r2 = await assembleRecording({ caller: undefined, callee: undefined, codec: 'pcmu', channels: 'caller', originMs: ORIGIN, endMs: ORIGIN + 500, outputBase: path.join(dir, 'empty') });
  t.match(r2.files, [{ dataBytes: 4000, durationSec: 0.5 }]);
  t.ok((await wavData(path.join(dir, 'empty.wav'))).equals(Buffer.alloc(4000, 0xff)));
});

t.test('a 5-minute call spooled by SpoolWriter comes out bit-exact, both channels', async (t) => {
  const dir = await tempDir(t);
  const seconds = 300;
  const legs = { caller: randomBytes(8000 * seconds, prng(55)), callee: randomBytes(8000 * seconds, prng(56)) };
  for (const [leg, audio] of Object.entries(legs)) {
    const w = new SpoolWriter(dir, leg);
    await w.open();
    const rtp = Buffer.alloc(12 + 160);
    for (let i = 0; i < audio.length / 160; i++) {
      rtp[0] = 0x80;
      rtp[1] = 8;
      rtp.writeUInt16BE((i + 7) & 0xffff, 2);
      rtp.writeUInt32BE((i * 160 + 0xfffff000) >>> 0, 4);
      rtp.writeUInt32BE(leg === 'caller' ? 0xaaaa : 0xbbbb, 8);
      audio.copy(rtp, 12, i * 160, (i + 1) * 160);
      // The callee's packets arrive 3 ms after the caller's, in bursts of jitter.
      w.append(rtp, 12, rtp.length, ORIGIN + i * 20 + (leg === 'callee' ? 3 : 0) + (i % 7 === 0 ? 0 : (i * 13) % 9), 0);
    }
    await w.close();
  }
  const base = path.join(dir, 'long');
  const paths = (leg: string): { index: string; payload: string } => ({ index: path.join(dir, `${leg}.index`), payload: path.join(dir, `${leg}.payload`) });
  const r = await assembleRecording({
    caller: paths('caller'), callee: paths('callee'), codec: 'pcma', channels: 'both-stereo', originMs: ORIGIN, endMs: ORIGIN + seconds * 1000 + 3, outputBase: base,
  });
  t.same(r.warnings, []);
  t.match(r.stats, { caller: { placed: 15000, late: 0, reanchors: 0, segments: 1 }, callee: { placed: 15000, late: 0, reanchors: 0 } });
  const data = await wavData(`${base}.wav`);
  t.equal(data.length, 2 * (8000 * seconds + 24));
  const c0 = channel(data, 0);
  const c1 = channel(data, 1);
  t.ok(c0.subarray(0, 8000 * seconds).equals(legs.caller), 'caller bit-exact from position 0');
  t.ok(c1.subarray(24, 24 + 8000 * seconds).equals(legs.callee), 'callee bit-exact from 3 ms');
  const p = await ffprobe(`${base}.wav`);
  t.ok(Math.abs(Number(p.duration) - seconds) < 0.02, `duration ${p.duration}`);
});
