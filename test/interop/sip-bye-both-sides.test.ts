/**
 * BYE from either side of an established call (SPEC S1), PBX -> provider
 * over UDP:
 *   call 1: the caller (PBX) hangs up   (uac-basic    / uas-basic)
 *   call 2: the callee (provider) hangs up (uac-recv-bye / uas-hangup)
 *
 * Verifies: both SIPp sides exit 0 with one successful call each; the BYE
 * and its 200 are counted on both sides (sent by the hanging-up side,
 * received by the other); callrec logs call.start and call.end for each
 * call, the end reason naming the side that sent the BYE.
 * Does not verify: the Reason header callrec adds, BYE retransmissions,
 * media or recordings.
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
  t.test('BYE from the caller and from the callee', async (t) => {
    const pbxPort = await freePort('both');
    const providerPort = await freePort('both');
    const rec = await startCallrec({
      pbx: { port: pbxPort, transport: 'udp' },
      provider: { port: providerPort, transport: 'udp' },
    });
    t.teardown(() => rec.dispose());

    await t.test('caller hangs up', async (t) => {
      const provider = await startSipp({ scenario: 'uas-basic', localPort: providerPort, calls: 1, timeoutSeconds: 40 });
      t.teardown(() => provider.stop());
      const pbx = await runSipp({
        scenario: 'uac-basic',
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
      t.equal(count(pbx, 'send', 'BYE'), 1, 'PBX sent the BYE');
      t.equal(count(pbx, 'recv', '200'), 2, 'PBX got 200 for INVITE and for BYE');
      t.equal(count(uas, 'recv', 'BYE'), 1, 'provider received the relayed BYE');
      t.equal(count(uas, 'send', '200'), 2, 'provider answered INVITE and BYE with 200');

      const start = await rec.waitForLog((l) => l.event === 'call.start', 5000);
      const end = await rec.waitForLog((l) => l.event === 'call.end' && l['callId'] === start['callId'], 5000);
      t.equal(end['reason'], 'BYE from pbx', 'call.end: BYE from the PBX side');
    });

    await t.test('callee hangs up', async (t) => {
      const provider = await startSipp({
        scenario: 'uas-hangup',
        localPort: providerPort,
        calls: 1,
        durationMs: 500,
        timeoutSeconds: 40,
      });
      t.teardown(() => provider.stop());
      const pbx = await runSipp({
        scenario: 'uac-recv-bye',
        remote: { port: rec.sipPort },
        localPort: pbxPort,
        calls: 1,
        service: '0301234568',
        keys: { caller: '202' },
        timeoutSeconds: 30,
      });
      const uas = await finished(t, provider, 'provider');
      expectCalls(t, pbx, 'PBX (caller)', 1);
      expectCalls(t, uas, 'provider (callee)', 1);
      t.equal(count(uas, 'send', 'BYE'), 1, 'provider sent the BYE');
      t.equal(count(uas, 'recv', '200'), 1, 'provider got 200 for its BYE');
      t.equal(count(pbx, 'recv', 'BYE'), 1, 'PBX received the relayed BYE');
      t.equal(count(pbx, 'send', '200'), 1, 'PBX answered the BYE with 200');
      t.equal(count(pbx, 'send', 'BYE'), 0, 'PBX sent no BYE of its own');

      const start = await rec.waitForLog((l) => l.event === 'call.start' && l['to'] === '0301234568', 5000);
      const end = await rec.waitForLog((l) => l.event === 'call.end' && l['callId'] === start['callId'], 5000);
      t.equal(end['reason'], 'BYE from provider', 'call.end: BYE from the provider side');
      t.equal(rec.logs.filter((l) => l.event === 'call.end').length, 2, 'two calls ended, each once');
    });
  });
}
