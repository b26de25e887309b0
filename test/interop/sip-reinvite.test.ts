/**
 * re-INVITE (hold) in an established call (SPEC S1), PBX -> provider over
 * UDP (uac-reinvite / uas-reinvite): after the answer the PBX sends a
 * re-INVITE with a=sendonly, the provider answers 200 with a=recvonly.
 *
 * Verifies: both SIPp sides exit 0 with one successful call; the caller
 * sends 2 INVITEs, 2 ACKs and gets 200 for both INVITEs and the BYE; the
 * provider receives 2 INVITEs (the second one in the dialog, with its
 * To tag) and 2 ACKs; the hold direction is carried in both SDPs
 * (sendonly toward the provider, recvonly back to the PBX); callrec logs
 * one call.start and one call.end (the re-INVITE is no new call).
 * Does not verify: re-INVITE from the callee, UPDATE, 491 on glare,
 * delayed-offer re-INVITE, media after the re-INVITE.
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
  t.test('re-INVITE (hold) relayed and answered', async (t) => {
    const pbxPort = await freePort('both');
    const provider = await startSipp({ scenario: 'uas-reinvite', calls: 1, timeoutSeconds: 40 });
    t.teardown(() => provider.stop());
    const rec = await startCallrec({
      pbx: { port: pbxPort, transport: 'udp' },
      provider: { port: provider.localPort, transport: 'udp' },
    });
    t.teardown(() => rec.dispose());

    const pbx = await runSipp({
      scenario: 'uac-reinvite',
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

    t.equal(count(pbx, 'send', 'INVITE'), 2, 'PBX: INVITE and re-INVITE');
    t.equal(count(pbx, 'recv', '200'), 3, 'PBX: 200 for INVITE, re-INVITE and BYE');
    t.equal(count(pbx, 'send', 'ACK'), 2, 'PBX: 2 ACKs');
    t.equal(count(uas, 'recv', 'INVITE'), 2, 'provider: INVITE and relayed re-INVITE');
    t.equal(count(uas, 'send', '200'), 3, 'provider: 200 for INVITE, re-INVITE and BYE');
    t.equal(count(uas, 'recv', 'ACK'), 2, 'provider: ACK for both 200s');
    t.equal(count(uas, 'recv', 'BYE'), 1, 'provider: BYE');

    // The re-INVITE reaches the provider inside the dialog, carrying the hold offer.
    t.match(uas.messages, /^INVITE [^\r\n]*\r?\n(?:[^\r\n]+\r?\n)*?To:[^\r\n]*;tag=/m, 'provider: an INVITE with a To tag (in-dialog)');
    t.match(uas.messages, /a=sendonly/, 'provider: the offer says sendonly');
    t.match(pbx.messages, /a=recvonly/, 'PBX: the answer says recvonly');

    const start = await rec.waitForLog((l) => l.event === 'call.start', 5000);
    const end = await rec.waitForLog((l) => l.event === 'call.end' && l['callId'] === start['callId'], 10000);
    t.equal(end['reason'], 'BYE from pbx', 'call.end: normal hangup');
    t.equal(rec.logs.filter((l) => l.event === 'call.start').length, 1, 'one call.start (re-INVITE is no new call)');
  });
}
