/**
 * Early media (SPEC M4, recordFrom: setup, the harness default): the
 * provider-side SIPp answers the INVITE with 183 Session Progress + SDP,
 * streams fixtures/audio/callee.al at once (rtp_stream), and sends the 200
 * only 1.5 s later; the PBX side streams caller.al after the answer.
 *
 * Verifies: both sides complete the call; the recording has an Answer time
 * at least 1.2 s after Start; the callee channel's audio starts more than
 * 1 s before the Answer (the early media is in the recording) and every
 * byte of it, early and after the answer, equals callee.al in place; the
 * caller channel's audio starts only around the answer and equals caller.al.
 * Does not verify: recordFrom: answer, reliable 183 (PRACK), the content of
 * the 183 as seen by the PBX (SIP tests).
 */
import path from 'node:path';
import t from 'tap';
import { sippAvailable } from './harness/index.js';
import {
  BYTES_PER_SECOND,
  CODECS,
  assertSippOk,
  audioFile,
  callThrough,
  channelOf,
  fillScenario,
  firstNonSilence,
  hexAround,
  matchSource,
  readAudio,
  readWav,
  sdpFor,
  secondsBetween,
  tempDir,
  waitForRecording,
} from './media-support.test.js';

const EARLY_MS = 1500;
const TALK_MS = 2000;

if (!sippAvailable()) {
  t.plan(0, 'sipp is not installed (run `make install` as root)');
} else {
  t.test('early media of a 183 is recorded before the answer', async (t) => {
    const codec = CODECS.PCMA;
    const dir = tempDir(t);
    const common = { ...sdpFor(codec, false), LOOPS: 1, PT: codec.pt };
    const uac = fillScenario('uac-media-stream', { ...common, AUDIO: audioFile('caller.al') }, dir, 'uac');
    const uas = fillScenario('uas-media-early', { ...common, AUDIO: audioFile('callee.al'), EARLY_MS }, dir, 'uas');
    const call = await callThrough(t, { uac, uas, durationMs: TALK_MS });
    assertSippOk(t, call);

    const recording = await waitForRecording(call.rec);
    const info = recording.info;
    t.not(info['Answer'], 'none', 'metadata: the call was answered');
    const answerAfter = secondsBetween(info['Start']!, info['Answer']!);
    t.ok(answerAfter >= (EARLY_MS - 300) / 1000, `Answer ${answerAfter.toFixed(3)} s after Start (the 200 came ${EARLY_MS} ms after the 183)`);

    const wav = readWav(path.join(recording.folder, `${recording.name}.wav`));
    const callee = channelOf(wav, 1);
    const caller = channelOf(wav, 0);

    const calleeFirst = firstNonSilence(callee, codec.silence) / BYTES_PER_SECOND;
    t.ok(calleeFirst >= 0 && calleeFirst < answerAfter - 1.0, `callee audio starts at ${calleeFirst.toFixed(3)} s, more than 1 s before the answer`);
    const m = matchSource(callee, readAudio('callee.al'), codec.silence);
    t.equal(m.mismatches, 0, 'callee channel: early and later audio equal what the provider sent', {
      details: m.firstMismatch >= 0 ? `first mismatch ${hexAround(callee, m.firstMismatch)}` : '',
    });
    const earlyBytes = Math.round(answerAfter * BYTES_PER_SECOND) - m.from;
    t.ok(earlyBytes >= BYTES_PER_SECOND, `${earlyBytes} bytes (${(earlyBytes / BYTES_PER_SECOND).toFixed(2)} s) of early media before the answer`);
    t.ok(m.to / BYTES_PER_SECOND > answerAfter + 1, 'the callee audio goes on after the answer');

    const callerFirst = firstNonSilence(caller, codec.silence) / BYTES_PER_SECOND;
    t.ok(callerFirst >= answerAfter - 0.1, `caller audio starts at ${callerFirst.toFixed(3)} s, around the answer (${answerAfter.toFixed(3)} s)`);
    const mc = matchSource(caller, readAudio('caller.al'), codec.silence);
    t.ok(mc.compared >= 1.5 * BYTES_PER_SECOND, `caller channel: ${mc.compared} bytes of audio`);
    t.equal(mc.mismatches, 0, 'caller channel: equals what the PBX sent');
  });
}
