/**
 * Reliable provisional responses (SPEC S1, RFC 3262), PBX -> provider over
 * UDP (uac-100rel / uas-100rel): the provider answers with 183 carrying SDP,
 * Require: 100rel and RSeq; each leg PRACKs its own 183.
 *
 * Verifies: callrec's INVITE to the provider offers 100rel (uas-100rel
 * would answer 421 otherwise); the provider gets a PRACK from callrec with
 * a matching RAck and answers it 200; the PBX gets a reliable 183 (Require
 * 100rel, RSeq, SDP: checked by uac-100rel) and its PRACK is answered 200 by
 * callrec; then 200 for the INVITE, ACK, BYE, 200; both SIPp sides exit 0;
 * callrec logs call.start and call.end.
 * Does not verify: 180 reliable, several reliable provisionals, PRACK
 * retransmission, UPDATE during early dialogs, the PBX side not
 * supporting 100rel.
 */
import t from 'tap';
import {
  freePort,
  runSipp,
  sippAvailable,
  startCallrec,
  startSipp,
} from './harness/index.js';
import { count, expectCalls, finished } from './harness/checks.js';

if (!sippAvailable()) {
  t.plan(0, 'sipp is not installed (run `make install` as root)');
} else {
  t.test('183 with 100rel: PRACK on both legs, the call completes', async (t) => {
    const pbxPort = await freePort('both');
    const provider = await startSipp({ scenario: 'uas-100rel', calls: 1, timeoutSeconds: 40 });
    t.teardown(() => provider.stop());
    const rec = await startCallrec({
      pbx: { port: pbxPort, transport: 'udp' },
      provider: { port: provider.localPort, transport: 'udp' },
    });
    t.teardown(() => rec.dispose());

    const pbx = await runSipp({
      scenario: 'uac-100rel',
      remote: { port: rec.sipPort },
      localPort: pbxPort,
      calls: 1,
      durationMs: 300,
      service: '0301234567',
      keys: { caller: '201' },
      timeoutSeconds: 30,
    });
    const uas = await finished(t, provider, 'provider');
    expectCalls(t, pbx, 'PBX (caller)', 1);
    expectCalls(t, uas, 'provider (callee)', 1);

    t.equal(count(pbx, 'recv', '183'), 1, 'PBX: reliable 183');
    t.equal(count(pbx, 'send', 'PRACK'), 1, 'PBX: PRACK');
    t.equal(count(pbx, 'recv', '200'), 3, 'PBX: 200 for PRACK, INVITE and BYE');
    t.equal(count(pbx, 'send', 'ACK'), 1, 'PBX: ACK');
    t.equal(count(uas, 'send', '421'), 0, 'provider: callrec offered 100rel (no 421)');
    t.equal(count(uas, 'send', '183'), 1, 'provider: 183');
    t.equal(count(uas, 'recv', 'PRACK'), 1, 'provider: PRACK from callrec');
    t.equal(count(uas, 'send', '481'), 0, 'provider: the RAck matched (no 481)');
    t.equal(count(uas, 'send', '200'), 3, 'provider: 200 for PRACK, INVITE and BYE');
    t.equal(count(uas, 'recv', 'ACK'), 1, 'provider: ACK');
    t.equal(count(uas, 'recv', 'BYE'), 1, 'provider: BYE');
    t.match(pbx.messages, /^RSeq *: *\d+/im, 'PBX: the 183 carries RSeq');

    const start = await rec.waitForLog((l) => l.event === 'call.start', 5000);
    const end = await rec.waitForLog((l) => l.event === 'call.end' && l['callId'] === start['callId'], 10000);
    t.equal(end['reason'], 'BYE from pbx', 'call.end: normal hangup');
  });
}
