/**
 * lib/config/duration: `retention` values (SPEC: "s, m, h, d or y suffix").
 *
 * Verifies: each unit, y = 365 days, blanks tolerated, zero, upper-case units,
 * missing units, fractions and overflow refused with DurationError.
 */
import t from 'tap';
import { DurationError, parseDuration } from '../../lib/config/index.js';

t.test('units', async (t) => {
  const cases: Array<[string, number]> = [
    ['90s', 90],
    ['15m', 900],
    ['12h', 43_200],
    ['30d', 2_592_000],
    ['7y', 7 * 365 * 86_400],
    ['1y', 31_536_000],
    [' 10 d ', 864_000],
  ];
  for (const [text, seconds] of cases) t.equal(parseDuration(text), seconds, text);
});

t.test('refused', async (t) => {
  for (const text of ['', '7', 'y', '7Y', '7M', '1.5d', '-1d', '0s', '7 years', '1y6m', '99999999999999y']) {
    t.throws(() => parseDuration(text), DurationError, JSON.stringify(text));
  }
  t.throws(() => parseDuration('0d'), { message: 'must be longer than zero, got "0d"' });
});
