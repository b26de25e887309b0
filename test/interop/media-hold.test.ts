/**
 * Hold and resume by re-INVITE (SPEC S1 re-INVITE, M6 timestamp jumps):
 * the PBX-side SIPp streams fixtures/audio/tone-long.al throughout, puts the
 * call on hold after 2 s (re-INVITE a=sendonly) and resumes it 2 s later
 * (re-INVITE a=sendrecv), then talks 2 s more and hangs up. The provider
 * side streams callee.al, pauses its stream while on hold (as a phone does;
 * SIPp's timestamps jump by the hold time) and resumes it.
 *
 * Verifies: both sides complete the call, the provider side receives both
 * re-INVITEs; one recording covers the whole call; the caller channel holds
 * the PBX's audio continuously across hold and resume, byte for byte; the
 * callee channel holds two runs of the provider's audio, byte for byte:
 * before the hold and after the resume (at least 1.5 s of it), with silence
 * of about the hold's length (1.5-2.5 s) between them.
 * Does not verify: holdTimeout, c=0.0.0.0 hold, a codec change by
 * re-INVITE, the SDP callrec sends (SIP/SDP tests).
 */
import path from 'node:path';
import t from 'tap';
import { countOf, sippAvailable } from './harness/index.js';
import {
  BYTES_PER_SECOND,
  CODECS,
  assertSippOk,
  audioFile,
  audioRuns,
  callThrough,
  channelOf,
  fillScenario,
  hexAround,
  locateInSource,
  matchSource,
  readAudio,
  readWav,
  sdpFor,
  tempDir,
  waitForRecording,
} from './media-support.test.js';

const TALK_MS = 2000;
const HOLD_MS = 2000;
const AFTER_MS = 2000;

if (!sippAvailable()) {
  t.plan(0, 'sipp is not installed (run `make install` as root)');
} else {
  t.test('audio goes on being recorded after hold and resume', async (t) => {
    const codec = CODECS.PCMA;
    const dir = tempDir(t);
    const common = { ...sdpFor(codec, false), PT: codec.pt };
    const uac = fillScenario('uac-media-hold', { ...common, LOOPS: 1, AUDIO: audioFile('tone-long.al'), TALK_MS, HOLD_MS }, dir, 'uac');
    const uas = fillScenario('uas-media-hold', { ...common, LOOPS: -1, AUDIO: audioFile('callee.al') }, dir, 'uas');
    const call = await callThrough(t, { uac, uas, durationMs: AFTER_MS });
    assertSippOk(t, call);
    t.equal(countOf(call.uas, 'recv', 'INVITE'), 3, 'the provider side received the INVITE and both re-INVITEs');

    const recording = await waitForRecording(call.rec);
    const total = (TALK_MS + HOLD_MS + AFTER_MS) / 1000;
    const duration = Number(recording.info['Duration']);
    t.ok(duration >= total && duration < total + 3, `one recording of ${duration} s covers the whole call`);
    t.equal(call.rec.logs.filter((l) => l.event === 'recording.start').length, 1, 'one recording.start for the call (the re-INVITEs do not split it)');

    const wav = readWav(path.join(recording.folder, `${recording.name}.wav`));
    const caller = channelOf(wav, 0);
    const mc = matchSource(caller, readAudio('tone-long.al'), codec.silence);
    t.ok(mc.compared >= (total - 0.5) * BYTES_PER_SECOND, `caller channel: ${(mc.compared / BYTES_PER_SECOND).toFixed(2)} s of continuous audio`);
    t.equal(mc.mismatches, 0, 'caller channel: equals what the PBX sent, across hold and resume', {
      details: mc.firstMismatch >= 0 ? `first mismatch ${hexAround(caller, mc.firstMismatch)}` : '',
    });

    const callee = channelOf(wav, 1);
    const source = readAudio('callee.al');
    const runs = audioRuns(callee, codec.silence, 0.5 * BYTES_PER_SECOND);
    t.equal(runs.length, 2, `callee channel: audio before the hold and after the resume (runs ${JSON.stringify(runs)})`);
    const [before, afterResume] = runs;
    if (before !== undefined && afterResume !== undefined) {
      const gap = (afterResume.from - before.to) / BYTES_PER_SECOND;
      t.ok(gap >= (HOLD_MS - 500) / 1000 && gap <= (HOLD_MS + 500) / 1000, `silence of ${gap.toFixed(3)} s while on hold`);
      t.ok(before.to - before.from >= 1.5 * BYTES_PER_SECOND, `${((before.to - before.from) / BYTES_PER_SECOND).toFixed(2)} s before the hold`);
      t.ok(afterResume.to - afterResume.from >= 1.5 * BYTES_PER_SECOND, `${((afterResume.to - afterResume.from) / BYTES_PER_SECOND).toFixed(2)} s after the resume`);
      for (const [name, run] of [['before the hold', before], ['after the resume', afterResume]] as const) {
        const found = locateInSource(callee.subarray(run.from, run.to), source);
        t.ok(found.offset >= 0, `callee audio ${name} is the provider's audio (file offset ${found.offset})`);
        t.equal(found.mismatches, 0, `callee audio ${name}: every byte equals what was sent`);
      }
    }
  });
}
