/**
 * RFC 4475 torture messages, bit-exact from the RFC's Appendix A archive:
 * - §3.1.1: every valid message parses (and the interesting parts read right);
 * - §3.1.2: every invalid message is rejected; requests that can be answered
 *   carry a partial request for the 400/505, responses are dropped;
 * - §3.2-§3.4: syntactically valid messages parse, the malformed ones
 *   (insuf, multi01, mcl01) are rejected.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { MessageParseError, parseMessage, parseNameAddr, parseUri, parseVia, type SipMessage } from '../../../lib/sip/message/index.js';

const root = path.resolve(process.cwd(), 'fixtures/sip/rfc4475');
interface Entry { name: string; section: string; class: 'valid' | 'invalid' | 'other'; isRequest: boolean }
const index = JSON.parse(readFileSync(path.join(root, 'index.json'), 'utf8')) as Entry[];
const load = (e: Entry): Buffer => readFileSync(path.join(root, e.class, `${e.name}.dat`));

/** §3.3 messages that RFC 4475 says an element should reject as malformed. */
const REJECTED_OTHERS = new Set(['insuf', 'multi01', 'mcl01']);
/** Status expected for invalid requests (default 400). */
const STATUS: Record<string, number> = { badvers: 505 };

function parse(e: Entry): SipMessage | MessageParseError {
  try {
    return parseMessage(load(e), true);
  } catch (err) {
    if (err instanceof MessageParseError) return err;
    throw err;
  }
}

t.test('the archive holds every message of RFC 4475 §3', async (t) => {
  t.equal(index.filter((e) => e.class === 'valid').length, 13);
  t.equal(index.filter((e) => e.class === 'invalid').length, 19);
  t.equal(index.filter((e) => e.class === 'other').length, 17);
});

for (const e of index) {
  const shouldParse = e.class === 'valid' || (e.class === 'other' && !REJECTED_OTHERS.has(e.name));
  t.test(`§${e.section} ${e.name}: ${shouldParse ? 'parses' : 'is rejected'}`, async (t) => {
    const r = parse(e);
    if (shouldParse) {
      if (r instanceof MessageParseError) t.fail(`rejected: ${r.reason}`);
      else t.equal(r.kind, e.isRequest ? 'request' : 'response');
      return;
    }
    t.ok(r instanceof MessageParseError, 'throws a MessageParseError');
    if (!(r instanceof MessageParseError)) return;
    if (e.isRequest) {
      t.equal(r.status, STATUS[e.name] ?? 400, `answered with ${STATUS[e.name] ?? 400}`);
    } else {
      t.equal(r.partial, undefined, 'a response is never answered, only dropped');
    }
  });
}

const byName = (name: string): SipMessage => {
  const e = index.find((x) => x.name === name);
  if (e === undefined) throw new Error(name);
  return parseMessage(load(e), true);
};

t.test('§3.1.1.1 wsinv: folding, compact forms and odd whitespace read right', async (t) => {
  const m = byName('wsinv');
  t.equal(m.getAll('Via').length, 3, 'three Via values over two header lines');
  t.equal(m.via.branch, '390skdjuw');
  t.equal(parseVia(m.getAll('Via')[1]!).branch, 'z9hG4bK9ikj8');
  t.equal(m.getAll('Via')[2]?.replace(/\s+/g, ' '), 'SIP / 2.0 / UDP 192.168.255.111 ; branch= z9hG4bK30239');
  t.equal(m.get('Subject'), '', 's: compact form with an empty value');
  t.equal(m.get('NewFangledHeader'), 'newfangled value continued newfangled value', 'folded lines joined');
  t.equal(m.get('UnknownHeaderWithUnusualValue'), ';;,,;;,;');
  const contact = parseNameAddr(m.getAll('Contact')[0]!);
  t.equal(contact.displayName, 'Quoted string ""');
  t.equal(contact.params.get('newparam'), 'newvalue');
  t.equal(contact.params.get('q'), '0.33');
  t.equal(m.cseq.seq, 9);
  t.equal(m.get('Max-Forwards'), '0068');
  t.equal(m.toTag, '1918181833n');
});

t.test('§3.1.1.2 intmeth: unusual method and URI characters', async (t) => {
  const m = byName('intmeth');
  t.equal(m.kind, 'request');
  if (m.kind !== 'request') return;
  t.equal(m.method, "!interesting-Method0123456789_*+`.%indeed'~");
  const uri = parseUri(m.uri);
  t.ok('user' in uri && uri.user === "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
  t.ok('host' in uri && uri.host === 'example.com');
});

t.test('§3.1.1.8 dblreq: only the REGISTER is taken from the datagram', async (t) => {
  const m = byName('dblreq');
  t.equal(m.kind === 'request' && m.method, 'REGISTER');
  t.equal(m.body.length, 0);
});

t.test('§3.1.1.11 mpart01: binary multipart body kept byte for byte', async (t) => {
  const m = byName('mpart01');
  t.equal(m.body.length, Number(m.get('Content-Length')));
  t.ok(m.body.includes(0), 'contains NUL bytes');
});

t.test('§3.1.1.13 noreason: empty reason phrase', async (t) => {
  const m = byName('noreason');
  t.equal(m.kind === 'response' && m.status, 100);
  t.equal(m.kind === 'response' && m.reason, '');
});
