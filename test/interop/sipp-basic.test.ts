/**
 * One basic outbound call through callrec between two SIPp instances:
 *
 *   SIPp UAC (as PBX) --INVITE--> callrec --INVITE--> SIPp UAS (as provider)
 *
 * Verifies: both SIPp sides complete the call (exit code 0, 1 successful
 * call each) and callrec logs call.start and call.end for it.
 * Does not verify: media, recording, SDP rewriting (other interop tests).
 */
import t from 'tap';
import {
  type CallrecInstance,
  type SippProcess,
  describeSipp,
  freePort,
  runSipp,
  sippAvailable,
  startCallrec,
  startSipp,
} from './harness/index.js';

if (!sippAvailable()) {
  t.plan(0, 'sipp is not installed (run `make install` as root)');
} else {
  t.test('basic call PBX -> callrec -> provider (UDP)', async (t) => {
    const pbxPort = await freePort('both');
    const provider: SippProcess = await startSipp({ scenario: 'uas-basic', calls: 1, timeoutSeconds: 60 });
    t.teardown(() => provider.stop());

    const rec: CallrecInstance = await startCallrec({
      pbx: { port: pbxPort, transport: 'udp' },
      provider: { port: provider.localPort, transport: 'udp' },
    });
    t.teardown(() => rec.dispose());

    const uac = await runSipp({
      scenario: 'uac-basic',
      remote: { port: rec.sipPort },
      localPort: pbxPort,
      calls: 1,
      durationMs: 500,
      service: '0301234567',
      keys: { caller: '201' },
      timeoutSeconds: 30,
    });
    t.equal(uac.exitCode, 0, 'PBX-side SIPp exits 0', { diagnostic: uac.exitCode !== 0, details: describeSipp(uac) });
    t.equal(uac.successful, 1, 'PBX side: 1 successful call');
    t.equal(uac.failed, 0, 'PBX side: no failed call');

    const uas = await Promise.race([
      provider.done,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('provider SIPp did not finish')), 15000).unref()),
    ]).catch(async (err: Error) => {
      t.fail(err.message);
      return provider.stop();
    });
    t.equal(uas.exitCode, 0, 'provider-side SIPp exits 0', { diagnostic: uas.exitCode !== 0, details: describeSipp(uas) });
    t.equal(uas.successful, 1, 'provider side: 1 successful call');

    const start = await rec.waitForLog((l) => l.event === 'call.start', 5000);
    t.equal(start['direction'], 'outbound', 'call.start: outbound');
    const end = await rec.waitForLog((l) => l.event === 'call.end', 5000);
    t.equal(end['callId'], start['callId'], 'call.end names the call of call.start');
  });
}
