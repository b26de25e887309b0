/**
 * Digest authentication toward the provider (SPEC S2), PBX -> provider over
 * UDP. The provider is SIPp's uas-auth (401, Digest MD5 qop=auth, checked
 * with verifyauth) or uas-auth-always (challenges every INVITE).
 *
 *   1. right credentials in callrec's config: callrec ACKs the 401, repeats
 *      the INVITE with Authorization, the provider accepts it and the call
 *      completes; the PBX never sees the 401.
 *   2. wrong password: the provider answers the authorized INVITE with 403;
 *      the caller gets 403, callrec sends exactly 2 INVITEs.
 *   3. a provider that challenges every INVITE: callrec gives up after a
 *      bounded number of attempts (at most 3 INVITEs), the caller gets 403
 *      and callrec logs call.auth-failed.
 *
 * Verifies: SIPp exit codes and message counts on both sides, call.start /
 * call.end / call.auth-failed log lines.
 * Does not verify: 407 Proxy-Authenticate, SHA-256 digests, stale=true,
 * authentication of in-dialog requests (BYE, re-INVITE).
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

const CREDENTIALS = { username: 'trunk1', password: 's3cret' };

if (!sippAvailable()) {
  t.plan(0, 'sipp is not installed (run `make install` as root)');
} else {
  t.test('401 challenge answered with the configured credentials', async (t) => {
    const pbxPort = await freePort('both');
    const provider = await startSipp({
      scenario: 'uas-auth',
      calls: 1,
      set: { user: CREDENTIALS.username, pass: CREDENTIALS.password },
      timeoutSeconds: 40,
    });
    t.teardown(() => provider.stop());
    const rec = await startCallrec({
      pbx: { port: pbxPort, transport: 'udp' },
      provider: { port: provider.localPort, transport: 'udp', auth: CREDENTIALS },
    });
    t.teardown(() => rec.dispose());

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

    t.equal(count(pbx, 'send', 'INVITE'), 1, 'PBX: 1 INVITE');
    t.notMatch(pbx.messages, /^SIP\/2\.0 40[17] /m, 'PBX never saw the challenge');
    t.equal(count(uas, 'recv', 'INVITE'), 2, 'provider: INVITE, then INVITE with Authorization');
    t.equal(count(uas, 'send', '401'), 1, 'provider: 1 challenge');
    t.equal(count(uas, 'recv', 'ACK'), 2, 'provider: ACK for the 401 and for the 200');
    t.equal(count(uas, 'recv', 'BYE'), 1, 'provider: BYE relayed');
    t.match(uas.messages, /Authorization: *Digest [^\r\n]*username="trunk1"/i, 'provider: Authorization names the configured user');

    const start = await rec.waitForLog((l) => l.event === 'call.start', 5000);
    const end = await rec.waitForLog((l) => l.event === 'call.end' && l['callId'] === start['callId'], 10000);
    t.equal(end['reason'], 'BYE from pbx', 'call.end: normal hangup');
    t.equal(rec.logs.filter((l) => l.event === 'call.auth-failed').length, 0, 'no call.auth-failed');
  });

  t.test('wrong password: the caller gets 403, no retry loop', async (t) => {
    const pbxPort = await freePort('both');
    const provider = await startSipp({
      scenario: 'uas-auth',
      calls: 1,
      set: { user: CREDENTIALS.username, pass: CREDENTIALS.password },
      timeoutSeconds: 40,
    });
    t.teardown(() => provider.stop());
    const rec = await startCallrec({
      pbx: { port: pbxPort, transport: 'udp' },
      provider: { port: provider.localPort, transport: 'udp', auth: { username: 'trunk1', password: 'wrong' } },
    });
    t.teardown(() => rec.dispose());

    const pbx = await runSipp({
      scenario: 'uac-forbidden',
      remote: { port: rec.sipPort },
      localPort: pbxPort,
      calls: 1,
      service: '0301234567',
      keys: { caller: '201' },
      timeoutSeconds: 30,
    });
    // uas-auth counts a call whose credentials it refused as failed (exit 1).
    const uas = await finished(t, provider, 'provider');
    expectCalls(t, pbx, 'PBX (caller)', 1);
    expectCalls(t, uas, 'provider (callee)', 0, { exit: 1, failed: 1 });
    t.equal(count(pbx, 'recv', '403'), 1, 'PBX: 403');
    t.equal(count(pbx, 'send', 'ACK'), 1, 'PBX: ACKed the 403');
    t.equal(count(uas, 'recv', 'INVITE'), 2, 'provider: exactly 2 INVITEs (no loop)');
    t.equal(count(uas, 'send', '401'), 1, 'provider: 1 challenge');
    t.equal(count(uas, 'send', '403'), 1, 'provider: 403 for the bad credentials');
    t.equal(count(uas, 'recv', 'ACK'), 2, 'provider: callrec ACKed the 401 and the 403');

    const start = await rec.waitForLog((l) => l.event === 'call.start', 5000);
    const end = await rec.waitForLog((l) => l.event === 'call.end' && l['callId'] === start['callId'], 10000);
    t.match(String(end['reason']), /403/, 'call.end: reason names the 403');
  });

  t.test('a provider that always challenges: bounded attempts, 403 to the caller', async (t) => {
    const pbxPort = await freePort('both');
    const provider = await startSipp({ scenario: 'uas-auth-always', calls: 1, timeoutSeconds: 40 });
    t.teardown(() => provider.stop());
    const rec = await startCallrec({
      pbx: { port: pbxPort, transport: 'udp' },
      provider: { port: provider.localPort, transport: 'udp', auth: CREDENTIALS },
    });
    t.teardown(() => rec.dispose());

    const pbx = await runSipp({
      scenario: 'uac-forbidden',
      remote: { port: rec.sipPort },
      localPort: pbxPort,
      calls: 1,
      service: '0301234567',
      keys: { caller: '201' },
      timeoutSeconds: 30,
    });
    const uas = await finished(t, provider, 'provider', 25000);
    expectCalls(t, pbx, 'PBX (caller)', 1);
    // Ends successfully once no further INVITE comes for 3 s; a 5th INVITE would fail it.
    expectCalls(t, uas, 'provider (callee)', 1);
    const invites = count(uas, 'recv', 'INVITE');
    t.ok(invites >= 2, `provider: the challenge was answered (${invites} INVITEs)`);
    t.ok(invites <= 3, `provider: at most 3 INVITEs, no loop (${invites})`);
    t.equal(count(uas, 'send', '401'), invites, 'provider: every INVITE challenged');
    t.equal(count(uas, 'recv', 'ACK'), invites, 'provider: every 401 ACKed');
    t.equal(count(pbx, 'recv', '403'), 1, 'PBX: the last 401 became 403');
    t.notMatch(pbx.messages, /^SIP\/2\.0 40[17] /m, 'PBX never saw a 401');

    const start = await rec.waitForLog((l) => l.event === 'call.start', 5000);
    await rec.waitForLog((l) => l.event === 'call.auth-failed' && l['callId'] === start['callId'], 5000);
    t.pass('call.auth-failed logged');
    await rec.waitForLog((l) => l.event === 'call.end' && l['callId'] === start['callId'], 5000);
    t.pass('call.end logged');
  });
}
