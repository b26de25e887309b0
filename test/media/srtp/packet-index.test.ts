/**
 * Packet index estimation (RFC 3711 §3.3.1, Appendix A) and the replay
 * window (§3.3.2).
 *
 * Verifies:
 * - the v selection of Appendix A in each branch: ROC-1, ROC, ROC+1, and
 *   the wrap 65535 -> 0 forward (ROC+1) and a late 65535 after 0 (ROC-1)
 * - a guess below ROC 0 is negative (dropped as too old)
 * - the window: new above the top, duplicates rejected, left of the window
 *   rejected, slides by one and by more than its size, 64 and 128 sizes,
 *   indices beyond 2^32 (ROC > 0xffff)
 */
import t from 'tap';
import { estimatePacketIndex, guessRoc } from '../../../lib/media/srtp/packet-index.js';
import { ReplayWindow } from '../../../lib/media/srtp/replay-window.js';

t.test('Appendix A: v is ROC-1, ROC or ROC+1', async (t) => {
  // s_l < 32768
  t.equal(guessRoc(100, 50, 5), 5);
  t.equal(guessRoc(40, 50, 5), 5, 'slightly late, same ROC');
  t.equal(guessRoc(65500, 10, 5), 4, 'SEQ - s_l > 32768: from the previous ROC');
  t.equal(guessRoc(32778, 10, 5), 5, 'exactly 32768 ahead is still this ROC');
  t.equal(guessRoc(32779, 10, 5), 4);
  // s_l >= 32768
  t.equal(guessRoc(5, 65530, 5), 6, 's_l - 32768 > SEQ: next ROC');
  t.equal(guessRoc(40000, 65530, 5), 5);
  t.equal(guessRoc(32762, 65530, 5), 5, 's_l - 32768 == SEQ: this ROC');
  t.equal(guessRoc(32761, 65530, 5), 6);
});

t.test('wrap-around 65535 -> 0 in both directions', async (t) => {
  t.equal(estimatePacketIndex(0, 65535, 0), 65536, 'forward: 0 after 65535 is ROC 1');
  t.equal(estimatePacketIndex(1, 65535, 0), 65537);
  t.equal(estimatePacketIndex(65535, 0, 1), 65535, 'backward: 65535 after 0 (ROC 1) is ROC 0');
  t.equal(estimatePacketIndex(65534, 1, 1), 65534);
  t.equal(estimatePacketIndex(0, 65535, 0xfffe), 0xffff * 65536, 'large ROC');
  t.ok(estimatePacketIndex(65000, 10, 0) < 0, 'before the first ROC: negative');
});

t.test('replay window 128: new, duplicate, too old, sliding', async (t) => {
  const w = new ReplayWindow(128);
  t.ok(w.check(1000));
  w.accept(1000);
  t.notOk(w.check(1000), 'duplicate');
  t.ok(w.check(999), 'inside the window, unseen');
  w.accept(999);
  t.notOk(w.check(999));
  t.ok(w.check(1000 - 127), 'last slot of the window');
  t.notOk(w.check(1000 - 128), 'left of the window');
  w.accept(1001);
  t.equal(w.highest, 1001);
  t.notOk(w.check(1000), 'still remembered after sliding by one');
  t.notOk(w.check(999));
  t.ok(w.check(998));
  w.accept(1001 + 500);
  t.ok(w.check(1501 - 10), 'a jump beyond the size clears the window');
  t.notOk(w.check(1001), 'now far left of the window');
  t.notOk(w.check(1501));
});

t.test('replay window 64 and indices beyond 2^32', async (t) => {
  const w = new ReplayWindow(64);
  const base = 0x1_0000_0000 * 3 + 17;
  w.accept(base);
  t.notOk(w.check(base));
  t.ok(w.check(base - 63));
  t.notOk(w.check(base - 64));
  for (let i = 1; i <= 70; i++) w.accept(base + i);
  t.notOk(w.check(base + 70 - 3));
  t.ok(w.check(base + 71));
  t.notOk(w.check(base + 6), 'left of the window after sliding');
  t.ok(new ReplayWindow().check(0), 'empty window accepts anything');
});
