/**
 * SPEC E1: `<base>_info.txt`, the metadata of one recording. UTF-8, LF line
 * ends, one `Key: value` line per field in a fixed order, so the file reads
 * well, greps well and hashes reproducibly:
 *
 *   Format: callrec-info/1
 *   Start: 2026-11-22T14:15:03.120+01:00
 *   Answer: 2026-11-22T14:15:09.004+01:00      ("none" when never answered)
 *   End: 2026-11-22T14:21:40.515+01:00
 *   Duration: 397.395                           (seconds, start to end)
 *   Caller-Call-ID: ...                         (A leg)   Callee-Call-ID: ... (B leg)
 *   Caller-Number / Caller-Name / Callee-Number / Callee-Name
 *   Direction: inbound | outbound
 *   Profile / Instance / Software-Version / Codec
 *   Channels: caller | callee | both-stereo | both-separate
 *   Stop-Reason: ...
 *   Audio-Files: <base>.wav                     (comma + space separated)
 *   Previous-Recording: <base name> | none      (SPEC E5: the hash chain)
 *   Previous-Signature: <base64> | none
 *   <extra keys, sorted by name>
 *
 * Values escape `\` as `\\`, LF as `\n` and CR as `\r`, so every field is one line.
 */

export const INFO_SUFFIX = '_info.txt';
export const INFO_FORMAT = 'callrec-info/1';
export const NONE = 'none';

export type Direction = 'inbound' | 'outbound';
export type ChannelMode = 'caller' | 'callee' | 'both-stereo' | 'both-separate';

export interface RecordingInfo {
  /** ISO 8601 with offset; see isoTimestamp(). */
  start: string;
  /** ISO 8601 with offset, or null when the call was never answered. */
  answer: string | null;
  end: string;
  durationSeconds: number;
  callerCallId: string;
  calleeCallId: string;
  callerNumber: string;
  callerName: string;
  calleeNumber: string;
  calleeName: string;
  direction: Direction;
  profile: string;
  instance: string;
  softwareVersion: string;
  codec: string;
  channels: ChannelMode;
  stopReason: string;
  /** File names (no folders) of the audio files, in the folder of the info file. */
  audioFiles: string[];
  /** Base name of the previous recording of this installation, or null for the first. */
  previousRecording: string | null;
  /** Base64 signature of the previous recording's hash file, or null for the first. */
  previousSignature: string | null;
  /** Further fields, written after the standard ones in key order. */
  extra?: Record<string, string>;
}

export class InfoFileError extends Error {
  override readonly name = 'InfoFileError';
  constructor(message: string, readonly line?: number) {
    super(line === undefined ? message : `line ${line}: ${message}`);
  }
}

type StandardKey = Exclude<keyof RecordingInfo, 'extra'>;

/** The standard keys in file order, with their labels. */
const FIELDS: ReadonlyArray<readonly [StandardKey, string]> = [
  ['start', 'Start'],
  ['answer', 'Answer'],
  ['end', 'End'],
  ['durationSeconds', 'Duration'],
  ['callerCallId', 'Caller-Call-ID'],
  ['calleeCallId', 'Callee-Call-ID'],
  ['callerNumber', 'Caller-Number'],
  ['callerName', 'Caller-Name'],
  ['calleeNumber', 'Callee-Number'],
  ['calleeName', 'Callee-Name'],
  ['direction', 'Direction'],
  ['profile', 'Profile'],
  ['instance', 'Instance'],
  ['softwareVersion', 'Software-Version'],
  ['codec', 'Codec'],
  ['channels', 'Channels'],
  ['stopReason', 'Stop-Reason'],
  ['audioFiles', 'Audio-Files'],
  ['previousRecording', 'Previous-Recording'],
  ['previousSignature', 'Previous-Signature'],
];
const FORMAT_LABEL = 'Format';
const RESERVED = new Set([FORMAT_LABEL.toLowerCase(), ...FIELDS.map(([, label]) => label.toLowerCase())]);
const KEY_PATTERN = /^[A-Za-z][A-Za-z0-9-]*$/;
const DIRECTIONS: readonly Direction[] = ['inbound', 'outbound'];
const CHANNEL_MODES: readonly ChannelMode[] = ['caller', 'callee', 'both-stereo', 'both-separate'];

/** A time as ISO 8601 in the recorder's local zone with its offset, e.g. `2026-11-22T14:15:03.120+01:00`. */
export function isoTimestamp(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number, w = 2): string => String(Math.abs(n)).padStart(w, '0');
  const offset = -d.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:` +
    `${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}${sign}${pad(Math.trunc(offset / 60))}:${pad(offset % 60)}`;
}

export function escapeValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
}

export function unescapeValue(value: string): string {
  return value.replace(/\\(.)/g, (all, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c === '\\' ? '\\' : all));
}

/** Checks an audio or recording file name: a plain name, safe in the hash file and the info list. */
export function checkFileName(name: string, what = 'file name'): void {
  if (name === '' || name === '.' || name === '..' || /[/\\\n\r,\0]/.test(name) || name.trim() !== name) {
    throw new InfoFileError(`${what} ${JSON.stringify(name)} must be a plain name without / \\ , or line breaks`);
  }
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) throw new InfoFileError(`duration must be a non-negative number, got ${seconds}`);
  return String(Math.round(seconds * 1000) / 1000);
}

/** The text of an info file (UTF-8, LF). Throws InfoFileError on values that cannot be written faithfully. */
export function formatInfoFile(info: RecordingInfo): string {
  if (!DIRECTIONS.includes(info.direction)) throw new InfoFileError(`direction must be inbound or outbound, got ${info.direction}`);
  if (!CHANNEL_MODES.includes(info.channels)) throw new InfoFileError(`channels must be one of ${CHANNEL_MODES.join(', ')}, got ${info.channels}`);
  for (const name of info.audioFiles) checkFileName(name, 'audio file name');
  if ((info.previousRecording === null) !== (info.previousSignature === null)) {
    throw new InfoFileError('previous recording and previous signature must both be set or both be none');
  }
  if (info.previousRecording !== null) checkFileName(info.previousRecording, 'previous recording');
  const lines = [`${FORMAT_LABEL}: ${INFO_FORMAT}`];
  for (const [key, label] of FIELDS) {
    const value = info[key];
    let text: string;
    if (key === 'durationSeconds') text = formatDuration(value as number);
    else if (key === 'audioFiles') text = (value as string[]).join(', ');
    else if (value === null) text = NONE;
    else text = escapeValue(String(value));
    lines.push(`${label}: ${text}`);
  }
  const extra = info.extra ?? {};
  for (const key of Object.keys(extra).sort()) {
    if (!KEY_PATTERN.test(key)) throw new InfoFileError(`extra key ${JSON.stringify(key)} must be letters, digits and -`);
    if (RESERVED.has(key.toLowerCase())) throw new InfoFileError(`extra key ${key} clashes with a standard key`);
    lines.push(`${key}: ${escapeValue(extra[key]!)}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Parses an info file. Every standard key must be present exactly once;
 * unknown keys go to `extra`. Throws InfoFileError naming the line or key.
 */
export function parseInfoFile(text: string): RecordingInfo {
  const values = new Map<string, string>();
  const labels = new Map<string, string>();
  const body = text.endsWith('\n') ? text.slice(0, -1) : text;
  body.split('\n').forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '') return;
    const colon = line.indexOf(': ');
    const key = colon < 0 ? (line.endsWith(':') ? line.slice(0, -1) : '') : line.slice(0, colon);
    if (!KEY_PATTERN.test(key)) throw new InfoFileError(`not a "Key: value" line: ${JSON.stringify(line.slice(0, 80))}`, i + 1);
    const lower = key.toLowerCase();
    if (values.has(lower)) throw new InfoFileError(`key ${key} appears twice`, i + 1);
    values.set(lower, colon < 0 ? '' : line.slice(colon + 2));
    labels.set(lower, key);
  });
  const take = (label: string): string => {
    const value = values.get(label.toLowerCase());
    if (value === undefined) throw new InfoFileError(`key ${label} is missing`);
    values.delete(label.toLowerCase());
    return value;
  };
  const format = take(FORMAT_LABEL);
  if (format !== INFO_FORMAT) throw new InfoFileError(`unknown format ${JSON.stringify(format)}; expected ${INFO_FORMAT}`);
  const str = (label: string): string => unescapeValue(take(label));
  const orNone = (label: string): string | null => {
    const v = take(label);
    return v === NONE ? null : unescapeValue(v);
  };
  const durationText = take('Duration');
  const durationSeconds = Number(durationText);
  if (durationText === '' || !Number.isFinite(durationSeconds)) throw new InfoFileError(`Duration is not a number: ${durationText}`);
  const direction = take('Direction') as Direction;
  if (!DIRECTIONS.includes(direction)) throw new InfoFileError(`Direction must be inbound or outbound, got ${direction}`);
  const channels = take('Channels') as ChannelMode;
  if (!CHANNEL_MODES.includes(channels)) throw new InfoFileError(`Channels must be one of ${CHANNEL_MODES.join(', ')}, got ${channels}`);
  const audioText = take('Audio-Files');
  const info: RecordingInfo = {
    start: str('Start'),
    answer: orNone('Answer'),
    end: str('End'),
    durationSeconds,
    callerCallId: str('Caller-Call-ID'),
    calleeCallId: str('Callee-Call-ID'),
    callerNumber: str('Caller-Number'),
    callerName: str('Caller-Name'),
    calleeNumber: str('Callee-Number'),
    calleeName: str('Callee-Name'),
    direction,
    profile: str('Profile'),
    instance: str('Instance'),
    softwareVersion: str('Software-Version'),
    codec: str('Codec'),
    channels,
    stopReason: str('Stop-Reason'),
    audioFiles: audioText === '' ? [] : audioText.split(', '),
    previousRecording: orNone('Previous-Recording'),
    previousSignature: orNone('Previous-Signature'),
  };
  if ((info.previousRecording === null) !== (info.previousSignature === null)) {
    throw new InfoFileError('Previous-Recording and Previous-Signature must both be set or both be none');
  }
  if (values.size > 0) {
    info.extra = {};
    for (const [lower, value] of values) info.extra[labels.get(lower)!] = unescapeValue(value);
  }
  return info;
}
