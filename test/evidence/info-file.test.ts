/**
 * lib/evidence/info-file: SPEC E1, `<base>_info.txt`.
 *
 * Verifies: the exact text (fixed key order, `Key: value`, LF, UTF-8), the
 * round trip through the parser, escaping of line breaks and backslashes,
 * "none" for a missing answer and for the first recording's chain link, extra
 * keys after the standard ones in key order, ISO 8601 times with offset, and
 * refusals (missing or duplicate keys, unknown format, unsafe file names,
 * extra keys that clash).
 */
import t from 'tap';
import {
  formatInfoFile,
  InfoFileError,
  isoTimestamp,
  parseInfoFile,
  type RecordingInfo,
} from '../../lib/evidence/info-file.js';
import { sampleInfo } from './helpers.js';

const info = (over: Partial<RecordingInfo> = {}): RecordingInfo => ({
  ...sampleInfo(1),
  audioFiles: ['r.wav'],
  previousRecording: '20261122-141402_1_2_id0',
  previousSignature: 'c2lnbmF0dXJl+/==',
  ...over,
});

t.test('exact text in the fixed key order', async (t) => {
  const text = formatInfoFile(info({ extra: { 'Zeta-Key': 'z', 'Alpha-Key': 'a' } }));
  t.equal(text, [
    'Format: callrec-info/1',
    'Start: 2026-11-22T13:16:03.120+00:00',
    'Answer: 2026-11-22T13:16:09.120+00:00',
    'End: 2026-11-22T13:16:48.620+00:00',
    'Duration: 45.5',
    'Caller-Call-ID: a84b4c76e66710-1@192.0.2.4',
    'Callee-Call-ID: cr-1-9f2a@192.0.2.10',
    'Caller-Number: +49891234567',
    'Caller-Name: Hans Müller',
    'Callee-Number: +4930123456201',
    'Callee-Name: Alice Trader',
    'Direction: inbound',
    'Profile: traders',
    'Instance: rec-01',
    'Software-Version: 0.1.0',
    'Codec: PCMA',
    'Channels: both-stereo',
    'Stop-Reason: hangup by callee',
    'Audio-Files: r.wav',
    'Previous-Recording: 20261122-141402_1_2_id0',
    'Previous-Signature: c2lnbmF0dXJl+/==',
    'Alpha-Key: a',
    'Zeta-Key: z',
    '',
  ].join('\n'));
  t.notMatch(text, /\r/, 'LF only');
});

t.test('round trip', async (t) => {
  const original = info({
    callerName: 'Line one\nLine two\r\nback\\slash \\n literal',
    answer: null,
    audioFiles: ['r_caller.wav', 'r_callee.wav'],
    channels: 'both-separate',
    extra: { 'X-Trunk': 'provider-1', 'Empty': '' },
  });
  const text = formatInfoFile(original);
  t.equal(text.split('\n').length, 23 + 1, 'every value on one line (23 lines)');
  t.match(text, /^Answer: none$/m);
  t.match(text, /^Caller-Name: Line one\\nLine two\\r\\nback\\\\slash \\\\n literal$/m);
  t.same(parseInfoFile(text), original);
});

t.test('the first recording links to none', async (t) => {
  const text = formatInfoFile(info({ previousRecording: null, previousSignature: null }));
  t.match(text, /^Previous-Recording: none\nPrevious-Signature: none$/m);
  const parsed = parseInfoFile(text);
  t.equal(parsed.previousRecording, null);
  t.equal(parsed.previousSignature, null);
  t.throws(() => formatInfoFile(info({ previousRecording: null })), InfoFileError, 'both or neither');
});

t.test('parser tolerates CRLF and a missing final newline, refuses the malformed', async (t) => {
  const text = formatInfoFile(info());
  t.same(parseInfoFile(text.replace(/\n/g, '\r\n')), info());
  t.same(parseInfoFile(text.slice(0, -1)), info());
  t.throws(() => parseInfoFile(text.replace(/^Codec: .*\n/m, '')), { message: 'key Codec is missing' });
  t.throws(() => parseInfoFile(`${text}Codec: PCMU\n`), { message: /line 22: key Codec appears twice/ });
  t.throws(() => parseInfoFile(text.replace('callrec-info/1', 'callrec-info/9')), { message: /unknown format/ });
  t.throws(() => parseInfoFile(`${text}just some text\n`), { message: /line 22: not a "Key: value" line/ });
  t.throws(() => parseInfoFile(text.replace('Direction: inbound', 'Direction: sideways')), InfoFileError);
  t.throws(() => parseInfoFile(text.replace('Duration: 45.5', 'Duration: long')), InfoFileError);
  t.throws(() => parseInfoFile(text.replace(/^Previous-Signature: .*$/m, 'Previous-Signature: none')), { message: /both be set or both be none/ });
});

t.test('unsafe names and keys are refused', async (t) => {
  for (const name of ['a/b.wav', '..', 'a,b.wav', 'a\nb.wav', 'back\\slash.wav', ' lead.wav', '']) {
    t.throws(() => formatInfoFile(info({ audioFiles: [name] })), InfoFileError, JSON.stringify(name));
  }
  t.throws(() => formatInfoFile(info({ extra: { Codec: 'x' } })), { message: /clashes/ });
  t.throws(() => formatInfoFile(info({ extra: { 'has space': 'x' } })), { message: /letters, digits/ });
  t.throws(() => formatInfoFile(info({ durationSeconds: -1 })), InfoFileError);
});

t.test('isoTimestamp: local time with its offset, same instant', async (t) => {
  const ms = Date.UTC(2026, 10, 22, 13, 15, 3, 7);
  const text = isoTimestamp(ms);
  t.match(text, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$/);
  t.equal(Date.parse(text), ms);
});
