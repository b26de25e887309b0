/**
 * Bit-exact recording of both legs (SPEC M3, M6, M7, E2, E3, E6), one call
 * per codec: SIPp UAC (PBX) streams fixtures/audio/caller.<ext>, SIPp UAS
 * (provider) streams callee.<ext>, both with rtp_stream, through callrec
 * (default profile: both-stereo, recordFrom setup).
 *
 * Verifies, for PCMA, PCMU and G.722:
 *   - the WAV files named in Audio-Files exist (one stereo file for G.711,
 *     <base>_caller.wav + <base>_callee.wav for G.722), each with the 94-byte
 *     header (JUNK, fmt 18, fact, data), the codec's format tag, channel
 *     count and sample rate, and a fact sample count matching the data;
 *   - each channel's data holds exactly the bytes SIPp sent (caller left /
 *     callee right), from the first audio byte to the last, at least 2.5 s;
 *   - ffprobe: pcm_alaw / pcm_mulaw / adpcm_g722, channels, sample rate
 *     (16000 for G.722), duration within one packet of the metadata's
 *     Duration; `sox --i` reads the G.711 files;
 *   - sha256sum -c and shasum -a 256 -c pass in the recording's folder;
 *     `callrec verify` and ./verify.sh exit 0; openssl dgst -sha256 -verify
 *     of the signature with the certificate's public key passes.
 * Does not verify: loss/reordering (media-loss-reorder), early media,
 * DTMF, hold, timeouts, other channel modes (their own files).
 */
import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { sippAvailable } from './harness/index.js';
import {
  BYTES_PER_SECOND,
  CODECS,
  PACKET_BYTES,
  type CodecInfo,
  assertSippOk,
  audioFile,
  callThrough,
  certificateOf,
  channelOf,
  ffprobe,
  fillScenario,
  hexAround,
  matchSource,
  readAudio,
  readWav,
  run,
  runCallrec,
  sdpFor,
  tempDir,
  waitForRecording,
} from './media-support.test.js';

const CALL_MS = 3000;

if (!sippAvailable()) {
  t.plan(0, 'sipp is not installed (run `make install` as root)');
} else {
  for (const codec of [CODECS.PCMA, CODECS.PCMU, CODECS.G722]) {
    t.test(`${codec.name}: both legs recorded bit-exactly, files readable, evidence verifiable`, async (t) => {
      await bitExactCall(t, codec);
    });
  }
}

async function bitExactCall(t: Test, codec: CodecInfo): Promise<void> {
  const dir = tempDir(t);
  const common = { ...sdpFor(codec, false), LOOPS: 1, PT: codec.pt };
  const uac = fillScenario('uac-media-stream', { ...common, AUDIO: audioFile(`caller.${codec.ext}`) }, dir, 'uac');
  const uas = fillScenario('uas-media-stream', { ...common, AUDIO: audioFile(`callee.${codec.ext}`) }, dir, 'uas');
  const call = await callThrough(t, { uac, uas, durationMs: CALL_MS });
  assertSippOk(t, call);
  const recording = await waitForRecording(call.rec);
  const info = recording.info;
  t.equal(info['Codec'], codec.name, 'metadata: Codec');
  t.equal(info['Channels'], 'both-stereo', 'metadata: Channels');

  const stereo = codec.name !== 'G722';
  const expectedFiles = stereo ? [`${recording.name}.wav`] : [`${recording.name}_caller.wav`, `${recording.name}_callee.wav`];
  t.same([...recording.audioFiles].sort(), [...expectedFiles].sort(), 'metadata: Audio-Files');

  const duration = Number(info['Duration']);
  t.ok(duration >= CALL_MS / 1000 && duration < CALL_MS / 1000 + 10, `metadata: Duration ${duration} s covers the call`);

  const legs = stereo
    ? [
        { file: expectedFiles[0]!, channels: 2, index: 0, source: 'caller' },
        { file: expectedFiles[0]!, channels: 2, index: 1, source: 'callee' },
      ]
    : [
        { file: expectedFiles[0]!, channels: 1, index: 0, source: 'caller' },
        { file: expectedFiles[1]!, channels: 1, index: 0, source: 'callee' },
      ];

  for (const file of new Set(legs.map((l) => l.file))) {
    const full = path.join(recording.folder, file);
    const wav = readWav(full);
    const channels = stereo ? 2 : 1;
    t.equal(wav.dataOffset, 94, `${file}: 94-byte header`);
    t.same(wav.chunks, ['JUNK', 'fmt ', 'fact', 'data'], `${file}: chunks JUNK, fmt, fact, data`);
    t.equal(wav.formatTag, codec.formatTag, `${file}: format tag ${codec.formatTag}`);
    t.equal(wav.channels, channels, `${file}: ${channels} channel(s)`);
    t.equal(wav.sampleRate, codec.sampleRate, `${file}: ${codec.sampleRate} Hz`);
    t.equal(wav.data.length % channels, 0, `${file}: whole frames`);
    const frames = wav.data.length / channels;
    t.equal(wav.factSamples, stereo ? frames : frames * 2, `${file}: fact sample count matches the data`);

    const probe = await ffprobe(full);
    t.equal(probe.stream?.codec_name, codec.ffprobe, `${file}: ffprobe codec ${codec.ffprobe}`, { details: probe.raw.stderr });
    t.equal(probe.stream?.channels, channels, `${file}: ffprobe channels`);
    t.equal(Number(probe.stream?.sample_rate), codec.sampleRate, `${file}: ffprobe sample rate`);
    const tolerance = PACKET_BYTES / BYTES_PER_SECOND + 0.001;
    t.ok(Math.abs(probe.duration - duration) <= tolerance, `${file}: ffprobe duration ${probe.duration} s within one packet of Duration ${duration} s`);
    t.ok(Math.abs(frames / BYTES_PER_SECOND - duration) <= tolerance, `${file}: data length ${frames / BYTES_PER_SECOND} s within one packet of Duration`);

    if (stereo) {
      const sox = await run('sox', ['--i', full]);
      t.equal(sox.code, 0, `${file}: sox --i reads it`, { details: sox.stderr });
      t.match(sox.stdout, /Channels\s*:\s*2/, `${file}: sox sees 2 channels`);
      t.match(sox.stdout, /Sample Rate\s*:\s*8000/, `${file}: sox sees 8000 Hz`);
      t.match(sox.stdout, codec.name === 'PCMA' ? /A-law/ : /u-law/, `${file}: sox sees the G.711 law`);
    }
  }

  for (const leg of legs) {
    const wav = readWav(path.join(recording.folder, leg.file));
    const channel = channelOf(wav, leg.index);
    const source = readAudio(`${leg.source}.${codec.ext}`);
    const m = matchSource(channel, source, codec.silence);
    t.ok(m.compared >= 2.5 * BYTES_PER_SECOND, `${leg.source} channel: ${m.compared} audio bytes found (>= 2.5 s)`);
    t.equal(m.mismatches, 0, `${leg.source} channel: every byte equals what SIPp sent`, {
      details: m.firstMismatch >= 0 ? `first mismatch ${hexAround(channel, m.firstMismatch)} vs source offset ${m.firstMismatch - m.origin}` : '',
    });
    t.ok(m.origin >= 0, `${leg.source} channel: the stream starts inside the recording (origin ${m.origin})`);
  }

  // Evidence with stock tools.
  const hashFile = `${recording.name}_hash.txt`;
  const hashText = fs.readFileSync(path.join(recording.folder, hashFile), 'utf8');
  for (const f of [...expectedFiles, `${recording.name}_info.txt`]) t.match(hashText, new RegExp(`^[0-9a-f]{64}  ${f.replace(/\./g, '\\.')}$`, 'm'), `hash file lists ${f}`);
  const sha = await run('sha256sum', ['-c', hashFile], { cwd: recording.folder });
  t.equal(sha.code, 0, 'sha256sum -c passes', { details: sha.stdout + sha.stderr });
  const shasum = await run('shasum', ['-a', '256', '-c', hashFile], { cwd: recording.folder });
  t.equal(shasum.code, 0, 'shasum -a 256 -c passes', { details: shasum.stdout + shasum.stderr });

  // As on the installation: the config tells callrec where its certificate is.
  const verify = await runCallrec(['verify', recording.base, '--config', call.rec.configPath]);
  t.equal(verify.code, 0, 'callrec verify exits 0', { details: verify.stdout + verify.stderr });
  const cert = certificateOf(call.rec);
  const script = await run('./verify.sh', [recording.base, cert]);
  t.equal(script.code, 0, './verify.sh exits 0', { details: script.stdout + script.stderr });

  const work = tempDir(t, 'callrec-openssl');
  const pub = path.join(work, 'pub.pem');
  const pubRun = await run('openssl', ['x509', '-in', cert, '-pubkey', '-noout']);
  fs.writeFileSync(pub, pubRun.stdout);
  const sigB64 = fs.readFileSync(path.join(recording.folder, `${hashFile}.SHA256withRSA.sig`), 'utf8').replace(/\s+/g, '');
  const sigBin = path.join(work, 'sig.bin');
  fs.writeFileSync(sigBin, Buffer.from(sigB64, 'base64'));
  t.equal(Buffer.from(sigB64, 'base64').length, 256, 'signature is 256 bytes (RSA-2048)');
  const dgst = await run('openssl', ['dgst', '-sha256', '-verify', pub, '-signature', sigBin, path.join(recording.folder, hashFile)]);
  t.equal(dgst.code, 0, 'openssl dgst -sha256 -verify passes', { details: dgst.stdout + dgst.stderr });
  t.match(dgst.stdout, /Verified OK/, 'openssl says Verified OK');
}
