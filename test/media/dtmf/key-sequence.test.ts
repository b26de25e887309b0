/**
 * lib/media/dtmf/key-sequence: the stop sequence and cross-source dedupe.
 *
 * Verifies: "*1" completes on "*","1"; a gap over the timeout (3 s default,
 * configurable) restarts; a repeated start key restarts ("*","*","1");
 * longer sequences with self-overlap ("*1*2" in "*1*1*2"); wrong keys reset;
 * completion restarts the match; lower-case a-d; non-key strings ignored; invalid sequences throw;
 * the same key from two sources within 100 ms is one press, from one source
 * it is two, and after the window it is two.
 */
import t from 'tap';
import { KeyDeduplicator, KeySequenceError, KeySequenceMatcher } from '../../../lib/media/dtmf/key-sequence.js';

function feed(m: KeySequenceMatcher, keys: string, stepMs = 200, startMs = 0): boolean[] {
  return [...keys].map((k, i) => m.push(k, startMs + i * stepMs));
}

t.test('"*","1" completes "*1"', async (t) => {
  const m = new KeySequenceMatcher('*1');
  t.equal(m.push('*', 0), false);
  t.equal(m.progress, 1);
  t.equal(m.push('1', 500), true);
  t.equal(m.progress, 0, 'starts afresh');
});

t.test('"*", timeout, "1" does not complete', async (t) => {
  const m = new KeySequenceMatcher('*1');
  t.equal(m.push('*', 0), false);
  t.equal(m.push('1', 3001), false);
  t.equal(m.progress, 0);
  const exact = new KeySequenceMatcher('*1');
  exact.push('*', 0);
  t.equal(exact.push('1', 3000), true, 'exactly 3 s is still in time');
});

t.test('the timeout is injectable', async (t) => {
  const m = new KeySequenceMatcher('*1', { timeoutMs: 500 });
  m.push('*', 0);
  t.equal(m.push('1', 600), false);
  m.push('*', 1000);
  t.equal(m.push('1', 1400), true);
});

t.test('the timeout runs between keys, not over the whole sequence', async (t) => {
  const m = new KeySequenceMatcher('*123');
  t.same(feed(m, '*123', 2500), [false, false, false, true]);
});

t.test('"*","*","1" completes: the start key restarts the match', async (t) => {
  t.same(feed(new KeySequenceMatcher('*1'), '**1'), [false, false, true]);
  t.same(feed(new KeySequenceMatcher('*1'), '5*#*1'), [false, false, false, false, true]);
});

t.test('a timed-out partial match does not stop a key from starting a new one', async (t) => {
  const m = new KeySequenceMatcher('*1');
  m.push('*', 0);
  t.equal(m.push('*', 5000), false);
  t.equal(m.push('1', 5100), true);
});

t.test('wrong keys reset', async (t) => {
  t.same(feed(new KeySequenceMatcher('*1'), '*21'), [false, false, false]);
  t.same(feed(new KeySequenceMatcher('*1'), '1*1'), [false, false, true]);
});

t.test('sequences that overlap themselves', async (t) => {
  t.same(feed(new KeySequenceMatcher('*1*2'), '*1*1*2'), [false, false, false, false, false, true]);
  t.same(feed(new KeySequenceMatcher('11'), '111'), [false, true, false], 'completion starts afresh');
  t.same(feed(new KeySequenceMatcher('**1'), '***1'), [false, false, false, true]);
});

t.test('keys a-d in any case; other strings are no key press and are ignored', async (t) => {
  const m = new KeySequenceMatcher('a#');
  t.same(m.sequence, ['A', '#']);
  t.same(feed(m, 'a#'), [false, true]);
  t.same(feed(new KeySequenceMatcher('A#'), 'a#'), [false, true]);
  const n = new KeySequenceMatcher('*1');
  n.push('*', 0);
  t.equal(n.push('x', 10), false);
  t.equal(n.push('', 15), false);
  t.equal(n.push('1', 20), true, '"x" and "" did not break the match');
});

t.test('invalid sequences throw KeySequenceError', async (t) => {
  t.throws(() => new KeySequenceMatcher(''), KeySequenceError);
  t.throws(() => new KeySequenceMatcher('*E'), { name: 'KeySequenceError', message: 'not a DTMF key: "E" in "*E"' });
});

t.test('dedupe: one press from RFC 4733 and in-band within 100 ms', async (t) => {
  const m = new KeySequenceMatcher('*1');
  t.equal(m.push('*', 0, 'inband'), false);
  t.equal(m.push('*', 80, 'rfc4733'), false);
  t.equal(m.progress, 1, 'the second report was dropped');
  t.equal(m.push('1', 400, 'rfc4733'), true);
  t.equal(m.push('1', 470, 'inband'), false, 'late in-band copy of "1" does not start anything');
  t.equal(m.progress, 0);
});

t.test('dedupe: "1","1" from two sources would complete "11" only without dedupe', async (t) => {
  const m = new KeySequenceMatcher('11');
  t.equal(m.push('1', 0, 'info'), false);
  t.equal(m.push('1', 50, 'rfc4733'), false);
  t.equal(m.progress, 1);
  const plain = new KeySequenceMatcher('11');
  plain.push('1', 0);
  t.equal(plain.push('1', 50), true, 'without a source there is no dedupe');
});

t.test('KeyDeduplicator', async (t) => {
  const d = new KeyDeduplicator();
  t.equal(d.accept('5', 0, 'rfc4733'), true);
  t.equal(d.accept('5', 100, 'inband'), false, 'other source within 100 ms');
  t.equal(d.accept('5', 60, 'info'), false, 'a third source');
  t.equal(d.accept('5', 90, 'rfc4733'), true, 'same source: a second press');
  t.equal(d.accept('5', 250, 'inband'), true, 'other source after the window');
  t.equal(d.accept('6', 255, 'rfc4733'), true, 'another key');
  t.equal(d.accept('5', 260, 'rfc4733'), false, 'copy of the in-band 5 although a 6 came between');
  const wide = new KeyDeduplicator({ windowMs: 300 });
  wide.accept('1', 0, 'rfc4733');
  t.equal(wide.accept('1', 290, 'inband'), false, 'configurable window');
});
