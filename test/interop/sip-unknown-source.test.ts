/**
 * No open relay (SPEC S4): an INVITE from 127.0.0.1 on a port that is
 * neither the configured PBX nor the provider (same host, other port; UDP
 * is matched on host and port) is refused with 403 (uac-forbidden).
 * A SIPp UAS on the provider port stands guard.
 *
 * Verifies: the intruder's SIPp exits 0 having received 403 (and ACKed
 * it); callrec logs sip.refused with status 403, method INVITE and the
 * intruder's source port; no call.start; the provider's SIPp received
 * nothing (no INVITE); afterwards a call from the real PBX port still goes
 * through (the refusal left nothing behind).
 * Does not verify: TCP/TLS sources, in-dialog requests from strangers,
 * rate limiting.
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
  t.test('INVITE from an unknown address gets 403', async (t) => {
    const pbxPort = await freePort('both');
    const strangerPort = await freePort('both');
    const provider = await startSipp({ scenario: 'uas-basic', calls: 1, timeoutSeconds: 50 });
    t.teardown(() => provider.stop());
    const rec = await startCallrec({
      pbx: { port: pbxPort, transport: 'udp' },
      provider: { port: provider.localPort, transport: 'udp' },
    });
    t.teardown(() => rec.dispose());

    const stranger = await runSipp({
      scenario: 'uac-forbidden',
      remote: { port: rec.sipPort },
      localPort: strangerPort,
      calls: 1,
      service: '00900123456',
      keys: { caller: '666' },
      timeoutSeconds: 30,
    });
    expectCalls(t, stranger, 'stranger', 1);
    t.equal(count(stranger, 'recv', '403'), 1, 'stranger: 403');
    t.equal(count(stranger, 'send', 'ACK'), 1, 'stranger: ACKed the 403');

    const refused = await rec.waitForLog((l) => l.event === 'sip.refused', 5000);
    t.equal(refused['status'], 403, 'sip.refused: status 403');
    t.equal(refused['method'], 'INVITE', 'sip.refused: method INVITE');
    t.match(JSON.stringify(refused['source']), new RegExp(`${strangerPort}`), 'sip.refused: names the source port');
    t.equal(rec.logs.filter((l) => l.event === 'call.start').length, 0, 'no call.start for the stranger');

    // The real PBX gets through; the provider's one call is that one, not the stranger's.
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
    t.equal(count(uas, 'recv', 'INVITE'), 1, 'provider: exactly 1 INVITE (the PBX call)');
    t.notMatch(uas.messages, /666@|00900123456/, "provider: nothing of the stranger's call arrived");
    t.equal(rec.logs.filter((l) => l.event === 'call.start').length, 1, 'one call.start (the PBX call)');
    t.equal(rec.logs.filter((l) => l.event === 'sip.refused').length, 1, 'one sip.refused');
  });
}
