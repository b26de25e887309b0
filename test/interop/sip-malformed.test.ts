/**
 * Malformed SIP on the wire (SPEC S5): raw UDP datagrams sent from a Node
 * dgram socket bound to the PBX address (so they pass the source check)
 * to a running callrec:
 *   - RFC 4475 §3.1.2 invalid messages (fixtures/sip/rfc4475/invalid/),
 *     their top Via rewritten to the socket's address so that an answer
 *     can come back: requests and two responses (which must be dropped);
 *   - garbage: random bytes, a lone request line, a header block without
 *     start line, a request without Call-ID/CSeq, a header line without a colon.
 *
 * Verifies: for every datagram callrec logs sip.parse-error with the
 * sender as source; a datagram callrec says it answered (log field
 * `answered`) gets exactly that response (400, or 505 for the bad
 * version), with the request's Call-ID; every other datagram gets no
 * answer at all (malformed responses in particular are only dropped);
 * none starts a call or reaches the provider; callrec keeps running and
 * afterwards a normal call PBX -> provider succeeds.
 * RFC 4475 asks for an answer to every invalid request whose headers can
 * be read; callrec gives it (lwsstart, trws and badvers included).
 * Does not verify: the valid torture messages of §3.1.1 (unit tests),
 * malformed input over TCP (framing errors close the connection).
 */
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import {
  REPO_ROOT,
  freePort,
  runSipp,
  sippAvailable,
  startCallrec,
  startSipp,
} from './harness/index.js';
import { count, expectCalls, finished } from './harness/checks.js';

const INVALID = path.join(REPO_ROOT, 'fixtures', 'sip', 'rfc4475', 'invalid');
/** Requests and responses of RFC 4475 §3.1.2 sent as they are, apart from the Via. */
const TORTURE = ['clerr', 'ncl', 'scalar02', 'quotbal', 'ltgtruri', 'lwsstart', 'trws', 'badvers', 'mismatch01', 'badaspec', 'scalarlg', 'bigcode'];
/** The responses among them: never answered. */
const RESPONSES = new Set(['scalarlg', 'bigcode']);
/** What RFC 4475 wants for the requests (fixtures/sip/rfc4475/index.json): 400, 505 for badvers. */
const RFC_STATUS: Record<string, number> = { badvers: 505 };
/** Points the top Via at `port` on 127.0.0.1 (UDP), keeping its version and parameters. */
function rewriteVia(raw: Buffer, port: number): Buffer {
  const text = raw.toString('latin1');
  const out = text.replace(
    /^((?:Via|v)[ \t]*:[ \t]*SIP[ \t]*\/[ \t]*[0-9.]+[ \t]*\/[ \t]*)(?:UDP|TCP)([ \t]+)[^;,\s]+/im,
    `$1UDP$2127.0.0.1:${port}`,
  );
  return Buffer.from(out, 'latin1');
}

function callIdOf(raw: Buffer): string | undefined {
  return /^(?:Call-ID|i)[ \t]*:[ \t]*(\S+)/im.exec(raw.toString('latin1'))?.[1];
}

const crlf = (lines: string[]): Buffer => Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');

if (!sippAvailable()) {
  t.plan(0, 'sipp is not installed (run `make install` as root)');
} else {
  t.test('malformed datagrams get 400 or are dropped, callrec keeps serving', async (t) => {
    const pbxPort = await freePort('both');
    const provider = await startSipp({ scenario: 'uas-basic', calls: 1, timeoutSeconds: 55 });
    t.teardown(() => provider.stop());
    const rec = await startCallrec({
      pbx: { port: pbxPort, transport: 'udp' },
      provider: { port: provider.localPort, transport: 'udp' },
    });
    t.teardown(() => rec.dispose());

    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(pbxPort, '127.0.0.1', () => resolve());
    });
    let socketOpen = true;
    const closeSocket = (): Promise<void> =>
      socketOpen ? new Promise((resolve) => { socketOpen = false; socket.close(() => resolve()); }) : Promise.resolve();
    t.teardown(closeSocket);
    const replies: string[] = [];
    socket.on('message', (msg) => replies.push(msg.toString('latin1')));

    const datagrams: { name: string; data: Buffer; response: boolean }[] = TORTURE.map((name) => ({
      name,
      data: rewriteVia(fs.readFileSync(path.join(INVALID, `${name}.dat`)), pbxPort),
      response: RESPONSES.has(name),
    }));
    const via = `Via: SIP/2.0/UDP 127.0.0.1:${pbxPort};branch=z9hG4bK-garbage`;
    datagrams.push(
      { name: 'random bytes', data: randomBytes(300), response: false },
      { name: 'lone request line', data: Buffer.from('INVITE sip:0301234567@127.0.0.1 SIP/2.0\r\n'), response: false },
      { name: 'headers without start line', data: crlf([via, 'Call-ID: garbage-1@x', 'CSeq: 1 INVITE', 'Content-Length: 0']), response: false },
      {
        name: 'request without Call-ID and CSeq',
        data: crlf(['INVITE sip:0301234567@127.0.0.1 SIP/2.0', via, 'From: <sip:201@127.0.0.1>;tag=g1', 'To: <sip:0301234567@127.0.0.1>', 'Max-Forwards: 70', 'Content-Length: 0']),
        response: false,
      },
      {
        name: 'header line without a colon',
        data: crlf(['OPTIONS sip:x@127.0.0.1 SIP/2.0', via, 'From: <sip:201@127.0.0.1>;tag=g2', 'To: <sip:x@127.0.0.1>', 'Call-ID: garbage-colon@x', 'CSeq: 1 OPTIONS', 'Max-Forwards: 70', 'This header line has no colon', 'Content-Length: 0']),
        response: false,
      },
    );

    for (const d of datagrams) {
      const before = rec.logs.filter((l) => l.event === 'sip.parse-error').length;
      const repliesBefore = replies.length;
      socket.send(d.data, rec.sipPort, '127.0.0.1');
      let line;
      try {
        line = await rec.waitForLog(
          (l) => l.event === 'sip.parse-error' && rec.logs.filter((x) => x.event === 'sip.parse-error').indexOf(l) >= before,
          5000,
        );
      } catch (err) {
        t.fail(`${d.name}: no sip.parse-error (${(err as Error).message})`);
        continue;
      }
      t.match(JSON.stringify(line['source']), new RegExp(`${pbxPort}`), `${d.name}: sip.parse-error names the sender`);
      const answered = line['answered'];
      if (d.response) t.equal(answered, undefined, `${d.name}: a malformed response is not answered`);
      else if (TORTURE.includes(d.name)) {
        const want = RFC_STATUS[d.name] ?? 400;
        t.equal(answered, want, `${d.name}: answered ${want} as RFC 4475 asks`);
      }
      if (typeof answered === 'number') {
        const deadline = Date.now() + 5000;
        while (replies.length === repliesBefore && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        const reply = replies[repliesBefore] ?? '';
        t.match(reply, new RegExp(`^SIP/2\\.0 ${answered} `), `${d.name}: answered ${answered}`);
        t.ok([400, 505].includes(answered), `${d.name}: ${answered} is 400 or 505`);
        const callId = callIdOf(d.data);
        if (callId !== undefined) t.equal(callIdOf(Buffer.from(reply, 'latin1')), callId, `${d.name}: the answer carries its Call-ID`);
      } else {
        await new Promise((r) => setTimeout(r, 300));
        t.equal(replies.length, repliesBefore, `${d.name}: dropped without an answer`);
      }
    }
    // Late answers to dropped datagrams would show up here.
    await new Promise((r) => setTimeout(r, 1000));
    const answeredCount = rec.logs.filter((l) => l.event === 'sip.parse-error' && typeof l['answered'] === 'number').length;
    t.equal(replies.length, answeredCount, `exactly the ${answeredCount} datagrams callrec said it answered got an answer`);
    t.ok(answeredCount >= 5, `most torture requests were answered (${answeredCount})`);
    t.equal(rec.logs.filter((l) => l.event === 'call.start').length, 0, 'no call started');
    t.same(rec.logs.filter((l) => (l.level ?? 0) >= 50), [], 'no error-level log lines');
    await closeSocket();

    // Still alive and serving.
    const pbx = await runSipp({
      scenario: 'uac-basic',
      remote: { port: rec.sipPort },
      localPort: pbxPort,
      calls: 1,
      durationMs: 200,
      service: '0301234567',
      keys: { caller: '201' },
      timeoutSeconds: 30,
    });
    const uas = await finished(t, provider, 'provider');
    expectCalls(t, pbx, 'PBX', 1);
    expectCalls(t, uas, 'provider', 1);
    t.equal(count(uas, 'recv', 'INVITE'), 1, 'provider: only the normal call arrived');
    const start = await rec.waitForLog((l) => l.event === 'call.start', 5000);
    await rec.waitForLog((l) => l.event === 'call.end' && l['callId'] === start['callId'], 10000);
    t.pass('the normal call started and ended');
    const exited = await Promise.race([rec.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 100))]);
    t.notOk(exited, 'callrec is still running');
  });
}
