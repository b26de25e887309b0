/**
 * Parser and serializer behaviour beyond RFC 4475: round trip, Content-Length
 * framing on datagrams vs streams, size limit, IPv6 references, case-insensitive
 * names, and no input crashes the parser (fuzzed mutations of real messages).
 */
import t from 'tap';
import { MAX_MESSAGE_BYTES, MessageParseError, ParseError, parseMessage, parseUri, parseVia, serialize } from '../../../lib/sip/message/index.js';

const INVITE = [
  'INVITE sip:+4930123@[2001:db8::1]:5060;transport=udp SIP/2.0',
  'via: SIP/2.0/UDP [2001:db8::2]:5070;branch=z9hG4bK1;rport',
  'f: "Alice \\"A\\" Smith" <sip:alice@example.com>;tag=1',
  't: <sip:+4930123@example.com>',
  'i: abc@host',
  'CSEQ: 7 INVITE',
  'Max-Forwards: 70',
  'c: application/sdp',
  'l: 4',
  '',
  'v=0\r\n',
].join('\r\n');

t.test('compact and odd-case names are canonical; IPv6 references parse', async (t) => {
  const m = parseMessage(Buffer.from(INVITE));
  t.equal(m.get('Call-ID'), 'abc@host');
  t.equal(m.get('content-type'), 'application/sdp');
  t.equal(m.cseq.seq, 7);
  t.equal(m.from.displayName, 'Alice "A" Smith');
  t.equal(m.via.host, '[2001:db8::2]');
  t.equal(m.via.port, 5070);
  const uri = parseUri(m.kind === 'request' ? m.uri : '');
  t.ok('host' in uri && uri.host === '[2001:db8::1]' && uri.port === 5060);
  t.equal(m.body.toString(), 'v=0\r');
});

t.test('serialize then parse gives the same message', async (t) => {
  const m = parseMessage(Buffer.from(INVITE));
  const again = parseMessage(serialize(m));
  t.same(again.headers.filter((h) => h.name !== 'Content-Length'), m.headers.filter((h) => h.name !== 'Content-Length'));
  t.same(again.body, m.body);
  t.match(serialize(m).toString(), /\r\nContent-Length: 4\r\n\r\n/);
});

t.test('datagram: bytes beyond Content-Length are discarded; stream: must match', async (t) => {
  const extra = Buffer.from(INVITE + 'junk');
  t.equal(parseMessage(extra, true).body.length, 4);
  let error: unknown;
  try {
    parseMessage(extra, false);
  } catch (err) {
    error = err;
  }
  t.ok(error instanceof MessageParseError, 'stream message with a wrong Content-Length is rejected');
});

t.test('oversized messages are refused with 513', async (t) => {
  const big = Buffer.alloc(MAX_MESSAGE_BYTES + 1, 0x41);
  try {
    parseMessage(big);
    t.fail('accepted');
  } catch (err) {
    t.ok(err instanceof ParseError);
    t.equal((err as ParseError).status, 513);
  }
});

t.test('Via with spaces around separators', async (t) => {
  const v = parseVia('SIP / 2.0 / TCP  host.example.com : 5061 ; branch = z9hG4bKx ; received=1.2.3.4');
  t.equal(v.transport, 'TCP');
  t.equal(v.host, 'host.example.com');
  t.equal(v.port, 5061);
  t.equal(v.branch, 'z9hG4bKx');
});

t.test('no input crashes the parser: 20000 seeded mutations throw only ParseError', async (t) => {
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const base = Buffer.from(INVITE);
  let parsed = 0;
  let rejected = 0;
  for (let i = 0; i < 20000; i++) {
    const b = Buffer.from(base.subarray(0, rand(base.length + 1)));
    for (let k = rand(6); k > 0 && b.length > 0; k--) b[rand(b.length)] = rand(256);
    try {
      parseMessage(b, rand(2) === 0);
      parsed++;
    } catch (err) {
      if (!(err instanceof ParseError)) {
        t.fail(`unexpected ${String(err)} for ${JSON.stringify(b.toString('latin1'))}`);
        return;
      }
      rejected++;
    }
  }
  t.equal(parsed + rejected, 20000);
  t.ok(rejected > 0 && parsed > 0, `parsed ${parsed}, rejected ${rejected}`);
});
