/**
 * RFC 3261 §18.3 stream framing: messages split across reads, several in one
 * read, CRLF keep-alives between them, and a missing Content-Length refused.
 */
import t from 'tap';
import { ParseError } from '../../../lib/sip/message/index.js';
import { StreamFramer } from '../../../lib/sip/transport/stream-framer.js';

const msg = (n: number, body = ''): string =>
  `OPTIONS sip:x@h SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK${n}\r\nCall-ID: ${n}\r\nl: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

t.test('a message split at every byte boundary is reassembled', async (t) => {
  const text = msg(1, 'hello');
  for (let cut = 1; cut < text.length; cut++) {
    const f = new StreamFramer();
    const a = f.push(Buffer.from(text.slice(0, cut)));
    const b = f.push(Buffer.from(text.slice(cut)));
    const all = [...a, ...b];
    if (all.length !== 1 || all[0]!.toString() !== text) {
      t.fail(`cut at ${cut}`);
      return;
    }
  }
  t.pass('all cuts');
});

t.test('pipelined messages and keep-alives in one read', async (t) => {
  const f = new StreamFramer();
  const out = f.push(Buffer.from(`\r\n\r\n${msg(1, 'ab')}${msg(2)}\r\n\r\n${msg(3, 'xyz')}`));
  t.same(out.map((b) => b.toString()), [msg(1, 'ab'), msg(2), msg(3, 'xyz')]);
  t.equal(f.pings, 2, 'double-CRLF pings counted');
});

t.test('Content-Length is mandatory on streams', async (t) => {
  const f = new StreamFramer();
  t.throws(() => f.push(Buffer.from('OPTIONS sip:x@h SIP/2.0\r\nCall-ID: 1\r\n\r\n')), ParseError);
});

t.test('endless headers are refused at the size limit', async (t) => {
  const f = new StreamFramer();
  let error: unknown;
  try {
    for (let i = 0; i < 100; i++) f.push(Buffer.from(`X-Junk-${i}: ${'a'.repeat(1000)}\r\n`));
  } catch (err) {
    error = err;
  }
  t.ok(error instanceof ParseError);
});
