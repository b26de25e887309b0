/**
 * lib/media/dtmf/info-dtmf: DTMF in SIP INFO bodies, as Asterisk
 * res_pjsip_dtmf_info.c reads them.
 *
 * Verifies: application/dtmf-relay Signal=/Duration= (names in any case,
 * blanks, CRLF / LF / CR, any line order, Duration default 100 ms), numeric
 * signals 10 -> "*", 11 -> "#", 12-15 -> A-D, lower-case a-d, flash (16 or
 * "!") ignored; application/dtmf with the key (or its number) as the body;
 * Content-Type parameters and case; other content types, empty bodies and
 * garbage give undefined.
 * Does not verify: the 200 OK answer (the dialog layer's job).
 */
import t from 'tap';
import { parseInfoDtmf, parseInfoDtmfEvent } from '../../../lib/media/dtmf/info-dtmf.js';

const RELAY = 'application/dtmf-relay';
const b = (text: string): Buffer => Buffer.from(text, 'latin1');

t.test('application/dtmf-relay: every key, as a character', async (t) => {
  for (const key of '0123456789*#ABCD') t.equal(parseInfoDtmf(RELAY, b(`Signal=${key}\r\nDuration=160\r\n`)), key, key);
});

t.test('application/dtmf-relay: numeric signals', async (t) => {
  const expected = '0123456789*#ABCD';
  for (let code = 0; code < 16; code++) t.equal(parseInfoDtmf(RELAY, b(`Signal=${code}\r\nDuration=250\r\n`)), expected[code], String(code));
  t.equal(parseInfoDtmf(RELAY, b('Signal=16\r\nDuration=250\r\n')), undefined, '16 is flash');
  t.equal(parseInfoDtmf(RELAY, b('Signal=!\r\nDuration=250\r\n')), undefined, '! is flash');
  t.equal(parseInfoDtmf(RELAY, b('Signal=17\r\n')), undefined, '17');
  t.equal(parseInfoDtmf(RELAY, b('Signal=05\r\n')), '5', 'leading zero');
});

t.test('application/dtmf-relay: names in any case, blanks, line endings, order', async (t) => {
  t.same(parseInfoDtmfEvent(RELAY, b('signal=1\r\nduration=200\r\n')), { key: '1', durationMs: 200 });
  t.same(parseInfoDtmfEvent(RELAY, b('SIGNAL= *\nDURATION= 300\n')), { key: '*', durationMs: 300 });
  t.same(parseInfoDtmfEvent(RELAY, b('Duration=90\rSignal=#\r')), { key: '#', durationMs: 90 });
  t.same(parseInfoDtmfEvent(RELAY, b('Signal = d \t\r\n')), { key: 'D', durationMs: 100 }, 'lower-case d, default duration');
  t.same(parseInfoDtmfEvent(RELAY, b('Signal=2\r\nDuration=oops\r\n')), { key: '2', durationMs: 100 }, 'bad duration: default');
  t.same(parseInfoDtmfEvent(RELAY, b('Foo=bar\r\n\r\nSignal=3\r\nDuration=160')), { key: '3', durationMs: 160 }, 'other lines skipped');
});

t.test('application/dtmf: the body is the key', async (t) => {
  t.equal(parseInfoDtmf('application/dtmf', b('5')), '5');
  t.equal(parseInfoDtmf('application/dtmf', b('#\r\n')), '#');
  t.equal(parseInfoDtmf('application/dtmf', b('10')), '*', 'event number');
  t.equal(parseInfoDtmf('application/dtmf', b('b')), 'B');
  t.equal(parseInfoDtmf('application/dtmf', b('16')), undefined, 'flash');
  t.equal(parseInfoDtmf('application/dtmf', b('Signal=5')), undefined, 'a relay body under the wrong type');
});

t.test('Content-Type: case and parameters', async (t) => {
  t.equal(parseInfoDtmf('Application/DTMF-Relay', b('Signal=7\r\n')), '7');
  t.equal(parseInfoDtmf('application/dtmf-relay; charset=us-ascii', b('Signal=8\r\n')), '8');
  t.equal(parseInfoDtmf(' application/dtmf ;x=y', b('9')), '9');
});

t.test('other content and garbage: undefined', async (t) => {
  const cases: Array<[string | undefined, Buffer, string]> = [
    [undefined, b('Signal=5\r\n'), 'no Content-Type'],
    ['application/sdp', b('Signal=5\r\n'), 'SDP'],
    ['text/plain', b('5'), 'text/plain'],
    ['application/media_control+xml', b('<media_control/>'), 'picture fast update'],
    [RELAY, b(''), 'empty body'],
    [RELAY, b('Duration=160\r\n'), 'no Signal'],
    [RELAY, b('Signal=\r\nDuration=160\r\n'), 'empty Signal'],
    [RELAY, b('Signal=55\r\n'), 'unknown number'],
    [RELAY, b('Signal=5x\r\n'), 'trailing garbage'],
    [RELAY, b('Signal=E\r\n'), 'E is not a key'],
    [RELAY, b('Signal=12345678901234567890\r\n'), 'huge number'],
    [RELAY, b('Signal=-1\r\n'), 'negative'],
    [RELAY, b('Signal 5\r\n'), 'no ='],
    [RELAY, b('Signal=5\r\nSignal=x\r\n'), 'an invalid second Signal spoils the body'],
    [RELAY, Buffer.from([0x53, 0x69, 0x67, 0x6e, 0x61, 0x6c, 0x3d, 0xff, 0xfe]), 'binary'],
    [RELAY, Buffer.alloc(2000, 'Signal=5\r\n'), 'oversized body'],
    ['application/dtmf', b(''), 'empty dtmf body'],
    ['application/dtmf', b('55'), 'dtmf: unknown number'],
    ['application/dtmf', b('1 2'), 'dtmf: two keys'],
  ];
  for (const [type, body, name] of cases) t.equal(parseInfoDtmf(type, body), undefined, name);
});
