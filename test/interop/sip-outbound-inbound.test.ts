/**
 * One call in each direction through one callrec over UDP (SPEC S2):
 *
 *   outbound: SIPp UAC (PBX)      --INVITE--> callrec --INVITE--> SIPp UAS (provider)
 *   inbound:  SIPp UAC (provider) --INVITE--> callrec --INVITE--> SIPp UAS (PBX)
 *
 * Verifies: both SIPp sides of each call exit 0 with one successful call and
 * the expected message counts (INVITE, 180 relayed, 200, ACK, BYE, 200 for
 * the BYE); callrec logs call.start with the right direction, caller and
 * callee, and call.end for the same call with a reason naming the BYE.
 * Does not verify: media, recording contents, SDP rewriting, identity
 * headers (other tests).
 */
import t from 'tap';
import {
  type CallrecInstance,
  type SippResult,
  freePort,
  runSipp,
  sippAvailable,
  startCallrec,
  startSipp,
} from './harness/index.js';
import { count, expectCalls, finished, type Tap } from './harness/checks.js';

/** Message counts of a uac-basic caller: INVITE, 180, 200, ACK, BYE, 200 (BYE). */
function expectBasicUac(tt: Tap, r: SippResult, label: string): void {
  tt.equal(count(r, 'send', 'INVITE'), 1, `${label}: sent 1 INVITE`);
  tt.equal(count(r, 'recv', '180'), 1, `${label}: received the relayed 180`);
  tt.equal(count(r, 'recv', '200'), 2, `${label}: received 200 for INVITE and for BYE`);
  tt.equal(count(r, 'send', 'ACK'), 1, `${label}: sent 1 ACK`);
  tt.equal(count(r, 'send', 'BYE'), 1, `${label}: sent 1 BYE`);
}

/** Message counts of a uas-basic callee: INVITE, 180, 200, ACK, BYE, 200. */
function expectBasicUas(tt: Tap, r: SippResult, label: string): void {
  tt.equal(count(r, 'recv', 'INVITE'), 1, `${label}: received 1 INVITE`);
  tt.equal(count(r, 'send', '180'), 1, `${label}: sent 180`);
  tt.equal(count(r, 'send', '200'), 2, `${label}: sent 200 for INVITE and for BYE`);
  tt.equal(count(r, 'recv', 'ACK'), 1, `${label}: received the ACK`);
  tt.equal(count(r, 'recv', 'BYE'), 1, `${label}: received the BYE`);
}

if (!sippAvailable()) {
  t.plan(0, 'sipp is not installed (run `make install` as root)');
} else {
  t.test('a call each way over UDP', async (t) => {
    const pbxPort = await freePort('both');
    const providerPort = await freePort('both');
    const rec: CallrecInstance = await startCallrec({
      pbx: { port: pbxPort, transport: 'udp' },
      provider: { port: providerPort, transport: 'udp' },
    });
    t.teardown(() => rec.dispose());

    await t.test('outbound: PBX -> provider', async (t) => {
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
      expectBasicUac(t, pbx, 'PBX');
      expectBasicUas(t, uas, 'provider');

      const start = await rec.waitForLog((l) => l.event === 'call.start' && l['direction'] === 'outbound', 5000);
      t.equal(start['from'], '201', 'call.start: from the PBX user');
      t.equal(start['to'], '0301234567', 'call.start: to the dialled number');
      const end = await rec.waitForLog((l) => l.event === 'call.end' && l['callId'] === start['callId'], 5000);
      t.match(String(end['reason']), /BYE/, 'call.end: ended by BYE');
    });

    await t.test('inbound: provider -> PBX', async (t) => {
      const pbx = await startSipp({ scenario: 'uas-basic', localPort: pbxPort, calls: 1, timeoutSeconds: 40 });
      t.teardown(() => pbx.stop());
      const provider = await runSipp({
        scenario: 'uac-basic',
        remote: { port: rec.sipPort },
        localPort: providerPort,
        calls: 1,
        durationMs: 300,
        service: '4930123456202',
        keys: { caller: '01721234567' },
        timeoutSeconds: 30,
      });
      const uas = await finished(t, pbx, 'PBX');
      expectCalls(t, provider, 'provider (caller)', 1);
      expectCalls(t, uas, 'PBX (callee)', 1);
      expectBasicUac(t, provider, 'provider');
      expectBasicUas(t, uas, 'PBX');

      const start = await rec.waitForLog((l) => l.event === 'call.start' && l['direction'] === 'inbound', 5000);
      t.equal(start['from'], '01721234567', 'call.start: from the provider-side caller');
      t.equal(start['to'], '4930123456202', 'call.start: to the called number');
      const end = await rec.waitForLog((l) => l.event === 'call.end' && l['callId'] === start['callId'], 5000);
      t.match(String(end['reason']), /BYE/, 'call.end: ended by BYE');
      t.equal(rec.logs.filter((l) => l.event === 'call.start').length, 2, 'callrec saw exactly 2 calls');
      t.equal(rec.logs.filter((l) => l.event === 'sip.refused').length, 0, 'nothing refused');
    });
  });
}
