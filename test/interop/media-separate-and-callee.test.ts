/**
 * Channel modes other than the default stereo (SPEC M6), set by overriding
 * the profile (channels: both-separate | callee | caller): an outbound PCMA
 * call where the PBX-side SIPp streams fixtures/audio/caller.al and the
 * provider side callee.al, 3 s after the answer.
 *
 * Verifies, per mode: Channels in the metadata; Audio-Files and the files
 * in the folder (both-separate: <base>_caller.wav + <base>_callee.wav;
 * callee / caller: one <base>.wav); each file is mono A-law 8000 Hz (WAV
 * header and ffprobe) and holds exactly its party's audio, byte for byte,
 * and none of the other party's; both-separate files have the same length
 * (one time base); the hash file covers every file and sha256sum -c passes.
 * Does not verify: both-stereo (media-bitexact), G.722 (media-bitexact),
 * recordFrom: answer.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { sippAvailable } from './harness/index.js';
import {
  BYTES_PER_SECOND,
  CODECS,
  assertSippOk,
  audioFile,
  callThrough,
  ffprobe,
  fillScenario,
  hexAround,
  matchSource,
  readAudio,
  readWav,
  run,
  sdpFor,
  tempDir,
  waitForRecording,
} from './media-support.test.js';

const codec = CODECS.PCMA;
type Mode = 'both-separate' | 'callee' | 'caller';

function profileWith(channels: Mode): Record<string, unknown> {
  // Arrays replace in overrides: the whole profile; the target path is relative to the config file.
  return { profiles: [{ name: 'all', direction: 'both', channels, targets: [{ type: 'local', path: './archive/$Y/$M/$D' }] }] };
}

if (!sippAvailable()) {
  t.plan(0, 'sipp is not installed (run `make install` as root)');
} else {
  for (const mode of ['both-separate', 'callee', 'caller'] as const) {
    t.test(`channels: ${mode}`, async (t) => {
      const dir = tempDir(t);
      const common = { ...sdpFor(codec, false), LOOPS: 1, PT: codec.pt };
      const uac = fillScenario('uac-media-stream', { ...common, AUDIO: audioFile('caller.al') }, dir, 'uac');
      const uas = fillScenario('uas-media-stream', { ...common, AUDIO: audioFile('callee.al') }, dir, 'uas');
      const call = await callThrough(t, { uac, uas, durationMs: 3000, overrides: profileWith(mode) });
      assertSippOk(t, call);
      const recording = await waitForRecording(call.rec);
      t.equal(recording.info['Channels'], mode, `metadata: Channels ${mode}`);

      const expected: Array<{ file: string; who: 'caller' | 'callee' }> =
        mode === 'both-separate'
          ? [
              { file: `${recording.name}_caller.wav`, who: 'caller' },
              { file: `${recording.name}_callee.wav`, who: 'callee' },
            ]
          : [{ file: `${recording.name}.wav`, who: mode }];
      t.same([...recording.audioFiles].sort(), expected.map((e) => e.file).sort(), 'metadata: Audio-Files');
      const wavsInFolder = recording.files.filter((f) => f.endsWith('.wav')).sort();
      t.same(wavsInFolder, expected.map((e) => e.file).sort(), 'exactly these WAV files in the folder');

      const lengths: number[] = [];
      for (const { file, who } of expected) {
        const full = path.join(recording.folder, file);
        const wav = readWav(full);
        t.equal(wav.channels, 1, `${file}: mono`);
        t.equal(wav.formatTag, 6, `${file}: A-law`);
        t.equal(wav.sampleRate, 8000, `${file}: 8000 Hz`);
        t.equal(wav.dataOffset, 94, `${file}: 94-byte header`);
        lengths.push(wav.data.length);
        const probe = await ffprobe(full);
        t.equal(probe.stream?.codec_name, 'pcm_alaw', `${file}: ffprobe pcm_alaw`);
        t.equal(probe.stream?.channels, 1, `${file}: ffprobe mono`);

        const m = matchSource(wav.data, readAudio(`${who}.al`), codec.silence);
        t.ok(m.compared >= 2.5 * BYTES_PER_SECOND, `${file}: ${m.compared} bytes of the ${who}'s audio`);
        t.equal(m.mismatches, 0, `${file}: equals what the ${who} sent`, {
          details: m.firstMismatch >= 0 ? `first mismatch ${hexAround(wav.data, m.firstMismatch)}` : '',
        });
        const other = readAudio(`${who === 'caller' ? 'callee' : 'caller'}.al`);
        t.equal(wav.data.indexOf(other.subarray(1600, 1760)), -1, `${file}: none of the other party's audio`);
      }
      if (lengths.length === 2) t.equal(lengths[0], lengths[1], 'both files have the same length (one time base)');

      const hashFile = `${recording.name}_hash.txt`;
      const hashText = fs.readFileSync(path.join(recording.folder, hashFile), 'utf8');
      for (const { file } of expected) t.ok(hashText.includes(`  ${file}\n`), `hash file covers ${file}`);
      const sha = await run('sha256sum', ['-c', hashFile], { cwd: recording.folder });
      t.equal(sha.code, 0, 'sha256sum -c passes', { details: sha.stdout + sha.stderr });
    });
  }
}
