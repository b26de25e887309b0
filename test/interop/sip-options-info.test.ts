/**
 * OPTIONS and INFO (SPEC S1) over UDP:
 *   1. out-of-dialog OPTIONS from the PBX and from the provider is answered
 *      200 by callrec itself (uac-options); a SIPp UAS (uas-options) on the
 *      other trunk side stands guard and must receive nothing;
 *   2. INFO (application/dtmf-relay) inside an established call, PBX ->
 *      provider (uac-info / uas-info), is relayed and its 200 comes back.
 *
 * Verifies: SIPp exit codes and message counts on both sides; the local
 * 200 carries Allow; the INFO body reaches the provider; callrec logs no
 * call.start for OPTIONS and one call.start / call.end for the INFO call.
 * Does not verify: OPTIONS inside a dialog, INFO from the callee, INFO
 * answered with an error, DTMF handling of the INFO (recording tests).
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
  t.test('OPTIONS answered locally, INFO relayed', async (t) => {
    const pbxPort = await freePort('both');
    const providerPort = await freePort('both');
    const rec = await startCallrec({
      pbx: { port: pbxPort, transport: 'udp' },
      provider: { port: providerPort, transport: 'udp' },
    });
    t.teardown(() => rec.dispose());

    for (const [from, fromPort, guardPort] of [
      ['PBX', pbxPort, providerPort],
      ['provider', providerPort, pbxPort],
    ] as const) {
      await t.test(`OPTIONS from the ${from} is answered by callrec`, async (t) => {
        const guard = await startSipp({ scenario: 'uas-options', localPort: guardPort, calls: 1, timeoutSeconds: 40 });
        t.teardown(() => guard.stop());
        const options = await runSipp({
          scenario: 'uac-options',
          remote: { port: rec.sipPort },
          localPort: fromPort,
          calls: 1,
          service: 'keepalive',
          timeoutSeconds: 20,
        });
        expectCalls(t, options, `${from} (OPTIONS)`, 1);
        t.equal(count(options, 'recv', '200'), 1, `${from}: 200 for OPTIONS`);
        t.match(options.messages, /^Allow *:[^\r\n]*INVITE/im, `${from}: the 200 carries Allow`);
        // Give a relayed OPTIONS time to arrive before the guard is stopped.
        await new Promise((r) => setTimeout(r, 1000));
        const other = await guard.stop();
        t.equal(count(other, 'recv', 'OPTIONS'), 0, 'the other side received no OPTIONS');
        t.equal(other.successful, 0, 'the guard handled no OPTIONS');
      });
    }
    t.equal(rec.logs.filter((l) => l.event === 'call.start').length, 0, 'OPTIONS started no call');

    await t.test('INFO in the dialog is relayed', async (t) => {
      const provider = await startSipp({ scenario: 'uas-info', localPort: providerPort, calls: 1, timeoutSeconds: 40 });
      t.teardown(() => provider.stop());
      const pbx = await runSipp({
        scenario: 'uac-info',
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
      t.equal(count(pbx, 'send', 'INFO'), 1, 'PBX: INFO');
      t.equal(count(pbx, 'recv', '200'), 3, 'PBX: 200 for INVITE, INFO and BYE');
      t.equal(count(uas, 'recv', 'INFO'), 1, 'provider: INFO relayed');
      t.equal(count(uas, 'send', '200'), 3, 'provider: 200 for INVITE, INFO and BYE');
      t.match(uas.messages, /Signal=1/, 'provider: the INFO body arrived');

      const start = await rec.waitForLog((l) => l.event === 'call.start', 5000);
      const end = await rec.waitForLog((l) => l.event === 'call.end' && l['callId'] === start['callId'], 10000);
      t.equal(end['reason'], 'BYE from pbx', 'call.end: normal hangup');
    });
  });
}
