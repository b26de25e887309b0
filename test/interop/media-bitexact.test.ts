/**
 * Bit-exact recording of both legs (SPEC M3, M6, M7, E2, E3, E6), one call
 * per codec: SIPp UAC (PBX) streams fixtures/audio/caller.<ext>, SIPp UAS
 * (provider) streams callee.<ext>, both with rtp_stream, through callrec
 * (default profile: both-stereo, recordFrom setup), 3 s after the answer.
 *
 * Verifies, for PCMA, PCMU and G.722 (five points each, one shared call):
 *   - the call completes; Codec, Channels, Audio-Files (one stereo file for
 *     G.711, <base>_caller.wav + <base>_callee.wav for G.722), Duration; each
 *     WAV has the 94-byte header (JUNK, fmt 18, fact, data), the codec's
 *     format tag, channel count and sample rate, a fact sample count that
 *     matches the data, and data within one packet of Duration;
 *   - each channel holds the bytes SIPp sent (packets counted by callrec's
 *     recording.stop x 160 from the start of the file), every byte in place,
 *     caller left / callee right, none of the other party's audio;
 *   - the last packets received before the BYE are complete (not cut off);
 *   - ffprobe: pcm_alaw / pcm_mulaw / adpcm_g722, channels, sample rate
 *     (16000 for G.722), duration within one packet of Duration; `sox --i`
 *     reads the G.711 files (channels, rate, law, duration);
 *   - sha256sum -c and shasum -a 256 -c pass in the recording's folder;
 *     `callrec verify <base> --config` and ./verify.sh <base> <cert> exit 0;
 *     openssl dgst -sha256 -verify of the signature with the certificate's
 *     public key passes.
 * Does not verify: loss/reordering (media-loss-reorder), early media,
 * DTMF, hold, timeouts, other channel modes (their own files).
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { sippAvailable } from './harness/index.js';
import {
  BYTES_PER_SECOND,
  type CallResult,
  type CodecName,
  type Recording,
  CODECS,
  PACKET_BYTES,
  PACKET_SECONDS,
  type CodecInfo,
  assertSippOk,
  audioFile,
  callThrough,
  certificateOf,
  channelOf,
  ffprobe,
  fillScenario,
  hexAround,
  matchStream,
  packetsOf,
  enginePacketsOf,
  readAudio,
  readWav,
  run,
  runCallrec,
  sdpFor,
  tempDir,
  waitForRecording,
} from './media-support.test.js';

const CALL_MS = 3000;

interface Leg {
  file: string;
  index: number;
  source: 'caller' | 'callee';
}

interface BitExactCall {
  call: CallResult;
  recording: Recording;
  stereo: boolean;
  files: string[];
  legs: Leg[];
  packets: { caller: number; callee: number };
  /** Of those, what the media engine's fast path spooled; and whether callrec runs with it. */
  engine: { caller: number; callee: number };
  fastPath: boolean;
}

/** One call per codec, made by the first subtest that needs it; callrec and SIPp end with the file. */
const calls = new Map<CodecName, Promise<BitExactCall>>();
function callFor(codec: CodecInfo): Promise<BitExactCall> {
  let p = calls.get(codec.name);
  if (p === undefined) {
    p = makeCall(codec);
    calls.set(codec.name, p);
  }
  return p;
}

async function makeCall(codec: CodecInfo): Promise<BitExactCall> {
  const dir = tempDir(t);
  const common = { ...sdpFor(codec, false), LOOPS: 1, PT: codec.pt };
  const uac = fillScenario('uac-media-stream', { ...common, AUDIO: audioFile(`caller.${codec.ext}`) }, dir, 'uac');
  const uas = fillScenario('uas-media-stream', { ...common, AUDIO: audioFile(`callee.${codec.ext}`) }, dir, 'uas');
  const call = await callThrough(t, { uac, uas, durationMs: CALL_MS });
  const recording = await waitForRecording(call.rec);
  const packets = await packetsOf(call.rec);
  const engine = await enginePacketsOf(call.rec);
  const fastPath = (await call.rec.waitForLog((l) => l.event === 'media.io', 1000))['fastPath'] === true;
  const stereo = codec.name !== 'G722';
  const files = stereo ? [`${recording.name}.wav`] : [`${recording.name}_caller.wav`, `${recording.name}_callee.wav`];
  const legs: Leg[] = stereo
    ? [
        { file: files[0]!, index: 0, source: 'caller' },
        { file: files[0]!, index: 1, source: 'callee' },
      ]
    : [
        { file: files[0]!, index: 0, source: 'caller' },
        { file: files[1]!, index: 0, source: 'callee' },
      ];
  return { call, recording, stereo, files, legs, packets, engine, fastPath };
}

if (!sippAvailable()) {
  t.plan(0, 'sipp is not installed (run `make install` as root)');
} else {
  for (const codec of [CODECS.PCMA, CODECS.PCMU, CODECS.G722]) {
    t.test(`${codec.name}: the call completes; metadata and WAV headers are right`, async (t) => {
      const c = await callFor(codec);
      assertSippOk(t, c.call);
      const info = c.recording.info;
      t.equal(info['Codec'], codec.name, 'metadata: Codec');
      t.equal(info['Channels'], 'both-stereo', 'metadata: Channels');
      t.same([...c.recording.audioFiles].sort(), [...c.files].sort(), 'metadata: Audio-Files');
      const duration = Number(info['Duration']);
      t.ok(duration >= CALL_MS / 1000 && duration < CALL_MS / 1000 + 10, `metadata: Duration ${duration} s covers the call`);
      for (const file of c.files) {
        const wav = readWav(path.join(c.recording.folder, file));
        const channels = c.stereo ? 2 : 1;
        t.equal(wav.dataOffset, 94, `${file}: 94-byte header`);
        t.same(wav.chunks, ['JUNK', 'fmt ', 'fact', 'data'], `${file}: chunks JUNK, fmt, fact, data`);
        t.equal(wav.formatTag, codec.formatTag, `${file}: format tag ${codec.formatTag}`);
        t.equal(wav.channels, channels, `${file}: ${channels} channel(s)`);
        t.equal(wav.sampleRate, codec.sampleRate, `${file}: ${codec.sampleRate} Hz`);
        t.equal(wav.data.length % channels, 0, `${file}: whole frames`);
        const frames = wav.data.length / channels;
        // fact counts samples per channel: G.722 has two 16 kHz samples per byte.
        t.equal(wav.factSamples, c.stereo ? frames : frames * 2, `${file}: fact sample count matches the data`);
        t.ok(Math.abs(frames / BYTES_PER_SECOND - duration) <= PACKET_SECONDS, `${file}: data ${frames / BYTES_PER_SECOND} s within one packet of Duration ${duration} s`);
      }
    });

    t.test(`${codec.name}: each channel holds the bytes SIPp sent, in place (caller left, callee right)`, async (t) => {
      const c = await callFor(codec);
      for (const leg of c.legs) {
        const channel = channelOf(readWav(path.join(c.recording.folder, leg.file)), leg.index);
        const source = readAudio(`${leg.source}.${codec.ext}`);
        // What SIPp sent: `packets` x 160 bytes from the start of its file (callrec counts them).
        const sent = c.packets[leg.source] * PACKET_BYTES;
        t.ok(sent >= 2.5 * BYTES_PER_SECOND, `${leg.source}: ${c.packets[leg.source]} packets received by callrec (>= 2.5 s)`);
        // With the batched engine (the default where it builds), the fast path spools nearly all of them:
        // JavaScript takes a leg's first packet (latching) and one after each spool flush. So also on
        // the PBX's leg of a G.711 call without telephone-event: in-band key detection (SPEC M5) reads
        // its audio from the spool before each flush, not from the relay's path.
        if (c.fastPath) {
          t.ok(c.engine[leg.source] >= 0.8 * c.packets[leg.source], `${leg.source}: ${c.engine[leg.source]} of them spooled by the engine's fast path`);
        }
        const m = matchStream(channel, source, codec.silence, sent);
        t.ok(m.origin >= 0, `${leg.source} channel: the stream starts inside the recording (byte ${m.origin})`);
        t.ok(m.compared >= sent - 2 * PACKET_BYTES, `${leg.source} channel: ${m.compared} of ${sent} bytes lie inside the recording`);
        t.equal(m.mismatches, 0, `${leg.source} channel: every byte equals what SIPp sent`, {
          details: m.firstMismatch >= 0 ? `first mismatch ${hexAround(channel, m.firstMismatch)} vs source offset ${m.firstMismatch - m.origin}` : '',
        });
        // The other party's file must not be in this channel (never mixed, not swapped).
        const other = readAudio(`${leg.source === 'caller' ? 'callee' : 'caller'}.${codec.ext}`);
        t.equal(channel.indexOf(other.subarray(1600, 1760)), -1, `${leg.source} channel: holds none of the other party's audio`);
      }
    });

    t.test(`${codec.name}: the last packets before the BYE are not cut off`, async (t) => {
      const c = await callFor(codec);
      for (const leg of c.legs) {
        const channel = channelOf(readWav(path.join(c.recording.folder, leg.file)), leg.index);
        const sent = c.packets[leg.source] * PACKET_BYTES;
        const m = matchStream(channel, readAudio(`${leg.source}.${codec.ext}`), codec.silence, sent);
        t.equal(m.missingAtEnd, 0, `${leg.source} channel: all ${c.packets[leg.source]} packets received are in the recording`, {
          details: `stream of ${sent} bytes placed from channel byte ${m.origin}; the channel ends at byte ${channel.length}, ` +
            `so ${m.missingAtEnd} bytes of the last packet(s) received before the BYE are missing`,
        });
      }
    });

    t.test(`${codec.name}: ffprobe${codec.name === 'G722' ? '' : ' and sox'} read the files (codec, channels, rate, duration)`, async (t) => {
      const c = await callFor(codec);
      const duration = Number(c.recording.info['Duration']);
      for (const file of c.files) {
        const full = path.join(c.recording.folder, file);
        const channels = c.stereo ? 2 : 1;
        const probe = await ffprobe(full);
        t.equal(probe.stream?.codec_name, codec.ffprobe, `${file}: ffprobe codec ${codec.ffprobe}`, { details: probe.raw.stderr });
        t.equal(probe.stream?.channels, channels, `${file}: ffprobe channels ${channels}`);
        t.equal(Number(probe.stream?.sample_rate), codec.sampleRate, `${file}: ffprobe sample rate ${codec.sampleRate}`);
        t.ok(Math.abs(probe.duration - duration) <= PACKET_SECONDS, `${file}: ffprobe duration ${probe.duration} s within one packet of Duration ${duration} s`);
        if (c.stereo) {
          const sox = await run('sox', ['--i', full]);
          t.equal(sox.code, 0, `${file}: sox --i reads it`, { details: sox.stderr });
          t.match(sox.stdout, /Channels\s*:\s*2/, `${file}: sox sees 2 channels`);
          t.match(sox.stdout, /Sample Rate\s*:\s*8000/, `${file}: sox sees 8000 Hz`);
          t.match(sox.stdout, codec.name === 'PCMA' ? /A-law/ : /u-law/, `${file}: sox sees the G.711 law`);
          const soxDuration = await run('sox', ['--i', '-D', full]);
          t.ok(Math.abs(Number(soxDuration.stdout.trim()) - duration) <= PACKET_SECONDS, `${file}: sox duration ${soxDuration.stdout.trim()} s within one packet`);
        }
      }
    });

    t.test(`${codec.name}: evidence verifies with sha256sum, shasum, callrec verify, verify.sh and openssl`, async (t) => {
      const c = await callFor(codec);
      const recording = c.recording;
      const hashFile = `${recording.name}_hash.txt`;
      const hashText = fs.readFileSync(path.join(recording.folder, hashFile), 'utf8');
      for (const f of [...c.files, `${recording.name}_info.txt`]) {
        t.match(hashText, new RegExp(`^[0-9a-f]{64}  ${f.replace(/\./g, '\\.')}$`, 'm'), `hash file lists ${f}`);
      }
      const sha = await run('sha256sum', ['-c', hashFile], { cwd: recording.folder });
      t.equal(sha.code, 0, 'sha256sum -c passes', { details: sha.stdout + sha.stderr });
      const shasum = await run('shasum', ['-a', '256', '-c', hashFile], { cwd: recording.folder });
      t.equal(shasum.code, 0, 'shasum -a 256 -c passes', { details: shasum.stdout + shasum.stderr });

      // As on the installation: the config tells callrec where its certificate is.
      const verify = await runCallrec(['verify', recording.base, '--config', c.call.rec.configPath]);
      t.equal(verify.code, 0, 'callrec verify exits 0', { details: verify.stdout + verify.stderr });
      const cert = certificateOf(c.call.rec);
      const script = await run('./verify.sh', [recording.base, cert]);
      t.equal(script.code, 0, './verify.sh exits 0', { details: script.stdout + script.stderr });

      const work = tempDir(t, 'callrec-openssl');
      const pub = path.join(work, 'pub.pem');
      const pubRun = await run('openssl', ['x509', '-in', cert, '-pubkey', '-noout']);
      t.equal(pubRun.code, 0, 'openssl x509 reads the certificate');
      fs.writeFileSync(pub, pubRun.stdout);
      const sigText = fs.readFileSync(path.join(recording.folder, `${hashFile}.SHA256withRSA.sig`), 'utf8').replace(/\s+/g, '');
      const sig = Buffer.from(sigText, 'base64');
      t.equal(sig.length, 256, 'signature is 256 bytes (RSA-2048)');
      const sigBin = path.join(work, 'sig.bin');
      fs.writeFileSync(sigBin, sig);
      const dgst = await run('openssl', ['dgst', '-sha256', '-verify', pub, '-signature', sigBin, path.join(recording.folder, hashFile)]);
      t.equal(dgst.code, 0, 'openssl dgst -sha256 -verify passes', { details: dgst.stdout + dgst.stderr });
      t.match(dgst.stdout, /Verified OK/, 'openssl says Verified OK');
    });
  }
}
