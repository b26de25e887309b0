/**
 * SPEC P3 + P5 (issue 5): profiles are evaluated in order, each only for
 * its direction; the first that matches records, and a call recorded by one
 * profile is not recorded again by another; each profile has its own target.
 *
 *   profiles: 1. "first-traders-out"  outbound, groups [traders], archive/first
 *             2. "second-all"         both, everyone,           archive/second
 *
 * Verifies, with three calls through one callrec:
 * - inbound call from the provider to 300 (the traders' group number, which
 *   the outbound-only first profile does not record): recorded by
 *   second-all;
 * - outbound call by alice (201, trader): recorded by first-traders-out only
 *   (one recording.start for the call, its files only in archive/first,
 *   _info.txt says Profile: first-traders-out);
 * - outbound call by carol (209, no group): recorded by second-all;
 * - in all three recording.start, one per call; archive/first holds exactly
 *   alice's recording and archive/second exactly the other two.
 * Does not verify: membership (policy-inactive-member), prompts.
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import {
  type CallrecInstance,
  type LogLine,
  type SippResult,
  describeSipp,
  freePort,
  runSipp,
  sippAvailable,
  startCallrec,
  startSipp,
} from './harness/index.js';
import { waitForRecordings, within } from './harness/operator.js';




if (!sippAvailable()) {
  t.plan(0, 'sipp is not installed (run `make install` as root)');
} else {
  t.test('profiles in order with direction filters; a call is recorded once', async (t) => {
    const pbxPort = await freePort('both');
    const providerPort = await freePort('both');

    const rec: CallrecInstance = await startCallrec({
      pbx: { port: pbxPort },
      provider: { port: providerPort },
      overrides: {
        users: [
          { id: 'alice', name: 'Alice Trader', numbers: ['201'] },
          { id: 'bob', name: 'Bob Broker', numbers: ['202'] },
          { id: 'carol', name: 'Carol Clerk', numbers: ['209'] },
        ],
        groups: [{ id: 'traders', numbers: ['300'], members: ['alice', 'bob'] }],
        profiles: [
          {
            name: 'first-traders-out',
            direction: 'outbound',
            groups: ['traders'],
            targets: [{ type: 'local', path: './archive/first/$Y/$M/$D' }],
          },
          {
            name: 'second-all',
            direction: 'both',
            targets: [{ type: 'local', path: './archive/second/$Y/$M/$D' }],
          },
        ],
      },
    });
    t.teardown(() => rec.dispose());

    const checkCall = (label: string, uac: SippResult, uas: SippResult): void => {
      t.equal(uac.exitCode, 0, `${label}: caller SIPp exits 0`, { diagnostic: uac.exitCode !== 0, details: describeSipp(uac) });
      t.equal(uac.successful, 1, `${label}: caller 1 successful call`);
      t.equal(uas.successful, 1, `${label}: callee 1 successful call`, { diagnostic: uas.successful !== 1, details: describeSipp(uas) });
    };
    const callStart = (pred: (l: LogLine) => boolean): Promise<LogLine> => rec.waitForLog((l) => l.event === 'call.start' && pred(l), 5000);
    const recordingOf = (callId: unknown): Promise<LogLine> => rec.waitForLog((l) => l.event === 'recording.start' && l['callId'] === callId, 5000);

    // 1. Inbound: provider -> callrec -> PBX, to the traders' group number.
    {
      const pbx = await startSipp({ scenario: 'uas-basic', localPort: pbxPort, calls: 1, timeoutSeconds: 40 });
      t.teardown(() => pbx.stop());
      const uac = await runSipp({
        scenario: 'uac-basic', remote: { port: rec.sipPort }, localPort: providerPort, calls: 1, durationMs: 300,
        service: '300', keys: { caller: '0301234567' }, timeoutSeconds: 30,
      });
      const uas = await within(pbx.done, 15000, 'PBX-side SIPp did not finish').catch(() => pbx.stop());
      checkCall('inbound to 300', uac, uas);
    }
    // 2 + 3. Outbound by alice (trader), then by carol (no group).
    const provider = await startSipp({ scenario: 'uas-basic', localPort: providerPort, calls: 2, timeoutSeconds: 50 });
    t.teardown(() => provider.stop());
    const outbound = (caller: string): Promise<SippResult> =>
      runSipp({
        scenario: 'uac-basic', remote: { port: rec.sipPort }, localPort: pbxPort, calls: 1, durationMs: 300,
        service: '0301234567', keys: { caller }, timeoutSeconds: 30,
      });
    const byAlice = await outbound('201');
    const byCarol = await outbound('209');
    const uas = await within(provider.done, 15000, 'provider SIPp did not finish').catch(() => provider.stop());
    t.equal(byAlice.successful, 1, 'outbound by alice: caller 1 successful call', { diagnostic: byAlice.successful !== 1, details: describeSipp(byAlice) });
    t.equal(byCarol.successful, 1, 'outbound by carol: caller 1 successful call', { diagnostic: byCarol.successful !== 1, details: describeSipp(byCarol) });
    t.equal(uas.successful, 2, 'provider: both outbound calls completed', { diagnostic: uas.successful !== 2, details: describeSipp(uas) });

    const inbound = await callStart((l) => l['direction'] === 'inbound');
    const alice = await callStart((l) => l['direction'] === 'outbound' && l['from'] === '201');
    const carol = await callStart((l) => l['direction'] === 'outbound' && l['from'] === '209');

    const recIn = await recordingOf(inbound['callId']);
    t.equal(recIn['profile'], 'second-all', 'inbound call to the group: recorded by the second profile (the first is outbound-only)');
    const recAlice = await recordingOf(alice['callId']);
    t.equal(recAlice['profile'], 'first-traders-out', 'outbound call by a trader: recorded by the first profile');
    const recCarol = await recordingOf(carol['callId']);
    t.equal(recCarol['profile'], 'second-all', 'outbound call by a non-trader: recorded by the second profile');

    for (const base of [recIn['base'], recAlice['base'], recCarol['base']]) {
      await rec.waitForLog((l) => l.event === 'recording.sealed' && l['base'] === base, 20000);
    }
    const starts = rec.logs.filter((l) => l.event === 'recording.start');
    t.equal(starts.length, 3, 'three recording.start in all');
    t.equal(starts.filter((l) => l['callId'] === alice['callId']).length, 1, 'the trader\'s call is recorded once, not again by the second profile');
    t.equal(new Set(starts.map((l) => l['callId'])).size, 3, 'one recording per call');

    const first = await waitForRecordings(path.join(rec.dir, 'archive', 'first'), 1, 15000);
    const second = await waitForRecordings(path.join(rec.dir, 'archive', 'second'), 2, 15000);
    t.same(first.map((b) => path.basename(b)), [recAlice['base']], 'archive/first: only the trader\'s recording');
    t.same(second.map((b) => path.basename(b)).sort(), [String(recIn['base']), String(recCarol['base'])].sort(), 'archive/second: the inbound and the non-trader\'s recordings');
    const info = first[0] !== undefined ? fs.readFileSync(`${first[0]}_info.txt`, 'utf8') : '';
    t.match(info, /^Profile: first-traders-out\s*$/m, '_info.txt of the trader\'s recording names the first profile');
  });
}
