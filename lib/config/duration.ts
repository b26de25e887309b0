/**
 * Durations in the config file (`retention: 7y`): a positive integer followed
 * by one unit suffix, optionally separated by blanks.
 *
 *   s = second, m = minute, h = hour, d = day (86 400 s), y = year (365 days)
 *
 * Deviation: a year is 365 days, not a calendar year, so `7y` ends one or two
 * leap days before the seventh anniversary. Operators who need the full legal
 * period to the day should add a margin (e.g. `2560d` instead of `7y`).
 *
 * Units are lower case only, so that `m` (minute) is never read as "month".
 */

export type DurationUnit = 's' | 'm' | 'h' | 'd' | 'y';

export const DURATION_UNIT_SECONDS: Readonly<Record<DurationUnit, number>> = {
  s: 1,
  m: 60,
  h: 3600,
  d: 86_400,
  y: 365 * 86_400,
};

export class DurationError extends Error {
  override readonly name = 'DurationError';
}

const DURATION_RE = /^\s*([0-9]+)\s*([smhdy])\s*$/;

/** Parses `7y`, `30d`, `12h`, `15m` or `90s` into seconds; throws `DurationError`. */
export function parseDuration(text: string): number {
  const match = DURATION_RE.exec(text);
  if (match === null) {
    throw new DurationError(`expected a duration like 7y, 30d, 12h, 15m or 90s, got ${JSON.stringify(text)}`);
  }
  const count = Number(match[1]);
  const seconds = count * DURATION_UNIT_SECONDS[match[2] as DurationUnit];
  if (count === 0) throw new DurationError(`must be longer than zero, got ${JSON.stringify(text)}`);
  if (!Number.isSafeInteger(seconds)) throw new DurationError(`is too long, got ${JSON.stringify(text)}`);
  return seconds;
}
