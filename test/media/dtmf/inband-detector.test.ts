/**
 * lib/media/dtmf/inband-detector: DTMF tones in G.711 audio (Goertzel,
 * N = 102, Asterisk/spandsp acceptance tests).
 *
 * Verifies, on audio made by ffmpeg/sox (fixtures/dtmf/make.sh):
 * "*", gap, "1" gives exactly "*1" in A-law and mu-law, whatever the packet
 * size (blocks span packets); all 16 keys at the 40 ms on / 50 ms off
 * minimum; accepted twist (row +6 dB, column +3 dB) and a weak tone
 * (-34 dBFS); rejected twist (column +8 dB, row +12 dB); a 20 ms tone is
 * too short; +1.5 % frequency error detected, +3.5 % rejected; no detection
 * on a 1000 Hz tone, white noise, a sweep, synthetic vowels, plucked chords
 * and a melody, and real speech (SIPp's g711a.pcap, also as mu-law);
 * a column tone with a strong second harmonic rejected; tones in white
 * noise found at 20 dB S/N, not at 3 dB; a held key reported once, a key
 * repeated after a gap reported twice;
 * a timestamp jump splits the audio; the stop sequence through
 * KeySequenceMatcher completes once.
 * Does not verify: tones mixed with speech, other sample rates.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { ALAW_TO_LINEAR, linearToAlaw, linearToUlaw } from '../../../lib/media/dtmf/g711.js';
import { InbandDtmfDetector } from '../../../lib/media/dtmf/inband-detector.js';
import { KeySequenceMatcher } from '../../../lib/media/dtmf/key-sequence.js';
import { rtpPayloadOffset } from '../../../lib/media/rtp-header.js';
import { feed, fixture, keysOf, SIPP_PCAPS, synthesize } from './fixtures.js';
import { readPcap, udpDatagrams } from './pcap.js';

/** SIPp's A-law speech prompt: the RTP payloads of g711a.pcap (about 7 s). */
function sippSpeech(): Buffer {
  const datagrams = udpDatagrams(readPcap(fs.readFileSync(path.join(SIPP_PCAPS, 'g711a.pcap'))));
  return Buffer.concat(datagrams.map((d) => d.payload.subarray(rtpPayloadOffset(d.payload))));
}

const alawToUlaw = (audio: Buffer): Buffer => Buffer.from(Array.from(audio, (code) => linearToUlaw(ALAW_TO_LINEAR[code]!)));

t.test('"*", gap, "1": exactly "*1", A-law and mu-law', async (t) => {
  for (const [file, codec] of [
    ['star-1.al', 'pcma'],
    ['star-1.ul', 'pcmu'],
  ] as const) {
    const found = feed(new InbandDtmfDetector(), fixture(file), codec);
    t.equal(keysOf(found), '*1', file);
    // "*" sounds from 100 to 180 ms, "1" from 240 to 320 ms; reported after two blocks (25.5 ms) plus a packet.
    t.ok(found[0]!.atMs >= 100 && found[0]!.atMs <= 160, `${file}: "*" at ${found[0]!.atMs} ms`);
    t.ok(found[1]!.atMs >= 240 && found[1]!.atMs <= 300, `${file}: "1" at ${found[1]!.atMs} ms`);
  }
});

t.test('blocks span packets: any packet size gives the same keys', async (t) => {
  const audio = fixture('star-1.al');
  for (const size of [1, 7, 80, 101, 102, 103, 160, 240, 320]) {
    t.equal(keysOf(feed(new InbandDtmfDetector(), audio, 'pcma', size)), '*1', `${size} samples per packet`);
  }
});

t.test('the stop sequence completes once', async (t) => {
  const detector = new InbandDtmfDetector();
  const matcher = new KeySequenceMatcher('*1');
  const completions = feed(detector, fixture('star-1.ul'), 'pcmu').filter((d) => matcher.push(d.key, d.atMs, 'inband'));
  t.equal(completions.length, 1);
});

t.test('all 16 keys at the minimum timing (40 ms on, 50 ms off)', async (t) => {
  t.equal(keysOf(feed(new InbandDtmfDetector(), fixture('all-keys.ul'), 'pcmu')), '123A456B789C*0#D');
});

t.test('twist and level within limits are accepted', async (t) => {
  t.equal(keysOf(feed(new InbandDtmfDetector(), fixture('twist-accept.al'), 'pcma')), '590');
});

t.test('twist beyond the limits is rejected (column +8 dB, row +12 dB)', async (t) => {
  t.equal(keysOf(feed(new InbandDtmfDetector(), fixture('twist-reject.al'), 'pcma')), '');
});

t.test('a 20 ms tone is too short', async (t) => {
  t.equal(keysOf(feed(new InbandDtmfDetector(), fixture('short.al'), 'pcma')), '');
});

t.test('frequency tolerance: +1.5 % detected, +3.5 % rejected', async (t) => {
  t.equal(keysOf(feed(new InbandDtmfDetector(), fixture('freq-near.al'), 'pcma')), '5');
  t.equal(keysOf(feed(new InbandDtmfDetector(), fixture('freq-far.al'), 'pcma')), '');
});

t.test('talk-off: no key in tones, noise, sweeps, vowels, music', async (t) => {
  for (const [file, codec] of [
    ['tone-1000.ul', 'pcmu'],
    ['noise.al', 'pcma'],
    ['sweep.ul', 'pcmu'],
    ['vowels.al', 'pcma'],
    ['chords.al', 'pcma'],
  ] as const) {
    t.equal(keysOf(feed(new InbandDtmfDetector(), fixture(file), codec)), '', file);
  }
});

t.test('talk-off: no key in real speech (SIPp g711a.pcap), A-law and mu-law', async (t) => {
  const speech = sippSpeech();
  t.ok(speech.length >= 50_000, `${speech.length} samples of speech`);
  t.equal(keysOf(feed(new InbandDtmfDetector(), speech, 'pcma')), '', 'A-law');
  t.equal(keysOf(feed(new InbandDtmfDetector(), alawToUlaw(speech), 'pcmu')), '', 'mu-law');
});

t.test('state carries on: speech, then the sequence, then speech', async (t) => {
  const speech = sippSpeech();
  const audio = Buffer.concat([speech.subarray(0, 24_000), fixture('star-1.al'), speech.subarray(24_000)]);
  t.equal(keysOf(feed(new InbandDtmfDetector(), audio, 'pcma')), '*1');
});

t.test('a held key is reported once; a repeat after a gap twice', async (t) => {
  t.equal(keysOf(feed(new InbandDtmfDetector(), synthesize([['', 20], ['5', 1000], ['', 20]], linearToAlaw), 'pcma')), '5', 'held 1 s');
  const repeated = synthesize([['', 20], ['5', 80], ['', 30], ['5', 80], ['', 20]], linearToUlaw);
  t.equal(keysOf(feed(new InbandDtmfDetector(), repeated, 'pcmu')), '55', 'gap of 30 ms (over 2 blocks)');
  const quiet = synthesize([['', 20], ['#', 80], ['', 20]], linearToAlaw, 0.01);
  t.equal(keysOf(feed(new InbandDtmfDetector(), quiet, 'pcma')), '#', '-40 dBFS per tone');
  const tooQuiet = synthesize([['', 20], ['#', 80], ['', 20]], linearToAlaw, 0.003);
  t.equal(keysOf(feed(new InbandDtmfDetector(), tooQuiet, 'pcma')), '', '-50 dBFS per tone is below the threshold');
});

/** 8 kHz G.711 of a sum of sines [Hz, amplitude of full scale] plus seeded white noise of rms `noise`. */
function sines(parts: Array<[number, number]>, ms: number, encode: (x: number) => number, noise = 0): Buffer {
  let seed = 12345;
  const uniform = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  const out = Buffer.alloc(ms * 8);
  for (let n = 0; n < out.length; n++) {
    let x = 0;
    for (const [hz, amplitude] of parts) x += amplitude * Math.sin((2 * Math.PI * hz * n) / 8000);
    x += noise * Math.sqrt(3) * uniform(); // uniform noise of that rms
    out[n] = encode(x * 32767);
  }
  return out;
}

t.test('second harmonic: a column tone with a strong 2nd harmonic is no DTMF', async (t) => {
  // "5" = 770 + 1336 Hz; 2672 Hz is the column's second harmonic.
  const loud = sines([[770, 0.25], [1336, 0.25], [2672, 0.25 * 10 ** (-10 / 20)]], 100, linearToAlaw);
  t.equal(keysOf(feed(new InbandDtmfDetector(), loud, 'pcma')), '', 'harmonic at -10 dB: rejected (needs 18 dB)');
  const weak = sines([[770, 0.25], [1336, 0.25], [2672, 0.25 * 10 ** (-22 / 20)]], 100, linearToAlaw);
  t.equal(keysOf(feed(new InbandDtmfDetector(), weak, 'pcma')), '5', 'harmonic at -22 dB: accepted');
});

t.test('noise: detected at 20 dB S/N, not at 3 dB', async (t) => {
  // Two tones of amplitude 0.2 carry 0.04 of power; noise rms 0.02 is 20 dB below.
  const clean = sines([[941, 0.2], [1209, 0.2]], 100, linearToUlaw, 0.02);
  t.equal(keysOf(feed(new InbandDtmfDetector(), clean, 'pcmu')), '*', '20 dB');
  const noisy = sines([[941, 0.2], [1209, 0.2]], 100, linearToUlaw, 0.14);
  t.equal(keysOf(feed(new InbandDtmfDetector(), noisy, 'pcmu')), '', '3 dB');
});

t.test('a timestamp jump splits the audio', async (t) => {
  const tone = synthesize([['5', 30]], linearToAlaw); // 240 samples: two blocks and a bit
  const whole = new InbandDtmfDetector();
  t.equal(keysOf(feed(whole, tone, 'pcma', 120)), '5', 'continuous: detected');
  const split = new InbandDtmfDetector();
  t.equal(split.push(tone.subarray(0, 120), 'pcma', 0), undefined);
  t.equal(split.push(tone.subarray(120), 'pcma', 1000), undefined, 'after a 1 s jump the halves are not joined');
});

t.test('reset forgets a half-seen tone', async (t) => {
  const tone = synthesize([['9', 30]], linearToAlaw);
  const detector = new InbandDtmfDetector();
  t.equal(detector.push(tone.subarray(0, 120), 'pcma', 0), undefined);
  detector.reset();
  t.equal(detector.push(tone.subarray(120), 'pcma', 15), undefined);
});

t.test('fast enough for the packet path', async (t) => {
  const audio = Buffer.concat(Array.from({ length: 8 }, () => sippSpeech())); // about 57 s
  const detector = new InbandDtmfDetector();
  const started = process.hrtime.bigint();
  for (let offset = 0; offset < audio.length; offset += 160) detector.push(audio.subarray(offset, offset + 160), 'pcma', offset / 8);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const realtime = audio.length / 8 / ms;
  t.comment(`${(audio.length / 8000).toFixed(1)} s of audio in ${ms.toFixed(1)} ms (${realtime.toFixed(0)}x real time)`);
  t.ok(realtime > 20, 'at least 20x real time on one core, even on a loaded test machine');
});
