/**
 * 486 Busy Here from the provider relayed to the PBX (SPEC S1), over UDP
 * (uac-busy / uas-busy).
 *
 * Verifies: the caller receives 486 and ACKs it, the provider sends 486 and
 * receives callrec's ACK (hop by hop), both SIPp sides exit 0; no BYE or
 * CANCEL anywhere; callrec logs call.start and call.end with the 486 in the
 * reason and duration 0.
 * Does not verify: other 4xx/5xx/6xx codes, 3xx redirection, forking.
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
  t.test('486 Busy Here is relayed', async (t) => {
    const pbxPort = await freePort('both');
    const provider = await startSipp({ scenario: 'uas-busy', calls: 1, timeoutSeconds: 40 });
    t.teardown(() => provider.stop());
    const rec = await startCallrec({
      pbx: { port: pbxPort, transport: 'udp' },
      provider: { port: provider.localPort, transport: 'udp' },
    });
    t.teardown(() => rec.dispose());

    const pbx = await runSipp({
      scenario: 'uac-busy',
      remote: { port: rec.sipPort },
      localPort: pbxPort,
      calls: 1,
      service: '0301234567',
      keys: { caller: '201' },
      timeoutSeconds: 30,
    });
    const uas = await finished(t, provider, 'provider');
    expectCalls(t, pbx, 'PBX (caller)', 1);
    expectCalls(t, uas, 'provider (callee)', 1);

    t.equal(count(pbx, 'send', 'INVITE'), 1, 'PBX: 1 INVITE');
    t.equal(count(pbx, 'recv', '486'), 1, 'PBX: received 486');
    t.equal(count(pbx, 'send', 'ACK'), 1, 'PBX: ACKed the 486');
    t.equal(count(uas, 'recv', 'INVITE'), 1, 'provider: 1 INVITE');
    t.equal(count(uas, 'send', '486'), 1, 'provider: sent 486');
    t.equal(count(uas, 'recv', 'ACK'), 1, 'provider: callrec ACKed the 486');
    t.notMatch(pbx.messages, /^(BYE|CANCEL) /m, 'PBX saw no BYE or CANCEL');
    t.notMatch(uas.messages, /^(BYE|CANCEL) /m, 'provider saw no BYE or CANCEL');

    const start = await rec.waitForLog((l) => l.event === 'call.start', 5000);
    const end = await rec.waitForLog((l) => l.event === 'call.end' && l['callId'] === start['callId'], 10000);
    t.match(String(end['reason']), /486/, 'call.end: reason names the 486');
    t.equal(end['durationSeconds'], 0, 'call.end: never answered, duration 0');
  });
}
