/**
 * DTMF in SIP INFO bodies. There is no RFC; these are the two de facto
 * formats as Asterisk's res_pjsip_dtmf_info.c accepts them:
 *
 *   Content-Type: application/dtmf-relay      (Cisco)
 *
 *   Signal=5
 *   Duration=160
 *
 * Lines of `name=value`; names matched case-insensitively, blanks after "="
 * skipped, Duration in milliseconds (default 100). Signal is "0"-"9", "*",
 * "#", "A"-"D" (or "a"-"d"), or a number: 10 is "*", 11 "#", 12-15 "A"-"D",
 * 16 (or "!") a hook flash, which is not a key.
 *
 *   Content-Type: application/dtmf
 *
 *   5
 *
 * The body is the signal alone, in the same notation.
 *
 * Deviation: stricter than Asterisk, whose sscanf("%u") reads "5xyz" as 5;
 * here a value must be exactly a key or a number, and bodies over 1 KiB are
 * refused (a real one has about 25 octets).
 */
import { keyOfEventCode, normalizeKey, type DtmfKey } from './keys.js';

export interface InfoDtmfEvent {
  key: DtmfKey;
  /** Duration= of application/dtmf-relay in ms, else the default of 100. */
  durationMs: number;
}

export const INFO_DTMF_DEFAULT_DURATION_MS = 100;
const MAX_BODY = 1024;
const NUMBER = /^[0-9]{1,5}$/;

/** The key of an INFO request's body, or undefined (other content, flash, garbage). */
export function parseInfoDtmf(contentType: string | undefined, body: Buffer): DtmfKey | undefined {
  return parseInfoDtmfEvent(contentType, body)?.key;
}

/** Key and duration of an INFO request's body, or undefined (other content, flash, garbage). */
export function parseInfoDtmfEvent(contentType: string | undefined, body: Buffer): InfoDtmfEvent | undefined {
  if (contentType === undefined || body.length === 0 || body.length > MAX_BODY) return undefined;
  const semicolon = contentType.indexOf(';');
  const mediaType = (semicolon >= 0 ? contentType.slice(0, semicolon) : contentType).trim().toLowerCase();
  const text = body.toString('latin1');
  if (mediaType === 'application/dtmf') {
    const key = parseSignal(text);
    return key === undefined ? undefined : { key, durationMs: INFO_DTMF_DEFAULT_DURATION_MS };
  }
  if (mediaType !== 'application/dtmf-relay') return undefined;

  let key: DtmfKey | undefined;
  let durationMs = INFO_DTMF_DEFAULT_DURATION_MS;
  for (const line of text.split(/\r\n|\r|\n/)) {
    const equals = line.indexOf('=');
    if (equals < 0) continue;
    const name = line.slice(0, equals).trim().toLowerCase();
    const value = line.slice(equals + 1);
    if (name === 'signal') {
      // As Asterisk: an invalid Signal makes the whole body invalid; the last valid one counts.
      key = parseSignal(value);
      if (key === undefined) return undefined;
    } else if (name === 'duration') {
      const trimmed = value.trim();
      if (NUMBER.test(trimmed)) durationMs = Number(trimmed);
    }
  }
  return key === undefined ? undefined : { key, durationMs };
}

/** A Signal value: a key character or an RFC 4733 event number; undefined for flash and garbage. */
function parseSignal(raw: string): DtmfKey | undefined {
  const value = raw.trim();
  if (NUMBER.test(value)) {
    const code = Number(value);
    // "0"-"9" are both the character and the event number.
    return keyOfEventCode(code);
  }
  return normalizeKey(value);
}
