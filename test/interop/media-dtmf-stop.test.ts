/**
 * `*1` from the PBX side stops the recording, the call goes on (SPEC M5,
 * config dtmf.stop default "*1"). Outbound call: the PBX-side SIPp streams
 * A-law audio; the provider side streams callee.al. Three ways to press *1,
 * one subtest each:
 *   - RFC 4733: SIPp pcap_play of /usr/share/sip-tester/dtmf_2833_star.pcap,
 *     then dtmf_2833_1.pcap, 2 s after the answer (telephone-event 101
 *     negotiated);
 *   - SIP INFO: application/dtmf-relay Signal=* then Signal=1, 2 s after the
 *     answer (the provider side must receive both INFOs: relayed);
 *   - in-band: fixtures/audio/dtmf-star-1.al (A-law, "*" and "1" tones at
 *     1.70-1.96 s of the stream), SDP without telephone-event.
 *
 * Verifies, for each: the engine's fast path spooled most of the PBX's
 * audio (detection does not hold the relay in JavaScript); both SIPp sides
 * complete the call (which goes on for 3 s after the key presses and ends
 * with the PBX's BYE); Stop-Reason says
 * "stopped by *1 at N s" with N where the keys were pressed; the WAV ends
 * at N (within 0.25 s), well before the call ended; call.end comes at least
 * 2 s after recording.stop; the caller audio up to the stop equals what the
 * PBX sent, byte for byte; recording.sealed/delivered follow.
 * Does not verify: *1 from the provider side, other stop sequences, talk-off
 * (unit tests in test/media/dtmf).
 */
import path from 'node:path';
import t from 'tap';
import { sippAvailable } from './harness/index.js';
import {
  BYTES_PER_SECOND,
  CODECS,
  type CallSetup,
  assertSippOk,
  audioFile,
  callThrough,
  channelOf,
  fillScenario,
  hexAround,
  matchSource,
  readAudio,
  readWav,
  sdpFor,
  tempDir,
  waitForRecording,
} from './media-support.test.js';

const DTMF_DIR = '/usr/share/sip-tester';
const BEFORE_MS = 2000;
const AFTER_MS = 3000;
const codec = CODECS.PCMA;

interface Variant {
  name: string;
  /** Scenarios in `dir`. */
  setup(dir: string): CallSetup;
  /** Audio the PBX side streams (fixtures/audio). */
  audio: string;
  /** Where (seconds after the recording's start) the stop may lie. */
  window: [number, number];
}

const variants: Variant[] = [
  {
    name: 'RFC 4733 telephone-event (SIPp pcap_play)',
    audio: 'tone-long.al',
    window: [BEFORE_MS / 1000, BEFORE_MS / 1000 + 1.5],
    setup: (dir) => ({
      uac: fillScenario('uac-media-dtmf2833', {
        ...sdpFor(codec, true), PT: codec.pt, LOOPS: 1, AUDIO: audioFile('tone-long.al'), BEFORE_MS,
        DTMF_FIRST: `${DTMF_DIR}/dtmf_2833_star.pcap`, DTMF_SECOND: `${DTMF_DIR}/dtmf_2833_1.pcap`,
      }, dir, 'uac'),
      uas: fillScenario('uas-media-stream', { ...sdpFor(codec, true), PT: codec.pt, LOOPS: -1, AUDIO: audioFile('callee.al') }, dir, 'uas'),
      durationMs: AFTER_MS,
    }),
  },
  {
    name: 'SIP INFO application/dtmf-relay',
    audio: 'tone-long.al',
    window: [BEFORE_MS / 1000, BEFORE_MS / 1000 + 1.5],
    setup: (dir) => ({
      uac: fillScenario('uac-media-info-dtmf', { ...sdpFor(codec, true), PT: codec.pt, LOOPS: 1, AUDIO: audioFile('tone-long.al'), BEFORE_MS }, dir, 'uac'),
      uas: fillScenario('uas-media-info', { ...sdpFor(codec, true), PT: codec.pt, LOOPS: -1, AUDIO: audioFile('callee.al') }, dir, 'uas'),
      durationMs: AFTER_MS,
    }),
  },
  {
    name: 'in-band tones (no telephone-event negotiated)',
    audio: 'dtmf-star-1.al',
    window: [1.7, 3.0],
    setup: (dir) => ({
      uac: fillScenario('uac-media-stream', { ...sdpFor(codec, false), PT: codec.pt, LOOPS: 1, AUDIO: audioFile('dtmf-star-1.al') }, dir, 'uac'),
      uas: fillScenario('uas-media-stream', { ...sdpFor(codec, false), PT: codec.pt, LOOPS: -1, AUDIO: audioFile('callee.al') }, dir, 'uas'),
      // In-band keys are read from the spool at its next flush: the stop may come up to a
      // second after them, so the call runs a second longer and still goes on well past the stop.
      durationMs: 3000 + AFTER_MS,
    }),
  },
];

const timeOf = (line: { time?: number | string }): number => (typeof line.time === 'number' ? line.time : Date.parse(String(line.time)));

if (!sippAvailable()) {
  t.plan(0, 'sipp is not installed (run `make install` as root)');
} else {
  for (const v of variants) {
    t.test(`*1 via ${v.name} stops the recording, the call goes on`, async (t) => {
      const dir = tempDir(t);
      const call = await callThrough(t, v.setup(dir));
      assertSippOk(t, call);
      const { rec } = call;

      const stop = await rec.waitForLog((l) => l.event === 'recording.stop', 15_000);
      // Key detection, in-band included, is off the relay's path: with the batched engine its fast
      // path still spools nearly all of the PBX's audio (JavaScript: first packet, one per flush, events).
      if ((await rec.waitForLog((l) => l.event === 'media.io', 1000))['fastPath'] === true) {
        const packets = (stop['packets'] as { caller: number }).caller;
        const engine = (stop['engine'] as { caller: number }).caller;
        t.ok(packets > 0 && engine >= 0.7 * packets, `PBX leg: ${engine} of ${packets} packets spooled by the engine's fast path`);
      }
      const end = await rec.waitForLog((l) => l.event === 'call.end', 15_000);
      t.match(String(end['reason']), /BYE/, `the call ended by BYE (${String(end['reason'])})`);
      const goesOn = (timeOf(end) - timeOf(stop)) / 1000;
      t.ok(goesOn >= 2, `the call went on ${goesOn.toFixed(2)} s after the recording stopped`);

      const recording = await waitForRecording(rec);
      const reason = recording.info['Stop-Reason'] ?? '';
      const m = /stopped by \*1 at ([\d.]+) s/.exec(reason);
      t.ok(m, `Stop-Reason "${reason}" names *1 and the time`);
      const at = Number(m?.[1] ?? NaN);
      t.ok(at >= v.window[0] && at <= v.window[1], `stopped at ${at} s, where the keys were pressed (${v.window[0]}-${v.window[1]} s)`);

      const wav = readWav(path.join(recording.folder, `${recording.name}.wav`));
      const seconds = wav.data.length / 2 / BYTES_PER_SECOND;
      t.ok(Math.abs(seconds - at) <= 0.25, `the WAV holds ${seconds.toFixed(3)} s: audio up to the stop only`);
      const callSeconds = (timeOf(end) - timeOf(await rec.waitForLog((l) => l.event === 'call.start'))) / 1000;
      t.ok(seconds < callSeconds - 2, `the WAV (${seconds.toFixed(2)} s) is shorter than the call (${callSeconds.toFixed(2)} s)`);

      const caller = channelOf(wav, 0);
      const mc = matchSource(caller, readAudio(v.audio), codec.silence);
      t.ok(mc.compared >= 1.5 * BYTES_PER_SECOND, `caller channel: ${mc.compared} bytes of audio before the stop`);
      t.equal(mc.mismatches, 0, 'caller channel: the audio before the stop equals what the PBX sent', {
        details: mc.firstMismatch >= 0 ? `first mismatch ${hexAround(caller, mc.firstMismatch)}` : '',
      });
      const callee = channelOf(wav, 1);
      const me = matchSource(callee, readAudio('callee.al'), codec.silence);
      t.ok(me.compared >= 1.5 * BYTES_PER_SECOND && me.mismatches === 0, `callee channel: ${me.compared} bytes equal what the provider sent`);
    });
  }
}
