/**
 * lib/media/dtmf/g711: ITU-T G.711 expansion tables and the test encoders.
 *
 * Verifies: all 256 A-law and mu-law codes expand to the values sox gives
 * (fixtures/dtmf/*-codes.s16, written by fixtures/dtmf/make.sh); known
 * points (A-law 0xd5 = +8, 0x55 = -8, 0xaa = +32256; mu-law 0xff = 0,
 * 0x80 = +32124, 0x00 = -32124); encoding a decoded value gives the code
 * back; encoders clip and stay within half a quantisation step.
 */
import t from 'tap';
import { ALAW_TO_LINEAR, g711Table, linearToAlaw, linearToUlaw, ULAW_TO_LINEAR } from '../../../lib/media/dtmf/g711.js';
import { fixture } from './fixtures.js';

function reference(name: string): number[] {
  const raw = fixture(name);
  return Array.from({ length: raw.length / 2 }, (_, i) => raw.readInt16LE(i * 2));
}

t.test('A-law table equals sox for all 256 codes', async (t) => {
  t.same(Array.from(ALAW_TO_LINEAR), reference('alaw-codes.s16'));
});

t.test('mu-law table equals sox for all 256 codes', async (t) => {
  t.same(Array.from(ULAW_TO_LINEAR), reference('ulaw-codes.s16'));
});

t.test('known points', async (t) => {
  t.equal(ALAW_TO_LINEAR[0xd5], 8);
  t.equal(ALAW_TO_LINEAR[0x55], -8);
  t.equal(ALAW_TO_LINEAR[0xaa], 32256);
  t.equal(ALAW_TO_LINEAR[0x2a], -32256);
  t.equal(ULAW_TO_LINEAR[0xff], 0);
  t.equal(ULAW_TO_LINEAR[0x7f], 0);
  t.equal(ULAW_TO_LINEAR[0x80], 32124);
  t.equal(ULAW_TO_LINEAR[0x00], -32124);
  t.equal(g711Table('pcma'), ALAW_TO_LINEAR);
  t.equal(g711Table('pcmu'), ULAW_TO_LINEAR);
});

t.test('encoders invert the tables', async (t) => {
  const codes = Array.from({ length: 256 }, (_, code) => code);
  t.same(codes.map((code) => linearToAlaw(ALAW_TO_LINEAR[code]!)), codes, 'A-law: code -> linear -> code');
  const ulaw = Array.from(ULAW_TO_LINEAR);
  t.same(ulaw.map((x) => ULAW_TO_LINEAR[linearToUlaw(x)]), ulaw, 'mu-law: linear -> code -> same linear (0x7f and 0xff are both 0)');
});

t.test('encoders clip and stay within half a quantisation step', async (t) => {
  t.equal(ALAW_TO_LINEAR[linearToAlaw(40000)], 32256);
  t.equal(ALAW_TO_LINEAR[linearToAlaw(-40000)], -32256);
  t.equal(ULAW_TO_LINEAR[linearToUlaw(40000)], 32124);
  t.equal(ULAW_TO_LINEAR[linearToUlaw(-40000)], -32124);
  // G.711 returns the middle of the decision interval holding x: at most half a step away,
  // a step being 1/16 of the segment's lower bound (16 at the bottom), so |error| <= |x| / 32 + 16.
  let worstA = 0;
  let worstU = 0;
  for (let x = -32124; x <= 32124; x++) {
    const bound = Math.abs(x) / 32 + 16;
    worstA = Math.max(worstA, Math.abs(ALAW_TO_LINEAR[linearToAlaw(x)]! - x) / bound);
    worstU = Math.max(worstU, Math.abs(ULAW_TO_LINEAR[linearToUlaw(x)]! - x) / bound);
  }
  t.ok(worstA <= 1, `A-law: worst error ${worstA.toFixed(3)} of half a step`);
  t.ok(worstU <= 1, `mu-law: worst error ${worstU.toFixed(3)} of half a step`);
});
