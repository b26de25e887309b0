/**
 * UDP retransmissions absorbed (SPEC S1, RFC 3261 §17): 20 calls PBX ->
 * provider at 4 calls/s (at most 8 at once), with SIPp's `-lost 10` on
 * both sides (each SIPp drops 10 % of the messages it sends and receives).
 * Lost messages are repeated by SIPp (retrans="500") and by callrec's
 * transaction timers; repeats must be absorbed, not turned into new calls.
 * The provider runs uas-lossy (uas-basic made loss-tolerant: optional
 * ACK that a BYE may overtake, a 4 s linger that answers repeated BYEs and
 * absorbs an ACK arriving after the BYE, a 180 that -lost does not swallow,
 * see the scenario), and the PBX runs uac-lossy (uac-basic whose BYE takes
 * only its own 200, not a retransmitted 200 to the INVITE), because SIPp's
 * own handling of its simulated losses aborts calls or leaves them open
 * otherwise.
 *
 * Verifies: both SIPp sides exit 0 with 20 successful and 0 failed calls;
 * retransmissions did happen (SIPp's Retrans columns); the provider saw
 * exactly 20 new INVITEs (no duplicate calls); callrec logs 20 call.start
 * and 20 call.end lines with 20 distinct Call-IDs.
 * Does not verify: timer values, loss of every message kind, TCP, load.
 */
import t from 'tap';
import {
  type SippResult,
  freePort,
  runSipp,
  sippAvailable,
  startCallrec,
  startSipp,
} from './harness/index.js';
import { count, expectCalls, finished } from './harness/checks.js';
import { parseSippOutput as parseScreenOutput } from './harness/index.js';
const parseScreen = (r: { stdout: string }) => parseScreenOutput(r.stdout);

const CALLS = 20;

/** Sum of SIPp's Retrans column over the repaired scenario screen. */
function retransmissions(r: SippResult): number {
  return parseScreen(r).counts.reduce((sum, c) => sum + c.retrans, 0);
}

if (!sippAvailable()) {
  t.plan(0, 'sipp is not installed (run `make install` as root)');
} else {
  t.test(`${CALLS} calls with 10 % loss on both sides`, async (t) => {
    const pbxPort = await freePort('both');
    const provider = await startSipp({
      scenario: 'uas-lossy',
      calls: CALLS,
      lost: 10,
      timeoutSeconds: 50,
      traceMsg: false,
    });
    t.teardown(() => provider.stop());
    const rec = await startCallrec({
      pbx: { port: pbxPort, transport: 'udp' },
      provider: { port: provider.localPort, transport: 'udp' },
    });
    t.teardown(() => rec.dispose());

    const pbx = await runSipp({
      scenario: 'uac-lossy',
      remote: { port: rec.sipPort },
      localPort: pbxPort,
      calls: CALLS,
      rate: 4,
      limit: 8,
      lost: 10,
      // SIPp gives a call up after 5 INVITE retransmissions by default: with 10 % loss on the
      // INVITE and on the 100 Trying, six in a row are lost about once in 1,000 calls.
      extraArgs: ['-max_invite_retrans', '10'],
      durationMs: 500,
      service: '0301234567',
      keys: { caller: '201' },
      traceMsg: false,
      timeoutSeconds: 45,
    });
    const uas = await finished(t, provider, 'provider', 30000);
    const refused = rec.logs.filter((l) => l.event === 'call.refused');
    t.same(refused, [], 'callrec refused no call (call.refused: 503)', {
      diagnostic: refused.length > 0,
      details: rec.logs.filter((l) => (l.level ?? 0) >= 40).slice(0, 20).map((l) => JSON.stringify(l)).join('\n'),
    });
    expectCalls(t, pbx, 'PBX (caller)', CALLS);
    expectCalls(t, uas, 'provider (callee)', CALLS);
    t.equal(count(pbx, 'send', 'INVITE'), CALLS, `PBX: ${CALLS} INVITEs (first transmissions)`);
    t.equal(count(pbx, 'send', 'BYE'), CALLS, `PBX: ${CALLS} BYEs`);
    t.equal(count(uas, 'recv', 'INVITE'), CALLS, `provider: ${CALLS} new INVITEs, no duplicate call`);
    t.equal(count(uas, 'recv', 'BYE'), CALLS, `provider: ${CALLS} BYEs`);
    const retrans = retransmissions(pbx) + retransmissions(uas);
    t.ok(retrans > 0, `messages were lost and repeated (${retrans} retransmissions counted by SIPp)`);

    const deadline = Date.now() + 20000;
    while (rec.logs.filter((l) => l.event === 'call.end').length < CALLS && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
    }
    const starts = rec.logs.filter((l) => l.event === 'call.start');
    const ends = rec.logs.filter((l) => l.event === 'call.end');
    t.equal(starts.length, CALLS, `callrec: ${CALLS} call.start`);
    t.equal(new Set(starts.map((l) => l['callId'])).size, CALLS, `callrec: ${CALLS} distinct Call-IDs`);
    t.equal(ends.length, CALLS, `callrec: ${CALLS} call.end`);
    t.equal(rec.logs.filter((l) => l.event === 'sip.refused').length, 0, 'nothing refused');
  });
}
