import type { NumbersConfig } from '../config/schema.js';

/**
 * Number normalisation before policy matching (SPEC "Interface / numbers").
 *
 * Both sides of every comparison go through `normalizeNumber`: the numbers a
 * call carries (P-Asserted-Identity, From, request-URI, To, Diversion,
 * History-Info) and the numbers of users and groups in the config. With
 * `{ country: "49", area: "30", extensionLength: 4 }`:
 *
 *   "sip:+49301234567201@pbx;user=phone"  -> "+49301234567201"   scheme, host, params gone
 *   "tel:+49-30-1234567-201"              -> "+49301234567201"   visual separators gone
 *   "+49 (0)30 1234567 201"               -> "+49301234567201"   "(0)" trunk prefix dropped
 *   "0049301234567201"                    -> "+49301234567201"   international prefix 00
 *   "0301234567201"                       -> "+49301234567201"   national prefix 0
 *   "1234567201"                          -> "+49301234567201"   local number, area added
 *   "201"                                 -> "201"               extension (<= 4 digits), as is
 *   "sip:Alice@pbx"                       -> "alice"             not a number: lower-cased
 *   "*71300"                              -> "*71300"            service codes (* or #), as is
 *
 * Deviation: a national number without its leading 0 (provider style
 * "49301234...", no "+") cannot be told from a local number; it is treated as
 * local. Configure providers to send E.164 with "+".
 */

/** The part of `NumbersConfig` the normaliser reads. */
export type NumberRules = Pick<NumbersConfig, 'country' | 'area' | 'extensionLength'>;

/** Digits with an optional leading "+", and the DTMF service characters "*" and "#". */
const DIAL_STRING_RE = /^\+?[0-9*#]+$/;
/** RFC 3966 §5.1.1 visual-separator ("-" / "." / "(" / ")"), plus blanks and "/" as written in Germany ("030/1234"). */
const VISUAL_SEPARATORS_RE = /[\s\-.()/]/g;
const SCHEME_RE = /^(?:sips?|tel):/i;

/** True when `s` is a dial string: digits with an optional "+", "*" and "#". */
export function isDialString(s: string): boolean {
  return DIAL_STRING_RE.test(s);
}

/**
 * Removes the syntax around a number: a `<...>` wrapper, the `sip:`, `sips:`
 * or `tel:` scheme, URI headers (`?...`), the host (`@...`), parameters
 * (`;...`), percent-encoding (`%2B`, `%23`) and, when what remains is a dial
 * string, visual separators. Non-numeric user parts come back unchanged in
 * case (`normalizeNumber` lower-cases them).
 */
export function stripNumberSyntax(raw: string): string {
  let s = raw.trim();
  const lt = s.indexOf('<');
  if (lt >= 0) {
    const gt = s.indexOf('>', lt + 1);
    s = s.slice(lt + 1, gt > lt ? gt : undefined);
  }
  s = s.trim().replace(SCHEME_RE, '');
  s = cutAt(s, '?');
  s = cutAt(s, '@');
  s = cutAt(s, ';');
  s = percentDecode(s).trim();
  if (s.startsWith('+') || s.startsWith('00')) s = s.replace(/\(\s*0\s*\)/g, '');
  const compact = s.replace(VISUAL_SEPARATORS_RE, '');
  return isDialString(compact) ? compact : s;
}

/**
 * The canonical form of a number for matching: "+<country>..." for
 * everything that can be made international, extensions as they are,
 * non-numeric user parts lower-cased.
 */
export function normalizeNumber(raw: string, rules: NumberRules): string {
  const s = stripNumberSyntax(raw);
  if (!isDialString(s)) return s.toLowerCase();
  if (s.startsWith('+')) return s;
  if (s.includes('*') || s.includes('#')) return s;
  if (s.length <= rules.extensionLength) return s;
  if (s.startsWith('00')) return `+${s.slice(2)}`;
  if (s.startsWith('0')) return rules.country !== undefined ? `+${rules.country}${s.slice(1)}` : s;
  if (rules.country !== undefined && rules.area !== undefined) return `+${rules.country}${rules.area}${s}`;
  return s;
}

/** True when the normal form is a number (as opposed to a name like "alice" or "anonymous"). */
export function isNumeric(normalized: string): boolean {
  return isDialString(normalized);
}

function cutAt(s: string, ch: string): string {
  const i = s.indexOf(ch);
  return i >= 0 ? s.slice(0, i) : s;
}

function percentDecode(s: string): string {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
