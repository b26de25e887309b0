/**
 * Max-Forwards (SPEC S1 / issue 2 §3, RFC 3261 §16.3 step 3) over UDP,
 * PBX -> provider, with a SIPp UAS on the provider port:
 *   1. an INVITE with Max-Forwards: 0 gets 483 Too Many Hops
 *      (uac-max-forwards, -key maxfwd 0) and never reaches the provider;
 *   2. an ordinary INVITE (Max-Forwards: 70) reaches the provider with
 *      Max-Forwards: 69 and the call completes.
 *
 * Verifies: SIPp exit codes and counts on both sides (the provider got
 * exactly one INVITE, the second call's); the Max-Forwards value the
 * provider received; callrec logs no call.start for the refused INVITE.
 * Does not verify: Max-Forwards on in-dialog requests, OPTIONS with
 * Max-Forwards 0.
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
  t.test('Max-Forwards: 0 gets 483, otherwise it is decremented', async (t) => {
    const pbxPort = await freePort('both');
    const provider = await startSipp({ scenario: 'uas-basic', calls: 1, timeoutSeconds: 50 });
    t.teardown(() => provider.stop());
    const rec = await startCallrec({
      pbx: { port: pbxPort, transport: 'udp' },
      provider: { port: provider.localPort, transport: 'udp' },
    });
    t.teardown(() => rec.dispose());

    const hops = await runSipp({
      scenario: 'uac-max-forwards',
      remote: { port: rec.sipPort },
      localPort: pbxPort,
      calls: 1,
      service: '0309999999',
      keys: { caller: '201', maxfwd: '0' },
      timeoutSeconds: 30,
    });
    expectCalls(t, hops, 'PBX (Max-Forwards 0)', 1);
    t.equal(count(hops, 'recv', '483'), 1, 'PBX: 483 Too Many Hops');
    t.equal(count(hops, 'send', 'ACK'), 1, 'PBX: ACKed the 483');
    t.equal(rec.logs.filter((l) => l.event === 'call.start').length, 0, 'no call.start for the refused INVITE');

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
    expectCalls(t, pbx, 'PBX (Max-Forwards 70)', 1);
    expectCalls(t, uas, 'provider', 1);
    t.equal(count(uas, 'recv', 'INVITE'), 1, 'provider: exactly 1 INVITE (the 483 one never arrived)');
    t.notMatch(uas.messages, /0309999999/, 'provider: nothing of the Max-Forwards 0 INVITE');
    const mf = /^INVITE [^\r\n]*\r?\n(?:[^\r\n]+\r?\n)*?Max-Forwards *: *(\d+)/im.exec(uas.messages);
    t.equal(mf?.[1], '69', 'provider: Max-Forwards decremented from 70 to 69');
    const start = await rec.waitForLog((l) => l.event === 'call.start', 5000);
    await rec.waitForLog((l) => l.event === 'call.end' && l['callId'] === start['callId'], 10000);
    t.equal(rec.logs.filter((l) => l.event === 'call.start').length, 1, 'one call.start (the ordinary call)');
  });
}
