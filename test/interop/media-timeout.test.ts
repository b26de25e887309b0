/**
 * Dead calls (SPEC M9) with media.timeout: 3 (config override): callrec ends
 * a call without RTP in either direction with a BYE to both sides and
 * finalizes the recording. Two subtests:
 *   - no RTP at all: uac-recv-bye / uas-basic (SDP, no media);
 *   - the RTP stops: both sides stream their 4 s file once
 *     (uac-media-recv-bye / uas-media-stream), then fall silent.
 *
 * Verifies: callrec logs call.rtp-timeout; both SIPp sides receive a BYE
 * and complete their call (exit 0); the end comes about 3 s after the last
 * RTP (between 2.5 and 8 s); Stop-Reason names the RTP timeout; the
 * recording is sealed and verifies (`callrec verify`); in the second case
 * the audio of both legs is in the recording, byte for byte.
 * Does not verify: holdTimeout, one-way RTP (audio one way keeps a call
 * alive), the default of 60 s.
 */
import path from 'node:path';
import t from 'tap';
import { countOf, sippAvailable } from './harness/index.js';
import {
  BYTES_PER_SECOND,
  CODECS,
  assertSippOk,
  audioFile,
  callThrough,
  channelOf,
  fillScenario,
  matchSource,
  readAudio,
  readWav,
  runCallrec,
  sdpFor,
  tempDir,
  waitForRecording,
} from './media-support.test.js';

const overrides = { media: { timeout: 3 } };
const timeOf = (line: { time?: number | string }): number => (typeof line.time === 'number' ? line.time : Date.parse(String(line.time)));

if (!sippAvailable()) {
  t.plan(0, 'sipp is not installed (run `make install` as root)');
} else {
  t.test('a call without any RTP is ended after media.timeout, BYE to both sides', async (t) => {
    const call = await callThrough(t, { uac: 'uac-recv-bye', uas: 'uas-basic', overrides, uacTimeoutSeconds: 30 });
    assertSippOk(t, call);
    t.equal(countOf(call.uac, 'recv', 'BYE'), 1, 'the PBX side received a BYE');
    t.equal(countOf(call.uas, 'recv', 'BYE'), 1, 'the provider side received a BYE');
    const { rec } = call;
    const timeout = await rec.waitForLog((l) => l.event === 'call.rtp-timeout', 5000);
    const start = await rec.waitForLog((l) => l.event === 'call.start');
    const after = (timeOf(timeout) - timeOf(start)) / 1000;
    t.ok(after >= 2.5 && after <= 8, `call.rtp-timeout ${after.toFixed(2)} s after the call started (timeout 3 s)`);
    const end = await rec.waitForLog((l) => l.event === 'call.end', 5000);
    t.ok(end, `call.end logged (${String(end['reason'])})`);

    const recording = await waitForRecording(rec);
    t.match(recording.info['Stop-Reason'] ?? '', /RTP timeout/i, `Stop-Reason: ${recording.info['Stop-Reason']}`);
    t.ok(recording.files.some((f) => f.endsWith('.SHA256withRSA.sig')), 'the recording is signed');
    const verify = await runCallrec(['verify', recording.base, '--config', rec.configPath]);
    t.equal(verify.code, 0, 'callrec verify exits 0', { details: verify.stdout + verify.stderr });
  });

  t.test('a call whose RTP stops is ended after media.timeout, its audio kept', async (t) => {
    const codec = CODECS.PCMA;
    const dir = tempDir(t);
    const common = { ...sdpFor(codec, false), LOOPS: 1, PT: codec.pt };
    const uac = fillScenario('uac-media-recv-bye', { ...common, AUDIO: audioFile('caller.al') }, dir, 'uac');
    const uas = fillScenario('uas-media-stream', { ...common, AUDIO: audioFile('callee.al') }, dir, 'uas');
    const call = await callThrough(t, { uac, uas, overrides, uacTimeoutSeconds: 30 });
    assertSippOk(t, call);
    t.equal(countOf(call.uac, 'recv', 'BYE'), 1, 'the PBX side received a BYE');
    t.equal(countOf(call.uas, 'recv', 'BYE'), 1, 'the provider side received a BYE');
    const { rec } = call;
    const timeout = await rec.waitForLog((l) => l.event === 'call.rtp-timeout', 5000);
    const start = await rec.waitForLog((l) => l.event === 'call.start');
    // The files play 4 s from the answer; then 3 s without RTP.
    const after = (timeOf(timeout) - timeOf(start)) / 1000;
    t.ok(after >= 4 + 2.5 && after <= 4 + 8, `call.rtp-timeout ${after.toFixed(2)} s after the call started (4 s of audio + 3 s)`);

    const recording = await waitForRecording(rec);
    t.match(recording.info['Stop-Reason'] ?? '', /RTP timeout/i, `Stop-Reason: ${recording.info['Stop-Reason']}`);
    const wav = readWav(path.join(recording.folder, `${recording.name}.wav`));
    for (const [index, who] of [[0, 'caller'], [1, 'callee']] as const) {
      const channel = channelOf(wav, index);
      const m = matchSource(channel, readAudio(`${who}.al`), codec.silence);
      t.ok(m.compared >= 3.8 * BYTES_PER_SECOND, `${who} channel: ${m.compared} bytes of audio (the whole 4 s file)`);
      t.equal(m.mismatches, 0, `${who} channel: equals what was sent`);
    }
    const verify = await runCallrec(['verify', recording.base, '--config', rec.configPath]);
    t.equal(verify.code, 0, 'callrec verify exits 0', { details: verify.stdout + verify.stderr });
  });
}
