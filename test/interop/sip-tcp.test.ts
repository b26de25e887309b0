/**
 * SIP over TCP on both trunk sides (SPEC S1): callrec listens on UDP and
 * TCP; pbx and provider are configured with transport tcp. SIPp binds its
 * TCP connections to its -p port, so requests arrive from the configured
 * ports.
 *   call 1: outbound (PBX -> provider), the caller hangs up;
 *   call 2: inbound (provider -> PBX), the callee (PBX) hangs up, so a BYE
 *           travels over the connection callrec opened toward the PBX.
 *
 * Verifies: both SIPp sides of each call exit 0 with one successful call
 * and the expected message counts; the messages travel as SIP/2.0/TCP
 * (Via of the requests each SIPp received); callrec logs call.start with
 * the direction and call.end for each call, and refuses nothing.
 * Does not verify: TLS, framing edge cases (unit tests), connection reuse
 * across calls, peers connecting from ephemeral ports.
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
  t.test('calls over TCP', async (t) => {
    const pbxPort = await freePort('both');
    const providerPort = await freePort('both');
    const rec = await startCallrec({
      pbx: { port: pbxPort, transport: 'tcp' },
      provider: { port: providerPort, transport: 'tcp' },
    });
    t.teardown(() => rec.dispose());

    await t.test('outbound over TCP, caller hangs up', async (t) => {
      const provider = await startSipp({
        scenario: 'uas-basic',
        transport: 'tcp',
        localPort: providerPort,
        calls: 1,
        timeoutSeconds: 40,
      });
      t.teardown(() => provider.stop());
      const pbx = await runSipp({
        scenario: 'uac-basic',
        transport: 'tcp',
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
      t.equal(count(pbx, 'recv', '200'), 2, 'PBX: 200 for INVITE and BYE');
      t.equal(count(uas, 'recv', 'INVITE'), 1, 'provider: INVITE');
      t.equal(count(uas, 'recv', 'ACK'), 1, 'provider: ACK');
      t.equal(count(uas, 'recv', 'BYE'), 1, 'provider: BYE');
      t.match(uas.messages, /^Via: *SIP\/2\.0\/TCP /im, 'provider: callrec sent over TCP');

      const start = await rec.waitForLog((l) => l.event === 'call.start' && l['direction'] === 'outbound', 5000);
      const end = await rec.waitForLog((l) => l.event === 'call.end' && l['callId'] === start['callId'], 10000);
      t.equal(end['reason'], 'BYE from pbx', 'call.end: BYE from the PBX');
    });

    await t.test('inbound over TCP, callee hangs up', async (t) => {
      const pbx = await startSipp({
        scenario: 'uas-hangup',
        transport: 'tcp',
        localPort: pbxPort,
        calls: 1,
        durationMs: 500,
        timeoutSeconds: 40,
      });
      t.teardown(() => pbx.stop());
      const provider = await runSipp({
        scenario: 'uac-recv-bye',
        transport: 'tcp',
        remote: { port: rec.sipPort },
        localPort: providerPort,
        calls: 1,
        service: '4930123456202',
        keys: { caller: '01721234567' },
        timeoutSeconds: 30,
      });
      const uas = await finished(t, pbx, 'PBX');
      expectCalls(t, provider, 'provider (caller)', 1);
      expectCalls(t, uas, 'PBX (callee)', 1);
      t.equal(count(uas, 'recv', 'INVITE'), 1, 'PBX: INVITE');
      t.equal(count(uas, 'send', 'BYE'), 1, 'PBX: sent BYE');
      t.equal(count(uas, 'recv', '200'), 1, 'PBX: 200 for its BYE');
      t.equal(count(provider, 'recv', 'BYE'), 1, 'provider: BYE relayed');
      t.equal(count(provider, 'send', '200'), 1, 'provider: answered the BYE');
      t.match(uas.messages, /^Via: *SIP\/2\.0\/TCP /im, 'PBX: callrec sent over TCP');

      const start = await rec.waitForLog((l) => l.event === 'call.start' && l['direction'] === 'inbound', 5000);
      const end = await rec.waitForLog((l) => l.event === 'call.end' && l['callId'] === start['callId'], 10000);
      t.equal(end['reason'], 'BYE from pbx', 'call.end: BYE from the PBX (the callee)');
      t.equal(rec.logs.filter((l) => l.event === 'sip.refused').length, 0, 'nothing refused');
    });
  });
}
