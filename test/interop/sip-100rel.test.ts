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
  type SippProcess,
  type SippResult,
  countOf,
  describeSipp,
  freePort,
  parseSippOutput,
  runSipp,
  sippAvailable,
  startCallrec,
  startSipp,
} from './harness/index.js';

type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

/** A background SIPp's result once it has finished by itself; stopped (and a failure) after `ms`. */
async function finished(tt: Tap, p: SippProcess, label: string, ms = 20000): Promise<SippResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), ms);
  });
  const result = await Promise.race([p.done, timeout]);
  clearTimeout(timer);
  if (result !== null) return result;
  tt.fail(`${label} SIPp did not finish within ${ms} ms`);
  return p.stop();
}

/**
 * SIPp's scenario screen. The harness parser stops at the first line that
 * starts with "---", which is every line of a UAS scenario screen
 * ("----------> INVITE"), so its counts for a UAS are empty. Such lines are
 * rewritten to the equivalent UAC layout ("INVITE <----------": received)
 * and parsed again by the harness parser.
 */
function screen(r: SippResult): Pick<SippResult, 'counts'> {
  const flipped = r.stdout.replace(
    /^(\s*)(-{10}>|<-{10})(\s+)(\S+)/gm,
    (_all, indent: string, arrow: string, _gap: string, name: string) =>
      `${indent}${name} ${arrow.endsWith('>') ? '<----------' : '---------->'}`,
  );
  return parseSippOutput(flipped);
}

/** countOf over the repaired scenario screen. */
function count(r: SippResult, direction: 'send' | 'recv', name: string): number {
  return countOf(screen(r), direction, name);
}

/** Exit code and call statistics of one SIPp run. */
function expectCalls(
  tt: Tap,
  r: SippResult,
  label: string,
  successful: number,
  { exit = 0, failed = 0 }: { exit?: number; failed?: number } = {},
): void {
  tt.equal(r.exitCode, exit, `${label}: SIPp exits ${exit}`, { diagnostic: r.exitCode !== exit, details: describeSipp(r) });
  tt.equal(r.successful, successful, `${label}: ${successful} successful call(s)`);
  tt.equal(r.failed, failed, `${label}: ${failed} failed call(s)`);
}

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
